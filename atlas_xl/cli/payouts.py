"""CLI for the payout workflow: `atlas-xl users|payouts|audit ...`, thin wrappers over atlas_xl.workflow.

Every command takes --db (else ATLAS_DB_URL, else the default SQLite file), --user (else ATLAS_USER) and
--json (one JSON object on stdout for scripts). Errors are AtlasErrors; atlas_xl.cli.app.main maps them to exit
codes (PermissionDenied -> 3). The database URL is only ever shown with its password masked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from atlas_xl.domain.money import format_eur

users_app = typer.Typer(help="Users and roles of the store.", no_args_is_help=True)
payouts_app = typer.Typer(help="Payout runs: propose, approve, execute (SEPA file), settle.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", envvar="ATLAS_DB_URL", show_envvar=True,
                                           help="Database URL (sqlite:///file.db or postgresql+psycopg://...).")]
UserOpt = Annotated[str | None, typer.Option("--user", envvar="ATLAS_USER", show_envvar=True,
                                             help="The acting user (must be a known, active user).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]
RunArg = Annotated[str, typer.Argument(help="Run id, e.g. R12.", metavar="RUN")]


def _open(db: str | None):  # type: ignore[no-untyped-def]
    from atlas_xl.store.database import open_store

    return open_store(db)


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str))
    else:
        typer.echo(text)


# ---------------------------------------------------------------------------------------------- users


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="User name (login).")],
              role: Annotated[str, typer.Option("--role", help="operations, risk, finance, credit or admin.")],
              db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Add a user (the first user of an empty store must be an admin; afterwards only admins add users)."""
    from atlas_xl.workflow.users import add_user

    store = _open(db)
    info = add_user(store, user, name, role)
    _emit(as_json, {"added": info.to_dict(), "db": store.display_url},
          f"added user {info.name} with role {info.role} to {store.display_url}")


@users_app.command("list")
def users_list(db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """List the users and their roles."""
    from atlas_xl.workflow.users import list_users

    users = list_users(_open(db), user)
    lines = [f"{u.name:<24} {u.role:<11} {'active' if u.active else 'deactivated'}" for u in users]
    _emit(as_json, {"users": [u.to_dict() for u in users]}, "\n".join(lines) or "no users")


@users_app.command("deactivate")
def users_deactivate(name: Annotated[str, typer.Argument(help="User name.")], db: DbOpt = None,
                     user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Deactivate a user (kept for the audit trail; may no longer act)."""
    from atlas_xl.workflow.users import deactivate_user

    info = deactivate_user(_open(db), user, name)
    _emit(as_json, {"deactivated": info.to_dict()}, f"deactivated user {info.name} ({info.role})")


# ---------------------------------------------------------------------------------------------- payouts


@payouts_app.command("propose")
def payouts_propose(
    data: Annotated[Path | None, typer.Option("--data", help="Portfolio folder or XLSX (default: example data).")]
    = None,
    date: Annotated[str | None, typer.Option("--date", help="Payout date YYYY-MM-DD (default: the data's "
                                                           "as-of date).")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Compute the payouts and propose a run (supersedes the open runs of the same date)."""
    from atlas_xl.workflow.runs import propose_from_data

    result = propose_from_data(_open(db), user, data, date)
    run = result.run
    lines = [f"proposed run {run.ref} for {run.payout_date}: {run.payout_count} payouts, "
             f"{format_eur(run.total_cents)} total, {run.excluded_count} clients excluded; "
             f"needs {run.approvals_required} approval(s)"]
    if result.superseded:
        lines.append("superseded: " + ", ".join(f"R{i}" for i in result.superseded))
    _emit(as_json, result.to_dict(), "\n".join(lines))


@payouts_app.command("list")
def payouts_list(date: Annotated[str | None, typer.Option("--date", help="Only runs for this payout date.")]
                 = None, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """List the payout runs."""
    from atlas_xl.workflow.runs import list_runs

    runs = list_runs(_open(db), user, payout_date=date)
    _emit(as_json, {"runs": [r.to_dict() for r in runs]}, "\n".join(r.line() for r in runs) or "no runs")


@payouts_app.command("show")
def payouts_show(run: RunArg, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Show a run with its payouts and the excluded clients."""
    from atlas_xl.workflow.policies import policy_text
    from atlas_xl.workflow.runs import show_run

    detail = show_run(_open(db), run, user)
    lines = [detail.summary.line()]
    head = detail.summary
    if head.requested_execution_date is not None:
        lines.append(f"requested execution date {head.requested_execution_date.isoformat()}; file {head.file_name} "
                     f"(sha256 {head.file_sha256})")
    if head.file_sha256:
        lines.append(f"delivered {head.delivered_at:%Y-%m-%d %H:%M:%S} UTC by {head.delivered_by} to "
                     f"{head.delivered_to}" if head.delivered_at else
                     f"not delivered yet (to {head.delivered_to}): run `payouts execute` again")
    lines.append(f"payment policy {policy_text(head.policy)}")
    lines += [f"  {p.client_id:<20} {format_eur(p.amount_cents):>20}  {p.status:<9} {p.iban}  {p.name}"
              + ("  [BANK DETAILS CHANGED since the last executed payout]" if p.bank_details_changed else "")
              for p in detail.payouts]
    if detail.excluded:
        lines.append("excluded:")
        lines += [f"  {e.client_id:<20} {e.reasons}" for e in detail.excluded]
    _emit(as_json, detail.to_dict(), "\n".join(lines))


@payouts_app.command("approve")
def payouts_approve(run: RunArg, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Approve a proposed run (never your own; large runs need two distinct approvers)."""
    from atlas_xl.workflow.runs import approve_run

    summary = approve_run(_open(db), run, user)
    _emit(as_json, summary.to_dict(),
          f"{user} approved run {summary.ref} ({len(summary.approvals)}/{summary.approvals_required}): "
          f"status {summary.status}")


@payouts_app.command("execute")
def payouts_execute(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the pain.001 file and the reviewer list.")],
    version: Annotated[str, typer.Option("--version", help="pain.001 version: 09 (default) or 03.")] = "09",
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Write the run's SEPA pain.001 file and reviewer list, and mark it executed (exactly once)."""
    from atlas_xl.errors import ArgumentError
    from atlas_xl.workflow.execution import execute_run

    versions = {"09": "pain.001.001.09", "03": "pain.001.001.03", "pain.001.001.09": "pain.001.001.09",
                "pain.001.001.03": "pain.001.001.03"}
    if version.strip() not in versions:
        raise ArgumentError(f"--version {version!r} is not supported; expected 09 or 03")
    result = execute_run(_open(db), run, user, out, version=versions[version.strip()])
    what = "was already executed" if result.already_executed else "executed"
    _emit(as_json, result.to_dict(),
          f"run {result.run.ref} {what}: {result.run.payout_count} payouts, {format_eur(result.run.total_cents)}"
          f"\n  file {result.xml_path} (sha256 {result.sha256})\n  reviewer list {result.reviewer_path}")


@payouts_app.command("deliver")
def payouts_deliver(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to deliver the run's stored pain.001 file into.")],
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Deliver an executed run's payment file again (the stored bytes; audited; finance or admin)."""
    from atlas_xl.workflow.execution import deliver_run

    result = deliver_run(_open(db), run, user, out)
    _emit(as_json, result.to_dict(), result.line())


@payouts_app.command("cancel")
def payouts_cancel(run: RunArg, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a run that has not been executed."""
    from atlas_xl.workflow.runs import cancel_run

    summary = cancel_run(_open(db), run, user)
    _emit(as_json, summary.to_dict(), f"cancelled run {summary.ref}")


@payouts_app.command("mark")
def payouts_mark(
    run: RunArg,
    status: Annotated[str, typer.Option("--status", help="settled, returned or rejected.")],
    payout: Annotated[str | None, typer.Option("--payout", help="Client id of one payout of the run.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (bank reason code or text).")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Mark an executed run settled, or one of its payouts settled / returned / rejected."""
    from atlas_xl.workflow.runs import mark_run

    detail = mark_run(_open(db), run, user, status, payout=payout, reason=reason)
    target = f"payout {payout} of run {detail.summary.ref}" if payout else f"run {detail.summary.ref}"
    _emit(as_json, detail.to_dict(), f"marked {target} {status}")


# ---------------------------------------------------------------------------------------------- audit


@audit_app.command("show")
def audit_show(
    client: Annotated[str | None, typer.Option("--client", help="Only entries about this client.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only entries about this run (e.g. R12).")] = None,
    actor: Annotated[str | None, typer.Option("--by", "--actor",
                                              help="Only entries by this user (--user is the acting user).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this date (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Up to and including this date.")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show audit entries, filtered by client, run, user (--by) and date range."""
    from atlas_xl.workflow.audit_queries import audit_entries

    entries = audit_entries(_open(db), user, client=client, run=run, actor=actor, since=since, until=until)
    lines = [f"{e['seq']:>6} {e['at'][:19]} {e['actor']:<16} {e['action']:<22} {e['entity']} {e['entity_id']}"
             f"  {json.dumps(e['before'], default=str)} -> {json.dumps(e['after'], default=str)}" for e in entries]
    _emit(as_json, {"entries": entries, "count": len(entries)}, "\n".join(lines) or "no entries")


@audit_app.command("verify")
def audit_verify(db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Check the hash chain; exit 1 naming the first bad entry if anything was edited, removed or moved."""
    from atlas_xl.workflow.audit_queries import verify_audit

    result = verify_audit(_open(db), user)
    _emit(as_json, result.to_dict(),
          f"audit trail OK: {result.problem}" if result.ok else f"audit trail BROKEN: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)
