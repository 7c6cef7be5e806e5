"""CLI for the Excel front: `atlas-xl workbook build [--data PATH] --out FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

workbook_app = typer.Typer(help="Build and refresh the operations workbook.", no_args_is_help=True)


@workbook_app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", help="The .xlsm file to write (replaced atomically).")],
    data: Annotated[Path | None, typer.Option("--data", help="A folder of the four CSV files or an .xlsx "
                                              "(default: the bundled example data).")] = None,
) -> None:
    """Build the macro-enabled operations workbook (tables, ATLAS_* formulas, buttons, VBA project)."""
    from atlas_xl.settings import load_settings
    from atlas_xl.workbook import build_workbook

    written = build_workbook(out, data, load_settings())
    typer.echo(f"wrote {written}")
