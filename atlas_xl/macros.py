"""Shim: the workbook's VBA runs `import atlas_xl.macros; atlas_xl.macros.<button>()`; the macros live in
atlas_xl.excel.macros."""

from atlas_xl.excel.macros import (  # noqa: F401 - re-exported for the workbook's VBA
    approve_run,
    export_report,
    generate_sepa,
    load_data,
    propose_run,
    refresh_all,
)
