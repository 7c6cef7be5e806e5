"""`atlas-xl credit`: credit managers change limits and reserve terms (stored, audited, used by every run)."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_xl.cli.payouts import DbOpt, JsonOpt, UserOpt, _emit, _open
from atlas_xl.domain.money import format_eur, rate_to_ppm, to_cents

credit_app = typer.Typer(help="Credit limits and reserve terms (credit managers).", no_args_is_help=True)

ClientArg = Annotated[str, typer.Argument(help="Client id, e.g. C00006.")]


@credit_app.command("limit")
def credit_limit(
    client: ClientArg,
    amount: Annotated[str, typer.Argument(help="New credit limit in EUR, e.g. 250000.00.")],
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Set a client's credit limit (replaces the limit in the data for every later run)."""
    from atlas_xl.workflow.credit import change_credit_limit

    cents = to_cents(amount)
    result = change_credit_limit(_open(db), user, client, cents)
    _emit(as_json, {"credit_limit_cents": cents, **result.to_dict()},
          f"credit limit of {client} set to {format_eur(cents)}")


@credit_app.command("reserve")
def credit_reserve(
    client: ClientArg,
    reserve: Annotated[str, typer.Option("--reserve", help="rolling or partner.")] = "rolling",
    rate: Annotated[str | None, typer.Option(help="Share of gross sales held, e.g. 0.10.")] = None,
    hold_days: Annotated[int | None, typer.Option(help="Days each hold is kept.")] = None,
    hold_basis: Annotated[str | None, typer.Option(help="calendar or banking.")] = None,
    cap: Annotated[str | None, typer.Option(help="Reserve cap in EUR, or 'none'.")] = None,
    fixed: Annotated[str | None, typer.Option(help="Upfront (fixed) reserve in EUR.")] = None,
    min_balance: Annotated[str | None, typer.Option(help="Minimum reserve balance in EUR.")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change a client's rolling or partner reserve terms; terms not given keep their value."""
    from atlas_xl.workflow.credit import change_reserve_terms

    terms: dict[str, int | str] = {}
    if rate is not None:
        terms["rate_ppm"] = rate_to_ppm(rate)
    if hold_days is not None:
        terms["hold_days"] = hold_days
    if hold_basis is not None:
        terms["hold_basis"] = hold_basis
    if cap is not None:
        terms["cap_cents"] = -1 if cap.strip().lower() == "none" else to_cents(cap)
    if fixed is not None:
        terms["fixed_amount_cents"] = to_cents(fixed)
    if min_balance is not None:
        terms["min_balance_cents"] = to_cents(min_balance)
    result = change_reserve_terms(_open(db), user, client, reserve, **terms)
    _emit(as_json, result.to_dict(),
          f"{reserve} reserve terms of {client} changed: " + ", ".join(f"{k}={v}" for k, v in terms.items()))
