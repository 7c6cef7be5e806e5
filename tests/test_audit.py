"""The hash-chained audit trail: every kind of tampering done directly in the database is detected."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import GENESIS_HASH, AuditEntry, AuditHead
from atlas_xl.workflow.audit_queries import audit_entries, verify_audit
from atlas_xl.workflow.credit import change_credit_limit
from atlas_xl.workflow.runs import approve_run, propose_run
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import make_payouts


@pytest.fixture
def trail(admin_users: Store) -> Store:
    """8 user additions, then propose + approve + credit change: 11 entries, seq 1..11."""
    store = admin_users
    run = propose_run(store, make_payouts({"C001": 100}), "2024-03-28", "otto").run
    approve_run(store, run.ref, "fiona")
    change_credit_limit(store, "carl", "C007", 1_000_00)
    assert verify_audit(store, "rita").ok
    return store


def _verify(store: Store) -> audit.VerifyResult:
    with store.transaction() as s:
        return audit.verify(s)


def test_hash_is_sha256_of_previous_hash_and_canonical_json(trail: Store) -> None:
    with trail.transaction() as s:
        first, second = s.execute(select(AuditEntry).order_by(AuditEntry.seq).limit(2)).scalars().all()
        payload = {"seq": 1, "at": first.at, "actor": "ada (demo)", "action": "user_add", "entity": "user",
                   "entity_id": "ada", "run_id": None, "client_id": None, "before": None,
                   "after": {"active": True, "name": "ada", "role": "admin"}}
        # canonical JSON: sorted keys, no spaces
        canon = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        assert first.prev_hash == GENESIS_HASH
        assert first.hash == hashlib.sha256((GENESIS_HASH + canon).encode()).hexdigest()
        assert second.prev_hash == first.hash
        head = s.get(AuditHead, 1)
        assert head is not None and head.seq == 11


def test_verify_ok_counts_entries(trail: Store) -> None:
    result = _verify(trail)
    assert (result.ok, result.entries, result.first_bad_seq) == (True, 11, None)


def test_edited_entry_is_named(trail: Store) -> None:
    with trail.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 10).values(after_json='{"status":"proposed"}'))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 10)
    assert "entry 10 was edited" in result.problem


def test_edited_actor_is_named(trail: Store) -> None:
    with trail.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(actor="mallory"))
    assert _verify(trail).first_bad_seq == 4


def test_deleted_entry_is_detected(trail: Store) -> None:
    with trail.transaction() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "deleted" in result.problem


def test_deleted_and_renumbered_entry_is_detected(trail: Store) -> None:
    with trail.transaction() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
        for seq in range(6, 12):  # close the gap one by one (primary key)
            s.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq - 1))
        s.execute(update(AuditHead).values(seq=10))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 5)  # the old entry 6 no longer links to entry 4
    assert "does not link" in result.problem


def test_deleted_last_entry_is_detected_by_the_head(trail: Store) -> None:
    with trail.transaction() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 11))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 11)
    assert "ends at entry 10 but its head records entry 11" in result.problem


def _forged(s, seq: int, prev_hash: str) -> AuditEntry:  # type: ignore[no-untyped-def]
    entry = AuditEntry(seq=seq, at=datetime.now(UTC).isoformat(), actor="mallory", action="approve", entity="run",
                       entity_id="R1", run_id=1, client_id=None, before_json="null", after_json="null",
                       prev_hash=prev_hash, hash="")
    entry.hash = audit.entry_hash(prev_hash, audit.entry_payload(entry))  # a correctly computed forged hash
    return entry


def test_inserted_entry_in_the_middle_is_detected(trail: Store) -> None:
    with trail.transaction() as s:
        for seq in range(11, 6, -1):  # make room at 7
            s.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq + 1))
        prev = s.execute(select(AuditEntry.hash).where(AuditEntry.seq == 6)).scalar_one()
        s.add(_forged(s, 7, prev))
        s.execute(update(AuditHead).values(seq=12))
    result = _verify(trail)
    # the forgery links correctly to 6 (its hash is valid), but the real entry after it does not link to it
    assert (result.ok, result.first_bad_seq) == (False, 8)


def test_inserted_entry_with_a_made_up_hash_is_named(trail: Store) -> None:
    with trail.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 11).values(seq=12))
        prev = s.execute(select(AuditEntry.hash).where(AuditEntry.seq == 10)).scalar_one()
        forged = _forged(s, 11, prev)
        forged.hash = "f" * 64
        s.add(forged)
        s.execute(update(AuditHead).values(seq=12))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 11)


def test_appended_entry_without_the_head_is_detected(trail: Store) -> None:
    with trail.transaction() as s:
        prev = s.execute(select(AuditEntry.hash).where(AuditEntry.seq == 11)).scalar_one()
        s.add(_forged(s, 12, prev))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 12)  # the entry the head does not vouch for
    assert "ends at entry 12 but its head records entry 11" in result.problem


def test_reordered_entries_are_detected(trail: Store) -> None:
    with trail.transaction() as s:  # swap 3 and 4 through a free number
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=1000))
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(seq=3))
        s.execute(update(AuditEntry).where(AuditEntry.seq == 1000).values(seq=4))
    result = _verify(trail)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_reordered_timestamps_are_detected(trail: Store) -> None:
    with trail.transaction() as s:
        later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(at=later))
    assert _verify(trail).first_bad_seq == 2


def test_show_filters(trail: Store) -> None:
    by_run = audit_entries(trail, "rita", run="R1")
    assert [e["action"] for e in by_run] == ["propose", "approve"]
    assert [e["action"] for e in audit_entries(trail, "rita", actor="fiona")] == ["approve"]
    assert [e["entity_id"] for e in audit_entries(trail, "rita", client="C007")] == ["C007"]
    today = datetime.now(UTC).date()
    assert len(audit_entries(trail, "rita", since=today, until=today)) == 11
    assert audit_entries(trail, "rita", since=today + timedelta(days=1)) == []
    assert audit_entries(trail, "rita", until=today - timedelta(days=1)) == []


def test_sqlite_single_edit_anywhere_is_found(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Property: in a trail of n entries, editing any one field of entry k is reported at exactly k."""
    from atlas_xl.store.database import open_store

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'a.db'}")

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(n=st.integers(1, 12), data=st.data())
    def check(n: int, data: st.DataObject) -> None:
        session = store.sessions()
        try:
            for i in range(n):
                audit.append(session, actor=f"u{i}", action="x", entity="run", entity_id=str(i),
                             before={"v": i}, after={"v": i + 1, "t": "é€"})
            k = data.draw(st.integers(1, n))
            column, value = data.draw(st.sampled_from([
                ("actor", "mallory"), ("action", "y"), ("entity_id", "999"), ("before_json", '{"v":-1}'),
                ("after_json", '{"v":0}'), ("at", "2000-01-01T00:00:00+00:00"), ("run_id", 42)]))
            session.execute(update(AuditEntry).where(AuditEntry.seq == k).values({column: value}))
            result = audit.verify(session)
            assert (result.ok, result.first_bad_seq) == (False, k)
        finally:
            session.rollback()
            session.close()

    check()
    store.dispose()


def test_refusal_entry_survives_the_failed_action(admin_users: Store) -> None:
    with pytest.raises(Exception, match="may not propose"):
        propose_run(admin_users, make_payouts({"C001": 100}), "2024-03-28", "rita")
    last = audit_entries(admin_users, "ada")[-1]
    assert (last["actor"], last["action"], last["after"]["action"]) == ("rita (demo)", "refused", "propose")
    assert "may not propose" in last["after"]["reason"]
    with admin_users.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM payout_runs")).scalar_one() == 0
