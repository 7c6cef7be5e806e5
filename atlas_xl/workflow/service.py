"""The payout workflow service: the one API that the CLI and the Excel macros call.

Lifecycle of a run: proposed -> approved -> executed (SEPA file written) -> settled; or cancelled /
superseded before execution. Single payouts of an executed run can be marked settled, returned or rejected.

Every function takes the acting user's name and checks it against the stored users and the permission
table (atlas_xl.workflow.permissions). A refusal raises PermissionDenied and is itself appended to the audit trail
in its own committed transaction. Every change is audited in the same transaction as the change.

Exactly-once execution (see `execute_run`): the file's bytes depend only on the stored run, so any retry
produces the same file; the file is written to a temp file, fsynced and renamed into place BEFORE the one
transaction that flips the run approved -> executed with a conditional UPDATE (only one process can win
it) and inserts the (client, payout date) rows whose UNIQUE constraint refuses a second payment. A crash
anywhere leaves the run either executed with its file, or approved and safe to execute again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import String, cast, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atlas_xl.domain.model import CLIENT_ID_PATTERN
from atlas_xl.domain.money import format_eur
from atlas_xl.errors import ArgumentError, AtlasError, DateError, OutputError, PermissionDenied, WorkflowError
from atlas_xl.outputs.files import describe_os_error, write_atomic
from atlas_xl.settings import Settings, load_settings
from atlas_xl.store import audit
from atlas_xl.store.database import (
    AuditEntry,
    CreditLimitOverride,
    PaidPayout,
    PayoutRun,
    ReserveTermOverride,
    RunApproval,
    RunExclusion,
    RunPayout,
    Store,
    User,
    write_lock,
)
from atlas_xl.workflow.permissions import Action, Role, parse_role, require


class RunStatus:
    PROPOSED = "proposed"
    APPROVED = "approved"
    EXECUTED = "executed"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


class PayoutStatus:
    PENDING = "pending"  # in a run that has not been executed
    PAID = "paid"  # sent in an executed run's file
    SETTLED = "settled"
    RETURNED = "returned"
    REJECTED = "rejected"


OPEN_STATUSES = (RunStatus.PROPOSED, RunStatus.APPROVED)
PAID_STATUSES = (RunStatus.EXECUTED, RunStatus.SETTLED)  # its file has gone to the bank
PAYOUT_COLUMNS = ("client_id", "name", "country", "iban", "bic", "amount_cents", "ready", "reasons", "remittance")
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_RUN_REF = re.compile(r"^[Rr]?([0-9]{1,9})$")
CRASH_ENV = "ATLAS_CRASH_AT"
CRASH_POINTS = ("after_build", "after_temp_write", "after_fsync", "after_rename", "before_commit",
                "after_commit")

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    ref: str
    payout_date: date
    status: str
    total_cents: int
    payout_count: int
    excluded_count: int
    approvals: tuple[str, ...]
    approvals_required: int
    proposed_by: str
    executed_by: str | None
    file_name: str | None
    file_sha256: str | None
    pain_version: str | None
    superseded_by: int | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["payout_date"] = self.payout_date.isoformat()
        data["approvals"] = list(self.approvals)
        data["total"] = format_eur(self.total_cents)
        return data

    def line(self) -> str:
        approvals = f"{len(self.approvals)}/{self.approvals_required} approvals"
        return (f"{self.ref}  {self.payout_date.isoformat()}  {self.status:<10}  {format_eur(self.total_cents)}  "
                f"{self.payout_count} payouts, {self.excluded_count} excluded, {approvals}")


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    payouts: tuple[dict[str, Any], ...]
    excluded: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "payouts": list(self.payouts), "excluded": list(self.excluded)}


@dataclass(frozen=True)
class ExecutionResult:
    run: RunSummary
    xml_path: Path
    sha256: str
    reviewer_path: Path | None
    already_executed: bool
    superseded: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "xml_path": str(self.xml_path), "sha256": self.sha256,
                "reviewer_path": None if self.reviewer_path is None else str(self.reviewer_path),
                "already_executed": self.already_executed}


@dataclass(frozen=True)
class ProposeResult:
    run: RunSummary
    superseded: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "superseded": [f"R{i}" for i in self.superseded]}


# ---------------------------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_run_ref(text: str | int) -> int:
    """'R12', 'r12' or '12' -> 12; anything else (paths, SQL, ...) is refused."""
    match = _RUN_REF.match(str(text).strip())
    if not match or int(match.group(1)) < 1:
        raise ArgumentError(f"{str(text)[:60]!r} is not a payout run id; expected e.g. R12 (see `payouts list`)")
    return int(match.group(1))


def parse_date(text: str | date) -> date:
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise DateError(f"{str(text)[:40]!r} is not a date; expected YYYY-MM-DD, e.g. 2024-03-28") from None


def _crash_point(step: str) -> None:
    """Test hook: ATLAS_CRASH_AT=<step> kills the process here, as a power cut would."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(86)


def _acting_user(session: Session, name: str | None) -> User:
    if not name or not name.strip():
        raise PermissionDenied("no acting user; pass --user NAME or set ATLAS_USER")
    user = session.execute(select(User).where(User.name == name.strip())).scalar_one_or_none()
    if user is None:
        raise PermissionDenied(f"unknown user {name[:64]!r}; an admin adds users with `atlas-xl users add`")
    if not user.active:
        raise PermissionDenied(f"user {user.name!r} is deactivated")
    return user


def _authorise(session: Session, name: str | None, action: Action) -> User:
    user = _acting_user(session, name)
    require(user.name, user.role, action)
    return user


def _perform(store: Store, user: str | None, action: Action, entity: str, entity_id: str,
             work: Callable[[Session], T], *, run_id: int | None = None, client_id: str | None = None,
             write: bool = True) -> T:
    """Run `work` in one transaction; a refusal is recorded in the audit trail and then re-raised."""
    try:
        with store.transaction() as session:
            if write:
                write_lock(session)
            return work(session)
    except PermissionDenied as denied:
        with store.transaction() as session:
            audit.append(session, actor=(user or "(none)").strip()[:64] or "(none)", action="refused",
                         entity=entity, entity_id=entity_id, run_id=run_id, client_id=client_id,
                         before=None, after={"action": action.value, "reason": str(denied)})
        raise


def _get_run(session: Session, run_id: int, *, lock: bool = False) -> PayoutRun:
    query = select(PayoutRun).where(PayoutRun.id == run_id)
    if lock:
        query = query.with_for_update()
    run = session.execute(query).scalar_one_or_none()
    if run is None:
        raise ArgumentError(f"no payout run R{run_id}; expected a run id from `atlas-xl payouts list`")
    return run


def _summary(session: Session, run: PayoutRun) -> RunSummary:
    approvers = session.execute(
        select(RunApproval.user_name).where(RunApproval.run_id == run.id).order_by(RunApproval.id)
    ).scalars().all()
    return RunSummary(
        run_id=run.id, ref=f"R{run.id}", payout_date=run.payout_date, status=run.status,
        total_cents=int(run.total_cents), payout_count=int(run.payout_count),
        excluded_count=int(run.excluded_count), approvals=tuple(approvers),
        approvals_required=int(run.approvals_required), proposed_by=run.proposed_by,
        executed_by=run.executed_by, file_name=run.file_name, file_sha256=run.file_sha256,
        pain_version=run.pain_version, superseded_by=run.superseded_by,
    )


def _state(run: PayoutRun) -> dict[str, Any]:
    """The audit's before/after view of a run."""
    return {"status": run.status, "total_cents": int(run.total_cents), "payout_count": int(run.payout_count),
            "file_sha256": run.file_sha256}


# ---------------------------------------------------------------------------------------------- users


def add_user(store: Store, actor: str | None, name: str, role: Role | str) -> UserInfo:
    """Add a user. On an empty store the first user must be an admin and needs no acting user."""
    role = parse_role(str(role))
    name = name.strip() if isinstance(name, str) else ""
    if not _USER_NAME.match(name):
        raise ArgumentError(f"{name[:70]!r} is not a user name; expected 1-64 of A-Z a-z 0-9 _ . @ -")

    def work(session: Session) -> UserInfo:
        count = session.execute(select(func.count()).select_from(User)).scalar_one()
        if count == 0:
            if role is not Role.ADMIN:
                raise PermissionDenied(f"the store has no users yet; the first user must be an admin, not {role}")
            by = name
        else:
            by = _authorise(session, actor, Action.MANAGE_USERS).name
            if session.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
                raise WorkflowError(f"user {name!r} already exists; expected a new name")
        session.add(User(name=name, role=role.value, active=True, created_at=_now(), created_by=by))
        info = UserInfo(name, role.value, True)
        audit.append(session, actor=by, action="user_add", entity="user", entity_id=name, before=None,
                     after=info.to_dict())
        return info

    return _perform(store, actor, Action.MANAGE_USERS, "user", name, work)


def list_users(store: Store, actor: str | None) -> list[UserInfo]:
    def work(session: Session) -> list[UserInfo]:
        _authorise(session, actor, Action.MANAGE_USERS)
        users = session.execute(select(User).order_by(User.name)).scalars().all()
        return [UserInfo(u.name, u.role, bool(u.active)) for u in users]

    return _perform(store, actor, Action.MANAGE_USERS, "user", "*", work, write=False)


def deactivate_user(store: Store, actor: str | None, name: str) -> UserInfo:
    def work(session: Session) -> UserInfo:
        admin = _authorise(session, actor, Action.MANAGE_USERS)
        user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            raise ArgumentError(f"unknown user {name[:64]!r}; expected a name from `atlas-xl users list`")
        if not user.active:
            raise WorkflowError(f"user {name!r} is already deactivated")
        if user.name == admin.name:
            raise WorkflowError(f"user {name!r} cannot deactivate themselves; another admin must do it")
        before = UserInfo(user.name, user.role, True)
        user.active = False
        after = UserInfo(user.name, user.role, False)
        audit.append(session, actor=admin.name, action="user_deactivate", entity="user", entity_id=name,
                     before=before.to_dict(), after=after.to_dict())
        return after

    return _perform(store, actor, Action.MANAGE_USERS, "user", name, work)


# ---------------------------------------------------------------------------------------------- propose


def _snapshot_digest(rows: Sequence[dict[str, Any]]) -> str:
    keys = ("client_id", "name", "country", "iban", "bic", "amount_cents", "remittance")
    canon = [[row[k] for k in keys] for row in sorted(rows, key=lambda r: r["client_id"])]
    return hashlib.sha256(audit.canonical_json(canon).encode("utf-8")).hexdigest()


def _clean_frame(payouts: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PAYOUT_COLUMNS if c not in payouts.columns]
    if missing:
        raise ArgumentError(f"payouts frame lacks column(s) {', '.join(missing)}; expected {', '.join(PAYOUT_COLUMNS)}")
    frame = payouts.loc[:, list(PAYOUT_COLUMNS)].copy()
    for column in ("client_id", "name", "country", "iban", "reasons", "remittance"):
        frame[column] = frame[column].fillna("").astype(str)
    bic = frame["bic"].astype(object)
    frame["bic"] = bic.where(bic.notna() & (bic.astype(str).str.strip() != ""), None)
    if not pd.api.types.is_integer_dtype(frame["amount_cents"]):
        raise ArgumentError(f"amount_cents has dtype {frame['amount_cents'].dtype}; expected int64 cents")
    frame["ready"] = frame["ready"].astype(bool)
    bad_ids = frame.loc[~frame["client_id"].str.match(_CLIENT_ID.pattern), "client_id"]
    if len(bad_ids):
        raise ArgumentError(f"client_id {bad_ids.iloc[0][:40]!r} is not valid; expected 1-20 of A-Z a-z 0-9 _ -")
    dupes = frame.loc[frame["client_id"].duplicated(), "client_id"]
    if len(dupes):
        raise ArgumentError(f"client_id {dupes.iloc[0]!r} appears twice in the payouts; expected one row per client")
    not_positive = frame.loc[frame["ready"] & (frame["amount_cents"] <= 0), "client_id"]
    if len(not_positive):
        raise ArgumentError(f"client {not_positive.iloc[0]!r} is ready with an amount <= 0; expected a positive amount")
    return frame


def propose_run(store: Store, payouts: pd.DataFrame, payout_date: date | str, user: str | None, *,
                settings: Settings | None = None, source: str = "") -> ProposeResult:
    """Snapshot the ready payouts of `payouts` (compute_payouts' frame) as a new run for `payout_date`.

    Open (proposed / approved) runs for the same date are superseded. Clients already paid for that date in
    an executed run are left out with reason ALREADY_PAID.
    """
    payout_date = parse_date(payout_date)
    settings = settings or load_settings()
    frame = _clean_frame(payouts)

    def work(session: Session) -> ProposeResult:
        actor = _authorise(session, user, Action.PROPOSE)
        latest = session.execute(select(func.max(PayoutRun.payout_date)).where(
            PayoutRun.status.in_(PAID_STATUSES))).scalar()
        if latest is not None and latest > payout_date:  # its days up to `latest` were paid by that run
            raise WorkflowError(f"a run for {latest.isoformat()} is already executed; a run for "
                                f"{payout_date.isoformat()} would pay the days up to it again. Runs go forward "
                                f"in time: propose {latest.isoformat()} or later")
        paid = session.execute(
            select(PaidPayout.client_id, PaidPayout.run_id).where(PaidPayout.payout_date == payout_date)
        ).all()
        paid_run = {client: run for client, run in paid}
        already = frame["client_id"].map(paid_run)
        is_paid = already.notna()
        reasons = frame["reasons"].where(~is_paid, "ALREADY_PAID (run R" + already.astype("Int64").astype(str) + ")")
        take = frame["ready"] & ~is_paid
        chosen, left = frame.loc[take].sort_values("client_id"), frame.loc[~take].assign(reasons=reasons[~take])
        if chosen.empty:
            raise WorkflowError(f"no ready payout for {payout_date.isoformat()}; nothing to propose "
                                f"({len(left)} clients excluded)")
        total = int(chosen["amount_cents"].sum())  # int64 sum: exact cents
        now = _now().replace(microsecond=0)  # the file's creation time: whole seconds, fixed at propose
        run = PayoutRun(
            payout_date=payout_date, status=RunStatus.PROPOSED, total_cents=total, payout_count=len(chosen),
            excluded_count=len(left), approvals_required=2 if total >= settings.dual_approval_cents else 1,
            snapshot_sha256="", debtor_name=settings.debtor_name, debtor_iban=settings.debtor_iban,
            debtor_bic=settings.debtor_bic, source=source[:500], proposed_by=actor.name, proposed_at=now,
        )
        session.add(run)
        session.flush()
        records = chosen.assign(
            run_id=run.id, status=PayoutStatus.PENDING,
            end_to_end_id="R" + str(run.id) + "-" + chosen["client_id"],
            amount_cents=chosen["amount_cents"].astype("int64"),
        ).drop(columns=["ready", "reasons"])
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in records.to_dict("records")]
        session.execute(insert(RunPayout), rows)
        if len(left):
            excl = left.loc[:, ["client_id", "name", "reasons"]].assign(run_id=run.id)
            session.execute(insert(RunExclusion), excl.to_dict("records"))
        run.snapshot_sha256 = _snapshot_digest(rows)
        older = session.execute(
            select(PayoutRun).where(PayoutRun.payout_date == payout_date, PayoutRun.status.in_(OPEN_STATUSES),
                                    PayoutRun.id != run.id).with_for_update()
        ).scalars().all()
        for old in older:
            before = _state(old)
            old.status, old.superseded_by = RunStatus.SUPERSEDED, run.id
            audit.append(session, actor=actor.name, action="supersede", entity="run", entity_id=f"R{old.id}",
                         run_id=old.id, before=before, after={**_state(old), "superseded_by": f"R{run.id}"})
        audit.append(session, actor=actor.name, action="propose", entity="run", entity_id=f"R{run.id}",
                     run_id=run.id, before=None,
                     after={**_state(run), "payout_date": payout_date, "excluded_count": len(left),
                            "approvals_required": run.approvals_required, "snapshot_sha256": run.snapshot_sha256,
                            "source": run.source})
        session.flush()
        return ProposeResult(_summary(session, run), tuple(o.id for o in older))

    return _perform(store, user, Action.PROPOSE, "run", "new", work)


def propose_from_data(store: Store, user: str | None, data_path: str | Path | None = None,
                      payout_date: date | str | None = None, settings: Settings | None = None) -> ProposeResult:
    """Load the portfolio, apply the credit managers' overrides, compute the payouts and propose a run."""
    from atlas_xl.engines.run import compute_payouts
    from atlas_xl.inputs.example_data import example_data_dir
    from atlas_xl.inputs.portfolio import load_portfolio

    settings = settings or load_settings()
    path = Path(data_path) if data_path else example_data_dir()
    portfolio = apply_overrides(store, load_portfolio(path))
    when = parse_date(payout_date) if payout_date else portfolio.last_date.date()
    frame = compute_payouts(portfolio, when, settings)
    return propose_run(store, frame, when, user, settings=settings, source=str(path))


# ---------------------------------------------------------------------------------------------- approve / cancel


def approve_run(store: Store, run_ref: str | int, user: str | None) -> RunSummary:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> RunSummary:
        actor = _authorise(session, user, Action.APPROVE)
        run = _get_run(session, run_id, lock=True)
        if run.status != RunStatus.PROPOSED:
            raise WorkflowError(f"run R{run_id} is {run.status}; only a proposed run can be approved")
        if run.proposed_by == actor.name:
            raise PermissionDenied(f"user {actor.name!r} proposed run R{run_id} and may not approve it (four eyes)")
        approvers = session.execute(select(RunApproval.user_name).where(RunApproval.run_id == run_id)).scalars()
        if actor.name in set(approvers):
            raise PermissionDenied(f"user {actor.name!r} already approved run R{run_id}; "
                                   "a second approval must come from a different user")
        before = _state(run)
        now = _now()
        session.add(RunApproval(run_id=run_id, user_name=actor.name, approved_at=now))
        session.flush()
        count = session.execute(
            select(func.count()).select_from(RunApproval).where(RunApproval.run_id == run_id)).scalar_one()
        if count >= run.approvals_required:
            run.status, run.approved_at = RunStatus.APPROVED, now
        audit.append(session, actor=actor.name, action="approve", entity="run", entity_id=f"R{run_id}",
                     run_id=run_id, before=before,
                     after={**_state(run), "approvals": count, "approvals_required": run.approvals_required})
        return _summary(session, run)

    return _perform(store, user, Action.APPROVE, "run", f"R{run_id}", work, run_id=run_id)


def cancel_run(store: Store, run_ref: str | int, user: str | None) -> RunSummary:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> RunSummary:
        actor = _authorise(session, user, Action.CANCEL)
        run = _get_run(session, run_id, lock=True)
        if run.status not in OPEN_STATUSES:
            raise WorkflowError(f"run R{run_id} is {run.status}; only a proposed or approved run can be cancelled")
        before = _state(run)
        run.status = RunStatus.CANCELLED
        audit.append(session, actor=actor.name, action="cancel", entity="run", entity_id=f"R{run_id}",
                     run_id=run_id, before=before, after=_state(run))
        return _summary(session, run)

    return _perform(store, user, Action.CANCEL, "run", f"R{run_id}", work, run_id=run_id)


# ---------------------------------------------------------------------------------------------- execute


def xml_file_name(run_id: int) -> str:
    """Derived only from the integer run id: no path can come from the data."""
    return f"payout-run-R{int(run_id)}.xml"


def reviewer_file_name(run_id: int) -> str:
    return f"payout-run-R{int(run_id)}-review.xlsx"


def _transfers(session: Session, run: PayoutRun) -> list[Any]:
    from atlas_xl.outputs.sepa.pain001 import CreditTransfer

    rows = session.execute(
        select(RunPayout).where(RunPayout.run_id == run.id).order_by(RunPayout.client_id)).scalars().all()
    snapshot = [{"client_id": r.client_id, "name": r.name, "country": r.country, "iban": r.iban, "bic": r.bic,
                 "amount_cents": int(r.amount_cents), "remittance": r.remittance} for r in rows]
    if _snapshot_digest(snapshot) != run.snapshot_sha256 or sum(s["amount_cents"] for s in snapshot) != int(
            run.total_cents):
        raise WorkflowError(f"run R{run.id}'s payouts changed after it was proposed (snapshot hash mismatch); "
                            "refusing to pay it: propose a new run")
    return [CreditTransfer(end_to_end_id=r.end_to_end_id, client_id=r.client_id, amount_cents=int(r.amount_cents),
                           creditor_name=r.name, creditor_iban=r.iban, creditor_bic=r.bic or None,
                           remittance=r.remittance) for r in rows]


def render_run_file(session: Session, run: PayoutRun, version: str) -> bytes:
    """The pain.001 bytes of a run: a function of the stored run only (same run -> same bytes)."""
    from atlas_xl.outputs.sepa.pain001 import Debtor, PainVersion, build_pain001

    tag = f"ATLAS-{run.payout_date:%Y%m%d}-R{run.id}"
    return build_pain001(
        _transfers(session, run), Debtor(run.debtor_name, run.debtor_iban, run.debtor_bic),
        execution_date=run.payout_date, message_id=tag, payment_info_id=f"{tag}-P1",
        created_at=_utc(run.proposed_at), version=PainVersion(version),
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
    write_atomic(path, data, step=_crash_point)


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
    from atlas_xl.outputs.sepa.pain001 import write_reviewer_list

    excluded = session.execute(
        select(RunExclusion.client_id, RunExclusion.name, RunExclusion.reasons)
        .where(RunExclusion.run_id == run.id).order_by(RunExclusion.client_id)).all()
    summary = _summary(session, run)
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
    from atlas_xl.outputs.sepa.pain001 import PainVersion

    run_id = parse_run_ref(run_ref)
    try:
        version = PainVersion(version).value
    except ValueError:
        raise ArgumentError(f"{version!r} is not a pain.001 version; expected pain.001.001.09 or "
                            "pain.001.001.03") from None
    folder = Path(out_dir).expanduser().resolve()
    final = folder / xml_file_name(run_id)

    def prepare(session: Session) -> tuple[str, bytes]:
        _authorise(session, user, Action.EXECUTE)
        run = _get_run(session, run_id)
        if run.status in PAID_STATUSES:
            return "done", b""
        if run.status != RunStatus.APPROVED:
            needs = f" ({len(_summary(session, run).approvals)}/{run.approvals_required} approvals)" \
                if run.status == RunStatus.PROPOSED else ""
            raise WorkflowError(f"run R{run_id} is {run.status}{needs}; only an approved run can be executed")
        other = _executed_since_proposed(session, run_id)
        if other is not None:
            raise _stale(run_id, other)
        return "todo", render_run_file(session, run, version)

    state, data = _perform(store, user, Action.EXECUTE, "run", f"R{run_id}", prepare, run_id=run_id,
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
        actor = _authorise(session, user, Action.EXECUTE)
        run = _get_run(session, run_id)
        before = _state(run)
        won = session.execute(
            update(PayoutRun).where(PayoutRun.id == run_id, PayoutRun.status == RunStatus.APPROVED)
            .values(status=RunStatus.EXECUTED, executed_by=actor.name, executed_at=_now(), file_name=str(final),
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
                     after={**_state(run), "file": final.name, "pain_version": version})
        _crash_point("before_commit")
        return True, None

    try:
        won, _ = _perform(store, user, Action.EXECUTE, "run", f"R{run_id}", record, run_id=run_id)
    except _StaleRun as stale:  # rolled back: the run is still approved
        _remove_if_ours(final, sha)
        raise _stale(run_id, stale.other) from None
    except IntegrityError as error:
        _remove_if_ours(final, sha)
        raise WorkflowError(f"run R{run_id} pays a client already paid for its payout date in another executed "
                            f"run ({_constraint_detail(error)}); nothing was paid: propose a new run") from None
    if not won:
        with store.transaction() as session:
            lost_to = _get_run(session, run_id)
            status, recorded = lost_to.status, lost_to.file_name
        if status in PAID_STATUSES:
            if recorded and Path(recorded) != final:
                _remove_if_ours(final, sha)  # another process won into another folder: one file only
            return _already_executed(store, run_id, user)
        _remove_if_ours(final, sha)  # e.g. cancelled meanwhile: no file may stay behind for an unpaid run
        raise WorkflowError(f"run R{run_id} became {status} while it was being executed; nothing was paid")
    _crash_point("after_commit")
    with store.transaction() as session:
        run = _get_run(session, run_id)
        try:
            reviewer = _write_reviewer(session, run, folder)
        except OSError as error:  # paid and recorded: say so, and how to get the list
            raise OutputError(
                f"run R{run_id} is executed and its payment file {str(final)!r} is written, but the reviewer "
                f"list could not be written: {describe_os_error(error)}; run the same execute command again "
                f"to write it (nothing is paid twice)") from None
        return ExecutionResult(_summary(session, run), final, sha, reviewer, already_executed=False)


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
        run = _get_run(session, run_id)
        if not run.file_name or not run.file_sha256 or not run.pain_version:
            raise WorkflowError(f"run R{run_id} is {run.status} but has no recorded file")
        path = Path(run.file_name)
        if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == run.file_sha256):
            _ensure_file(path, render_run_file(session, run, run.pain_version), run.file_sha256)
        reviewer = path.parent / reviewer_file_name(run_id)
        if not reviewer.is_file():
            reviewer = _write_reviewer(session, run, path.parent)
        return ExecutionResult(_summary(session, run), path, run.file_sha256, reviewer, already_executed=True)


# ---------------------------------------------------------------------------------------------- mark


MARKABLE = (PayoutStatus.SETTLED, PayoutStatus.RETURNED, PayoutStatus.REJECTED)


def mark_run(store: Store, run_ref: str | int, user: str | None, status: str, *, payout: str | None = None,
             reason: str | None = None) -> RunDetail:
    """settled: the whole run (or one payout); returned / rejected: one payout (--payout CLIENT_ID)."""
    run_id = parse_run_ref(run_ref)
    status = str(status).strip().lower()
    if status not in MARKABLE:
        raise ArgumentError(f"{status!r} is not a status to mark; expected one of {', '.join(MARKABLE)}")
    if status != PayoutStatus.SETTLED and not payout:
        raise ArgumentError(f"marking {status} needs the payout: --payout CLIENT_ID")

    def work(session: Session) -> RunDetail:
        actor = _authorise(session, user, Action.MARK)
        run = _get_run(session, run_id, lock=True)
        if run.status not in PAID_STATUSES:
            raise WorkflowError(f"run R{run_id} is {run.status}; only an executed run's payouts can be marked")
        if payout is None:
            if run.status == RunStatus.SETTLED:
                raise WorkflowError(f"run R{run_id} is already settled")
            before = _state(run)
            run.status = RunStatus.SETTLED
            session.execute(update(RunPayout).where(RunPayout.run_id == run_id,
                                                    RunPayout.status == PayoutStatus.PAID)
                            .values(status=PayoutStatus.SETTLED))
            audit.append(session, actor=actor.name, action="mark_settled", entity="run", entity_id=f"R{run_id}",
                         run_id=run_id, before=before, after=_state(run))
        else:
            row = session.execute(select(RunPayout).where(
                RunPayout.run_id == run_id, RunPayout.client_id == payout.strip())).scalar_one_or_none()
            if row is None:
                raise ArgumentError(f"run R{run_id} has no payout for client {payout[:40]!r}; "
                                    "expected a client id listed by `payouts show`")
            if row.status not in (PayoutStatus.PAID, PayoutStatus.SETTLED):
                raise WorkflowError(f"payout {row.client_id!r} of run R{run_id} is already {row.status}")
            if row.status == status:
                raise WorkflowError(f"payout {row.client_id!r} of run R{run_id} is already {status}")
            before = {"status": row.status, "amount_cents": int(row.amount_cents)}
            row.status, row.status_reason = status, (reason or None) and reason[:200]
            audit.append(session, actor=actor.name, action=f"mark_{status}", entity="payout",
                         entity_id=row.end_to_end_id, run_id=run_id, client_id=row.client_id, before=before,
                         after={"status": status, "amount_cents": int(row.amount_cents), "reason": reason})
        session.flush()
        return _detail(session, run)

    return _perform(store, user, Action.MARK, "run", f"R{run_id}", work, run_id=run_id,
                    client_id=payout if payout and _CLIENT_ID.match(payout) else None)


# ---------------------------------------------------------------------------------------------- read


def list_runs(store: Store, user: str | None, *, payout_date: date | str | None = None) -> list[RunSummary]:
    when = parse_date(payout_date) if payout_date else None

    def work(session: Session) -> list[RunSummary]:
        _authorise(session, user, Action.READ)
        query = select(PayoutRun).order_by(PayoutRun.id)
        if when:
            query = query.where(PayoutRun.payout_date == when)
        return [_summary(session, run) for run in session.execute(query).scalars()]

    return _perform(store, user, Action.READ, "run", "*", work, write=False)


def _detail(session: Session, run: PayoutRun) -> RunDetail:
    payouts = session.execute(
        select(RunPayout).where(RunPayout.run_id == run.id).order_by(RunPayout.client_id)).scalars().all()
    excluded = session.execute(
        select(RunExclusion).where(RunExclusion.run_id == run.id).order_by(RunExclusion.client_id)).scalars()
    return RunDetail(
        _summary(session, run),
        tuple({"client_id": p.client_id, "name": p.name, "iban": p.iban, "bic": p.bic,
               "amount_cents": int(p.amount_cents), "remittance": p.remittance, "end_to_end_id": p.end_to_end_id,
               "status": p.status, "reason": p.status_reason} for p in payouts),
        tuple({"client_id": e.client_id, "name": e.name, "reasons": e.reasons} for e in excluded),
    )


def show_run(store: Store, run_ref: str | int, user: str | None) -> RunDetail:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> RunDetail:
        _authorise(session, user, Action.READ)
        return _detail(session, _get_run(session, run_id))

    return _perform(store, user, Action.READ, "run", f"R{run_id}", work, run_id=run_id, write=False)


def audit_entries(store: Store, user: str | None, *, client: str | None = None, run: str | int | None = None,
                  actor: str | None = None, since: date | str | None = None,
                  until: date | str | None = None) -> list[dict[str, Any]]:
    """Audit entries filtered by client, run, acting user and date range (since / until inclusive, UTC)."""
    from datetime import timedelta

    from atlas_xl.store.database import AuditEntry

    run_id = parse_run_ref(run) if run is not None else None
    start = parse_date(since) if since else None
    end = parse_date(until) if until else None

    def work(session: Session) -> list[dict[str, Any]]:
        _authorise(session, user, Action.READ)
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if client:
            query = query.where(AuditEntry.client_id == client)
        if run_id is not None:
            query = query.where(AuditEntry.run_id == run_id)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if start:
            query = query.where(AuditEntry.at >= start.isoformat())
        if end:  # `at` is ISO text: everything before the next day's midnight
            query = query.where(AuditEntry.at < (end + timedelta(days=1)).isoformat())
        return [audit.entry_dict(e) for e in session.execute(query).scalars()]

    return _perform(store, user, Action.READ, "audit", "*", work, write=False)


def verify_audit(store: Store, user: str | None) -> audit.VerifyResult:
    def work(session: Session) -> audit.VerifyResult:
        _authorise(session, user, Action.READ)
        return audit.verify(session)

    return _perform(store, user, Action.READ, "audit", "*", work, write=False)


# ---------------------------------------------------------------------------------------------- credit


def _check_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise ArgumentError(f"{str(client_id)[:40]!r} is not a client id; expected 1-20 of A-Z a-z 0-9 _ -")
    return client_id


def change_credit_limit(store: Store, user: str | None, client_id: str, credit_limit_cents: int) -> dict[str, Any]:
    """Set a client's credit limit (integer cents >= 0), replacing the limit in the data from now on."""
    from atlas_xl.domain.model import MAX_AMOUNT_CENTS

    client_id = _check_client_id(client_id)
    if (isinstance(credit_limit_cents, bool) or not isinstance(credit_limit_cents, int)
            or not 0 <= credit_limit_cents <= MAX_AMOUNT_CENTS):
        raise ArgumentError(f"credit limit {credit_limit_cents!r} cents is not valid; expected integer cents "
                            f"0 to {MAX_AMOUNT_CENTS} ({format_eur(MAX_AMOUNT_CENTS)}), as in the data")

    def work(session: Session) -> dict[str, Any]:
        actor = _authorise(session, user, Action.CHANGE_CREDIT_LIMIT)
        row = session.get(CreditLimitOverride, client_id)
        before = None if row is None else {"credit_limit_cents": int(row.credit_limit_cents)}
        if row is None:
            row = CreditLimitOverride(client_id=client_id, credit_limit_cents=credit_limit_cents,
                                      changed_by=actor.name, changed_at=_now())
            session.add(row)
        else:
            row.credit_limit_cents, row.changed_by, row.changed_at = credit_limit_cents, actor.name, _now()
        after = {"credit_limit_cents": credit_limit_cents}
        audit.append(session, actor=actor.name, action="change_credit_limit", entity="client",
                     entity_id=client_id, client_id=client_id, before=before, after=after)
        return {"client_id": client_id, "before": before, "after": after}

    return _perform(store, user, Action.CHANGE_CREDIT_LIMIT, "client", client_id, work, client_id=client_id)


RESERVE_TERM_FIELDS = ("rate_ppm", "hold_days", "hold_basis", "cap_cents", "fixed_amount_cents",
                       "min_balance_cents")


def _term_maxima() -> dict[str, int]:
    """The largest value of each numeric reserve term: the loader's limit for the same column (its declared
    maximum, else the largest amount the data may hold)."""
    from atlas_xl.domain.model import MAX_AMOUNT_CENTS
    from atlas_xl.domain.schemas import SCHEMAS

    return {col.loaded_name: MAX_AMOUNT_CENTS if col.max_value is None else int(col.max_value)
            for col in SCHEMAS["reserve_terms"].columns if col.loaded_name in RESERVE_TERM_FIELDS
            and col.kind in ("amount", "rate", "int")}


TERM_MAXIMUM = _term_maxima()


def change_reserve_terms(store: Store, user: str | None, client_id: str, reserve: str,
                         **terms: int | str | None) -> dict[str, Any]:
    """Set reserve terms of a client's rolling / partner reserve; unnamed terms keep their current value.

    rate_ppm 0..1_000_000, hold_days >= 0, hold_basis calendar|banking, cap_cents (-1 = no cap) and
    fixed_amount_cents / min_balance_cents >= 0, all integers (cents / ppm as in docs/data_model.md).
    """
    from atlas_xl.domain.model import HoldBasis, ReserveKind

    client_id = _check_client_id(client_id)
    if reserve not in {k.value for k in ReserveKind}:
        raise ArgumentError(f"{reserve!r} is not a reserve; expected rolling or partner")
    unknown = set(terms) - set(RESERVE_TERM_FIELDS)
    if unknown:
        raise ArgumentError(f"unknown reserve term(s) {', '.join(sorted(unknown))}; "
                            f"expected {', '.join(RESERVE_TERM_FIELDS)}")
    for name, value in terms.items():
        if value is None:
            continue
        if name == "hold_basis":
            if value not in {b.value for b in HoldBasis}:
                raise ArgumentError(f"hold_basis {value!r} is not valid; expected calendar or banking")
            continue
        low = -1 if name == "cap_cents" else 0
        high = TERM_MAXIMUM[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ArgumentError(f"{name} {value!r} is not valid; expected an integer from {low} to {high}, "
                                f"as in the data")
    if not any(v is not None for v in terms.values()):
        raise ArgumentError("no reserve term given; expected at least one of " + ", ".join(RESERVE_TERM_FIELDS))

    def work(session: Session) -> dict[str, Any]:
        actor = _authorise(session, user, Action.CHANGE_RESERVE_TERMS)
        row = session.get(ReserveTermOverride, (client_id, reserve))
        before = None if row is None else {f: getattr(row, f) for f in RESERVE_TERM_FIELDS}
        if row is None:
            row = ReserveTermOverride(client_id=client_id, reserve=reserve, changed_by=actor.name, changed_at=_now())
            session.add(row)
        for name, value in terms.items():
            if value is not None:
                setattr(row, name, value)
        row.changed_by, row.changed_at = actor.name, _now()
        after = {f: getattr(row, f) for f in RESERVE_TERM_FIELDS}
        audit.append(session, actor=actor.name, action="change_reserve_terms", entity="client",
                     entity_id=f"{client_id}/{reserve}", client_id=client_id, before=before,
                     after={**after, "reserve": reserve})
        return {"client_id": client_id, "reserve": reserve, "before": before, "after": after}

    return _perform(store, user, Action.CHANGE_RESERVE_TERMS, "client", client_id, work, client_id=client_id)


def _executed_payouts(session: Session, since: date) -> pd.DataFrame:
    """Payouts in executed (or settled) runs dated `since` or later, as Portfolio.paid holds them, plus one
    payout of the earliest run before `since`: it dates the start of the runs (the engine then takes every
    day of the data from them) and lies off the grid itself.

    A year of daily runs at 10,000 clients is ~2.5 M payouts: the database joins each date's payouts into
    one text ("C1:1250,C2:990"; ids hold no ',' or ':'), which Arrow splits, instead of one Python row
    per payout (~1.6 s per million rows on SQLite).
    """
    # a payout the bank returned or rejected did not stay paid: its amount is owed again (the next run pays it)
    executed = PayoutRun.status.in_(PAID_STATUSES) & RunPayout.status.notin_(
        (PayoutStatus.RETURNED, PayoutStatus.REJECTED))
    pair = RunPayout.client_id + literal(":") + cast(RunPayout.amount_cents, String)
    joined = (func.string_agg(pair, literal(",")) if session.get_bind().dialect.name == "postgresql"
              else func.group_concat(pair, literal(",")))
    per_date = session.execute(
        select(PayoutRun.payout_date, joined).join(PayoutRun, PayoutRun.id == RunPayout.run_id)
        .where(executed, PayoutRun.payout_date >= since).group_by(PayoutRun.payout_date)).all()
    earliest = session.execute(
        select(PayoutRun.payout_date, pair).join(PayoutRun, PayoutRun.id == RunPayout.run_id)
        .where(executed, PayoutRun.payout_date < since)
        .order_by(PayoutRun.payout_date, RunPayout.id).limit(1)).first()
    rows = [tuple(r) for r in per_date] + ([tuple(earliest)] if earliest is not None else [])
    if not rows:
        return pd.DataFrame({"client_id": pd.Series(dtype=str), "payout_date": pd.Series(dtype="datetime64[ns]"),
                             "amount_cents": pd.Series(dtype="int64")})
    lists = pc.split_pattern(pa.array([text for _, text in rows], pa.string()), ",")
    pairs = pc.split_pattern(pc.list_flatten(lists), ":")
    return pd.DataFrame({
        "client_id": pd.array(pc.list_element(pairs, 0), dtype="str"),
        "payout_date": np.repeat(pd.to_datetime([day for day, _ in rows]).to_numpy(dtype="datetime64[ns]"),
                                 pc.list_value_length(lists).to_numpy()),
        "amount_cents": pc.cast(pc.list_element(pairs, 1), pa.int64()).to_numpy(),
    })


def apply_overrides(store: Store, portfolio: Any) -> Any:
    """The portfolio with the stored credit limits and reserve terms in place of the data's values, and the
    payouts that left in executed runs (`Portfolio.paid`: the engine takes those days from them).

    An override for a client or reserve that the data does not have is ignored (no row is invented).
    """
    from dataclasses import replace

    with store.transaction() as session:
        limits = session.execute(select(CreditLimitOverride.client_id, CreditLimitOverride.credit_limit_cents)).all()
        terms = session.execute(select(ReserveTermOverride)).scalars().all()
        term_rows = [{"client_id": t.client_id, "reserve": t.reserve, **{f: getattr(t, f) for f in
                      RESERVE_TERM_FIELDS}} for t in terms]
        since = portfolio.first_date.date() if len(portfolio.settlements) else date.min
        paid = _executed_payouts(session, since)
    clients = portfolio.clients
    if limits and "credit_limit_cents" in clients.columns:
        mapping = {c: int(v) for c, v in limits}
        clients = clients.assign(credit_limit_cents=clients["client_id"].map(mapping)
                                 .fillna(clients["credit_limit_cents"]).astype("int64"))
    reserves = portfolio.reserve_terms
    if term_rows and len(reserves):
        over = pd.DataFrame(term_rows).set_index(["client_id", "reserve"])
        keyed = reserves.set_index(["client_id", "reserve"])
        for column in RESERVE_TERM_FIELDS:
            if column in keyed.columns:
                new = over[column].reindex(keyed.index)
                keyed[column] = new.where(new.notna(), keyed[column]).astype(keyed[column].dtype)
        reserves = keyed.reset_index()[list(reserves.columns)]
    return replace(portfolio, clients=clients, reserve_terms=reserves, paid=paid)


def describe_error(error: AtlasError) -> str:
    return str(error).splitlines()[0]
