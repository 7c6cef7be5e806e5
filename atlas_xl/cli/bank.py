"""`atlas-xl bank`: the bank's answers in the books (import pain.002 / camt.054 / camt.053, release the
clients a reject or return held back, confirm a manual mark). Thin wrappers over atlas_xl.workflow.bank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atlas_xl.cli.payouts import DbOpt, JsonOpt, RunArg, UserOpt, _emit, _open

bank_app = typer.Typer(help="Bank feedback: status reports, notifications, statements.", no_args_is_help=True)

DataOpt = Annotated[Path | None, typer.Option("--data", help="Portfolio folder or XLSX (default: example data).")]


def _portfolio(data: Path | None):  # type: ignore[no-untyped-def]
    # lazy: pandas costs every atlas-xl start-up ~2 s (measured: atlas_xl.cli.common)
    from atlas_xl.inputs.example_data import example_data_dir
    from atlas_xl.inputs.portfolio import load_portfolio

    return load_portfolio(data or example_data_dir())


@bank_app.command("import")
def bank_import(
    files: Annotated[list[Path], typer.Argument(help="pain.002, camt.054 or camt.053 files.", metavar="FILE...")],
    data: DataOpt = None, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Import the bank's files (each once, by MsgId and SHA-256): payout statuses, returns, statement matching."""
    from atlas_xl.workflow.bank import import_bank_files

    portfolio = _portfolio(data) if any(_is_statement(f) for f in files) else None
    results = import_bank_files(_open(db), user, files, portfolio=portfolio)
    _emit(as_json, {"imported": [r.to_dict() for r in results]}, "\n".join(r.line() for r in results))


def _is_statement(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return b"camt.053" in fh.read(4096)
    except OSError:
        return False  # the reader reports it, located


@bank_app.command("confirm-details")
def bank_confirm_details(
    client: Annotated[str, typer.Argument(help="Client id, e.g. C00004.")],
    data: DataOpt = None, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Release a client held back by the bank: one person checks the new bank details, another confirms."""
    from atlas_xl.workflow.bank import confirm_details, data_ibans

    ibans = data_ibans(_portfolio(data))
    holds = confirm_details(_open(db), user, client, ibans.get(client.strip()))
    lines = []
    for h in holds:
        state = f"released (confirmed by {h.confirmed_by})" if h.released else \
            f"checked by {h.entered_by}; another user must confirm"
        iban = f" new IBAN {h.new_iban};" if h.new_iban else ""
        lines.append(f"client {h.client_id} {h.reason} ({h.reason_code}):{iban} {state}")
    _emit(as_json, {"holds": [h.__dict__ for h in holds]}, "\n".join(lines))


@bank_app.command("holds")
def bank_holds(db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """List the clients the bank's answers held back (and released)."""
    from atlas_xl.workflow.bank import list_holds

    holds = list_holds(_open(db), user)
    lines = [f"{h.client_id:<20} {h.reason:<22} {h.reason_code or '':<5} "
             f"{'released' if h.released else 'active'}  rejected IBAN {h.rejected_iban}" for h in holds]
    _emit(as_json, {"holds": [h.__dict__ for h in holds]}, "\n".join(lines) or "no holds")


@bank_app.command("confirm-mark")
def bank_confirm_mark(
    run: RunArg,
    payout: Annotated[str, typer.Option("--payout", help="Client id of the payout marked returned / rejected.")],
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Confirm another person's `payouts mark ... returned|rejected`: only then is the payout owed again."""
    from atlas_xl.workflow.bank import confirm_mark

    status = confirm_mark(_open(db), user, run, payout)
    _emit(as_json, status.__dict__, f"payout {status.client_id} of run {run} is owed again (confirmed by {user})")
