"""Exactly-once execution of an approved run, through an outbox: its SEPA pain.001 file and the reviewer's list.

1. ONE transaction (under the store's write lock): check the run is approved and not stale, render its file
   (a function of the stored run and the requested execution date), then a conditional UPDATE approved ->
   executed (only one process wins) that stores the file's bytes, SHA-256, requested execution date and the
   folder it is to be delivered to, INSERT the (client, payout date) rows whose UNIQUE constraint refuses a
   second payment, and the audit entry. Commit.
2. Only after the commit is the file delivered: the stored bytes, written atomically under the run's fixed
   name into the recorded folder (idempotent: same bytes, same name), then `delivered_at` / `delivered_by`
   recorded and audited.
A crash before the commit leaves an approved run and no file; a crash after it leaves an executed run whose
file `execute` (run again) delivers. No payment file ever exists on disk for a run that is not executed.
`execute` of an executed and delivered run writes nothing; re-delivering is `deliver_run`, its own
permissioned and audited action.
"""

from __future__ import annotations

import hashlib
import os
import signal
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atlas_xl.domain.calendar import next_banking_date
from atlas_xl.domain.model import PAID_RUN_STATUSES, PayoutStatus, RunStatus
from atlas_xl.errors import ArgumentError, OutputError, WorkflowError
from atlas_xl.outputs.files import describe_os_error, safe_output_dir, write_atomic
from atlas_xl.outputs.sepa.pain001 import CreditTransfer, Debtor, PainVersion, build_pain001, write_reviewer_list
from atlas_xl.store import audit
from atlas_xl.store.database import Store, is_demo
from atlas_xl.store.models import AuditEntry, PaidPayout, PayoutRun, RunExclusion, RunPayout
from atlas_xl.workflow.bank import funding_check
from atlas_xl.workflow.common import (
    authorise,
    get_run,
    parse_run_ref,
    perform,
    run_state,
    run_summary,
    utc,
    utc_now,
)
from atlas_xl.workflow.permissions import Action
from atlas_xl.workflow.policies import policy_text, require_policy_of, run_policy
from atlas_xl.workflow.results import DeliveryResult, ExecutionResult
from atlas_xl.workflow.runs import snapshot_digest

CRASH_ENV = "ATLAS_CRASH_AT"
# in the order execute passes them: before the commit, after it, then the delivery's steps
CRASH_POINTS = ("after_build", "before_commit", "after_commit", "after_temp_write", "after_fsync", "after_rename",
                "after_delivered")


def _crash_point(step: str) -> None:
    """Test hook: ATLAS_CRASH_AT=<step> kills this process with SIGKILL here, as kill -9 or a power cut would
    (no exception, no rollback, no exit handlers)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def xml_file_name(run_id: int, demo: bool = False) -> str:
    """Derived only from the integer run id: no path can come from the data. A demo store's files say DEMO."""
    return f"{'DEMO-' if demo else ''}payout-run-R{int(run_id)}.xml"


def reviewer_file_name(run_id: int, demo: bool = False) -> str:
    return f"{'DEMO-' if demo else ''}payout-run-R{int(run_id)}-review.xlsx"


def requested_execution_date(payout_date: date, executed_on: date) -> date:
    """The later of the payout date and the next TARGET2 banking day from the execution day (the day
    itself when it is one): fixed when the run is first executed, stored with the file."""
    return max(payout_date, next_banking_date(executed_on))


def _transfers(session: Session, run: PayoutRun) -> list[CreditTransfer]:
    rows = session.execute(
        select(RunPayout).where(RunPayout.run_id == run.id).order_by(RunPayout.client_id)).scalars().all()
    snapshot = [{"client_id": r.client_id, "name": r.name, "country": r.country, "iban": r.iban, "bic": r.bic,
                 "amount_cents": int(r.amount_cents), "remittance": r.remittance} for r in rows]
    if snapshot_digest(snapshot, run_policy(run)) != run.snapshot_sha256 or sum(
            s["amount_cents"] for s in snapshot) != int(run.total_cents):
        raise WorkflowError(f"run R{run.id}'s payouts changed after it was proposed (snapshot hash mismatch); "
                            "refusing to pay it: propose a new run")
    return [CreditTransfer(end_to_end_id=r.end_to_end_id, client_id=r.client_id, amount_cents=int(r.amount_cents),
                           creditor_name=r.name, creditor_iban=r.iban, creditor_bic=r.bic or None,
                           remittance=r.remittance) for r in rows]


def render_run_file(session: Session, run: PayoutRun, version: str, execution_date: date | None = None) -> bytes:
    """The pain.001 bytes of a run: a function of the stored run and its requested execution date (the stored
    one once executed; else the date an execution today would request)."""
    if execution_date is None:
        execution_date = run.requested_execution_date or requested_execution_date(run.payout_date,
                                                                                   utc_now().date())
    tag = f"{'DEMO-' if is_demo(session) else ''}ATLAS-{run.payout_date:%Y%m%d}-R{run.id}"  # MsgId, PmtInfId
    return build_pain001(
        _transfers(session, run), Debtor(run.debtor_name, run.debtor_iban, run.debtor_bic),
        execution_date=execution_date, message_id=tag, payment_info_id=f"{tag}-P1",
        created_at=utc(run.proposed_at), version=PainVersion(version),
    )


def _stored_file(session: Session, run: PayoutRun) -> bytes:
    """The bytes recorded when the run was executed (a run executed before revision 0003 is rendered again
    as it was then, dated its payout date, and must match its recorded SHA-256)."""
    if run.file_bytes is not None:
        data = bytes(run.file_bytes)
    else:
        data = render_run_file(session, run, run.pain_version or PainVersion.V09.value, run.payout_date)
    if hashlib.sha256(data).hexdigest() != run.file_sha256:
        raise WorkflowError(f"run R{run.id}'s stored payment file does not match its recorded SHA-256 "
                            f"{(run.file_sha256 or '')[:12]}...; refusing to deliver it")
    return data


def _delivered_path(run: PayoutRun) -> Path:
    name = Path(run.file_name or xml_file_name(run.id)).name
    return Path(run.delivered_to) / name if run.delivered_to else Path(run.file_name or name)


def _sweep_stale_temps(folder: Path, final_name: str) -> None:
    """Remove temp files of this run left by a process that died (its pid is in the name and gone)."""
    for leftover in folder.glob(f".{final_name}.*.tmp"):
        parts = leftover.name.split(".")
        try:
            pid = int(parts[-3])
            os.kill(pid, 0)
        except ProcessLookupError:
            leftover.unlink(missing_ok=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


def _write_reviewer(session: Session, run: PayoutRun, folder: Path) -> Path | None:
    excluded = session.execute(
        select(RunExclusion.client_id, RunExclusion.name, RunExclusion.reasons)
        .where(RunExclusion.run_id == run.id).order_by(RunExclusion.client_id)).all()
    summary = run_summary(session, run)
    path = folder / reviewer_file_name(run.id, is_demo(session))
    info = {"Run": summary.ref, "Payout date": run.payout_date, "Status": run.status,
            "Proposed by": run.proposed_by, "Approved by": ", ".join(summary.approvals),
            "Executed by": run.executed_by or "", "File": Path(run.file_name or "").name,
            "SHA-256": run.file_sha256 or "", "pain.001 version": run.pain_version or "",
            "Payment policy": policy_text(run_policy(run))}
    changed = session.execute(select(RunPayout.client_id).where(
        RunPayout.run_id == run.id, RunPayout.bank_details_changed.is_(True))).scalars().all()
    write_reviewer_list(path, info, _transfers(session, run), [tuple(e) for e in excluded], changed=changed)
    return path


def _executed_since_proposed(session: Session, run_id: int) -> int | None:
    """Another run executed after this one was proposed (its amounts assumed that run's days unpaid), else
    None. Ordered by the audit trail's sequence, which every propose and execute appends to."""
    proposed = session.execute(select(func.max(AuditEntry.seq)).where(
        AuditEntry.action == "propose", AuditEntry.run_id == run_id)).scalar()
    if proposed is None:
        return None
    return session.execute(select(AuditEntry.run_id).where(
        AuditEntry.action == "execute", AuditEntry.run_id != run_id, AuditEntry.seq > proposed)
        .order_by(AuditEntry.seq).limit(1)).scalar()


def _parse_version(version: str) -> str:
    try:
        return PainVersion(version).value
    except ValueError:
        raise ArgumentError(f"{version!r} is not a pain.001 version; expected pain.001.001.09 or "
                            "pain.001.001.03") from None


def execute_run(store: Store, run_ref: str | int, user: str | None, out_dir: str | Path, *,
                version: str = "pain.001.001.09", executed_on: date | None = None) -> ExecutionResult:
    """Mark the run executed with its pain.001 file stored (one transaction), then deliver the file (and the
    reviewer's list) into `out_dir`. Run again after a crash: an executed run whose file was not delivered yet
    is delivered (into the folder recorded at execution); an executed and delivered run is left as it is."""
    run_id = parse_run_ref(run_ref)
    version = _parse_version(version)
    folder = Path(out_dir).expanduser().resolve()  # created on delivery, after the commit
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(f"--out {str(folder)!r} is a file; expected a folder")

    funding: list[str] = []

    def execute(session: Session) -> bool:
        funding.clear()
        actor = authorise(session, user, Action.EXECUTE)
        run = get_run(session, run_id, lock=True)
        if run.status in PAID_RUN_STATUSES:
            return False
        if run.status != RunStatus.APPROVED:
            needs = f" ({len(run_summary(session, run).approvals)}/{run.approvals_required} approvals)" \
                if run.status == RunStatus.PROPOSED else ""
            raise WorkflowError(f"run R{run_id} is {run.status}{needs}; only an approved run can be executed")
        require_policy_of(session, run, "executed")
        other = _executed_since_proposed(session, run_id)  # under the write lock: no execute can slip in
        if other is not None:
            raise WorkflowError(f"run R{run_id} was proposed before run R{other} was executed, so its amounts do "
                                f"not count what R{other} paid; nothing was paid: propose its date again")
        funding.append(funding_check(session, run))  # refuses a shortfall against the last camt.053 balance
        when = requested_execution_date(run.payout_date, executed_on or utc_now().date())
        data = render_run_file(session, run, version, when)
        _crash_point("after_build")
        sha = hashlib.sha256(data).hexdigest()
        before = run_state(run)
        won = session.execute(
            update(PayoutRun).where(PayoutRun.id == run_id, PayoutRun.status == RunStatus.APPROVED)
            .values(status=RunStatus.EXECUTED.value, executed_by=actor.name, executed_at=utc_now(),
                    file_name=xml_file_name(run_id, store.demo), file_sha256=sha, pain_version=version,
                    file_bytes=data,
                    requested_execution_date=when, delivered_to=str(folder))
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            return False
        payouts = session.execute(select(RunPayout.client_id).where(RunPayout.run_id == run_id)).scalars().all()
        session.execute(insert(PaidPayout), [{"client_id": c, "payout_date": run.payout_date, "run_id": run_id}
                                             for c in payouts])
        session.execute(update(RunPayout).where(RunPayout.run_id == run_id)
                        .values(status=PayoutStatus.PAID.value))
        session.refresh(run)
        audit.append(session, actor=actor.name, action="execute", entity="run", entity_id=f"R{run_id}",
                     run_id=run_id, before=before,
                     after={**run_state(run), "file": run.file_name, "pain_version": version,
                            "requested_execution_date": when, "deliver_to": str(folder)})
        _crash_point("before_commit")
        return True

    try:
        won = perform(store, user, Action.EXECUTE, "run", f"R{run_id}", execute, run_id=run_id)
    except IntegrityError:  # rolled back: the run is still approved, nothing is on disk
        raise WorkflowError(f"run R{run_id} pays a client already paid for its payout date in another executed "
                            "run; nothing was paid: propose a new run") from None
    _crash_point("after_commit")
    return replace(_deliver_pending(store, run_id, user, executed_now=won), funding=funding[-1] if funding else "")


def _deliver_pending(store: Store, run_id: int, user: str | None, *, executed_now: bool) -> ExecutionResult:
    with store.transaction() as session:
        run = get_run(session, run_id)
        pending = run.delivered_at is None
        path, sha = _delivered_path(run), str(run.file_sha256)
        data = _stored_file(session, run) if pending else b""
    if pending:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _sweep_stale_temps(path.parent, path.name)
            write_atomic(path, data, step=_crash_point)
        except (OSError, OutputError) as error:
            reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
            raise OutputError(f"run R{run_id} is executed but its payment file could not be delivered to "
                              f"{str(path.parent)!r}: {reason}; run the same execute command again to deliver "
                              "it (nothing is paid twice)") from None

        def record(session: Session) -> None:
            actor = authorise(session, user, Action.EXECUTE)
            stamp = utc_now()
            done = session.execute(
                update(PayoutRun).where(PayoutRun.id == run_id, PayoutRun.delivered_at.is_(None))
                .values(delivered_at=stamp, delivered_by=actor.name)
                .execution_options(synchronize_session=False)).rowcount
            if done == 1:
                audit.append(session, actor=actor.name, action="deliver", entity="run", entity_id=f"R{run_id}",
                             run_id=run_id, before=None,
                             after={"file": path.name, "folder": str(path.parent), "file_sha256": sha,
                                    "delivered_at": stamp})

        perform(store, user, Action.EXECUTE, "run", f"R{run_id}", record, run_id=run_id)
        _crash_point("after_delivered")
    with store.transaction() as session:
        run = get_run(session, run_id)
        reviewer = path.parent / reviewer_file_name(run_id, store.demo)
        if not reviewer.is_file():
            try:
                _write_reviewer(session, run, path.parent)
            except OSError as error:  # paid and recorded: say so, and how to get the list
                raise OutputError(
                    f"run R{run_id} is executed and its payment file {str(path)!r} is written, but the reviewer "
                    f"list could not be written: {describe_os_error(error)}; run the same execute command again "
                    f"to write it (nothing is paid twice)") from None
        return ExecutionResult(run_summary(session, run), path, sha, reviewer, already_executed=not executed_now)


def deliver_run(store: Store, run_ref: str | int, user: str | None, out_dir: str | Path) -> DeliveryResult:
    """Deliver an executed run's stored payment file (again) into `out_dir`: its own permissioned, audited
    action, saying when and where it was delivered before. The bytes are the ones recorded at execution."""
    run_id = parse_run_ref(run_ref)
    folder = safe_output_dir(out_dir)

    def read(session: Session) -> tuple[bytes, str, datetime | None, str | None]:
        authorise(session, user, Action.DELIVER)
        run = get_run(session, run_id)
        if run.status not in PAID_RUN_STATUSES:
            raise WorkflowError(f"run R{run_id} is {run.status}; only an executed run's file can be delivered "
                                "(execute it first)")
        before_to = str(_delivered_path(run).parent) if run.delivered_at is not None else None
        return _stored_file(session, run), str(run.file_sha256), run.delivered_at, before_to

    data, sha, before_at, before_to = perform(store, user, Action.DELIVER, "run", f"R{run_id}", read,
                                              run_id=run_id, write=False)
    path = folder / xml_file_name(run_id, store.demo)
    _sweep_stale_temps(folder, path.name)
    write_atomic(path, data)

    def record(session: Session) -> DeliveryResult:
        actor = authorise(session, user, Action.DELIVER)
        run = get_run(session, run_id, lock=True)
        stamp = utc_now()
        run.delivered_at, run.delivered_by, run.delivered_to = stamp, actor.name, str(folder)
        run.file_name = path.name
        audit.append(session, actor=actor.name, action="redeliver" if before_at else "deliver", entity="run",
                     entity_id=f"R{run_id}", run_id=run_id,
                     before={"delivered_at": before_at and utc(before_at), "folder": before_to},
                     after={"delivered_at": stamp, "folder": str(folder), "file": path.name, "file_sha256": sha})
        session.flush()
        return DeliveryResult(run_summary(session, run), path, sha,
                              None if before_at is None else utc(before_at), before_to)

    return perform(store, user, Action.DELIVER, "run", f"R{run_id}", record, run_id=run_id)
