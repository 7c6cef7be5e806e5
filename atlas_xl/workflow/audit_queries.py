"""Reading the audit trail: entries filtered by client, run, user and date range; verifying the hash chain, also
against a checkpoint kept outside the database (export_checkpoint / verify_audit(against=...))."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from atlas_xl.errors import ArgumentError
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import AuditEntry
from atlas_xl.workflow.common import authorise, parse_date, parse_run_ref, perform
from atlas_xl.workflow.permissions import Action


def audit_entries(store: Store, user: str | None, *, client: str | None = None, run: str | int | None = None,
                  actor: str | None = None, since: date | str | None = None,
                  until: date | str | None = None) -> list[dict[str, Any]]:
    """Audit entries filtered by client, run, acting user and date range (since / until inclusive, UTC)."""
    run_id = parse_run_ref(run) if run is not None else None
    start = parse_date(since) if since else None
    end = parse_date(until) if until else None

    def work(session: Session) -> list[dict[str, Any]]:
        authorise(session, user, Action.READ)
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if client:
            query = query.where(AuditEntry.client_id == client)
        if run_id is not None:
            query = query.where(AuditEntry.run_id == run_id)
        if actor:
            query = query.where(or_(AuditEntry.actor == actor, AuditEntry.actor == actor + audit.DEMO_MARK))
        if start:
            query = query.where(AuditEntry.at >= start.isoformat())
        if end:  # `at` is ISO text: everything before the next day's midnight
            query = query.where(AuditEntry.at < (end + timedelta(days=1)).isoformat())
        return [audit.entry_dict(e) for e in session.execute(query).scalars()]

    return perform(store, user, Action.READ, "audit", "*", work, write=False)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file written by `audit export`, checked (format, content hash) before it is used."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ArgumentError(f"cannot read the checkpoint {str(path)!r}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArgumentError(f"{str(path)!r} is not a checkpoint: not JSON ({error})") from None
    problem = audit.checkpoint_problem(document)
    if problem:
        raise ArgumentError(f"{str(path)!r}: {problem}")
    return dict(document)


def export_checkpoint(store: Store, user: str | None) -> dict[str, Any]:
    """The audit trail's checkpoint (atlas_xl.store.audit.checkpoint), for `audit export --out FILE`."""
    def work(session: Session) -> dict[str, Any]:
        authorise(session, user, Action.READ)
        return audit.checkpoint(session)

    return perform(store, user, Action.READ, "audit", "*", work, write=False)


def audit_head(store: Store) -> tuple[int, str]:
    """The audit head's sequence number and hash (printed after `payouts execute` / `deliver`)."""
    with store.transaction() as session:
        return audit.head(session)


def verify_audit(store: Store, user: str | None, against: str | Path | None = None) -> audit.VerifyResult:
    checkpoint = read_checkpoint(against) if against is not None else None

    def work(session: Session) -> audit.VerifyResult:
        authorise(session, user, Action.READ)
        return audit.verify(session) if checkpoint is None else audit.verify_against(session, checkpoint)

    return perform(store, user, Action.READ, "audit", "*", work, write=False)
