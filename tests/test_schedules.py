"""Repayment schedules, loan positions and the portfolio projection (atlas_xl.engines.schedules)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from atlas_xl.domain.calendar import is_banking_day
from atlas_xl.domain.model import DayCount, Frequency, RepaymentMethod
from atlas_xl.engines.schedules import (
    SCHEDULE_COLUMNS,
    _annuity_payments,
    annuity_payment_cents,
    build_schedule,
    loan_positions,
    portfolio_schedules,
    projection,
)
from atlas_xl.errors import ArgumentError, AtlasError

D = dt.date


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def column(frame: pd.DataFrame, name: str) -> list:
    values = frame[name].tolist()
    return [v.date() if isinstance(v, pd.Timestamp) else v for v in values]


# ------------------------------------------------------------------------------------ hand-computed
def test_annuity_10000_at_6_percent_over_12_months() -> None:
    s = build_schedule(1_000_000, 60_000, 12, D(2026, 1, 15))
    # r = 0.06 / 12 = 0.005; 1.005^12 = 1.0616778; PMT = 1,000,000 x 0.005 x 1.0616778 / 0.0616778
    #   = 86,066.40 cents -> 860.66
    assert annuity_payment_cents(1_000_000, 60_000, 12, "monthly") == 86_066
    assert list(s.columns) == SCHEDULE_COLUMNS
    assert column(s, "period") == list(range(1, 13))
    # period 1: interest = 1,000,000 x 0.06 x 30/360 = 5,000.00 cents (50.00); principal 86,066 - 5,000
    assert s.loc[0, ["opening_cents", "interest_cents", "principal_cents", "payment_cents", "closing_cents"]
                 ].tolist() == [1_000_000, 5_000, 81_066, 86_066, 918_934]
    # period 2: 918,934 x 0.005 = 4,594.67 -> 4,595 (half-up); principal 86,066 - 4,595 = 81,471
    assert s.loc[1, ["interest_cents", "principal_cents", "closing_cents"]].tolist() == [4_595, 81_471, 837_463]
    # period 12: opening 85,642; interest 85,642 x 0.005 = 428.21 -> 428; it repays the whole 85,642,
    # so its payment is 86,070 (4 cents of rounding residual)
    assert s.loc[11, ["opening_cents", "interest_cents", "principal_cents", "payment_cents", "closing_cents"]
                 ].tolist() == [85_642, 428, 85_642, 86_070, 0]
    assert column(s, "payment_cents")[:11] == [86_066] * 11
    assert s["principal_cents"].sum() == 1_000_000
    # due dates: the 15th, moved off weekends: 2026-02-15 Sun -> 16, 03-15 Sun -> 16, 08-15 Sat -> 17,
    # 11-15 Sun -> 16
    assert column(s, "due_date") == [
        D(2026, 2, 16), D(2026, 3, 16), D(2026, 4, 15), D(2026, 5, 15), D(2026, 6, 15), D(2026, 7, 15),
        D(2026, 8, 17), D(2026, 9, 15), D(2026, 10, 15), D(2026, 11, 16), D(2026, 12, 15), D(2027, 1, 15)]
    for name in SCHEDULE_COLUMNS:
        expected = "datetime64[ns]" if name in ("due_date", "period_start") else "int64"
        assert str(s[name].dtype) == expected


def test_linear_and_good_friday_rolled_forward() -> None:
    s = build_schedule(100_000, 120_000, 3, D(2026, 3, 3), method="linear")
    # principal 100,000 / 3 = 33,333.33 -> 33,333; last takes the residual 100,000 - 2 x 33,333 = 33,334
    assert column(s, "principal_cents") == [33_333, 33_333, 33_334]
    # interest at 1 % a month: 1,000; 66,667 x 0.01 = 666.67 -> 667; 33,334 x 0.01 = 333.34 -> 333
    assert column(s, "interest_cents") == [1_000, 667, 333]
    assert column(s, "payment_cents") == [34_333, 34_000, 33_667]
    assert column(s, "closing_cents") == [66_667, 33_334, 0]
    # 2026-04-03 is Good Friday, 04-04/05 the weekend, 04-06 Easter Monday: paid on Tuesday 04-07;
    # 2026-05-03 is a Sunday -> 05-04
    assert column(s, "due_date") == [D(2026, 4, 7), D(2026, 5, 4), D(2026, 6, 3)]


def test_bullet_is_interest_only_until_the_last_period() -> None:
    s = build_schedule(500_000, 48_000, 3, D(2026, 6, 10), method="bullet")
    # 500,000 x 0.048 / 12 = 2,000 cents a month; the principal comes back with the last payment
    assert column(s, "interest_cents") == [2_000, 2_000, 2_000]
    assert column(s, "principal_cents") == [0, 0, 500_000]
    assert column(s, "payment_cents") == [2_000, 2_000, 502_000]
    assert column(s, "closing_cents") == [500_000, 500_000, 0]


def test_interest_rounds_half_up() -> None:
    # 1.00 at 6 %: 100 x 0.005 = 0.5 cent -> 1 cent (half-up, not to even)
    s = build_schedule(100, 60_000, 1, D(2026, 6, 10), method="bullet")
    assert column(s, "interest_cents") == [1]
    assert column(s, "payment_cents") == [101]


def test_weekly_annuity_act_360() -> None:
    s = build_schedule(100_000, 52_000, 4, D(2026, 3, 3), "annuity", "weekly", "ACT/360")
    # r = 0.052 / 52 = 0.001; 1.001^4 = 1.004006004; PMT = 100,000 x 0.001 x 1.004006 / 0.004006
    #   = 100 + 100 / 0.004006004 = 25,062.54 -> 25,063
    assert annuity_payment_cents(100_000, 52_000, 4, "weekly") == 25_063
    # interest on actual days: 100,000 x 0.052 x 7 / 360 = 101.11 -> 101; 75,038 x 0.052 x 7/360 = 75.87 -> 76
    assert column(s, "interest_cents") == [101, 76, 51, 25]
    assert column(s, "principal_cents") == [24_962, 24_987, 25_012, 25_039]
    assert column(s, "payment_cents") == [25_063, 25_063, 25_063, 25_064]
    assert column(s, "due_date") == [D(2026, 3, 10), D(2026, 3, 17), D(2026, 3, 24), D(2026, 3, 31)]


def test_weekly_30_360_counts_30e_days_across_february() -> None:
    s = build_schedule(360_000, 100_000, 2, D(2026, 2, 21), "bullet", "weekly", "30/360")
    # 30E/360 on unadjusted dates: 02-21 -> 02-28 = 7 days; 02-28 -> 03-07 = 30 + 7 - 28 = 9 days
    # interest = 360,000 x 0.10 x 7/360 = 700 and x 9/360 = 900
    assert column(s, "interest_cents") == [700, 900]
    # 2026-02-28 and 03-07 are Saturdays -> Mondays
    assert column(s, "due_date") == [D(2026, 3, 2), D(2026, 3, 9)]
    assert column(s, "period_start") == [D(2026, 2, 21), D(2026, 3, 2)]


@pytest.mark.parametrize(
    ("day_count", "interest"),
    [
        # unadjusted dates 01-31 -> 02-28 -> 03-31 -> 04-30 (28, 31, 30 actual days); 360,000 at 10 %
        ("30/360", [3_000, 3_000, 3_000]),  # every month is 30/360 = 1/12: 36,000 / 12 = 3,000
        ("ACT/360", [2_800, 3_100, 3_000]),  # 36,000 x 28/360, x 31/360, x 30/360
        ("ACT/365F", [2_762, 3_058, 2_959]),  # 36,000 x 28/365 = 2,761.64; x 31/365 = 3,057.53; x 30/365 = 2,958.90
    ],
)
def test_day_counts_on_month_end_schedule(day_count: str, interest: list[int]) -> None:
    s = build_schedule(360_000, 100_000, 3, D(2026, 1, 31), "bullet", "monthly", day_count)
    assert column(s, "interest_cents") == interest
    # day-of-month clamped to the month end; 2026-02-28 is a Saturday -> Monday 03-02
    assert column(s, "due_date") == [D(2026, 3, 2), D(2026, 3, 31), D(2026, 4, 30)]


def test_leap_february_clamp_and_act_365f() -> None:
    s = build_schedule(365_000, 100_000, 2, D(2028, 1, 31), "bullet", "monthly", "ACT/365F")
    # 2028 is a leap year: 01-31 -> 02-29 (29 days) -> 03-31 (31 days); 36,500 x 29/365 = 2,900, x 31/365 = 3,100
    assert column(s, "interest_cents") == [2_900, 3_100]
    assert column(s, "due_date") == [D(2028, 2, 29), D(2028, 3, 31)]


def test_zero_rate_annuity_splits_the_principal() -> None:
    # PMT at 0 % = 100 / 3 = 33.33 -> 33 cents; the last period repays the remaining 34
    assert annuity_payment_cents(100, 0, 3) == 33
    s = build_schedule(100, 0, 3, D(2026, 1, 5))
    assert column(s, "principal_cents") == [33, 33, 34]
    assert column(s, "interest_cents") == [0, 0, 0]


def test_exact_half_cent_payment_rounds_up() -> None:
    # one month at 100 %: PMT = 6 x (1 + 1/12) = 6.5 cents exactly -> 7
    assert annuity_payment_cents(6, 1_000_000, 1) == 7
    loans = loan_frame([dict(principal_cents=6, annual_rate_ppm=1_000_000, periods=1)])
    # the vectorised path (float PMT) must also find the tie and round it up
    assert portfolio_schedules(loans)["payment_cents"].tolist() == [7]  # interest 0.5 -> 1, principal 6


def test_tiny_linear_loan_never_goes_negative() -> None:
    # 7 cents over 10 periods: 0.7 -> 1 cent a period would repay 9 cents; capped at the balance
    s = build_schedule(7, 0, 10, D(2026, 1, 5), method="linear")
    assert column(s, "principal_cents") == [1] * 7 + [0, 0, 0]
    assert column(s, "closing_cents") == [6, 5, 4, 3, 2, 1, 0, 0, 0, 0]


def test_enum_arguments_and_timestamp_start() -> None:
    a = build_schedule(100_000, 50_000, 6, pd.Timestamp("2026-05-05 13:30"), RepaymentMethod.LINEAR,
                       Frequency.WEEKLY, DayCount.ACT_365F)
    b = build_schedule(100_000, 50_000, 6, D(2026, 5, 5), " Linear", "WEEKLY", "act/365f")
    pd.testing.assert_frame_equal(a, b)


# ----------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(periods=0), "periods must be >= 1, got 0"),
        (dict(periods=1201), "periods must be <= 1200 periods, got 1201"),
        (dict(periods=2.0), "periods must be a whole number of periods, got 2.0"),
        (dict(method="balloon"), "method must be one of annuity, linear, bullet; got 'balloon'"),
        (dict(frequency="daily"), "frequency must be one of monthly, weekly; got 'daily'"),
        (dict(day_count="ACT/ACT"), "day_count must be one of 30/360, ACT/360, ACT/365F; got 'ACT/ACT'"),
        (dict(principal_cents=0), "principal must be > 0 cents, got 0"),
        (dict(principal_cents=-5), "principal must be > 0 cents, got -5"),
        (dict(principal_cents=100.5), "principal must be a whole number of cents"),
        (dict(principal_cents=10**11 + 1), "principal must be <= 100000000000 cents"),
        (dict(annual_rate_ppm=-1), "annual rate must be >= 0, got -1"),
        (dict(annual_rate_ppm=1_000_001), "annual rate must be <= 1000000 ppm, got 1000001"),
        (dict(start_date="2026-01-01"), "start_date must be a date such as 2026-01-31, got '2026-01-01'"),
    ],
)
def test_bad_arguments_raise_argument_error(kwargs: dict, message: str) -> None:
    args = dict(principal_cents=100_000, annual_rate_ppm=50_000, periods=12, start_date=D(2026, 1, 1))
    args.update(kwargs)
    with pytest.raises(ArgumentError) as caught:
        build_schedule(**args)
    assert message in str(caught.value)
    assert isinstance(caught.value, AtlasError)


# --------------------------------------------------------------------------- independent references
def pmt_fraction(principal: int, ppm: int, periods: int, per_year: int) -> int:
    """Reference PMT in exact rationals, P x r / (1 - (1+r)^-n) (P / n at 0 %), rounded ROUND_HALF_UP to the
    cent: the payment is positive, so half up is floor(value + 1/2)."""
    if ppm == 0:
        value = Fraction(principal, periods)
    else:
        r = Fraction(ppm, per_year * 1_000_000)
        value = principal * r / (1 - (1 + r) ** -periods)
    assert value > 0
    return int((value + Fraction(1, 2)) // 1)


loan_terms = st.fixed_dictionaries({
    "principal_cents": st.one_of(st.integers(1, 10**6), st.integers(1, 10**11)),
    "annual_rate_ppm": st.one_of(st.integers(0, 1_000_000), st.sampled_from([0, 10_000, 60_000, 125_000])),
    "periods": st.integers(1, 120),
    "start_date": st.dates(D(2000, 1, 1), D(2080, 12, 31)),
    "method": st.sampled_from(["annuity", "linear", "bullet"]),
    "frequency": st.sampled_from(["monthly", "weekly"]),
    "day_count": st.sampled_from(["30/360", "ACT/360", "ACT/365F"]),
})


# Excel PMT by numpy-financial, where its float is exact enough: modest loans, far from a half cent. Each
# expected payment is the exact rational P x r / (1 - (1+r)^-n) in cents, rounded half up:
#   10,000.00 at 6 % over 12 months: 86,066.4297 -> 86,066       25,000.00 at 8.9 % over 36 months: 79,383.0295
#   5,000.00 at 12 % over 26 weeks: 19,835.6354 -> 19,836         123,456.78 at 4.5 % over 60 months: 230,160.7125
#   999.99 at 25 % over 52 weeks: 2,178.0405 -> 2,178
@pytest.mark.parametrize(("principal", "ppm", "periods", "frequency", "expected"), [
    (1_000_000, 60_000, 12, "monthly", 86_066),
    (2_500_000, 89_000, 36, "monthly", 79_383),
    (500_000, 120_000, 26, "weekly", 19_836),
    (12_345_678, 45_000, 60, "monthly", 230_161),
    (99_999, 250_000, 52, "weekly", 2_178),
])
def test_annuity_payment_matches_numpy_financial_pmt(principal: int, ppm: int, periods: int, frequency: str,
                                                     expected: int) -> None:
    per_year = 12 if frequency == "monthly" else 52
    reference = float(npf.pmt(ppm / 1e6 / per_year, periods, -principal))  # Excel PMT, in cents
    # the float is within a millionth of a cent of the exact value and far from a half cent, so it rounds
    # the one way the exact value does
    exact = principal * Fraction(ppm, per_year * 1_000_000) / (1 - (1 + Fraction(ppm, per_year * 1_000_000))
                                                                   ** -periods)
    assert abs(Fraction(reference) - exact) < Fraction(1, 10**6)
    assert abs(reference - np.floor(reference) - 0.5) > 0.01
    assert annuity_payment_cents(principal, ppm, periods, frequency) == int(np.floor(reference + 0.5)) == expected
    assert pmt_fraction(principal, ppm, periods, per_year) == expected


def test_annuity_payment_is_exact_where_the_float_pmt_is_not() -> None:
    # 312,805,231.90 at 2 ppm a year over 295 weeks: r = 2 / 52,000,000; the exact payment is
    # 106,036,275.4193 cents -> 106,036,275. numpy-financial's float (1+r)^n - 1 loses 1/(n x r) ~ 88,000 x eps
    # of relative precision here and gives 106,036,275.59 (-> 276); the product computes with integers.
    assert pmt_fraction(31_280_523_190, 2, 295, 52) == 106_036_275
    assert annuity_payment_cents(31_280_523_190, 2, 295, "weekly") == 106_036_275


@settings(max_examples=300, deadline=None)
@given(principal=st.integers(1, 10**11), ppm=st.integers(0, 1_000_000), periods=st.integers(1, 360),
       frequency=st.sampled_from(["monthly", "weekly"]))
@example(principal=31_280_523_190, ppm=2, periods=295, frequency="weekly")  # where the float PMT rounds wrong
@example(principal=160 * 7, ppm=37_500, periods=1, frequency="monthly")  # an exact half cent: 3.5 -> 4
def test_annuity_payment_matches_the_exact_rational_pmt(principal: int, ppm: int, periods: int,
                                                        frequency: str) -> None:
    per_year = 12 if frequency == "monthly" else 52
    assert annuity_payment_cents(principal, ppm, periods, frequency) == pmt_fraction(principal, ppm, periods,
                                                                                     per_year)


@settings(max_examples=200, deadline=None)
@given(loans=st.lists(st.tuples(st.integers(1, 10**11), st.integers(0, 1_000_000)), min_size=1, max_size=30),
       ties=st.lists(st.integers(0, 10**8), max_size=5),
       periods=st.one_of(st.just(1), st.integers(1, 360)),
       per_year=st.sampled_from([12, 52]))
def test_vectorised_annuity_payment_is_exact(loans: list[tuple[int, int]], ties: list[int], periods: int,
                                             per_year: int) -> None:
    # exact half-cent payments, where the float formula lands just below the tie: one period at
    # 3.75 % monthly, P = 160 x (2k+1): P x 0.0375/12 = P/320 = k + 0.5 cents; at 25 % weekly,
    # P = 104 x (2k+1): P x 0.25/52 = P/208 = k + 0.5 cents
    tie_rows = []
    if periods == 1:
        tie_rows = [(160 * (2 * k + 1), 37_500) if per_year == 12 else (104 * (2 * k + 1), 250_000)
                    for k in ties]
    rows = loans + tie_rows
    principal = np.array([p for p, _ in rows], dtype=np.int64)
    rate = np.array([r for _, r in rows], dtype=np.int64)
    got = _annuity_payments(principal, rate, periods, per_year).tolist()
    assert got == [pmt_fraction(p, r, periods, per_year) for p, r in rows]


def test_annuity_interest_above_the_level_payment_is_not_capitalised() -> None:
    s = build_schedule(100_000, 1_000_000, 120, D(2026, 1, 1), "annuity", "monthly", "ACT/360")
    # the level payment is solved on the actual days with the 31-day months paying interest only: 8,229
    #   (tests/test_schedules_act.py checks it against an exact rational reference; PMT(100 %/12) was 8,334)
    # period 1 (01-01 -> 02-01, 31 days): interest 100,000 x 31/360 = 8,611.11 -> 8,611 > 8,229, so the
    #   principal is floored at 0 and the payment is the interest (no negative amortisation)
    # period 2 (28 days): 100,000 x 28/360 = 7,777.78 -> 7,778; principal 8,229 - 7,778 = 451
    assert column(s, "interest_cents")[:2] == [8_611, 7_778]
    assert column(s, "principal_cents")[:2] == [0, 451]
    assert column(s, "payment_cents")[:2] == [8_611, 8_229]
    assert s["principal_cents"].sum() == 100_000


@settings(max_examples=300, deadline=None)
@given(terms=loan_terms)
def test_schedule_invariants(terms: dict) -> None:
    s = build_schedule(**terms)
    n = terms["periods"]
    assert len(s) == n
    assert s["principal_cents"].sum() == terms["principal_cents"]  # exactly the loan
    assert s["closing_cents"].iloc[-1] == 0
    assert (s["payment_cents"] == s["interest_cents"] + s["principal_cents"]).all()
    assert (s["closing_cents"] == s["opening_cents"] - s["principal_cents"]).all()
    assert s["opening_cents"].iloc[0] == terms["principal_cents"]
    assert (s["opening_cents"].iloc[1:].to_numpy() == s["closing_cents"].iloc[:-1].to_numpy()).all()
    assert (s["principal_cents"] >= 0).all() and (s["interest_cents"] >= 0).all()
    due = s["due_date"].to_numpy().astype("datetime64[D]")
    assert (np.diff(due) > np.timedelta64(0, "D")).all()
    assert np.all(is_banking_day(due))
    assert s["due_date"].iloc[0] > pd.Timestamp(terms["start_date"])
    if terms["method"] == "annuity" and n > 1 and (terms["frequency"], terms["day_count"]) == ("monthly", "30/360"):
        # every payment but the last is the level payment (Excel PMT for 30E/360 monthly; the other day
        # counts and weekly 30E/360 in tests/test_schedules_act.py) unless capped for a tiny loan or floored
        level = annuity_payment_cents(terms["principal_cents"], terms["annual_rate_ppm"], n,
                                      terms["frequency"])
        body = s.iloc[:-1]
        regular = body[(body["closing_cents"] > 0) & (body["interest_cents"] <= level)]
        assert (regular["payment_cents"] == level).all()


def loan_frame(rows: list[dict]) -> pd.DataFrame:
    defaults = dict(client_id="C1", product="term_loan", principal_cents=100_000, annual_rate_ppm=50_000,
                    start_date=D(2026, 1, 15), periods=3, method="annuity", frequency="monthly",
                    day_count="30/360")
    records = [dict(defaults, loan_id=row.get("loan_id", f"L{i}"), **{k: v for k, v in row.items()
                                                                      if k != "loan_id"})
               for i, row in enumerate(rows)]
    frame = pd.DataFrame(records)
    frame["start_date"] = pd.to_datetime(frame["start_date"]).astype("datetime64[ns]")
    for name in ("principal_cents", "annual_rate_ppm", "periods"):
        frame[name] = frame[name].astype("int64")
    return frame


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(loan_terms, min_size=1, max_size=25))
def test_portfolio_equals_build_schedule_per_loan(terms: list[dict]) -> None:
    loans = loan_frame(terms)
    s = portfolio_schedules(loans)
    assert list(s.columns) == ["loan_id", "client_id", "product"] + SCHEDULE_COLUMNS
    assert s["loan_id"].drop_duplicates().tolist() == loans["loan_id"].tolist()  # input order kept
    for term, loan_id in zip(terms, loans["loan_id"], strict=True):
        mine = s[s["loan_id"] == loan_id][SCHEDULE_COLUMNS].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, build_schedule(**term))


def test_portfolio_validation_messages() -> None:
    good = loan_frame([{}, {}])
    with pytest.raises(ArgumentError, match="missing column"):
        portfolio_schedules(good.drop(columns=["day_count"]))
    bad = good.copy()
    bad.loc[1, "method"] = "balloon"
    with pytest.raises(ArgumentError, match=r"method must be one of annuity, linear, bullet; got 'balloon' "
                                            r"for loan L1"):
        portfolio_schedules(bad)
    bad = good.copy()
    bad.loc[0, "periods"] = 0
    with pytest.raises(ArgumentError, match=r"periods must be 1..1200 \(periods\); got 0 for loan L0"):
        portfolio_schedules(bad)
    bad = good.copy()
    bad["loan_id"] = "X"
    with pytest.raises(ArgumentError, match="loan_id must be unique; repeated: X, X"):
        portfolio_schedules(bad)
    bad = good.copy()
    bad["principal_cents"] = bad["principal_cents"].astype(float)
    with pytest.raises(ArgumentError, match="principal_cents must hold int64"):
        portfolio_schedules(bad)
    empty = portfolio_schedules(good.iloc[:0])
    assert list(empty.columns) == ["loan_id", "client_id", "product"] + SCHEDULE_COLUMNS
    assert len(empty) == 0


def test_portfolio_10000_loans_60_periods_reconcile() -> None:
    # speed is measured in benchmarks/, not here; this checks the bulk path's totals at scale
    rng = np.random.default_rng(7)
    n = 10_000
    loans = pd.DataFrame({
        "loan_id": [f"L{i}" for i in range(n)],
        "client_id": [f"C{i % 300}" for i in range(n)],
        "product": rng.choice(["term_loan", "factoring"], n),
        "principal_cents": rng.integers(100_000, 50_000_000, n).astype("int64"),
        "annual_rate_ppm": rng.integers(0, 200_000, n).astype("int64"),
        "start_date": pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "periods": np.full(n, 60, dtype="int64"),
        "method": rng.choice(["annuity", "linear", "bullet"], n),
        "frequency": rng.choice(["monthly", "weekly"], n),
        "day_count": rng.choice(["30/360", "ACT/360", "ACT/365F"], n),
    })
    s = portfolio_schedules(loans)
    assert len(s) == n * 60
    assert s.groupby("loan_id", sort=False)["principal_cents"].sum().tolist() == loans["principal_cents"].tolist()


# ------------------------------------------------------------------------- positions and projection
@pytest.fixture
def two_loans() -> pd.DataFrame:
    return portfolio_schedules(loan_frame([
        # A: 1,200.00 linear at 12 % over 3 months from 2026-01-15: principal 40,000 a month; interest
        #    120,000 x 1 % = 1,200, 80,000 x 1 % = 800, 40,000 x 1 % = 400; due 02-16 (15th a Sunday),
        #    03-16 (Sunday), 04-15
        dict(loan_id="A", client_id="C1", principal_cents=120_000, annual_rate_ppm=120_000,
             start_date=D(2026, 1, 15), periods=3, method="linear"),
        # B: 1,000.00 bullet at 6 % for one month from 2025-11-03: due 2025-12-03, interest 100,000 x 0.5 % = 500
        dict(loan_id="B", client_id="C2", product="factoring", principal_cents=100_000,
             annual_rate_ppm=60_000, start_date=D(2025, 11, 3), periods=1, method="bullet"),
    ]))


def test_two_loan_schedule_fixture_is_as_described(two_loans: pd.DataFrame) -> None:
    assert column(two_loans, "interest_cents") == [1_200, 800, 400, 500]
    assert column(two_loans, "due_date") == [D(2026, 2, 16), D(2026, 3, 16), D(2026, 4, 15), D(2025, 12, 3)]


def test_loan_positions_mid_period(two_loans: pd.DataFrame) -> None:
    p = loan_positions(two_loans, D(2026, 3, 1)).set_index("loan_id")
    # A: period 1 (due 02-16) paid -> outstanding 80,000; period 2 runs 02-16 -> 03-16 (28 days),
    #    13 days elapsed: 800 x 13 / 28 = 371.43 -> 371; next payment 40,000 + 800
    assert p.loc["A", ["client_id", "product", "outstanding_cents", "accrued_interest_cents", "paid_off",
                       "next_payment_cents"]].tolist() == ["C1", "term_loan", 80_000, 371, False, 40_800]
    assert p.loc["A", "next_due_date"] == ts("2026-03-16")
    # B: repaid on 2025-12-03 -> outstanding 0, nothing accrues, nothing due
    assert p.loc["B", ["outstanding_cents", "accrued_interest_cents", "paid_off", "next_payment_cents"]
                 ].tolist() == [0, 0, True, 0]
    assert pd.isna(p.loc["B", "next_due_date"])
    assert str(p["next_due_date"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize(
    ("as_of", "outstanding", "accrued", "next_due"),
    [
        (D(2026, 1, 1), 0, 0, "2026-02-16"),  # before the start (01-15): not disbursed, nothing accrued
        (D(2026, 1, 25), 120_000, 375, "2026-02-16"),  # 01-15 -> 02-16 is 32 days: 1,200 x 10/32 = 375
        (D(2026, 2, 16), 80_000, 0, "2026-03-16"),  # on the due date the period is paid, next one starts
        (D(2026, 4, 14), 40_000, 387, "2026-04-15"),  # 03-16 -> 04-15 is 30 days: 400 x 29/30 = 386.67 -> 387
    ],
)
def test_loan_positions_through_the_life_of_a_loan(two_loans: pd.DataFrame, as_of: dt.date, outstanding: int,
                                                   accrued: int, next_due: str) -> None:
    p = loan_positions(two_loans, as_of).set_index("loan_id")
    assert p.loc["A", "outstanding_cents"] == outstanding
    assert p.loc["A", "accrued_interest_cents"] == accrued
    assert p.loc["A", "next_due_date"] == ts(next_due)


def test_loan_positions_paid_off_on_last_due_date(two_loans: pd.DataFrame) -> None:
    p = loan_positions(two_loans, D(2026, 4, 15)).set_index("loan_id")
    assert p["paid_off"].tolist() == [True, True]
    assert p["outstanding_cents"].tolist() == [0, 0]
    assert p["accrued_interest_cents"].tolist() == [0, 0]


def test_projection_hand_checked(two_loans: pd.DataFrame) -> None:
    pr = projection(two_loans, D(2026, 1, 1))
    assert column(pr, "month") == [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1), D(2026, 4, 1)]
    assert column(pr, "principal_cents") == [0, 40_000, 40_000, 40_000]
    assert column(pr, "interest_cents") == [0, 1_200, 800, 400]
    assert column(pr, "payment_cents") == [0, 41_200, 40_800, 40_400]
    # B was repaid in December; A's 120,000 is outstanding until it amortises
    assert column(pr, "outstanding_cents") == [120_000, 80_000, 40_000, 0]


def test_projection_sums_to_schedule_totals(two_loans: pd.DataFrame) -> None:
    pr = projection(two_loans, D(2025, 11, 1))
    assert column(pr, "month")[:2] == [D(2025, 11, 1), D(2025, 12, 1)]
    # Nov: B's 100,000 (A starts 2026-01-15); Dec: B repaid; Jan: A's 120,000 disbursed; then 40,000 a month
    assert column(pr, "outstanding_cents") == [100_000, 0, 120_000, 80_000, 40_000, 0]
    for name in ("principal_cents", "interest_cents", "payment_cents"):
        assert pr[name].sum() == two_loans[name].sum()
    assert str(pr["month"].dtype) == "datetime64[ns]"


def test_projection_after_the_last_due_date_is_empty(two_loans: pd.DataFrame) -> None:
    pr = projection(two_loans, D(2026, 4, 16))
    assert len(pr) == 0
    assert list(pr.columns) == ["month", "principal_cents", "interest_cents", "payment_cents",
                                "outstanding_cents"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(loan_terms, min_size=1, max_size=10), offset=st.integers(-400, 4000))
def test_projection_and_positions_agree_with_the_schedules(terms: list[dict], offset: int) -> None:
    s = portfolio_schedules(loan_frame(terms))
    cut = D(2026, 1, 1) + dt.timedelta(days=offset)
    pr = projection(s, cut)
    future = s[s["due_date"] >= pd.Timestamp(cut)]
    for name in ("principal_cents", "interest_cents", "payment_cents"):
        assert pr[name].sum() == future[name].sum()
    if len(pr):
        assert pr["outstanding_cents"].iloc[-1] == 0
        # independent route: outstanding before the first month (from loan_positions) less all principal
        # due in that month (including any due before `cut`) = the projection's first outstanding
        month_start = pr["month"].iloc[0]
        month_end = month_start + pd.offsets.MonthEnd(0)
        before = loan_positions(s, (month_start - pd.Timedelta(days=1)).date())["outstanding_cents"].sum()
        starts = s[s["period"] == 1].set_index("loan_id")["period_start"]
        started = starts[(starts >= month_start) & (starts <= month_end)].index
        disbursed = s[s["loan_id"].isin(started)]["principal_cents"].sum()
        in_month = s[(s["due_date"] >= month_start) & (s["due_date"] <= month_end)]["principal_cents"].sum()
        assert pr["outstanding_cents"].iloc[0] == before + disbursed - in_month
        at_end = loan_positions(s, month_end.date())["outstanding_cents"].sum()
        assert pr["outstanding_cents"].iloc[0] == at_end
