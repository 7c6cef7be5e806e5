"""Annuities under ACT day counts (issue 20): the level payment solved on the actual period fractions.

The reference here shares no code with atlas_xl.engines.schedules: due dates from `calendar.monthrange`,
day counts from `datetime.date` subtraction, every fraction a `fractions.Fraction`, one loan at a time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_xl.engines.schedules import annuity_payment_cents, build_schedule, portfolio_schedules

D = dt.date
BASIS = {"30/360": 360, "ACT/360": 360, "ACT/365F": 365}


# ------------------------------------------------------------------------------------------ the reference
def period_ends(start: dt.date, periods: int, frequency: str) -> list[dt.date]:
    """Unadjusted dates: the start, then start + k months on the anchor day (clamped to the month end)."""
    if frequency == "weekly":
        return [start + dt.timedelta(days=7 * k) for k in range(periods + 1)]
    dates = []
    for k in range(periods + 1):
        year, month = divmod(start.month - 1 + k, 12)
        year, month = start.year + year, month + 1
        dates.append(D(year, month, min(start.day, calendar.monthrange(year, month)[1])))
    return dates


def day_counts(start: dt.date, periods: int, frequency: str, day_count: str) -> list[int]:
    dates = period_ends(start, periods, frequency)
    if day_count != "30/360":
        return [(b - a).days for a, b in zip(dates, dates[1:], strict=False)]
    if frequency == "monthly":
        # 30E/360 with the anchor-day rule: a clamped month end counts as the anchor day, so both ends of
        # every period carry the same day min(anchor, 30) and each month is 30 days
        return [30 * ((b.year - a.year) * 12 + b.month - a.month) for a, b in zip(dates, dates[1:], strict=False)]
    return [360 * (b.year - a.year) + 30 * (b.month - a.month) + min(b.day, 30) - min(a.day, 30)
            for a, b in zip(dates, dates[1:], strict=False)]


def half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)) // 1)


def reference_schedule(principal: int, ppm: int, periods: int, start: dt.date, frequency: str,
                       day_count: str) -> tuple[int, list[tuple[int, int, int]], list[Fraction]]:
    """(level payment, [(interest, principal, payment) per period], per-period rates) in exact rationals.

    Backward from the last period, V = value at a period's end of 1 per later payment. A period whose
    interest on the exact balance (A x V x r) exceeds the payment A (r x V > 1) pays its interest only
    (no negative amortisation) and leaves the balance unchanged: V stays; any other period: V = (1+V)/(1+r).
    A = P / V at the start, half-up; then interest half-up per period, principal = A - interest within
    0..balance, and the last period repays the balance.
    """
    days = day_counts(start, periods, frequency, day_count)
    rates = [Fraction(ppm * d, BASIS[day_count] * 1_000_000) for d in days]
    value = Fraction(0)
    for r in reversed(rates):
        if not r * value > 1:
            value = (1 + value) / (1 + r)
    level = half_up(principal / value)
    balance, rows = principal, []
    for k, r in enumerate(rates):
        interest = half_up(balance * r)
        repaid = balance if k == periods - 1 else min(max(level - interest, 0), balance)
        rows.append((interest, repaid, interest + repaid))
        balance -= repaid
    return level, rows, rates


def rounding_bound(rates: list[Fraction]) -> float:
    """One cent per period (half a cent of the payment's rounding, half of the interest's), grown by the
    interest of every later period: sum_k prod_{j>k} (1 + r_j) cents."""
    total, growth = 0.0, 1.0
    for r in reversed(rates):
        total += growth
        growth *= 1 + float(r)
    return total


def money(frame: pd.DataFrame) -> list[tuple[int, int, int]]:
    return list(zip(frame["interest_cents"].tolist(), frame["principal_cents"].tolist(),
                    frame["payment_cents"].tolist(), strict=True))


# --------------------------------------------------------------------------------------- the two defects
def test_issue_example_has_no_balloon_under_act_360() -> None:
    # 4.68 M EUR at 20.4 % over 257 months ACT/360. The payment was PMT(20.4 %/12 = 1.7 %), but a month
    # of 30.44 days on average costs 0.204 x 30.44/360 = 1.725 %: the loan barely amortised and the last
    # period held 2,902,372.28 EUR (62 % of the principal) before the fix
    s = build_schedule(468_000_000, 204_000, 257, D(2026, 1, 31), "annuity", "monthly", "ACT/360")
    level, rows, rates = reference_schedule(468_000_000, 204_000, 257, D(2026, 1, 31), "monthly", "ACT/360")
    assert money(s) == rows
    assert s["principal_cents"].sum() == 468_000_000
    last = int(s["payment_cents"].iloc[-1])
    assert abs(last - level) <= rounding_bound(rates)
    assert s["principal_cents"].iloc[-1] < 468_000_000 // 50  # under 2 % of the loan, not 62 %
    # every payment is the level payment or, where a 31-day month's interest exceeds it, that interest
    body = s.iloc[:-1]
    assert ((body["payment_cents"] == level)
            | ((body["principal_cents"] == 0) & (body["interest_cents"] > level))).all()
    assert level != annuity_payment_cents(468_000_000, 204_000, 257)  # not PMT(rate / 12) any more


def test_act_365f_schedule_has_no_all_zero_rows() -> None:
    # at 30 % ACT/365F over 257 months PMT(30 %/12) overpaid every month (1/12 > 30.44/365 only when
    # compounded long enough): the loan was repaid after 207 periods and 50 rows were all zero
    s = build_schedule(468_000_000, 300_000, 257, D(2026, 1, 31), "annuity", "monthly", "ACT/365F")
    assert (s["payment_cents"] > 0).all() and (s["closing_cents"].iloc[:-1] > 0).all()
    level, rows, rates = reference_schedule(468_000_000, 300_000, 257, D(2026, 1, 31), "monthly", "ACT/365F")
    assert money(s) == rows
    assert abs(int(s["payment_cents"].iloc[-1]) - level) <= rounding_bound(rates)


def test_three_months_act_360_by_hand() -> None:
    s = build_schedule(100_000, 120_000, 3, D(2026, 1, 31), "annuity", "monthly", "ACT/360")
    # 01-31 -> 02-28 -> 03-31 -> 04-30: 28, 31, 30 days; r = 0.12 x d / 360 = 7/750, 31/3000, 1/100
    # discount factors 750/757 = 0.9907530, x 3000/3031 = 0.9806199, / 1.01 = 0.9709108; sum 2.9422837
    # level payment 100,000 / 2.9422837 = 33,987.21 -> 33,987 (PMT(1 %, 3) would be 34,002)
    # 1: interest 100,000 x 7/750 = 933.33 -> 933, principal 33,054, closing 66,946
    # 2: interest 66,946 x 31/3000 = 691.78 -> 692, principal 33,295, closing 33,651
    # 3: interest 33,651 x 1/100 = 336.51 -> 337, principal 33,651 (the residual), payment 33,988
    assert money(s) == [(933, 33_054, 33_987), (692, 33_295, 33_987), (337, 33_651, 33_988)]
    assert s["closing_cents"].tolist() == [66_946, 33_651, 0]


def test_interest_only_period_when_actual_day_interest_exceeds_the_level_payment() -> None:
    s = build_schedule(100_000, 1_000_000, 120, D(2026, 1, 1), "annuity", "monthly", "ACT/360")
    level, rows, rates = reference_schedule(100_000, 1_000_000, 120, D(2026, 1, 1), "monthly", "ACT/360")
    # at 100 % a 31-day month costs 100,000 x 31/360 = 8,611.11 -> 8,611 of interest, more than the level
    # payment solved with those months paying interest only (8,229): principal 0, payment 8,611; the
    # 28-day February pays 7,778 of interest and 8,229 - 7,778 = 451 of principal
    assert level == 8_229
    assert money(s)[:2] == [(8_611, 0, 8_611), (7_778, 451, 8_229)]
    assert money(s) == rows
    # at 8.5 % a month a cent of rounding in period k grows to 1.085^(120-k) cents by the end: the last
    # payment (8,979) is 750 cents above the level, inside the bound (2.0 x 10^5 cents here)
    assert int(s["payment_cents"].iloc[-1]) == 8_979
    assert abs(8_979 - level) <= rounding_bound(rates)


def test_30e_360_monthly_keeps_excel_pmt() -> None:
    # 10,000.00 at 6 % over 12 months: every period is 30/360, so the level payment is PMT(0.5 %, 12) =
    # 860.66, as before this change (tests/test_schedules.py holds the full schedule)
    s = build_schedule(1_000_000, 60_000, 12, D(2026, 1, 31), "annuity", "monthly", "30/360")
    assert s["payment_cents"].tolist()[:11] == [86_066] * 11
    level, rows, _ = reference_schedule(1_000_000, 60_000, 12, D(2026, 1, 31), "monthly", "30/360")
    assert level == 86_066 and money(s) == rows


# ---------------------------------------------------------------------------------------------- property
act_terms = st.fixed_dictionaries({
    "principal_cents": st.one_of(st.integers(1, 10**6), st.integers(1, 10**11)),
    "annual_rate_ppm": st.one_of(st.integers(0, 300_000), st.sampled_from([0, 1, 204_000, 300_000])),
    "periods": st.one_of(st.integers(1, 24), st.integers(1, 600)),
    "start_date": st.dates(D(2000, 1, 1), D(2060, 12, 31)),
    "frequency": st.sampled_from(["monthly", "weekly"]),
    "day_count": st.sampled_from(["ACT/360", "ACT/365F", "30/360"]),
})


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=act_terms)
def test_level_payment_and_last_period_against_the_exact_reference(terms: dict) -> None:
    s = build_schedule(method="annuity", **terms)
    args = (terms["principal_cents"], terms["annual_rate_ppm"], terms["periods"], terms["start_date"],
            terms["frequency"], terms["day_count"])
    level, rows, rates = reference_schedule(*args)
    assert money(s) == rows  # the whole schedule, cent for cent
    assert s["principal_cents"].sum() == terms["principal_cents"]
    # the last payment differs from the level payment by at most the accumulated rounding
    assert abs(int(s["payment_cents"].iloc[-1]) - level) <= rounding_bound(rates) + 1e-6
    # every other payment is the level payment, or an interest-only period's interest above it, or the
    # remaining balance of a loan too small for its rounded payment
    body = s.iloc[:-1]
    regular = body["payment_cents"] == level
    interest_only = (body["principal_cents"] == 0) & (body["interest_cents"] > level)
    paid_up = body["closing_cents"] == 0
    assert (regular | interest_only | paid_up).all()
    if terms["frequency"] == "monthly" and terms["day_count"] == "30/360":
        assert level == annuity_payment_cents(*args[:3])  # Excel PMT(rate/12), unchanged


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms=st.lists(act_terms, min_size=1, max_size=12), periods=st.integers(1, 360))
def test_vectorised_level_payments_match_the_reference(terms: list[dict], periods: int) -> None:
    # loans sharing (frequency, day count, term) are solved together in one numpy pass
    frame = pd.DataFrame([{**t, "loan_id": f"L{i}", "client_id": "C", "product": "term_loan", "periods": periods,
                           "method": "annuity"} for i, t in enumerate(terms)])
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    for name in ("principal_cents", "annual_rate_ppm", "periods"):
        frame[name] = frame[name].astype("int64")
    s = portfolio_schedules(frame)
    for i, t in enumerate(terms):
        mine = s[s["loan_id"] == f"L{i}"]
        _, rows, _ = reference_schedule(t["principal_cents"], t["annual_rate_ppm"], periods, t["start_date"],
                                        t["frequency"], t["day_count"])
        assert money(mine) == rows


@settings(max_examples=200, deadline=None)
@given(ks=st.lists(st.integers(0, 10**7), min_size=1, max_size=20), others=st.lists(
    st.tuples(st.integers(1, 10**11), st.integers(0, 300_000)), max_size=10))
def test_half_cent_ties_are_rounded_up_exactly(ks: list[int], others: list[tuple[int, int]]) -> None:
    from atlas_xl.engines.schedules import _level_payments

    # one 31-day period at 12 % ACT/360: A = P x (1 + 0.12 x 31/360) = P x 3031/3000, a half cent exactly
    # when P x 3031 = 3000 k + 1500, i.e. P = 1500 x 31^-1 (mod 3000) = 1500 (31 x 1500 = 46,500 = 15 x
    # 3000 + 1500): P = 1500 + 3000 j gives A = 1515.5 + 3031 j, which must round up
    rows = [(1500 + 3000 * k, 120_000) for k in ks] + others
    principal = np.array([p for p, _ in rows], dtype=np.int64)
    rate = np.array([r for _, r in rows], dtype=np.int64)
    got = _level_payments(principal, rate, np.full((len(rows), 1), 31, dtype=np.int64), 360).tolist()
    expected = [half_up(Fraction(p) * (1 + Fraction(r * 31, 360_000_000))) for p, r in rows]
    assert got == expected
    assert got[: len(ks)] == [1516 + 3031 * k for k in ks]
