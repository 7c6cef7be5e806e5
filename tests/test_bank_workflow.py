"""workflow.bank on a real store (SQLite and PostgreSQL): importing the bank's files once, the payout state
machine in any import order, owed again, reason-policy holds, statement matching and the funding check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from atlas_xl.examples.bank_files import Credit, bank_side_files
from atlas_xl.inputs.bank_files import BankFileError
from atlas_xl.settings import Settings
from atlas_xl.store.database import Store, open_store
from atlas_xl.store.models import AuditEntry, BankMessage, BankPayoutEvent
from atlas_xl.workflow.bank import (
    active_holds,
    available_balance,
    confirm_mark,
    import_bank_file,
    payout_bank_statuses,
    statement_results,
)
from atlas_xl.workflow.execution import execute_run
from atlas_xl.workflow.history import executed_payouts
from atlas_xl.workflow.runs import approve_run, mark_run, propose_run, show_run
from atlas_xl.workflow.users import add_user
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import make_payouts

DAY = dt.date(2024, 3, 28)  # a Thursday and a TARGET2 banking day
SMALL = Settings()  # the policy P1 defaults (a looser dual-approval setting is refused by the store's policy)
STAMP = dt.datetime(2024, 3, 28, 18, 0, tzinfo=dt.UTC)
AMOUNTS = {"C001": 50_00, "C002": 25_50, "C003": 12_34, "C004": 7_00}  # total 94.84 EUR


@dataclass(frozen=True)
class Tx:
    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str


def _executed_run(store: Store, out: Path, day: dt.date = DAY) -> tuple[int, list[Tx]]:
    run = propose_run(store, make_payouts(AMOUNTS), day, "otto", settings=SMALL).run
    approve_run(store, run.ref, "fiona")
    execute_run(store, run.ref, "felix", out, executed_on=day)
    detail = show_run(store, run.ref, "rita")
    return run.run_id, [Tx(p.end_to_end_id, p.amount_cents, p.name, p.iban) for p in detail.payouts]


def _files(tmp: Path, run_id: int, txs: list[Tx], day: dt.date = DAY, **kw: object) -> dict[str, Path]:
    tag = f"ATLAS-{day:%Y%m%d}-R{run_id}"
    options: dict[str, object] = {"rejected": f"R{run_id}-C002", "returned": f"R{run_id}-C003",
                                  "opening_cents": 1_000_00, **kw}
    files = bank_side_files(txs, original_msg_id=tag, pmt_inf_id=f"{tag}-P1", debtor_iban=SMALL.debtor_iban,
                            executed_on=day, created_at=STAMP, **options)  # type: ignore[arg-type]
    out = {}
    for name in ("pain002", "camt054", "camt053"):
        out[name] = tmp / f"{name}-R{run_id}.xml"
        out[name].write_bytes(getattr(files, name))
    return out


def _users(store: Store) -> Store:
    add_user(store, None, "ada", "admin")
    for name, role in (("otto", "operations"), ("fiona", "finance"), ("felix", "finance"), ("rita", "risk")):
        add_user(store, "ada", name, role)
    return store


def _final(store: Store, run_id: int) -> dict[str, tuple[str | None, str | None, bool]]:
    with store.transaction() as session:
        return {c: (s.state, s.reason_code, s.owed_again) for c, s in payout_bank_statuses(session, run_id).items()}


def _counts(store: Store) -> tuple[int, int, int]:
    with store.transaction() as session:
        return (session.execute(select(func.count()).select_from(BankMessage)).scalar_one(),
                session.execute(select(func.count()).select_from(BankPayoutEvent)).scalar_one(),
                session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_status_report_then_notification_and_the_reverse_order_end_alike(store: Store, tmp_path: Path) -> None:
    store = _users(store)
    run_id, txs = _executed_run(store, tmp_path / "a")
    files = _files(tmp_path, run_id, txs)
    first = import_bank_file(store, "otto", files["pain002"])
    assert [(c.client_id, c.state, c.applied) for c in first.changes] == [
        ("C001", "accepted", True), ("C002", "rejected", True), ("C003", "accepted", True),
        ("C004", "accepted", True)]
    import_bank_file(store, "fiona", files["camt054"])
    expected = {"C001": ("booked", None, False), "C002": ("rejected", "AC04", True),
                "C003": ("returned", "AC01", True), "C004": ("booked", None, False)}
    assert _final(store, run_id) == expected

    # the same files imported newest first into another store: the older pain.002 is recorded, not applied
    other = _users(open_store(f"sqlite:///{tmp_path / 'reverse.db'}", demo=True))
    try:
        run_b, txs_b = _executed_run(other, tmp_path / "b")
        assert run_b == run_id
        late = import_bank_file(other, "otto", files["camt054"])
        assert [(c.client_id, c.state) for c in late.changes] == [
            ("C001", "booked"), ("C003", "booked"), ("C004", "booked"), ("C003", "returned")]
        older = import_bank_file(other, "otto", files["pain002"])
        assert [(c.client_id, c.applied) for c in older.changes] == [
            ("C001", False), ("C002", True), ("C003", False), ("C004", False)]
        assert _final(other, run_b) == expected
    finally:
        other.dispose()


def test_importing_twice_changes_nothing_and_refused_files_record_nothing(store: Store, tmp_path: Path) -> None:
    store = _users(store)
    run_id, txs = _executed_run(store, tmp_path)
    files = _files(tmp_path, run_id, txs)
    import_bank_file(store, "otto", files["pain002"])
    before = _counts(store)
    again = import_bank_file(store, "otto", files["pain002"])
    assert again.already_imported and "nothing changed" in again.line()
    assert _counts(store) == before

    (tmp_path / "x").mkdir()
    unknown = _files(tmp_path / "x", 99, txs, rejected=None, returned=None)
    with pytest.raises(BankFileError, match="references no payout run of this store") as refused:
        import_bank_file(store, "otto", unknown["pain002"])
    assert "OrgnlMsgId" in str(refused.value) and "ATLAS-20240328-R99" in str(refused.value)
    broken = tmp_path / "broken.xml"
    broken.write_bytes(files["camt054"].read_bytes().replace(b"<CdtDbtInd>DBIT</CdtDbtInd>",
                                                              b"<CdtDbtInd>DEBIT</CdtDbtInd>", 1))
    with pytest.raises(BankFileError, match="fails the camt.054.001.08 schema") as failed:
        import_bank_file(store, "otto", broken)
    assert "line " in str(failed.value) and "'DEBIT'" in str(failed.value)
    # a different file that reuses the MsgId of an imported one
    reused = tmp_path / "reused.xml"
    reused.write_bytes(files["pain002"].read_bytes().replace(b"ACCP", b"ACSC"))
    with pytest.raises(BankFileError, match="MsgId was already imported from another file"):
        import_bank_file(store, "otto", reused)
    from atlas_xl.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="may not import bank file"):
        import_bank_file(store, "rita", files["camt054"])
    assert _counts(store)[:2] == before[:2]


@pytest.mark.parametrize(("reject", "ret", "holds"), [
    ("AC04", "AC01", {"C002": ["BANK_DETAILS_REJECTED"], "C003": ["BANK_DETAILS_REJECTED"]}),
    ("RR01", "MS03", {"C002": ["COMPLIANCE_HOLD"], "C003": ["MANUAL_REVIEW"]}),
    ("AM04", "MD07", {"C002": ["MANUAL_REVIEW"], "C003": ["MANUAL_REVIEW"]}),  # not in the policy: someone looks
])
def test_reason_policy_holds(admin_users: Store, tmp_path: Path, reject: str, ret: str,
                             holds: dict[str, list[str]]) -> None:
    run_id, txs = _executed_run(admin_users, tmp_path)
    files = _files(tmp_path, run_id, txs, reject_reason=reject, return_reason=ret)
    import_bank_file(admin_users, "otto", files["pain002"])
    import_bank_file(admin_users, "otto", files["camt054"])
    with admin_users.transaction() as session:
        assert active_holds(session) == holds
        paid = executed_payouts(session, DAY)
    assert sorted(paid["client_id"]) == ["C001", "C004"]  # C002 rejected, C003 returned: owed again


def test_a_manual_mark_is_owed_again_only_when_a_second_person_confirms(admin_users: Store, tmp_path: Path) -> None:
    run_id, _ = _executed_run(admin_users, tmp_path)
    mark_run(admin_users, f"R{run_id}", "fiona", "returned", payout="C004", reason="AC04")
    with admin_users.transaction() as session:
        assert "C004" in set(executed_payouts(session, DAY)["client_id"])  # one person: still paid
    from atlas_xl.errors import WorkflowError

    with pytest.raises(WorkflowError, match="a second person must confirm"):
        confirm_mark(admin_users, "fiona", f"R{run_id}", "C004")
    status = confirm_mark(admin_users, "felix", f"R{run_id}", "C004")
    assert status.owed_again
    with admin_users.transaction() as session:
        assert sorted(executed_payouts(session, DAY)["client_id"]) == ["C001", "C002", "C003"]


def test_statement_matching_and_funding_check(admin_users: Store, tmp_path: Path) -> None:
    store = admin_users
    run_id, txs = _executed_run(store, tmp_path)
    # opening 100.00; debits 50.00 + 12.34 + 7.00 (C002 rejected); credits 30.00 (unexpected) -> closing 60.66
    files = _files(tmp_path, run_id, txs, opening_cents=100_00,
                   credits=[Credit(30_00, "unknown sender")])
    result = import_bank_file(store, "otto", files["camt053"])
    rec = result.reconciliation
    assert rec is not None and rec["matched_count"] == 3 and rec["balance"] == {
        "opening_cents": 100_00, "entries_cents": 30_00 - 69_34, "closing_cents": 60_66, "difference_cents": 0,
        "ok": True}
    # the unexpected credit (the statement's last entry), and C002's payout: the bank rejected it but no pain.002
    # told Atlas so yet
    lines = files["camt053"].read_text().splitlines()
    last_entry = max(i for i, text in enumerate(lines, 1) if text.strip() == "<Ntry>")
    assert [(x["kind"], x["amount_cents"], x["reference"]) for x in rec["exceptions"]] == [
        ("unmatched_entry", 30_00, f"entry on line {last_entry}"), ("missing", 25_50, f"payout R{run_id}-C002")]
    with store.transaction() as session:
        assert available_balance(session, SMALL.debtor_iban).cents == 60_66
        assert [r["message_id"] for r in statement_results(session)] == [f"STM-ATLAS-20240328-R{run_id}"]

    # the next run pays 94.84 EUR but the account had 60.66: refused with the figures
    later = DAY + dt.timedelta(days=1)
    run = propose_run(store, make_payouts(AMOUNTS), later, "otto", settings=SMALL).run
    approve_run(store, run.ref, "fiona")
    from atlas_xl.errors import WorkflowError

    with pytest.raises(WorkflowError, match=r"pays 94\.84 EUR .* had 60\.66 EUR .* short by 34\.18 EUR"):
        execute_run(store, run.ref, "felix", tmp_path / "next", executed_on=later)
    assert show_run(store, run.ref, "rita").summary.status == "approved"  # nothing was paid
    # a later statement with enough money: executed, and the output names the balance it was checked against
    (tmp_path / "m").mkdir()
    more = _files(tmp_path / "m", run_id, txs, opening_cents=200_00, statement_id="STM-2")
    import_bank_file(store, "otto", more["camt053"])
    done = execute_run(store, run.ref, "felix", tmp_path / "next", executed_on=later)
    assert "within the balance 130.66 EUR" in done.funding  # 200.00 - (50.00 + 12.34 + 7.00)
