"""`atlas-xl close`: the daily close (book a day's postings once), its verification and corrections.

Heavy modules (engines, loader, store) are imported inside the command: start-up (atlas_xl.cli.common).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atlas_xl.cli.common import DataOption, DbOpt, JsonOpt, UserOpt, resolve_db
from atlas_xl.domain.money import format_eur
from atlas_xl.errors import RefusedByRule, exit_code_for
from atlas_xl.inputs.example_data import example_data_dir

REFUSED = exit_code_for(RefusedByRule("refused"))  # 1


def close(
    date: Annotated[str | None, typer.Option("--date", help="Book this day (the next open day) YYYY-MM-DD.")] = None,
    through: Annotated[str | None, typer.Option("--through", help="Book every open day up to this one.")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Recompute every booked day by the rules and list "
                                                          "the differences (by client, day, subaccount).")] = False,
    correct: Annotated[str | None, typer.Option("--correct", metavar="REASON", help="Post corrections of booked "
                                                "days whose settlement rows changed, on the next open day.")] = None,
    data: DataOption = None,
    opening: Annotated[Path | None, typer.Option("--opening", help="Opening balances (CSV or .xlsx); default: "
                                                 "opening_balances.csv / sheet beside the data, if any.")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Close the books: each day's movements become immutable postings (a day is booked once)."""
    from atlas_xl.inputs.environment import load_settings
    from atlas_xl.inputs.ledger_tables import check_opening, find_table, load_table
    from atlas_xl.inputs.portfolio import load_portfolio
    from atlas_xl.store.database import open_store
    from atlas_xl.workflow import close as closing
    from atlas_xl.workflow.common import parse_date

    modes = sum(x is not None for x in (date, through, correct)) + int(verify)
    if modes != 1:
        raise typer.BadParameter("give exactly one of --date, --through, --verify, --correct")
    data_path = data or example_data_dir()
    portfolio = load_portfolio(data_path)
    store = open_store(resolve_db(db))
    settings = load_settings()
    out = Console(stderr=True, quiet=as_json)
    if verify:
        diff = closing.verify(store, user, portfolio, settings)
        if as_json:
            typer.echo(json.dumps({"differences": json.loads(diff.astype({"day": str}).to_json(orient="records"))}))
        elif diff.empty:
            typer.echo("verified: every booked day agrees with the rules (0 differences)")
        else:
            for r in diff.to_dict("records"):
                typer.echo(f"{str(r['day'])[:10]} {r['client_id']:<20} {r['subaccount']:<16} booked "
                           f"{format_eur(int(r['booked_cents']))} rules {format_eur(int(r['recomputed_cents']))} "
                           f"difference {format_eur(int(r['difference_cents']))}")
            typer.echo(f"{len(diff)} difference(s)")
        if not diff.empty:
            raise typer.Exit(REFUSED)
        return
    if correct is not None:
        done = closing.correct(store, user, portfolio, correct, settings)
        _say(as_json, done.to_dict(), f"corrected {len(done.corrected_days)} booked day(s) from "
             f"{done.corrected_days[0].isoformat()}: {done.postings} posting(s) on {done.posted_day.isoformat()}")
        return
    opening_frame = None
    source = opening or find_table(data_path, "opening_balances")
    if source is not None:
        opening_frame = load_table(source, "opening_balances")
        check_opening(opening_frame, set(portfolio.clients["client_id"].astype(str)), portfolio.first_date, source)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=out, transient=True) as bar:
        task = bar.add_task("Computing the movements", total=None)

        def step(done: int, total: int, day: object) -> None:
            bar.update(task, completed=done, total=total, description=f"Booked {day}")

        result = closing.close(store, user, portfolio, day=None if date is None else parse_date(date),
                               through=None if through is None else parse_date(through), opening=opening_frame,
                               settings=settings, progress=step)
    if result.changed:
        lines = [f"{c.day.isoformat()}: settlement rows changed since it was booked" for c in result.changed]
        _say(as_json, result.to_dict(), "\n".join([*lines, f"{len(result.changed)} booked day(s) changed: "
             "nothing booked; a finance user posts the corrections with `atlas-xl close --correct REASON`"]))
        raise typer.Exit(REFUSED)
    text = []
    if result.booked:
        text.append(f"booked {len(result.booked)} day(s) {result.booked[0].isoformat()} to "
                    f"{result.booked[-1].isoformat()}: {result.postings} posting(s)")
    if result.already:
        text.append(f"{result.already[-1].isoformat()} already booked")
    _say(as_json, result.to_dict(), "\n".join(text))


def _say(as_json: bool, payload: dict[str, object], text: str) -> None:
    typer.echo(json.dumps(payload, sort_keys=True) if as_json else text)
