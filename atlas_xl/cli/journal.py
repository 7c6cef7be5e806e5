"""`atlas-xl journal`: the booked ledger as general-ledger journal entries; `journal lock` closes a period.

Heavy modules are imported inside the commands: start-up (atlas_xl.cli.common).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from atlas_xl.cli.common import DataOption, DbOpt, JsonOpt, UserOpt, resolve_db
from atlas_xl.domain.money import format_eur

journal_app = typer.Typer(help="Journal export of the booked ledger, and period locks (finance).",
                          invoke_without_command=True)

DEFAULT_ACCOUNTS = "chart_of_accounts"


@journal_app.callback()
def journal(
    ctx: typer.Context,
    first: Annotated[str | None, typer.Option("--from", help="First day of the period YYYY-MM-DD.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day of the period YYYY-MM-DD.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("atlas-journal"),
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    by_client: Annotated[bool, typer.Option("--by-client", help="One entry per client, day and kind.")] = False,
    accounts: Annotated[Path | None, typer.Option("--accounts", help="Chart-of-accounts mapping (CSV or .xlsx); "
                                                  "default: chart_of_accounts.csv beside the data, else the "
                                                  "bundled default.")] = None,
    data: DataOption = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Export the booked postings of a period as balanced journal entries (one per day and movement kind)."""
    if ctx.invoked_subcommand is not None:
        return
    from atlas_xl.errors import ArgumentError
    from atlas_xl.inputs.example_data import example_data_dir
    from atlas_xl.inputs.ledger_tables import find_table, load_table
    from atlas_xl.outputs.journal import write_journal
    from atlas_xl.store.database import open_store
    from atlas_xl.workflow.close import export_journal
    from atlas_xl.workflow.common import parse_date

    if first is None or last is None:
        raise ArgumentError("give the period: --from YYYY-MM-DD --to YYYY-MM-DD")
    if fmt not in ("csv", "xlsx"):
        raise ArgumentError(f"--format {fmt!r} is not known; expected csv or xlsx")
    source = accounts or find_table(data or example_data_dir(), DEFAULT_ACCOUNTS) or (
        example_data_dir() / f"{DEFAULT_ACCOUNTS}.csv")
    mapping = load_table(source, DEFAULT_ACCOUNTS)
    result = export_journal(open_store(resolve_db(db)), user, parse_date(first), parse_date(last), mapping,
                            by_client)
    paths = write_journal(out, result.export_id, result.from_day.isoformat(), result.to_day.isoformat(),
                          result.lines, result.safeguarding, fmt)
    info = result.to_dict()
    debit, credit = int(result.lines["debit_cents"].sum()), int(result.lines["credit_cents"].sum())
    state = "already exported" if result.already_exported else "exported"
    text = (f"{result.export_id} {state}: {info['entries']} entries {result.from_day} to {result.to_day}, "
            f"debits {format_eur(debit)} = credits {format_eur(credit)}\n"
            + "\n".join(str(p) for p in paths))
    typer.echo(json.dumps({**info, "files": [str(p) for p in paths]}, sort_keys=True) if as_json else text)


@journal_app.command("lock")
def journal_lock(
    through: Annotated[str, typer.Option("--through", help="Lock every booked day up to this one.")],
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Lock the period through a booked day: no more postings on or before it (corrections go later)."""
    from atlas_xl.store.database import open_store
    from atlas_xl.workflow.close import lock_period
    from atlas_xl.workflow.common import parse_date

    locked = lock_period(open_store(resolve_db(db)), user, parse_date(through))
    typer.echo(json.dumps({"locked_through": locked.isoformat()}) if as_json
               else f"ledger locked through {locked.isoformat()}")
