"""The operations workbook (`atlas_operations.xlsm`), built reproducibly with XlsxWriter.

Sheets: Dashboard (buttons, status, named cells AsOfDate / WarningThreshold / BreachThreshold), the four
input tables as Excel tables (Clients, Settlements, Loans, ReserveTerms), computed sheets holding
ATLAS_* formulas (Payouts, Reserves, Exposure, Schedules) and the `xlwings.conf` sheet.

XlsxWriter computes no formulas, so every formula is written with a cached result: the value the same
ATLAS_* function returns when called from Python with the very cells Excel would pass it. Viewers that do
not recalculate show real figures, and the cached values can never disagree with the functions.

Hostile text: the workbook is created with strings_to_formulas=False and every text from the data goes
through write_string, so a merchant named `=HYPERLINK(...)` is stored as a string, never as a formula.
Reproducible: fixed creation date and document properties; XlsxWriter writes fixed zip timestamps.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from atlas_xl import __version__
from atlas_xl.domain.model import TABLE_SHEETS, Portfolio
from atlas_xl.errors import ArgumentError
from atlas_xl.excel import udfs
from atlas_xl.excel.args import excel_date
from atlas_xl.excel.vba.project import build_vba_project, document_module_source, vba_text
from atlas_xl.outputs.files import replacing
from atlas_xl.settings import Settings

CREATED = dt.datetime(2024, 1, 1)  # fixed: the same data gives the same file
UDF_MODULE = "atlas_xl.excel.udfs"  # older workbooks name the shim atlas_xl.udfs (atlas_xl/udfs.py), still importable
SHEETS = ["Dashboard", *TABLE_SHEETS.values(), "Payouts", "Reserves", "Exposure", "Schedules", "xlwings.conf"]
WINDOWS_MODULES = ("pythoncom", "pywintypes", "win32api", "win32con", "win32com", "win32com.client",
                   "win32com.client.gencache", "win32com.server", "win32com.server.util", "win32timezone")


@dataclass(frozen=True)
class Button:
    caption: str
    macro: str  # the VBA sub in AtlasMacros
    python: str  # the atlas_xl.excel.macros function it runs


BUTTONS = (
    Button("Load data", "AtlasLoadData", "load_data"),
    Button("Refresh all", "AtlasRefreshAll", "refresh_all"),
    Button("Propose run", "AtlasProposeRun", "propose_run"),
    Button("Approve run", "AtlasApproveRun", "approve_run"),
    Button("Generate SEPA", "AtlasGenerateSepa", "generate_sepa"),
    Button("Export report", "AtlasExportReport", "export_report"),
)
NAMED_CELLS = {"AsOfDate": "$B$4", "WarningThreshold": "$B$5", "BreachThreshold": "$B$6", "PayoutRun": "$B$7",
               "Status": "$B$8"}


# --------------------------------------------------------------------------------------------------
# VBA project
# --------------------------------------------------------------------------------------------------
def macro_module_source() -> str:
    return vba_text(resources.files("atlas_xl.excel.vba").joinpath("AtlasMacros.bas").read_text("ascii"))


def xlwings_module_source() -> str:
    import xlwings

    return vba_text((Path(xlwings.__file__).parent / "xlwings.bas").read_text("ascii"))


@contextmanager
def _windows_stubs() -> Iterator[None]:
    """xlwings.udfs imports pywin32 at module level: stand-ins exist only while the wrappers are made."""
    names = (*WINDOWS_MODULES, "xlwings.udfs")
    saved = {name: sys.modules.get(name) for name in names}
    for name in WINDOWS_MODULES:
        stub = types.ModuleType(name)
        stub.__dict__.update(CoInitialize=lambda: None, Dispatch=None, com_error=Exception,
                             EnsureModule=lambda *a, **k: None)
        sys.modules[name] = stub
    sys.modules.pop("xlwings.udfs", None)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def udf_wrapper_source() -> str:
    """The `xlwings_udfs` VBA module exactly as xlwings' "Import Functions" would generate it."""
    import importlib.util

    import xlwings as xw

    with _windows_stubs():
        xl_udfs = importlib.import_module("xlwings.udfs")
        decorators = (xw.func, xw.arg, xw.ret)
        xw.func, xw.arg, xw.ret = xl_udfs.xlfunc, xl_udfs.xlarg, xl_udfs.xlret
        try:  # a private copy of atlas_xl.excel.udfs decorated by the real (Windows) decorators
            spec = importlib.util.find_spec(UDF_MODULE)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            xw.func, xw.arg, xw.ret = decorators
        out = io.StringIO()
        out.write('Attribute VB_Name = "xlwings_udfs"\n')
        out.write("'Autogenerated code by xlwings - changes will be lost with next import!\n")
        out.write("#Const App = \"Microsoft Excel\" 'Adjust when using outside of Excel\n")
        xl_udfs.generate_vba_wrapper(UDF_MODULE, module, out, types.SimpleNamespace(Name="atlas_operations.xlsm"))
    return vba_text(out.getvalue())


def probe_function(module: str) -> str:
    """`AtlasProbe_<module>()`, returning the module's name: appended to each of our modules so a headless
    LibreOffice (tests/test_libreoffice.py) can prove the module compiles; a module that fails to compile
    answers nothing. Harmless in Excel (a function nobody calls)."""
    return vba_text(f"\nPublic Function AtlasProbe_{module}() As String\n"
                    f"    AtlasProbe_{module} = \"{module}\"\nEnd Function\n")


def vba_project(sheet_count: int) -> bytes:
    modules = {"xlwings": xlwings_module_source(), "AtlasMacros": macro_module_source(),
               "xlwings_udfs": udf_wrapper_source() + probe_function("xlwings_udfs")}
    documents = {"ThisWorkbook": document_module_source("ThisWorkbook", workbook=True) + probe_function("ThisWorkbook")}
    documents |= {f"Sheet{i}": document_module_source(f"Sheet{i}") + probe_function(f"Sheet{i}")
                  for i in range(1, sheet_count + 1)}
    return build_vba_project(modules, documents)


# --------------------------------------------------------------------------------------------------
# raw tables: the cells Excel holds (and passes to the ATLAS_* functions)
# --------------------------------------------------------------------------------------------------
def raw_tables(portfolio: Portfolio) -> dict[str, list[list[object]]]:
    """Each input table as header + rows of Excel values (euros, fractions, datetimes, text)."""
    from atlas_xl.domain.schemas import SCHEMAS

    tables: dict[str, list[list[object]]] = {}
    for name, spec in SCHEMAS.items():
        frame: pd.DataFrame = getattr(portfolio, name)
        columns: list[list[object]] = []
        for col in spec.columns:
            values = frame[col.loaded_name]
            if col.kind == "amount":
                cents = values.to_numpy(dtype=np.int64)
                blank = cents == col.blank_value if col.blank_value is not None else np.zeros(len(cents), bool)
                columns.append([None if b else int(c) / 100 for c, b in zip(cents, blank, strict=True)])
            elif col.kind == "rate":
                columns.append([int(v) / 1_000_000 for v in values.to_numpy(dtype=np.int64)])
            elif col.kind == "int":
                columns.append([float(v) for v in values.to_numpy(dtype=np.int64)])
            elif col.kind == "date":
                columns.append([excel_date(v) for v in values])
            else:
                columns.append(["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values])
        tables[name] = [list(spec.column_names)] + [list(row) for row in zip(*columns, strict=True)]
    return tables


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------
class _Formats:
    def __init__(self, book: xlsxwriter.Workbook):
        self.title = book.add_format({"bold": True, "font_size": 16})
        self.bold = book.add_format({"bold": True})
        self.header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.money = book.add_format({"num_format": "#,##0.00"})
        self.rate = book.add_format({"num_format": "0.00####"})
        self.percent = book.add_format({"num_format": "0.0%"})
        self.input = book.add_format({"bg_color": "#FFF2CC", "border": 1})
        self.input_date = book.add_format({"bg_color": "#FFF2CC", "border": 1, "num_format": "yyyy-mm-dd"})
        self.input_pct = book.add_format({"bg_color": "#FFF2CC", "border": 1, "num_format": "0%"})
        self.warning = book.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"})
        self.breach = book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})


def write_cell(ws: Worksheet, row: int, col: int, value: object, fmt: Any = None) -> None:
    """Every value by its type; text always as a string (never a formula, whatever it starts with)."""
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, dt.datetime):
        ws.write_datetime(row, col, value, fmt)
    else:
        ws.write_string(row, col, str(value), fmt)


def write_formula(ws: Worksheet, row: int, col: int, formula: str, cached: object, fmt: Any = None) -> None:
    value = cached if isinstance(cached, str | bool) else (
        cached if isinstance(cached, int | float) else "")
    if isinstance(cached, dt.datetime):
        value = (cached - dt.datetime(1899, 12, 30)).days  # cached result of a date: its serial number
    ws.write_formula(row, col, formula, fmt, value)


def write_spill(ws: Worksheet, row: int, col: int, formula: str, cells: object, f: _Formats,
                formats: Sequence[Any]) -> None:
    """A dynamic-array formula at (row, col) with its whole spilled result as cached values."""
    if isinstance(cells, str):  # an #ATLAS! message: a single cell
        ws.write_dynamic_array_formula(row, col, row, col, formula, None, cells)
        return
    grid: list[list[object]] = cells  # type: ignore[assignment]
    last_row, last_col = row + len(grid) - 1, col + len(grid[0]) - 1
    ws.write_dynamic_array_formula(row, col, last_row, last_col, formula, f.header, grid[0][0])
    for i, values in enumerate(grid):
        for j, value in enumerate(values):
            if i == 0 and j == 0:
                continue
            write_cell(ws, row + i, col + j, value, f.header if i == 0 else formats[j])


def _table_sheet(book: xlsxwriter.Workbook, f: _Formats, table: str, cells: list[list[object]]) -> None:
    from atlas_xl.domain.schemas import SCHEMAS

    ws = book.add_worksheet(TABLE_SHEETS[table])
    kinds = [c.kind for c in SCHEMAS[table].columns]
    fmt = {"amount": f.money, "rate": f.rate, "date": f.date}
    rows = cells[1:] or [[None] * len(kinds)]  # an Excel table needs one data row
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            write_cell(ws, r, c, value, fmt.get(kinds[c]))
    ws.add_table(0, 0, len(rows), len(kinds) - 1, {
        "name": TABLE_SHEETS[table], "style": "Table Style Medium 2",
        "columns": [{"header": h} for h in cells[0]],
    })
    for c, kind in enumerate(kinds):
        ws.set_column(c, c, {"amount": 14, "rate": 10, "date": 12}.get(kind, 16))
    ws.freeze_panes(1, 0)


ALL = {t: f"{TABLE_SHEETS[t]}[#All]" for t in TABLE_SHEETS}
FOUR = f"{ALL['clients']}, {ALL['settlements']}, {ALL['loans']}, {ALL['reserve_terms']}"


def _per_client_sheet(book: xlsxwriter.Workbook, f: _Formats, name: str, tables: dict[str, list[list[object]]],
                      columns: Sequence[tuple[str, str, Callable[..., object], Any]]) -> Worksheet:
    """One row per client; each column an ATLAS_* formula per row, its cached values from ONE call of the
    same function with the whole id column (what a column of those formulas computes, engine run once)."""
    ws = book.add_worksheet(name)
    ws.write_string(0, 0, "client_id", f.header)
    for c, (title, _formula, _func, _fmt) in enumerate(columns, start=1):
        ws.write_string(0, c, title, f.header)
    client_ids = [str(row[0]) for row in tables["clients"][1:]]
    for r, client in enumerate(client_ids, start=1):
        ws.write_string(r, 0, client)
    for c, (_title, formula, func, fmt) in enumerate(columns, start=1):
        results = func([[client] for client in client_ids]) if client_ids else []
        for r in range(1, len(client_ids) + 1):
            cached = results[r - 1][0] if isinstance(results, list) else results  # a message: every row
            write_formula(ws, r, c, formula.format(row=r + 1), cached, fmt)
    ws.set_column(0, 0, 16)
    ws.set_column(1, len(columns), 18)
    ws.freeze_panes(1, 1)
    return ws


def build_workbook_file(portfolio: Portfolio, out: Path, settings: Settings | None = None,
                        as_of: dt.date | None = None) -> Path:
    """Write the operations workbook to `out` (through `files.replacing`: never half-written)."""
    settings = settings or Settings()
    out = Path(out)
    if out.suffix.lower() != ".xlsm":
        raise ArgumentError(f"--out {str(out)!r} must end in .xlsm (a macro-enabled workbook)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tables = raw_tables(portfolio)
    day = as_of or portfolio.last_date.date()
    as_of_cell = excel_date(day)
    warning, breach = settings.warning_ppm / 1_000_000, settings.breach_ppm / 1_000_000
    with replacing(out) as tmp:
        book = xlsxwriter.Workbook(tmp, {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
        book.set_properties({"title": "Atlas Settlement operations", "author": "Atlas Settlement",
                             "company": "", "created": CREATED, "comments": f"atlas-xl {__version__}"})
        book.set_custom_property("atlas_xl_version", __version__)
        f = _Formats(book)
        _dashboard(book, f, as_of_cell, warning, breach, tables)
        for table in TABLE_SHEETS:
            _table_sheet(book, f, table, tables[table])
        _computed_sheets(book, f, tables, as_of_cell, warning, breach)
        _config_sheet(book, f)
        for name, ref in NAMED_CELLS.items():
            book.define_name(name, f"=Dashboard!{ref}")
        book.add_vba_project(io.BytesIO(vba_project(len(SHEETS))), is_stream=True)
        book.set_vba_name("ThisWorkbook")
        book.close()
    return out


def _dashboard(book: xlsxwriter.Workbook, f: _Formats, as_of: dt.datetime, warning: float, breach: float,
               tables: dict[str, list[list[object]]]) -> None:
    ws = book.add_worksheet("Dashboard")
    ws.write_string(0, 0, "Atlas Settlement - operations", f.title)
    ws.write_string(1, 0, "Yellow cells are inputs; every other figure is an ATLAS_* formula.")
    labels = [("As-of date", as_of, f.input_date), ("Warning threshold", warning, f.input_pct),
              ("Breach threshold", breach, f.input_pct)]
    for r, (label, value, fmt) in enumerate(labels, start=3):
        ws.write_string(r, 0, label, f.bold)
        write_cell(ws, r, 1, value, fmt)
    ws.write_string(6, 0, "Payout run", f.bold)
    ws.write_blank(6, 1, None, f.input)  # set by Propose run; Approve run and Generate SEPA act on it
    ws.write_string(7, 0, "Status", f.bold)
    ws.write_string(7, 1, "Built by atlas-xl workbook build; press Refresh all after loading data.")
    ws.write_string(9, 0, "Atlas version", f.bold)
    write_formula(ws, 9, 1, "=ATLAS_VERSION()", udfs.ATLAS_VERSION())
    ws.write_string(10, 0, "Clients", f.bold)
    ws.write_number(10, 1, len(tables["clients"]) - 1)
    ws.write_string(11, 0, "Settlement rows", f.bold)
    ws.write_number(11, 1, len(tables["settlements"]) - 1)
    for i, button in enumerate(BUTTONS):
        ws.insert_button(13 + 2 * (i // 3), 3 * (i % 3), {"macro": button.macro, "caption": button.caption,
                                                          "width": 150, "height": 30})
    ws.set_column(0, 0, 20)
    ws.set_column(1, 1, 22)
    ws.activate()


def _computed_sheets(book: xlsxwriter.Workbook, f: _Formats, tables: dict[str, list[list[object]]],
                     as_of: dt.datetime, warning: float, breach: float) -> None:
    c, s, r, lo = tables["clients"], tables["settlements"], tables["reserve_terms"], tables["loans"]
    _per_client_sheet(book, f, "Payouts", tables, [
        ("Payable", f"=ATLAS_PAYOUT(A{{row}}, AsOfDate, {FOUR})",
         lambda cid: udfs.ATLAS_PAYOUT(cid, as_of, c, s, lo, r), f.money),
        ("Readiness", f"=ATLAS_READINESS(A{{row}}, AsOfDate, {FOUR})",
         lambda cid: udfs.ATLAS_READINESS(cid, as_of, c, s, lo, r), None),
    ])
    reserves = f"{ALL['settlements']}, {ALL['reserve_terms']}"
    _per_client_sheet(book, f, "Reserves", tables, [
        ("Rolling reserve", f'=ATLAS_RESERVE(A{{row}}, AsOfDate, {reserves}, "rolling")',
         lambda cid: udfs.ATLAS_RESERVE(cid, as_of, s, r, "rolling"), f.money),
        ("Partner reserve", f'=ATLAS_RESERVE(A{{row}}, AsOfDate, {reserves}, "partner")',
         lambda cid: udfs.ATLAS_RESERVE(cid, as_of, s, r, "partner"), f.money),
    ])
    ws = _per_client_sheet(book, f, "Exposure", tables, [
        ("Exposure", f"=ATLAS_EXPOSURE(A{{row}}, AsOfDate, {FOUR})",
         lambda cid: udfs.ATLAS_EXPOSURE(cid, as_of, c, s, lo, r), f.money),
        ("Utilization", f"=ATLAS_UTILIZATION(A{{row}}, AsOfDate, {FOUR})",
         lambda cid: udfs.ATLAS_UTILIZATION(cid, as_of, c, s, lo, r), f.percent),
        ("Limit status", f"=ATLAS_LIMIT_STATUS(A{{row}}, AsOfDate, {FOUR}, WarningThreshold, BreachThreshold)",
         lambda cid: udfs.ATLAS_LIMIT_STATUS(cid, as_of, c, s, lo, r, warning, breach), None),
    ])
    _totals(book, f, [
        ("Total payable (EUR)", "Payouts", "B", udfs.ATLAS_PAYOUT(ids(c), as_of, c, s, lo, r)),
        ("Total rolling reserve (EUR)", "Reserves", "B", udfs.ATLAS_RESERVE(ids(c), as_of, s, r, "rolling")),
        ("Total partner reserve (EUR)", "Reserves", "C", udfs.ATLAS_RESERVE(ids(c), as_of, s, r, "partner")),
        ("Total exposure (EUR)", "Exposure", "B", udfs.ATLAS_EXPOSURE(ids(c), as_of, c, s, lo, r)),
    ])
    last = max(len(c) - 1, 1)
    for word, fmt in (("WARNING", f.warning), ("BREACH", f.breach)):
        ws.conditional_format(1, 3, last, 3, {"type": "cell", "criteria": "==", "value": f'"{word}"',
                                              "format": fmt})
    _schedules_sheet(book, f, tables, as_of)


def _release_client(tables: dict[str, list[list[object]]], as_of: dt.datetime) -> str | None:
    """The client the Schedules sheet shows reserve releases for: the first with a release after as_of."""
    ids = [str(row[0]) for row in tables["clients"][1:]]
    for client in ids:
        releases = udfs.ATLAS_RESERVE_RELEASES(client, as_of, tables["settlements"], tables["reserve_terms"])
        if isinstance(releases, list) and len(releases) > 1:
            return client
    return ids[0] if ids else None


def ids(clients: list[list[object]]) -> list[list[object]]:
    return [[str(row[0])] for row in clients[1:]]


ERROR_PREFIX = "#ATLAS!"  # what a failing ATLAS_* function shows in its cell (atlas_xl.excel.args.excel_error)


def total_formula(sheet: str, column: str) -> str:
    """An error-aware column total: #N/A when any cell of the column shows an `#ATLAS! ...` message (a plain
    SUM would count that text as 0 and show a wrong total), else the SUM. Whole columns, so the total
    follows Load data / Refresh all whatever the number of clients (the header text is not summed)."""
    cells = f"{sheet}!${column}:${column}"
    return f'=IF(COUNTIF({cells},"{ERROR_PREFIX}*")>0,NA(),SUM({cells}))'


def _totals(book: xlsxwriter.Workbook, f: _Formats, totals: Sequence[tuple[str, str, str, object]]) -> None:
    """Dashboard D4:E7: the totals, cached as Excel computes them (cents summed exactly, then euros)."""
    ws = book.get_worksheet_by_name("Dashboard")
    assert ws is not None
    for i, (label, sheet, column, results) in enumerate(totals, start=3):
        cells = [row[0] for row in results] if isinstance(results, list) else [results]
        failed = any(isinstance(v, str) and v.startswith(ERROR_PREFIX) for v in cells)
        cached: object = "#N/A" if failed else \
            sum(round(v * 100) for v in cells if isinstance(v, int | float)) / 100
        ws.write_string(i, 3, label, f.bold)
        write_formula(ws, i, 4, total_formula(sheet, column), cached, f.money)
    ws.set_column(3, 3, 28)
    ws.set_column(4, 4, 16)


def _schedules_sheet(book: xlsxwriter.Workbook, f: _Formats, tables: dict[str, list[list[object]]],
                     as_of: dt.datetime) -> None:
    """The spilling (dynamic-array) functions: a loan's schedule, the portfolio projection and a client's
    upcoming reserve releases, each from an input cell in row 1."""
    loans = tables["loans"]
    ws = book.add_worksheet("Schedules")
    header = loans[0]
    first = dict(zip(header, loans[1], strict=True)) if len(loans) > 1 else {}
    ws.write_string(0, 0, "Loan", f.bold)
    write_cell(ws, 0, 1, first.get("loan_id"), f.input)
    params = [("principal", f.money), ("annual_rate", f.rate), ("periods", None), ("start_date", f.date),
              ("method", None), ("frequency", None), ("day_count", None)]
    for i, (column, fmt) in enumerate(params, start=1):
        ws.write_string(i, 0, column, f.bold)
        formula = f"=INDEX(Loans[{column}], MATCH($B$1, Loans[loan_id], 0))"
        write_formula(ws, i, 1, formula, first.get(column), fmt)
    schedule = udfs.ATLAS_SCHEDULE(*[first.get(column) for column, _ in params]) if first else ""
    ws.write_string(9, 0, "Schedule of the loan in B1", f.bold)
    write_spill(ws, 10, 0, "=ATLAS_SCHEDULE(B2, B3, B4, B5, B6, B7, B8)", schedule, f,
                [f.date, f.money, f.money, f.money, f.money, f.money])
    ws.write_string(9, 7, "Portfolio projection from the as-of date", f.bold)
    write_spill(ws, 10, 7, f"=ATLAS_PROJECTION({ALL['loans']}, AsOfDate)", udfs.ATLAS_PROJECTION(loans, as_of),
                f, [f.date, f.money, f.money, f.money, f.money])
    client = _release_client(tables, as_of)
    ws.write_string(0, 13, "Client", f.bold)
    write_cell(ws, 0, 14, client, f.input)
    ws.write_string(9, 13, "Reserve releases of the client in O1 after the as-of date", f.bold)
    releases = udfs.ATLAS_RESERVE_RELEASES(client, as_of, tables["settlements"], tables["reserve_terms"]) \
        if client else ""
    write_spill(ws, 10, 13, f"=ATLAS_RESERVE_RELEASES(O1, AsOfDate, {ALL['settlements']}, {ALL['reserve_terms']})",
                releases, f, [f.date, None, f.money])
    ws.set_column(0, 0, 14)
    ws.set_column(1, 5, 14)
    ws.set_column(7, 11, 14)
    ws.set_column(13, 15, 14)
    ws.freeze_panes(1, 0)


def _config_sheet(book: xlsxwriter.Workbook, f: _Formats) -> None:
    ws = book.add_worksheet("xlwings.conf")
    # xlwings' own keys, then the macros' (atlas_xl.excel.macros): blank = ATLAS_DB_URL / the workbook's folder
    settings = [("UDF Modules", UDF_MODULE), ("Use UDF Server", "False"), ("Show Console", "False"),
                ("Debug UDFs", "False"), ("Atlas Data Path", ""), ("Atlas DB URL", ""),
                ("Atlas Output Folder", "")]
    for r, (key, value) in enumerate(settings):
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, value)
    ws.set_column(0, 1, 20)


def build_workbook(out: Path, data: Path | None = None, settings: Settings | None = None) -> Path:
    """`atlas-xl workbook build`: load `data` (default: the bundled example data) and write `out`."""
    from atlas_xl.inputs.example_data import example_data_dir
    from atlas_xl.inputs.portfolio import load_portfolio

    return build_workbook_file(load_portfolio(data or example_data_dir()), out, settings)
