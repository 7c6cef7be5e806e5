"""Hand-computed examples for reserves, payouts and the ledger (the arithmetic is in the comments)."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import threading
import time

import numpy as np
import pandas as pd

from atlas_xl.domain.model import Movement
from atlas_xl.engines.ledger import Ledger
from atlas_xl.engines.run import run_engines
from tests.portfolio_builder import MON, client, daily_sales, easter_portfolio, loan, portfolio, reserve
from tests.reference import reference_run


def test_rolling_reserve_releases_roll_past_easter():
    result = run_engines(easter_portfolio(), dt.date(2026, 4, 8))
    flows = result.reserve_flows["rolling"]
    # every day holds 10 % x 1,000.00 = 100.00
    assert flows.held[0].tolist() == [100_00] * 10
    # holds of 03-30 and 03-31 fall due 04-06 (Easter Monday) and 04-07 -> both released on 04-07 (day 8);
    # the hold of 04-01 on 04-08 (day 9)
    assert flows.released[0].tolist() == [0] * 8 + [200_00, 100_00]
    # balance 10 x 100.00 held - 300.00 released = 700.00
    assert flows.balance[0, -1] == 700_00
    releases = result.reserve_releases
    # upcoming: 04-02 -> 04-09, 04-03 -> 04-10, 04-04/05/06 -> 04-11 Sat/04-12 Sun/04-13 -> all 04-13,
    # 04-07 -> 04-14, 04-08 -> 04-15
    assert [(d.date().isoformat(), a) for d, a in zip(releases["release_date"], releases["amount_cents"],
                                                      strict=True)] == [
        ("2026-04-09", 100_00), ("2026-04-10", 100_00), ("2026-04-13", 300_00), ("2026-04-14", 100_00),
        ("2026-04-15", 100_00)]


def test_payouts_withhold_factoring_and_carry_over_closing_days():
    result = run_engines(easter_portfolio(), dt.date(2026, 4, 8))
    paid = result.ledger.amounts[Movement.PAYOUT][0]
    withheld = result.ledger.amounts[Movement.FACTORING_WITHHOLD][0]
    # each day nets 1,000.00 - 10.00 fees - 100.00 hold = 890.00
    # 03-30: withhold min(50 % x 890.00, 500.00) = 445.00, pay 445.00 (advance left 55.00)
    # 03-31: withhold min(445.00, 55.00) = 55.00, pay 835.00; 04-01, 04-02: pay 890.00
    # 04-03 Good Friday .. 04-06 Easter Monday: no payout, 4 x 890.00 = 3,560.00 carried
    # 04-07: 3,560.00 + 890.00 + 200.00 release = 4,650.00; 04-08 (payout date): 890.00 + 100.00 = 990.00
    assert paid.tolist() == [445_00, 835_00, 890_00, 890_00, 0, 0, 0, 0, 4650_00, 990_00]
    assert withheld.tolist() == [445_00, 55_00] + [0] * 8
    row = result.payouts.iloc[0]
    assert bool(row["ready"]) and row["reasons"] == ""
    assert row["amount_cents"] == 990_00 and row["releases_cents"] == 100_00 and row["new_holds_cents"] == 100_00
    # reconciliation: 10,000.00 sales - 100.00 fees = 9,900.00 = 8,700.00 paid + 700.00 reserve + 500.00 repaid
    assert paid.sum() + 700_00 + withheld.sum() == 9_900_00
    balances = result.balances.iloc[0]
    assert balances["settlement_cents"] == 0
    assert balances["rolling_reserve_cents"] == 700_00
    assert balances["factoring_cents"] == 0  # -500.00 advanced + 500.00 withheld


def test_every_blocking_reason_is_listed():
    p = easter_portfolio(status="blocked", kyc_status="pending", iban="DE00370400440532013000")
    row = run_engines(p, dt.date(2026, 4, 8)).payouts.iloc[0]
    assert not row["ready"]
    assert row["reasons"].split("; ")[:3] == ["BLOCKED", "KYC_PENDING", "INVALID_IBAN"]
    # never paid: all 9,900.00 net of fees minus the 700.00 reserve... stays on the settlement account
    assert row["available_cents"] == 9_900_00 - 700_00


def test_below_minimum_and_negative_balance_are_carried_forward():
    p = portfolio(
        [client("LOW", min_payout_cents=5_000_00), client("NEG", opening_balance_cents=-2_000_00)],
        daily_sales("LOW", MON, 3, 1000_00) + daily_sales("NEG", MON, 3, 500_00),
    )
    payouts = run_engines(p, dt.date(2026, 4, 1)).payouts.set_index("client_id")
    # LOW: 3 x 1,000.00 = 3,000.00 < 5,000.00 minimum -> carried forward, nothing paid yet
    assert payouts.loc["LOW", "amount_cents"] == 3_000_00
    assert payouts.loc["LOW", "reasons"] == "BELOW_MINIMUM"
    # NEG: -2,000.00 opening + 3 x 500.00 = -500.00
    assert payouts.loc["NEG", "available_cents"] == -500_00
    assert payouts.loc["NEG", "reasons"] == "NEGATIVE_BALANCE"


def test_weekly_and_monthly_clients_wait_for_their_payout_day():
    p = portfolio(
        [client("W", payout_frequency="weekly"), client("M", payout_frequency="monthly")],
        daily_sales("W", MON, 3, 100_00) + daily_sales("M", MON, 3, 100_00),
    )
    payouts = run_engines(p, dt.date(2026, 4, 1)).payouts.set_index("client_id")
    # 04-01 is the first banking day of April (monthly pays), but not the first of its ISO week
    assert payouts.loc["W", "reasons"] == "NOT_PAYOUT_DAY"
    # weekly client was paid on Monday 03-30 (100.00), so 2 x 100.00 is available
    assert payouts.loc["W", "available_cents"] == 200_00
    assert payouts.loc["M", "ready"] and payouts.loc["M", "amount_cents"] == 300_00


def test_reserve_cap_fixed_amount_and_minimum_balance():
    p = portfolio(
        [client("C")],
        daily_sales("C", MON, 5, 1000_00),
        [reserve("C", rate_ppm=200_000, hold_days=1, basis="banking", cap_cents=500_00, fixed_cents=100_00,
                 min_cents=450_00)],
    )
    flows = run_engines(p, dt.date(2026, 4, 3)).reserve_flows["rolling"]
    # day 0 (03-30): fixed 100.00 + hold min(200.00, 500.00 - 0 - 100.00 = 400.00) = 300.00 -> balance 300.00
    # day 1 (03-31): hold min(200.00, 500.00 - 300.00) = 200.00 -> 500.00; release due 200.00 (03-30 hold,
    #   1 banking day), but min balance 450.00 allows only 50.00 -> balance 450.00, 150.00 deferred
    # day 2 (04-01): hold min(200.00, 50.00) = 50.00 -> 500.00; due 200.00 + 150.00, allowed 50.00 -> 450.00
    # day 3 (04-02): hold 50.00 -> 500.00; due 50.00 (04-01 hold) + 300.00 deferred, allowed 50.00 -> 450.00
    # day 4 (04-03 Good Friday): hold 50.00 -> 500.00; the 04-02 hold falls due on 04-07, deferred 300.00
    #   is tried again: 50.00 allowed -> 450.00
    assert flows.held[0].tolist() == [300_00, 200_00, 50_00, 50_00, 50_00]
    assert flows.fixed[0].tolist() == [100_00, 0, 0, 0, 0]
    assert flows.released[0].tolist() == [0, 50_00, 50_00, 50_00, 50_00]
    assert flows.balance[0].tolist() == [300_00, 450_00, 450_00, 450_00, 450_00]
    assert flows.deferred[0] == 300_00 - 50_00


def test_postings_balance_per_movement_and_explain_each_balance():
    result = run_engines(easter_portfolio(), dt.date(2026, 4, 8))
    postings = result.ledger.postings()
    assert postings.groupby(["date", "movement"])["amount_cents"].sum().eq(0).all()
    by_account = postings.groupby("subaccount")["amount_cents"].sum()
    balances = result.balances.iloc[0]
    for account in ("settlement", "rolling_reserve", "partner_reserve", "factoring"):
        assert by_account.get(account, 0) == balances[f"{account}_cents"]
    drill = result.ledger.drilldown()
    assert drill.groupby("subaccount")["amount_cents"].sum().get("rolling_reserve") == 700_00


def test_exposure_components_and_limit_status():
    # over-limit client: a 10,000.00 advance, limit 5,000.00; no sales, so nothing is withheld
    p = portfolio(
        [client("OVER", credit_limit_cents=5_000_00), client("NEAR", credit_limit_cents=10_000_00),
         client("OK")],
        daily_sales("OVER", MON, 1, 0) + daily_sales("NEAR", MON, 1, 0) + daily_sales("OK", MON, 1, 1000_00),
        loans=[loan("A1", "OVER", "factoring", 10_000_00, MON), loan("A2", "NEAR", "factoring", 8_500_00, MON)],
    )
    result = run_engines(p, MON)
    exposure = result.exposure.set_index("client_id")
    # OVER: 10,000.00 / 5,000.00 = 200 % -> BREACH; NEAR: 8,500.00 / 10,000.00 = 85 % -> WARNING
    assert exposure.loc["OVER", "factoring_outstanding_cents"] == 10_000_00
    assert exposure.loc["OVER", "utilization_ppm"] == 2_000_000
    assert exposure.loc["OVER", "status"] == "BREACH"
    assert exposure.loc["NEAR", "utilization_ppm"] == 850_000 and exposure.loc["NEAR", "status"] == "WARNING"
    # OK: chargeback risk 2 % x 1,000.00 of recent sales = 20.00; 20.00 / 100,000.00 = 0.02 % -> OK
    assert exposure.loc["OK", "chargeback_risk_cents"] == 20_00 and exposure.loc["OK", "status"] == "OK"
    assert list(result.alerts["client_id"]) == ["OVER", "NEAR"]
    payouts = result.payouts.set_index("client_id")
    assert "LIMIT_BREACHED" in payouts.loc["OVER", "reasons"]


def test_reserve_collateral_reduces_exposure():
    p = portfolio([client("C", credit_limit_cents=1_000_00)], daily_sales("C", MON, 1, 1000_00),
                  [reserve("C", rate_ppm=100_000, hold_days=30)])
    exposure = run_engines(p, MON).exposure.iloc[0]
    # chargeback risk 20.00 - reserve collateral 100.00 -> floored at 0
    assert exposure["gross_exposure_cents"] == 20_00 and exposure["collateral_cents"] == 100_00
    assert exposure["exposure_cents"] == 0


def test_no_float_amounts_in_engine_frames():
    result = run_engines(easter_portfolio(), dt.date(2026, 4, 8))
    for frame in (result.payouts, result.balances, result.reserves, result.exposure, result.reserve_releases):
        for column in frame.columns:
            if column.endswith("_cents"):
                assert np.issubdtype(frame[column].dtype, np.integer), column
    assert isinstance(result.payouts, pd.DataFrame)


def test_a_balance_wholly_withheld_is_repaid_but_not_transferred():
    # 100 % withholding against a 1,000.00 advance: each day's 100.00 goes to the advance, nothing is paid
    p = portfolio([client("C", factoring_withhold_rate_ppm=1_000_000)], daily_sales("C", MON, 3, 100_00),
                  loans=[loan("F", "C", "factoring", 1_000_00, MON)])
    result = run_engines(p, dt.date(2026, 4, 1))
    assert result.ledger.amounts[Movement.FACTORING_WITHHOLD][0].tolist() == [100_00, 100_00, 100_00]
    assert result.ledger.amounts[Movement.PAYOUT][0].tolist() == [0, 0, 0]
    row = result.payouts.iloc[0]
    # as-of 04-01: balance 100.00, withheld 100.00, payable 0.00 -> not in the run, but repaid
    assert row["reasons"] == "NOTHING_TO_PAY" and row["amount_cents"] == 0 and row["withheld_cents"] == 100_00
    assert result.balances.iloc[0]["factoring_cents"] == -1_000_00 + 300_00


def test_the_drilldown_is_computed_once_when_two_threads_ask_together(monkeypatch):
    # `atlas-xl run` writes the report and renders the dashboard page at the same time; both show the
    # drill-down. The second caller waits for the first one's frame instead of computing it again, and each
    # gets its own copy (a caller changing its frame cannot change the other's).
    result = run_engines(easter_portfolio(), dt.date(2026, 4, 8))
    calls: list[str] = []
    compute = Ledger._compute_drilldown

    def slow_compute(self):
        calls.append(threading.current_thread().name)
        time.sleep(0.2)  # long enough for the other thread to arrive while this one computes
        return compute(self)

    monkeypatch.setattr(Ledger, "_compute_drilldown", slow_compute)
    frames: dict[str, pd.DataFrame] = {}
    threads = [threading.Thread(target=lambda n=n: frames.__setitem__(n, result.ledger.drilldown()), name=n)
               for n in ("report", "page")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    pd.testing.assert_frame_equal(frames["report"], frames["page"])
    assert frames["report"] is not frames["page"]
    frames["report"].loc[0, "amount_cents"] = -1
    assert result.ledger.drilldown().loc[0, "amount_cents"] != -1


def test_results_still_pickle_and_deep_copy():
    # the drill-down's lock is the module's, not the record's: a result can be pickled (e.g. to hand it to
    # another process) and deep-copied, its drill-down cache with it
    result = run_engines(easter_portfolio(), dt.date(2026, 4, 8))
    expected = result.ledger.drilldown()
    for clone in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result)):
        pd.testing.assert_frame_equal(clone.ledger.drilldown(), expected)
        pd.testing.assert_frame_equal(clone.payouts, result.payouts)


def test_payouts_no_sepa_transfer_can_carry_are_blocked_with_their_reason():
    # Three daily clients with 100.00 of sales a day over 3 days (Mon 2026-03-30 .. Wed 04-01, banking days),
    # each with one thing the SEPA writer refuses; a fourth is clean. As-of Wednesday:
    # - BADBIC (BIC 'XXXX') and EMOJI (a name with no EPC character) are never paid, on any day:
    #   3 x 100.00 = 300.00 stays on the settlement subaccount and is what they would be paid;
    # - HUGE opens with 999,999,900.00 (below the 999,999,999.99 maximum of one transfer): with Monday's
    #   100.00 its payout 1,000,000,000.00 is above it, so nothing moves on Monday or Tuesday, and on
    #   Wednesday 999,999,900.00 + 3 x 100.00 = 1,000,000,200.00 is blocked ABOVE_SEPA_MAXIMUM;
    # - CLEAN is paid 100.00 each day, Wednesday's 100.00 ready.
    ids = ("BADBIC", "EMOJI", "HUGE", "CLEAN")
    p = portfolio(
        [client("BADBIC", bic="XXXX"), client("EMOJI", name="\U0001F600\U0001F600\U0001F600"),
         client("HUGE", opening_balance_cents=999_999_900_00), client("CLEAN")],
        [row for cid in ids for row in daily_sales(cid, MON, 3, 100_00)],
    )
    result = run_engines(p, dt.date(2026, 4, 1))
    payouts = result.payouts.set_index("client_id")
    assert payouts.loc["BADBIC", "reasons"] == "INVALID_BIC"
    assert payouts.loc["EMOJI", "reasons"] == "NAME_NOT_SEPA"
    assert payouts.loc["HUGE", "reasons"] == "ABOVE_SEPA_MAXIMUM"
    assert payouts.loc["CLEAN", "ready"] and payouts.loc["CLEAN", "amount_cents"] == 100_00
    assert payouts.loc[["BADBIC", "EMOJI"], "amount_cents"].tolist() == [300_00, 300_00]
    assert payouts.loc["HUGE", "amount_cents"] == 1_000_000_200_00
    paid = result.ledger.amounts[Movement.PAYOUT]
    assert paid.sum(axis=1).tolist() == [0, 0, 0, 300_00]  # CLEAN: 100.00 on each of the 3 days


def test_the_reference_blocks_the_same_payouts():
    p = portfolio(
        [client("BADBIC", bic="XXXX"), client("EMOJI", name="\U0001F600"),
         client("HUGE", opening_balance_cents=999_999_900_00), client("CLEAN")],
        [row for cid in ("BADBIC", "EMOJI", "HUGE", "CLEAN") for row in daily_sales(cid, MON, 3, 100_00)],
    )
    reference = reference_run(p, dt.date(2026, 4, 1))
    engine = run_engines(p, dt.date(2026, 4, 1)).payouts
    assert reference.payouts[["client_id", "reasons", "amount_cents"]].values.tolist() == \
        engine[["client_id", "reasons", "amount_cents"]].values.tolist()
