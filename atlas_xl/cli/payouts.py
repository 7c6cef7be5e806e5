"""CLI for the payout workflow: `atlas-xl users|payouts|audit ...`, thin wrappers over atlas_xl.workflow.

Every command takes --db (else ATLAS_DB_URL, else the default SQLite file), --user (else ATLAS_USER; accepted
by a demo store only: elsewhere the acting user is the OS account on SQLite, the login on PostgreSQL) and
--json (one JSON object on stdout for scripts). A demo store's output starts with DEMO (JSON: "demo": true).
Errors are AtlasErrors; atlas_xl.cli.app.main maps them to exit
codes (PermissionDenied -> 3). The database URL is only ever shown with its password masked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from atlas_xl.cli.common import get_current_context
from atlas_xl.domain.money import format_eur

store_app = typer.Typer(help="Create a store (normal, or a demo store for trying Atlas alone).",
                        no_args_is_help=True)
users_app = typer.Typer(help="Users and roles of the store.", no_args_is_help=True)
payouts_app = typer.Typer(help="Payout runs: propose, approve, execute (SEPA file), settle.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", envvar="ATLAS_DB_URL", show_envvar=True,
                                           help="Database URL (sqlite:///file.db or postgresql+psycopg://...).")]
UserOpt = Annotated[str | None, typer.Option(
    "--user", envvar="ATLAS_USER", show_envvar=True,
    help="Demo stores only: the user to act as. Elsewhere the acting user is your OS account (SQLite) or your "
         "PostgreSQL login, and --user is refused.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]
RunArg = Annotated[str, typer.Argument(help="Run id, e.g. R12.", metavar="RUN")]


DEMO_KEY = "atlas_xl.demo_store"  # ctx.meta: the store this command opened is a demo store
ADVISORY = ("note: on a SQLite store four-eyes is advisory (whoever owns the store file can change it); "
            "use the PostgreSQL deployment for real money")


def _open(db: str | None, *, demo: bool | None = None):  # type: ignore[no-untyped-def]
    from atlas_xl.cli.common import resolve_db
    from atlas_xl.store.database import open_store

    # --db after the command, else --db before it, else ATLAS_DB_URL
    store = open_store(resolve_db(db), demo=demo)
    ctx = get_current_context(silent=True)
    if ctx is not None and store.demo:
        ctx.meta[DEMO_KEY] = True
    return store


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    ctx = get_current_context(silent=True)
    demo = ctx is not None and bool(ctx.meta.get(DEMO_KEY))
    if as_json:
        typer.echo(json.dumps({**payload, "demo": True} if demo else payload, ensure_ascii=False, sort_keys=True,
                              default=str))
    else:
        typer.echo(f"DEMO store (not for real money): {text}" if demo else text)


def _audit_head_line(store: Any) -> str:
    from atlas_xl.workflow.audit_queries import audit_head

    seq, head = audit_head(store)
    return f"audit head: entry {seq}, hash {head} (keep it, or `atlas-xl audit export`, outside the database)"


# ---------------------------------------------------------------------------------------------- store


@store_app.command("init")
def store_init(demo: Annotated[bool, typer.Option("--demo", help="Create a demo store: --user may name any user, "
                                                                  "and its files and audit entries say DEMO. "
                                                                  "Fixed for the store's life.")] = False,
               db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Create the store (or check an existing one is of the kind asked for: a store's kind never changes)."""
    store = _open(db, demo=demo)
    acts = {"demo": "the user --user names", "sqlite": "your operating-system account",
            "postgresql": "your PostgreSQL login (session_user)"}[store.kind]
    _emit(as_json, {"db": store.display_url, "kind": store.kind},
          f"{'demo' if store.demo else 'normal'} store {store.display_url}: the acting user is {acts}")


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
    from atlas_xl.workflow.bank import bank_statuses

    bank = bank_statuses(_open(db), user, run)
    lines.append(f"payment policy {policy_text(head.policy)}")
    lines += [f"  {p.client_id:<20} {format_eur(p.amount_cents):>20}  {p.status:<9} {p.iban}  {p.name}"
              + ("  [BANK DETAILS CHANGED since the last executed payout]" if p.bank_details_changed else "")
              + _bank_text(bank.get(p.client_id)) for p in detail.payouts]
    if detail.excluded:
        lines.append("excluded:")
        lines += [f"  {e.client_id:<20} {e.reasons}" for e in detail.excluded]
    payload = detail.to_dict()
    for line in payload["payouts"]:
        status = bank.get(line["client_id"])
        line["bank_status"] = None if status is None else status.state
        line["bank_reason"] = None if status is None else status.reason_code
        line["owed_again"] = bool(status and status.owed_again)
    _emit(as_json, payload, "\n".join(lines))


def _bank_text(status: Any) -> str:
    if status is None or status.state is None:
        return ""
    reason = f" {status.reason_code}" if status.reason_code else ""
    return f"  bank: {status.state}{reason}{' (owed again)' if status.owed_again else ''}"


@payouts_app.command("approve")
def payouts_approve(run: RunArg, db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Approve a proposed run (never your own; large runs need two distinct approvers)."""
    from atlas_xl.workflow.runs import approve_run

    store = _open(db)
    summary = approve_run(store, run, user)
    advisory = store.dialect == "sqlite"
    by = summary.approvals[-1] if summary.approvals else "?"
    _emit(as_json, {**summary.to_dict(), "four_eyes_advisory": advisory},
          f"{by} approved run {summary.ref} ({len(summary.approvals)}/{summary.approvals_required}): "
          f"status {summary.status}" + (f"\n{ADVISORY}" if advisory else ""))


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
    store = _open(db)
    result = execute_run(store, run, user, out, version=versions[version.strip()])
    what = "was already executed" if result.already_executed else "executed"
    head = _audit_head_line(store)
    _emit(as_json, {**result.to_dict(), "audit_head": head},
          f"run {result.run.ref} {what}: {result.run.payout_count} payouts, {format_eur(result.run.total_cents)}"
          f"\n  file {result.xml_path} (sha256 {result.sha256})\n  reviewer list {result.reviewer_path}"
          + (f"\n  {result.funding}" if result.funding else "") + f"\n{head}")


@payouts_app.command("deliver")
def payouts_deliver(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to deliver the run's stored pain.001 file into.")],
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Deliver an executed run's payment file again (the stored bytes; audited; finance or admin)."""
    from atlas_xl.workflow.execution import deliver_run

    store = _open(db)
    result = deliver_run(store, run, user, out)
    head = _audit_head_line(store)
    _emit(as_json, {**result.to_dict(), "audit_head": head}, f"{result.line()}\n{head}")


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


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="Checkpoint file to write (keep it outside the database's "
                                                    "reach: another machine, a signed mail, paper).")],
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Write a checkpoint of the audit trail (head entry and hash, every entry's hash, time, SHA-256)."""
    from atlas_xl.outputs.files import write_atomic
    from atlas_xl.workflow.audit_queries import export_checkpoint

    checkpoint = export_checkpoint(_open(db), user)
    write_atomic(out, (json.dumps(checkpoint, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode())
    summary = {k: checkpoint[k] for k in ("head_seq", "head_hash", "at", "sha256")}
    _emit(as_json, {"checkpoint": str(out), **summary},
          f"audit checkpoint {out}: entry {summary['head_seq']}, hash {summary['head_hash']}, at {summary['at']} "
          f"(file sha256 {summary['sha256']}); verify later with `atlas-xl audit verify --against {out}`")


@audit_app.command("verify")
def audit_verify(
    against: Annotated[Path | None, typer.Option("--against", help="A checkpoint from `audit export`: also "
                                                                   "finds a chain rewritten after it.")] = None,
    db: DbOpt = None, user: UserOpt = None, as_json: JsonOpt = False,
) -> None:
    """Check the hash chain; exit 1 naming the first bad entry if anything was edited, removed or moved."""
    from atlas_xl.workflow.audit_queries import verify_audit

    result = verify_audit(_open(db), user, against)
    _emit(as_json, result.to_dict(),
          f"audit trail OK: {result.problem}" if result.ok else f"audit trail BROKEN: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)
