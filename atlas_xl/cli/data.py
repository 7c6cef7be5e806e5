"""`atlas-xl example-data`: write a fictitious example portfolio (CSV files, optionally portfolio.xlsx)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from atlas_xl.errors import ArgumentError, DateError, RefusedByRule


def example_data(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the CSV files (and portfolio.xlsx) to.")],
    clients: Annotated[int, typer.Option("--clients", help="Number of clients.")] = 40,
    days: Annotated[int, typer.Option("--days", help="Calendar days of settlements, ending at --end.")] = 365,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same data.")] = 7,
    end: Annotated[str, typer.Option("--end", help="Last value date, YYYY-MM-DD.")] = "2026-11-23",
    xlsx: Annotated[bool, typer.Option("--xlsx/--no-xlsx", help="Also write portfolio.xlsx.")] = True,
    hostile: Annotated[bool, typer.Option("--hostile", help="Use hostile client names (escaping tests).")] = False,
    bank: Annotated[bool, typer.Option("--bank/--no-bank", help="Also write the bank's pain.002, camt.054 and "
                                                               "camt.053 for the first run.")] = True,
) -> None:
    """Generate the example portfolio (deterministic for a seed)."""
    # lazy: pandas and openpyxl would cost every atlas-xl start-up ~2 s (measured: atlas_xl.cli.common)
    from atlas_xl.examples.bank_files import write_example_bank_side
    from atlas_xl.examples.portfolio import EXCEL_MAX_ROWS, generate_portfolio, write_csv, write_xlsx
    from atlas_xl.inputs.portfolio import load_portfolio

    try:
        end_date = dt.date.fromisoformat(end)
    except ValueError:
        raise DateError("is not a date", what="--end", value=end, expected="YYYY-MM-DD such as 2026-11-23") from None
    if xlsx and clients * days + 2 > EXCEL_MAX_ROWS:  # refuse before writing anything
        raise ArgumentError(f"{clients} clients x {days} days = {clients * days:,} settlement rows do not fit "
                            f"a sheet ({EXCEL_MAX_ROWS - 1:,} rows); add --no-xlsx or use fewer clients/days")
    tables = generate_portfolio(clients=clients, days=days, seed=seed, end_date=end_date, hostile=hostile)
    written = write_csv(tables, out)
    if xlsx:
        written.append(write_xlsx(tables, out / "portfolio.xlsx"))
    note = ""
    if bank:  # the bank's answer to the first run of the data's last date (docs: README "Bank feedback")
        try:
            written += write_example_bank_side(load_portfolio(out), out)
        except RefusedByRule as refused:  # a small portfolio: the portfolio stands, and the output says why
            note = f"\nno bank files: {refused}"
    rows = len(tables["settlements"])
    typer.echo(f"wrote {', '.join(p.name for p in written)} to {out} ({clients} clients, {rows:,} settlement rows)"
               f"{note}")
