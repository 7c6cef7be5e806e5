"""Statement matching (engines/bank_matching.py) and the bank-side generator (examples/bank_files.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest

from atlas_xl.domain.bank import ReasonAction, StatusOutcome
from atlas_xl.engines.bank_matching import (
    ExceptionKind,
    ExpectedPayout,
    ExpectedRepayment,
    ExpectedSettlement,
    match_statement,
)
from atlas_xl.errors import AtlasError
from atlas_xl.examples.bank_files import Credit, bank_side_files
from atlas_xl.inputs.bank_files import read_notification, read_statement, read_status_report

DATA = Path(__file__).parent / "data" / "bank"
DAY = date(2025, 3, 4)


def _report():
    (rpt,) = read_statement(DATA / "camt053_v08.xml").reports
    return rpt


def test_match_statement_rules():
    rpt = _report()
    c001 = ExpectedPayout("RUN7-C001", 123456, DAY, "C001")
    c002 = ExpectedPayout("RUN7-C002", 25100, DAY, "C002")  # the bank debited 250.00: mismatch by 1.00
    c003 = ExpectedPayout("RUN7-C003", 7500, date(2025, 3, 1), "C003")  # debited earlier, returned today
    c009 = ExpectedPayout("RUN7-C009", 9999, date(2025, 3, 2), "C009")  # never arrived
    settle = ExpectedSettlement("ACQ-2025-03-04", 500000, DAY)
    settle_late = ExpectedSettlement("ACQ-2025-03-07", 700000, date(2025, 3, 7))  # not due at as_of
    repay = ExpectedRepayment("LOAN-42", 30000, DAY, "C042")
    repay_missing = ExpectedRepayment("LOAN-77", 9999, date(2025, 3, 3), "C077")
    res = match_statement(rpt, payouts=[c001, c002, c003, c009], settlements=[settle, settle_late],
                          repayments=[repay, repay_missing], as_of=date(2025, 3, 6))

    assert [(m.entry.line, m.expected) for m in res.matched] == [(10, c001), (22, settle), (28, repay)]
    assert [(r.payout, r.reason_code, r.entry.amount_cents) for r in res.returns] == [(c003, "AC01", 7500)]
    assert res.not_yet_due == (settle_late,)

    kinds = [(x.kind, x.amount_cents, x.age_days) for x in res.exceptions]
    assert kinds == [
        (ExceptionKind.AMOUNT_MISMATCH, 25000, 2),  # booked 4 March, as of 6 March
        (ExceptionKind.UNMATCHED_ENTRY, 9999, 2),  # the 99.99 credit
        (ExceptionKind.MISSING, 9999, 4),  # payout C009 expected 2 March
        (ExceptionKind.MISSING, 9999, 3),  # repayment LOAN-77 expected 3 March
    ]
    mismatch, unmatched, missing_payout, missing_repay = res.exceptions
    assert mismatch.expected is c002 and "difference -100" in mismatch.message
    # the unmatched credit's best candidate: a credit-side item of 99.99 within 3 days -> the repayment LOAN-77
    # (1 day away); payout C009 is on the debit side and is not a candidate for a credit
    assert unmatched.candidate is repay_missing
    assert "best candidate: repayment LOAN-77" in unmatched.message
    assert missing_payout.candidate is None  # no unmatched debit of 99.99
    assert missing_repay.candidate is unmatched.entry

    # 10,000.00 + (-1,234.56 - 250.00 + 5,000.00 + 300.00 + 99.99 + 75.00) = 13,990.43 = CLBD
    assert (res.balance.opening_cents, res.balance.entries_cents, res.balance.closing_cents) == (
        1_000_000, 399_043, 1_399_043)
    assert res.balance.difference_cents == 0 and res.balance.ok


def test_candidate_window_is_three_days_nearest_first():
    rpt = _report()  # the 99.99 credit is booked 4 March
    far = ExpectedRepayment("FAR", 9999, date(2025, 3, 8))  # 4 days: outside
    near_late = ExpectedRepayment("LATE", 9999, date(2025, 3, 6))  # +2 days
    near_early = ExpectedRepayment("EARLY", 9999, date(2025, 3, 2))  # -2 days: same gap, earlier wins
    res = match_statement(rpt, repayments=[far, near_late, near_early], as_of=date(2025, 3, 9))
    unmatched = [x for x in res.exceptions if x.kind is ExceptionKind.UNMATCHED_ENTRY and x.amount_cents == 9999]
    assert unmatched[0].candidate is near_early
    res = match_statement(rpt, repayments=[far], as_of=date(2025, 3, 9))
    unmatched = [x for x in res.exceptions if x.kind is ExceptionKind.UNMATCHED_ENTRY and x.amount_cents == 9999]
    assert unmatched[0].candidate is None


def test_balance_difference_reported(tmp_path):
    text = (DATA / "camt053_v08.xml").read_text().replace(">13990.43<", ">13990.40<")
    p = tmp_path / "s.xml"
    p.write_text(text)
    (rpt,) = read_statement(p).reports
    res = match_statement(rpt, as_of=DAY)
    assert res.balance.difference_cents == -3 and not res.balance.ok  # 13,990.40 - 13,990.43


def test_balance_unknown_without_closing(tmp_path):
    (rpt,) = read_notification(DATA / "camt054_v08.xml").reports
    res = match_statement(rpt, as_of=DAY)
    assert res.balance.difference_cents is None and not res.balance.ok


@dataclass(frozen=True)
class _Transfer:
    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str


TRANSFERS = [
    _Transfer("RUN9-C001", 120000, "Alpha GmbH", "DE02120300000000202051"),
    _Transfer("RUN9-C002", 45050, "Beta SARL", "FR1420041010050500013M02606"),
    _Transfer("RUN9-C003", 999, "Gamma BV", "NL91ABNA0417164300"),
    _Transfer("RUN9-C004", 250000, "Delta SpA", "IT60X0542811101000000123456"),
]


def test_generated_bank_side_round_trips(tmp_path):
    files = bank_side_files(
        TRANSFERS, original_msg_id="ATLAS-RUN9", pmt_inf_id="ATLAS-RUN9-PMT1", debtor_iban="DE89370400440532013000",
        executed_on=DAY, created_at=datetime(2025, 3, 4, 18, 0), opening_cents=1_000_000,
        rejected="RUN9-C002", returned="RUN9-C003",
        credits=[Credit(300000, "ACQ SETTLEMENT 2025-03-04"), Credit(15000, "Repayment LOAN-9")])
    paths = {}
    for name in ("pain002", "camt054", "camt053"):
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_bytes(getattr(files, name))

    sts = read_status_report(paths["pain002"])
    assert sts.group_status.value == "PART" and sts.original_msg_id == "ATLAS-RUN9"
    assert [(t.end_to_end_id, t.outcome) for t in sts.transactions] == [
        ("RUN9-C001", StatusOutcome.ACCEPTED), ("RUN9-C002", StatusOutcome.REJECTED),
        ("RUN9-C003", StatusOutcome.ACCEPTED), ("RUN9-C004", StatusOutcome.ACCEPTED)]
    rej = sts.rejected[0]
    assert (rej.reason_code, rej.action) == ("AC04", ReasonAction.BLOCK_BANK_DETAILS)

    ntf = read_notification(paths["camt054"])
    assert [(e.end_to_end_id, e.signed_cents, e.booking_date, e.return_reason) for e in ntf.entries] == [
        ("RUN9-C001", -120000, DAY, None), ("RUN9-C003", -999, DAY, None), ("RUN9-C004", -250000, DAY, None),
        ("RUN9-C003", 999, date(2025, 3, 6), "AC01")]

    (rpt,) = read_statement(paths["camt053"]).reports
    # 10,000.00 - 1,200.00 - 9.99 - 2,500.00 + 3,000.00 + 150.00 = 9,440.01
    assert rpt.closing.amount_cents == 944001
    payouts = [ExpectedPayout(t.end_to_end_id, t.amount_cents, DAY) for t in TRANSFERS]
    res = match_statement(rpt, payouts=payouts, settlements=[ExpectedSettlement("ACQ", 300000, DAY)],
                          repayments=[ExpectedRepayment("LOAN-9", 15000, DAY)], as_of=DAY)
    assert res.balance.ok
    assert len(res.matched) == 5
    assert [(x.kind, x.expected.end_to_end_id) for x in res.exceptions] == [(ExceptionKind.MISSING, "RUN9-C002")]


def test_generator_refuses_unknown_ids():
    with pytest.raises(AtlasError, match="rejected EndToEndId 'NOPE'"):
        bank_side_files(TRANSFERS, original_msg_id="M", pmt_inf_id="P", debtor_iban="DE89370400440532013000",
                        executed_on=DAY, created_at=datetime(2025, 3, 4), opening_cents=0, rejected="NOPE",
                        returned=None)
