"""CLI for the Excel front: `atlas-xl workbook build [--data PATH] --out FILE`, `atlas-xl workbook refresh FILE`."""

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
    from atlas_xl.excel.workbook import build_workbook
    from atlas_xl.inputs.environment import load_settings

    written = build_workbook(out, data, load_settings())
    typer.echo(f"wrote {written}")


@workbook_app.command("refresh")
def refresh(
    file: Annotated[Path, typer.Argument(help="The operations workbook (.xlsm) to refresh in place.")],
    data: Annotated[Path | None, typer.Option("--data", help="First load this CSV folder or .xlsx into the "
                                              "workbook's tables (the Load data button).")] = None,
) -> None:
    """Headless Refresh all (and optionally Load data): the buttons' macros on a saved file, no Excel needed.

    The file is replaced atomically and only when everything succeeded."""
    from atlas_xl.excel.macros import FileBook, load_data, refresh_all

    if data is not None:
        typer.echo(load_data(FileBook(file), data))
    typer.echo(refresh_all(FileBook(file)))
