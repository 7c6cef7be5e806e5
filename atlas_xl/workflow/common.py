"""What every workflow module shares: parsing run refs and dates, the acting user, one audited transaction
(`perform`), and reading a run back as its typed summary / detail.

Who acts (issue 17) is never what the caller says, except in a demo store:
- a SQLite store (the single-user desktop): the operating-system account running the process
  (`pwd.getpwuid(os.getuid())`, not $USER / $LOGNAME, which anyone can set); four-eyes there is advisory,
  since whoever owns the file can change it;
- a PostgreSQL store: the database login, `SELECT session_user` (not current_user, which SET ROLE changes);
- a demo store (`atlas-xl store init --demo`): the name the caller claims (`--user`, ATLAS_USER), checked
  against the user-name pattern; its audit entries say "name (demo)".
A non-demo store refuses a claimed name (PermissionDenied): acting as someone else is a permission matter,
and exit 3 tells a script that an old `--user` no longer works, apart from a typo (exit 2).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from atlas_xl.domain.model import CLIENT_ID_PATTERN, PayoutStatus, RunStatus
from atlas_xl.errors import ArgumentError, AtlasError, DateError, PermissionDenied
from atlas_xl.store import audit
from atlas_xl.store.database import Store, is_demo, write_lock
from atlas_xl.store.models import PayoutRun, RunApproval, RunExclusion, RunPayout, User
from atlas_xl.workflow.permissions import Action, require
from atlas_xl.workflow.results import ExcludedLine, PayoutLine, RunDetail, RunSummary

CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
_RUN_REF = re.compile(r"^[Rr]?([0-9]{1,9})$")

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
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


def check_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ArgumentError(f"{str(client_id)[:40]!r} is not a client id; expected 1-20 of A-Z a-z 0-9 _ -")
    return client_id


USER_NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
_USER_NAME = re.compile(USER_NAME_PATTERN)


def check_user_name(name: object, what: str = "user name") -> str:
    """`name` if it is a user name (1-64 of A-Z a-z 0-9 . _ -, the whole text: no newline may trail it)."""
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise ArgumentError(f"{str(name)[:70]!r} is not a {what}; expected 1-64 of A-Z a-z 0-9 . _ -")
    return name


def os_account() -> str:
    """The operating-system account running this process: from the process's user id, never from $USER,
    $LOGNAME or $USERNAME (getpass.getuser() reads those first)."""
    if sys.platform == "win32":  # pragma: no cover - Windows: the token's account name
        import ctypes

        size = ctypes.c_ulong(257)
        buffer = ctypes.create_unicode_buffer(size.value)
        if not ctypes.windll.advapi32.GetUserNameW(buffer, ctypes.byref(size)):  # type: ignore[attr-defined]
            raise PermissionDenied("cannot tell which Windows account runs Atlas")
        return buffer.value
    import pwd  # POSIX only: imported here so that the module imports on Windows

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        raise PermissionDenied(f"the process's user id {os.getuid()} has no account name") from None


def identity_source(session: Session) -> str:
    """Where the acting user's name comes from in this store, for messages."""
    if is_demo(session):
        return "the --user / ATLAS_USER name (demo store)"
    if session.get_bind().dialect.name == "postgresql":
        return "your PostgreSQL login (session_user)"
    return "your operating-system account"


def identity(session: Session, claimed: str | None) -> str:
    """The name of the person acting (module docstring), checked against the user-name pattern."""
    claim = claimed if isinstance(claimed, str) and claimed != "" else None  # as given: "olga\n" is refused
    if is_demo(session):
        if claim is None:
            raise PermissionDenied("no acting user; a demo store acts as the user --user NAME (or ATLAS_USER) "
                                   "names")
        return check_user_name(claim)
    if claim is not None:  # the claim itself is not repeated: nothing unchecked reaches the audit trail
        raise PermissionDenied(
            f"--user / ATLAS_USER may name the acting user only in a demo store; this store acts as "
            f"{identity_source(session)}: run the command as the person who acts, without --user")
    if session.get_bind().dialect.name == "postgresql":
        name = session.execute(text("SELECT session_user")).scalar_one()
    else:
        name = os_account()
    return check_user_name(name, f"user name ({identity_source(session)})")


def find_user(session: Session, name: str) -> User | None:
    """The user of that name, compared case-insensitively (names are unique that way)."""
    return session.execute(select(User).where(func.lower(User.name) == name.lower())).scalar_one_or_none()


def acting_user(session: Session, claimed: str | None) -> User:
    name = identity(session, claimed)
    user = find_user(session, name)
    if user is None:
        raise PermissionDenied(f"unknown user {name!r} ({identity_source(session)}); an admin adds users with "
                               "`atlas-xl users add`")
    if not user.active:
        raise PermissionDenied(f"user {user.name!r} is deactivated")
    return user


def whoami(store: Store, claimed: str | None = None) -> str:
    """The name of the active user this process acts as in `store` (PermissionDenied if none)."""
    with store.transaction() as session:
        return acting_user(session, claimed).name


def audit_actor(session: Session, claimed: str | None) -> str:
    """Who a refusal is recorded against: the checked identity, else "(none)"; never unchecked text."""
    try:
        return identity(session, claimed)
    except AtlasError:
        try:
            return "(none)" if is_demo(session) else identity(session, None)
        except AtlasError:
            return "(none)"


def authorise(session: Session, name: str | None, action: Action) -> User:
    user = acting_user(session, name)
    require(user.name, user.role, action)
    return user


def perform(store: Store, user: str | None, action: Action, entity: str, entity_id: str,
            work: Callable[[Session], T], *, run_id: int | None = None, client_id: str | None = None,
            write: bool = True) -> T:
    """Run `work` in one transaction; a refused change is recorded in the audit trail and then re-raised
    (a refused read is not: `audit verify` by a stranger must not grow the trail)."""
    try:
        with store.transaction() as session:
            if write:
                write_lock(session)
            return work(session)
    except PermissionDenied as denied:
        if not write:
            raise
        with store.transaction() as session:
            audit.append(session, actor=audit_actor(session, user), action="refused",
                         entity=entity, entity_id=entity_id, run_id=run_id, client_id=client_id,
                         before=None, after={"action": action.value, "reason": str(denied)})
        raise


def get_run(session: Session, run_id: int, *, lock: bool = False) -> PayoutRun:
    query = select(PayoutRun).where(PayoutRun.id == run_id)
    if lock:
        query = query.with_for_update()
    run = session.execute(query).scalar_one_or_none()
    if run is None:
        raise ArgumentError(f"no payout run R{run_id}; expected a run id from `atlas-xl payouts list`")
    return run


def run_summary(session: Session, run: PayoutRun) -> RunSummary:
    approvers = session.execute(
        select(RunApproval.user_name).where(RunApproval.run_id == run.id).order_by(RunApproval.id)
    ).scalars().all()
    return RunSummary(
        run_id=run.id, ref=f"R{run.id}", payout_date=run.payout_date, status=RunStatus(run.status),
        total_cents=int(run.total_cents), payout_count=int(run.payout_count),
        excluded_count=int(run.excluded_count), approvals=tuple(approvers),
        approvals_required=int(run.approvals_required), proposed_by=run.proposed_by,
        executed_by=run.executed_by, file_name=run.file_name, file_sha256=run.file_sha256,
        pain_version=run.pain_version, superseded_by=run.superseded_by, snapshot_sha256=run.snapshot_sha256,
        requested_execution_date=run.requested_execution_date,
        delivered_at=None if run.delivered_at is None else utc(run.delivered_at), delivered_by=run.delivered_by,
        delivered_to=run.delivered_to, policy=None if run.policy_json is None else json.loads(run.policy_json),
    )


def run_detail(session: Session, run: PayoutRun) -> RunDetail:
    payouts = session.execute(
        select(RunPayout).where(RunPayout.run_id == run.id).order_by(RunPayout.client_id)).scalars().all()
    excluded = session.execute(
        select(RunExclusion).where(RunExclusion.run_id == run.id).order_by(RunExclusion.client_id)).scalars()
    return RunDetail(
        run_summary(session, run),
        tuple(PayoutLine(client_id=p.client_id, name=p.name, iban=p.iban, bic=p.bic,
                         amount_cents=int(p.amount_cents), remittance=p.remittance, end_to_end_id=p.end_to_end_id,
                         status=PayoutStatus(p.status), reason=p.status_reason) for p in payouts),
        tuple(ExcludedLine(client_id=e.client_id, name=e.name, reasons=e.reasons) for e in excluded),
    )


def run_state(run: PayoutRun) -> dict[str, Any]:
    """The audit's before/after view of a run."""
    return {"status": str(run.status), "total_cents": int(run.total_cents), "payout_count": int(run.payout_count),
            "file_sha256": run.file_sha256}
