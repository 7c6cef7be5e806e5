"""CLI for the Excel front: `atlas-xl workbook ...` (filled in by the Excel-front work)."""

from __future__ import annotations

import typer

workbook_app = typer.Typer(help="Build and refresh the operations workbook.", no_args_is_help=True)
