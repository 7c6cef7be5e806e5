"""Exactly-once execution of an approved run: its SEPA pain.001 file and the reviewer's list.

The file's bytes depend only on the stored run, so any retry produces the same file; the file is written to a
temp file, fsynced and renamed into place BEFORE the one transaction that flips the run approved -> executed
with a conditional UPDATE (only one process can win it) and inserts the (client, payout date) rows whose
UNIQUE constraint refuses a second payment. A crash anywhere leaves the run either executed with its file,
or approved and safe to execute again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atlas_xl.domain.model import PAID_RUN_STATUSES, PayoutStatus, RunStatus
from atlas_xl.errors import ArgumentError, OutputError, WorkflowError
from atlas_xl.outputs.files import describe_os_error
from atlas_xl.outputs.sepa.pain001 import CreditTransfer, Debtor, PainVersion, build_pain001, write_reviewer_list
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import AuditEntry, PaidPayout, PayoutRun, RunExclusion, RunPayout
from atlas_xl.workflow.common import authorise, get_run, parse_run_ref, perform, run_state, run_summary, utc, utc_now
from atlas_xl.workflow.permissions import Action
from atlas_xl.workflow.results import ExecutionResult
from atlas_xl.workflow.runs import snapshot_digest

CRASH_ENV = "ATLAS_CRASH_AT"
CRASH_POINTS = ("after_build", "after_temp_write", "after_fsync", "after_rename", "before_commit",
                "after_commit")


def _crash_point(step: str) -> None:
    """Test hook: ATLAS_CRASH_AT=<step> kills the process here, as a power cut would."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(86)


def xml_file_name(run_id: int) -> str:
    """Derived only from the integer run id: no path can come from the data."""
    return f"payout-run-R{int(run_id)}.xml"


def reviewer_file_name(run_id: int) -> str:
    return f"payout-run-R{int(run_id)}-review.xlsx"


def _transfers(session: Session, run: PayoutRun) -> list[CreditTransfer]:
    rows = session.execute(
        select(RunPayout).where(RunPayout.run_id == run.id).order_by(RunPayout.client_id)).scalars().all()
    snapshot = [{"client_id": r.client_id, "name": r.name, "country": r.country, "iban": r.iban, "bic": r.bic,
                 "amount_cents": int(r.amount_cents), "remittance": r.remittance} for r in rows]
    if snapshot_digest(snapshot) != run.snapshot_sha256 or sum(s["amount_cents"] for s in snapshot) != int(
            run.total_cents):
        raise WorkflowError(f"run R{run.id}'s payouts changed after it was proposed (snapshot hash mismatch); "
                            "refusing to pay it: propose a new run")
    return [CreditTransfer(end_to_end_id=r.end_to_end_id, client_id=r.client_id, amount_cents=int(r.amount_cents),
                           creditor_name=r.name, creditor_iban=r.iban, creditor_bic=r.bic or None,
                           remittance=r.remittance) for r in rows]


def render_run_file(session: Session, run: PayoutRun, version: str) -> bytes:
    """The pain.001 bytes of a run: a function of the stored run only (same run -> same bytes)."""
    tag = f"ATLAS-{run.payout_date:%Y%m%d}-R{run.id}"
    return build_pain001(
        _transfers(session, run), Debtor(run.debtor_name, run.debtor_iban, run.debtor_bic),
        execution_date=run.payout_date, message_id=tag, payment_info_id=f"{tag}-P1",
        created_at=utc(run.proposed_at), version=PainVersion(version),
    )


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


def _write_atomic(path: Path, data: bytes) -> None:
    """temp file (named with our pid) -> write -> fsync -> rename over `path` -> fsync the folder."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            _crash_point("after_temp_write")
            os.fsync(fh.fileno())
        _crash_point("after_fsync")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _ensure_file(path: Path, data: bytes, sha: str) -> None:
    """Double click / lost file: put the recorded bytes back if the file is missing or differs."""
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
        return
    if hashlib.sha256(data).hexdigest() != sha:
        raise WorkflowError(f"cannot reproduce the executed file of this run at {path.name}: its SHA-256 "
                            f"would differ from the recorded {sha[:12]}...; expected the same bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)


def _write_reviewer(session: Session, run: PayoutRun, folder: Path) -> Path | None:
    excluded = session.execute(
        select(RunExclusion.client_id, RunExclusion.name, RunExclusion.reasons)
        .where(RunExclusion.run_id == run.id).order_by(RunExclusion.client_id)).all()
    summary = run_summary(session, run)
    path = folder / reviewer_file_name(run.id)
    info = {"Run": summary.ref, "Payout date": run.payout_date, "Status": run.status,
            "Proposed by": run.proposed_by, "Approved by": ", ".join(summary.approvals),
            "Executed by": run.executed_by or "", "File": Path(run.file_name or "").name,
            "SHA-256": run.file_sha256 or "", "pain.001 version": run.pain_version or ""}
    write_reviewer_list(path, info, _transfers(session, run), [tuple(e) for e in excluded])
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


def _stale(run_id: int, other: int) -> WorkflowError:
    return WorkflowError(f"run R{run_id} was proposed before run R{other} was executed, so its amounts do not "
                         f"count what R{other} paid; nothing was paid: propose its date again")


def execute_run(store: Store, run_ref: str | int, user: str | None, out_dir: str | Path, *,
                version: str = "pain.001.001.09") -> ExecutionResult:
    """Write the run's pain.001 file (and the reviewer's list) into `out_dir` and mark the run executed.

    Sequence (each step safe to die in): 1. check + render the bytes (read only); 2. temp file, fsync,
    atomic rename to the final name; 3. ONE transaction: UPDATE ... SET executed WHERE status='approved'
    (exactly one process wins), INSERT paid_payouts (UNIQUE client+date), audit entry, commit;
    4. reviewer list. A second call on an executed run returns the recorded file (rewriting the same
    bytes if it went missing).
    """
    run_id = parse_run_ref(run_ref)
    try:
        version = PainVersion(version).value
    except ValueError:
        raise ArgumentError(f"{version!r} is not a pain.001 version; expected pain.001.001.09 or "
                            "pain.001.001.03") from None
    folder = Path(out_dir).expanduser().resolve()
    final = folder / xml_file_name(run_id)

    def prepare(session: Session) -> tuple[str, bytes]:
        authorise(session, user, Action.EXECUTE)
        run = get_run(session, run_id)
        if run.status in PAID_RUN_STATUSES:
            return "done", b""
        if run.status != RunStatus.APPROVED:
            needs = f" ({len(run_summary(session, run).approvals)}/{run.approvals_required} approvals)" \
                if run.status == RunStatus.PROPOSED else ""
            raise WorkflowError(f"run R{run_id} is {run.status}{needs}; only an approved run can be executed")
        other = _executed_since_proposed(session, run_id)
        if other is not None:
            raise _stale(run_id, other)
        return "todo", render_run_file(session, run, version)

    state, data = perform(store, user, Action.EXECUTE, "run", f"R{run_id}", prepare, run_id=run_id,
                           write=False)
    if state == "done":
        return _already_executed(store, run_id, user)
    _crash_point("after_build")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ArgumentError(f"cannot create the output folder {str(folder)!r}: {error.strerror}") from None
    _sweep_stale_temps(folder, final.name)
    _write_atomic(final, data)
    _crash_point("after_rename")
    sha = hashlib.sha256(data).hexdigest()

    def record(session: Session) -> tuple[bool, ExecutionResult | None]:
        actor = authorise(session, user, Action.EXECUTE)
        run = get_run(session, run_id)
        before = run_state(run)
        won = session.execute(
            update(PayoutRun).where(PayoutRun.id == run_id, PayoutRun.status == RunStatus.APPROVED)
            .values(status=RunStatus.EXECUTED, executed_by=actor.name, executed_at=utc_now(), file_name=str(final),
                    file_sha256=sha, pain_version=version)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            return False, None
        other = _executed_since_proposed(session, run_id)  # under the write lock: no execute can slip in
        if other is not None:
            raise _StaleRun(other)
        payouts = session.execute(
            select(RunPayout.client_id).where(RunPayout.run_id == run_id)).scalars().all()
        session.execute(insert(PaidPayout), [{"client_id": c, "payout_date": run.payout_date, "run_id": run_id}
                                             for c in payouts])
        session.execute(update(RunPayout).where(RunPayout.run_id == run_id).values(status=PayoutStatus.PAID))
        session.refresh(run)
        audit.append(session, actor=actor.name, action="execute", entity="run", entity_id=f"R{run_id}",
                     run_id=run_id, before=before,
                     after={**run_state(run), "file": final.name, "pain_version": version})
        _crash_point("before_commit")
        return True, None

    try:
        won, _ = perform(store, user, Action.EXECUTE, "run", f"R{run_id}", record, run_id=run_id)
    except _StaleRun as stale:  # rolled back: the run is still approved
        _remove_if_ours(final, sha)
        raise _stale(run_id, stale.other) from None
    except IntegrityError as error:
        _remove_if_ours(final, sha)
        raise WorkflowError(f"run R{run_id} pays a client already paid for its payout date in another executed "
                            f"run ({_constraint_detail(error)}); nothing was paid: propose a new run") from None
    if not won:
        with store.transaction() as session:
            lost_to = get_run(session, run_id)
            status, recorded = lost_to.status, lost_to.file_name
        if status in PAID_RUN_STATUSES:
            if recorded and Path(recorded) != final:
                _remove_if_ours(final, sha)  # another process won into another folder: one file only
            return _already_executed(store, run_id, user)
        _remove_if_ours(final, sha)  # e.g. cancelled meanwhile: no file may stay behind for an unpaid run
        raise WorkflowError(f"run R{run_id} became {status} while it was being executed; nothing was paid")
    _crash_point("after_commit")
    with store.transaction() as session:
        run = get_run(session, run_id)
        try:
            reviewer = _write_reviewer(session, run, folder)
        except OSError as error:  # paid and recorded: say so, and how to get the list
            raise OutputError(
                f"run R{run_id} is executed and its payment file {str(final)!r} is written, but the reviewer "
                f"list could not be written: {describe_os_error(error)}; run the same execute command again "
                f"to write it (nothing is paid twice)") from None
        return ExecutionResult(run_summary(session, run), final, sha, reviewer, already_executed=False)


class _StaleRun(Exception):
    def __init__(self, other: int) -> None:
        super().__init__(other)
        self.other = other


def _constraint_detail(error: IntegrityError) -> str:
    text = str(error.orig).strip().splitlines()[0] if error.orig else "unique constraint"
    return text[:200]


def _remove_if_ours(path: Path, sha: str) -> None:
    try:
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
            path.unlink()
    except OSError:
        pass


def _already_executed(store: Store, run_id: int, user: str | None) -> ExecutionResult:
    with store.transaction() as session:
        run = get_run(session, run_id)
        if not run.file_name or not run.file_sha256 or not run.pain_version:
            raise WorkflowError(f"run R{run_id} is {run.status} but has no recorded file")
        path = Path(run.file_name)
        if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == run.file_sha256):
            _ensure_file(path, render_run_file(session, run, run.pain_version), run.file_sha256)
        reviewer = path.parent / reviewer_file_name(run_id)
        if not reviewer.is_file():
            reviewer = _write_reviewer(session, run, path.parent)
        return ExecutionResult(run_summary(session, run), path, run.file_sha256, reviewer, already_executed=True)
