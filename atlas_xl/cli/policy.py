"""`atlas-xl policy`: the payment policy (dual-approval threshold, breach and warning thresholds, the paying
account). An admin proposes a change, a second admin approves it; every step is audited (atlas_xl.workflow.policies)."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_xl.cli.payouts import DbOpt, JsonOpt, UserOpt, _emit, _open
from atlas_xl.domain.money import rate_to_ppm, to_cents

policy_app = typer.Typer(help="The payment policy: approvals, thresholds and the paying account (admins).",
                         no_args_is_help=True)


@policy_app.command("show")
def policy_show(db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Show the policy in force."""
    from atlas_xl.workflow.policies import show_policy

    info = show_policy(_open(db), user)
    _emit(as_json, info.to_dict(), info.line())


@policy_app.command("list")
def policy_list(db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """List every version of the policy: in force, replaced and proposed."""
    from atlas_xl.workflow.policies import list_policies

    infos = list_policies(_open(db), user)
    _emit(as_json, {"policies": [i.to_dict() for i in infos]}, "\n".join(i.line() for i in infos))


@policy_app.command("propose")
def policy_propose(
    dual_approval_eur: Annotated[str | None, typer.Option(
        "--dual-approval-eur", help="Runs whose total reaches this (EUR) need two approvers.")] = None,
    warning: Annotated[str | None, typer.Option(help="Utilisation share that raises a WARNING, e.g. 0.8.")] = None,
    breach: Annotated[str | None, typer.Option(help="Utilisation share that blocks payouts, e.g. 1.0.")] = None,
    debtor_name: Annotated[str | None, typer.Option(help="Name of the paying account's holder.")] = None,
    debtor_iban: Annotated[str | None, typer.Option(help="IBAN of the paying account.")] = None,
    debtor_bic: Annotated[str | None, typer.Option(help="BIC of the paying account.")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Propose a change of the policy (in force once a second admin approves it)."""
    from atlas_xl.workflow.policies import propose_policy

    info = propose_policy(
        _open(db), user,
        dual_approval_cents=None if dual_approval_eur is None else to_cents(dual_approval_eur),
        warning_ppm=None if warning is None else rate_to_ppm(warning),
        breach_ppm=None if breach is None else rate_to_ppm(breach),
        debtor_name=debtor_name, debtor_iban=debtor_iban, debtor_bic=debtor_bic)
    _emit(as_json, info.to_dict(),
          f"proposed policy {info.ref} (a change of P{info.based_on}); in force once another admin runs "
          f"`atlas-xl policy approve {info.ref}`\n{info.line()}")


@policy_app.command("approve")
def policy_approve(policy: Annotated[str, typer.Argument(help="Policy id, e.g. P2.", metavar="POLICY")],
                   db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Approve a proposed policy (never your own): it is in force from now on."""
    from atlas_xl.workflow.policies import approve_policy

    info = approve_policy(_open(db), user, policy)
    _emit(as_json, info.to_dict(), f"policy {info.ref} is in force (approved by {info.approved_by})\n{info.line()}")
