"""Issue 20: what the operations screen is told - not due vs blocked, the sweep over the limit, reason words,
days held and last payouts, limits without credit products, one loans-outstanding figure.

Hand-computed examples (the arithmetic in the comments) and the bundled example data's real figures."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from atlas_xl.domain.model import BlockReason, Movement
from atlas_xl.engines.payouts import REASON_WORDS, Readiness, reason_words
from atlas_xl.engines.run import EngineResult, run_engines
from atlas_xl.inputs.portfolio import load_portfolio
from tests.portfolio_builder import MON, client, daily_sales, loan, portfolio
from tests.reference import reference_run
from tests.test_reference_diff import assert_agree

WED = dt.date(2026, 4, 1)  # MON is Monday 2026-03-30


def test_an_off_cycle_client_is_not_due_and_not_counted_as_blocked():
    p = portfolio(
        [client("W", payout_frequency="weekly"), client("K", payout_frequency="weekly", kyc_status="pending")],
        daily_sales("W", MON, 3, 100_00) + daily_sales("K", MON, 3, 100_00),
    )
    result = run_engines(p, WED)
    payouts = result.payouts.set_index("client_id")
    # W: paid 100.00 on Monday 03-30; 04-01 is no weekly payout day: 2 x 100.00 = 200.00 waits, nothing wrong
    assert payouts.loc["W", "readiness"] == Readiness.NOT_DUE == "NOT DUE"
    assert payouts.loc["W", "reasons"] == "NOT_PAYOUT_DAY"
    assert payouts.loc["W", "reason_text"] == "not a payout day"
    # K: KYC pending never paid: 3 x 100.00 = 300.00 held back (its off-cycle day is a second reason)
    assert payouts.loc["K", "readiness"] == "BLOCKED"
    assert payouts.loc["K", "reason_text"] == "KYC pending; not a payout day"
    k = result.kpis
    assert (k.payouts_ready, k.payouts_blocked, k.payouts_not_due) == (0, 1, 1)
    assert k.held_back_cents == 300_00 and k.not_due_cents == 200_00
    # last payout: W on 03-30 (100.00), 2 days ago; K never: held since day 0 (03-30), 2 days
    assert payouts.loc["W", "last_payout_date"] == pd.Timestamp("2026-03-30")
    assert payouts.loc["W", "last_payout_cents"] == 100_00 and payouts.loc["W", "days_held"] == 2
    assert pd.isna(payouts.loc["K", "last_payout_date"]) and payouts.loc["K", "last_payout_cents"] == 0
    assert payouts.loc["K", "days_held"] == 2
    assert_agree(result, reference_run(p, WED))


def test_a_ready_client_was_paid_today_and_holds_nothing():
    p = portfolio([client("D")], daily_sales("D", MON, 3, 100_00))
    row = run_engines(p, WED).payouts.iloc[0]
    assert row["readiness"] == "READY" and row["reason_text"] == ""
    # paid 100.00 each day; the last payout is today's
    assert row["last_payout_date"] == pd.Timestamp(WED) and row["last_payout_cents"] == 100_00
    assert pd.isna(row["days_held"])


def test_over_the_limit_the_balance_is_swept_whatever_holds_the_payout():
    # OVER: limit 5,000.00, a 10,000.00 advance on 03-30, 10 % withholding, 1,000.00 sales a day.
    # (interest-free advances: no accrued interest in the exposure)
    # BLK: the same, but blocked (never paid, so nothing withheld before the as-of date).
    advance = 10_000_00
    p = portfolio(
        [client("OVER", credit_limit_cents=5_000_00, factoring_withhold_rate_ppm=100_000),
         client("BLK", credit_limit_cents=5_000_00, factoring_withhold_rate_ppm=100_000, status="blocked")],
        daily_sales("OVER", MON, 3, 1_000_00) + daily_sales("BLK", MON, 3, 1_000_00),
        loans=[loan("F1", "OVER", "factoring", advance, MON, rate_ppm=0),
               loan("F2", "BLK", "factoring", advance, MON, rate_ppm=0)],
    )
    result = run_engines(p, WED)
    exposure = result.exposure.set_index("client_id")
    # OVER before 04-01's payout: 10,000.00 - 2 x 100.00 withheld = 9,800.00 + 2 % x 3,000.00 = 60.00
    # chargeback risk = 9,860.00 / 5,000.00 = 197.2 % -> BREACH
    assert exposure.loc["OVER", "exposure_cents"] == 9_860_00 and exposure.loc["OVER", "status"] == "BREACH"
    assert exposure.loc["OVER", "credit_risk_cents"] == 9_800_00
    assert exposure.loc["OVER", "acquiring_risk_cents"] == 60_00
    payouts = result.payouts.set_index("client_id")
    # the sweep: 100 % x 1,000.00 (at most 9,800.00 outstanding) is withheld, nothing is left to pay
    assert payouts.loc["OVER", "withheld_cents"] == 1_000_00 and payouts.loc["OVER", "amount_cents"] == 0
    assert payouts.loc["OVER", "reasons"] == "LIMIT_BREACHED; NOTHING_TO_PAY"
    assert payouts.loc["OVER", "readiness"] == "BLOCKED"
    withheld = result.ledger.amounts[Movement.FACTORING_WITHHOLD]
    paid = result.ledger.amounts[Movement.PAYOUT]
    assert withheld[0].tolist() == [100_00, 100_00, 1_000_00]  # was [100.00, 100.00, 0.00]: repayment frozen
    assert paid[0].tolist() == [900_00, 900_00, 0]
    # BLK: 3 x 1,000.00 = 3,000.00 on the account; 10,000.00 + 60.00 over 5,000.00 -> swept 3,000.00
    assert payouts.loc["BLK", "withheld_cents"] == 3_000_00
    assert withheld[1].tolist() == [0, 0, 3_000_00]
    balances = result.balances.set_index("client_id")
    assert balances.loc["OVER", "factoring_cents"] == -advance + 1_200_00
    assert balances.loc["BLK", "factoring_cents"] == -advance + 3_000_00
    assert balances.loc["BLK", "settlement_cents"] == 0
    assert_agree(result, reference_run(p, WED))


def test_a_zero_limit_without_credit_products_is_no_breach():
    # Z: limit 0, no loans, 1,000.00 sales -> chargeback risk 2 % = 20.00 is acquiring risk only: OK, paid.
    # ZL: limit 0 with a 1,000.00 term loan -> credit exposure without a limit: BREACH, held.
    p = portfolio(
        [client("Z", credit_limit_cents=0), client("ZL", credit_limit_cents=0)],
        daily_sales("Z", MON, 1, 1_000_00) + daily_sales("ZL", MON, 1, 1_000_00),
        loans=[loan("T1", "ZL", "term_loan", 1_000_00, MON)],
    )
    result = run_engines(p, MON)
    exposure = result.exposure.set_index("client_id")
    assert exposure.loc["Z", "exposure_cents"] == 20_00 and exposure.loc["Z", "status"] == "OK"
    assert pd.isna(exposure.loc["Z", "utilization_ppm"])
    assert exposure.loc["ZL", "status"] == "BREACH"
    assert exposure.loc["ZL", "credit_risk_cents"] == 1_000_00 and exposure.loc["ZL", "acquiring_risk_cents"] == 20_00
    payouts = result.payouts.set_index("client_id")
    assert payouts.loc["Z", "ready"] and payouts.loc["Z", "amount_cents"] == 1_000_00
    assert "LIMIT_BREACHED" in payouts.loc["ZL", "reasons"]
    assert list(result.alerts["client_id"]) == ["ZL"]
    assert_agree(result, reference_run(p, MON))


def test_every_reason_has_words_and_an_invalid_iban_says_why():
    assert set(REASON_WORDS) == set(BlockReason)
    problem = "IBAN 'ES0221000001010005838696' is invalid (Invalid checksum digits); expected e.g. DE89..."
    assert reason_words("KYC_PENDING; INVALID_IBAN", problem) == "KYC pending; IBAN invalid: invalid checksum digits"
    assert reason_words("", "") == ""


@pytest.fixture(scope="module")
def example(example_data_dir) -> EngineResult:
    return run_engines(load_portfolio(example_data_dir))


def test_example_data_not_due_blocked_and_held_back(example: EngineResult):
    k = example.kpis
    payouts = example.payouts.set_index("client_id")
    not_due = payouts[payouts["readiness"] == "NOT DUE"]
    # 11 monthly clients off-cycle on 2026-11-23 (a Monday, not the month's first banking day)
    assert list(not_due.index) == ["C00009", "C00012", "C00015", "C00018", "C00021", "C00024", "C00027",
                                   "C00030", "C00033", "C00036", "C00039"]
    # 23,943.85 + 36,756.06 + 30,549.57 + 25,434.68 + 10,492.59 + 37,121.45 + 7,332.50 + 33,627.51
    # + 19,899.73 + 21,078.64 + 22,992.43 = 269,229.01
    assert k.payouts_not_due == 11 and k.not_due_cents == 269_229_01
    assert (k.payouts_ready, k.payouts_blocked) == (23, 6)  # was 23 / 17
    # held back was 1,753,618.55 = 269,229.01 not due + 16,302.17 C00006's payable (now swept)
    # + 1,468,087.37 really held (C00002 657,550.53, C00003 480,943.79, C00004 325,409.40, C00025 4,183.65)
    assert k.held_back_cents == 1_468_087_37 == 657_550_53 + 480_943_79 + 325_409_40 + 4_183_65
    # C00006 (244.5 % of its limit): its 18,113.52 balance goes to its 244,785.84 advance, not paid, not frozen
    assert payouts.loc["C00006", "withheld_cents"] == 18_113_52 and payouts.loc["C00006", "amount_cents"] == 0
    assert payouts.loc["C00004", "reason_text"] == "IBAN invalid: invalid checksum digits"


def test_example_data_loans_outstanding_is_the_ledger_figure(example: EngineResult):
    exposure = example.exposure
    factoring = int(exposure["factoring_outstanding_cents"].sum())
    term = int(exposure["loan_outstanding_cents"].sum())
    # factoring before the as-of payouts: C00006 244,785.84 + C00007 89,738.48 + C00028 15,552.80 = 350,077.12
    assert factoring == 350_077_12 == 244_785_84 + 89_738_48 + 15_552_80
    # the ledger's factoring subaccount says the same once the day's withholdings are added back
    ledger_after = -int(example.balances["factoring_cents"].sum())
    today = int(example.ledger.amounts[Movement.FACTORING_WITHHOLD][:, -1].sum())
    assert ledger_after + today == factoring
    # term loans from the schedules: 199,738.36; the headline was 289,738.36 (advances at 90,000.00)
    assert term == 199_738_36
    assert example.kpis.loans_outstanding_cents == 549_815_48 == factoring + term


def test_every_reason_code_has_its_words() -> None:
    """A reason added later (the bank's holds were) cannot reach the screen as a KeyError (exit 70 before)."""
    from atlas_xl.domain.model import BlockReason
    from atlas_xl.engines.payouts import REASON_WORDS

    assert set(REASON_WORDS) == set(BlockReason)
