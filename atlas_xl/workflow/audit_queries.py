"""Reading the audit trail: entries filtered by client, run, user and date range; verifying the hash chain."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
            query = query.where(AuditEntry.actor == actor)
        if start:
            query = query.where(AuditEntry.at >= start.isoformat())
        if end:  # `at` is ISO text: everything before the next day's midnight
            query = query.where(AuditEntry.at < (end + timedelta(days=1)).isoformat())
        return [audit.entry_dict(e) for e in session.execute(query).scalars()]

    return perform(store, user, Action.READ, "audit", "*", work, write=False)


def verify_audit(store: Store, user: str | None) -> audit.VerifyResult:
    def work(session: Session) -> audit.VerifyResult:
        authorise(session, user, Action.READ)
        return audit.verify(session)

    return perform(store, user, Action.READ, "audit", "*", work, write=False)
