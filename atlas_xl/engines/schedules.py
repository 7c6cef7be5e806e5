"""Repayment schedules of loans and advances, loan positions at a date, and the portfolio projection.

Pure engine: pandas/numpy in, pandas out, no I/O. All amounts are int64 cents, rates int64 ppm.

Rules
-----
- Methods:
  * ``annuity``: a level payment A solved on the actual periods: with r_i = annual rate x day-count
    fraction of period i (below), A = P / sum_i D_i where D_i = prod_{j<=i} 1 / (1 + r_j) runs over the
    periods that amortise (an interest-only period, below, is skipped: its balance does not change),
    ROUND_HALF_UP to the cent (exact: float first, near-half-cent cases recomputed with integers; a 0 %
    rate gives P / n). For 30E/360 monthly every r_i is annual / 12, so A is Excel ``PMT(annual/12, n,
    -P)``; ACT/360, ACT/365F and weekly 30E/360 periods differ, and PMT(annual/12 or /52) would leave a
    balloon or pay the loan off early. Principal of a period = payment - interest.
  * ``linear``: equal principal = principal / n rounded ROUND_HALF_UP to the cent.
  * ``bullet``: interest only; the whole principal is repaid in the last period.
- Frequencies: ``monthly`` due dates are start + k months on the start's day-of-month, clamped to the
  month end (31 Jan -> 28/29 Feb -> 31 Mar); ``weekly`` due dates are start + 7k days. The FIRST due date
  is one period after ``start_date``. Each due date is moved to the next TARGET2 banking day (the
  Following convention); interest is always computed on the unadjusted dates, so a holiday never changes
  an amount. Not Modified Following: it would move a month-end due date BEFORE the contractual date, so the
  borrower would be collected early; Following only ever collects late (a month-end date may then fall in
  the next month, which is where ``projection`` counts it).
- Interest of a period = opening balance x annual rate x day-count fraction, ROUND_HALF_UP to the cent:
  * ``30/360``: 30E/360 on the unadjusted period dates (360 x years + 30 x months + min(day, 30)
    difference). A monthly date clamped to a short month end counts as its anchor day, so every
    monthly period is exactly 30/360 = 1/12 of a year. Weekly periods are 6 to 9 "30E" days.
  * ``ACT/360`` and ``ACT/365F``: actual days between the unadjusted period start and end / 360 or 365.
- Balances: closing = opening - principal; payment = interest + principal. The principal of a period
  is capped at the opening balance (the balance never goes below zero) and, for an annuity, floored at
  zero (no negative amortisation: if actual-day interest exceeds the level payment, that period's
  payment is its interest; this happens in the 31-day months of long loans at high rates, and the level
  payment is solved with those periods interest-only). The LAST period takes the rounding residual: its
  principal is its opening balance, so the principal column sums EXACTLY to the loan and the last closing
  balance is 0. The last payment differs from A by at most the rounding of one cent a period (half of A's,
  half of the interest's) grown by the later periods' interest: sum_k prod_{j>k} (1 + r_j) cents.
- Limits (so that cents x ppm x days stays exact in int64): principal 1 cent .. 1,000,000,000.00 EUR,
  rate 0 .. 1,000,000 ppm (0 % .. 100 %), periods 1 .. 1200.

Besides the columns named in the API, a schedule carries ``period_start``: the date the period's
interest starts to accrue for ``loan_positions`` (the loan's start date for period 1, else the
previous due date), so positions can be taken from the schedule alone.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TypeVar, cast

import numpy as np
import pandas as pd

from atlas_xl.domain.calendar import next_banking_day
from atlas_xl.domain.model import (
    DATE_RANGE,
    MAX_PERIODS,
    MAX_PRINCIPAL_CENTS,
    DayCount,
    Frequency,
    RepaymentMethod,
    supported_days,
)
from atlas_xl.domain.money import PPM, div_round_half_up
from atlas_xl.errors import ArgumentError

MAX_RATE_PPM = PPM

PERIODS_PER_YEAR = {Frequency.MONTHLY: 12, Frequency.WEEKLY: 52}
YEAR_BASIS_DAYS = {DayCount.THIRTY_360: 360, DayCount.ACT_360: 360, DayCount.ACT_365F: 365}

SCHEDULE_COLUMNS = ["period", "due_date", "opening_cents", "interest_cents", "principal_cents",
                    "payment_cents", "closing_cents", "period_start"]
LOAN_KEYS = ["loan_id", "client_id", "product"]
LOAN_COLUMNS = LOAN_KEYS + ["principal_cents", "annual_rate_ppm", "start_date", "periods", "method",
                            "frequency", "day_count"]
POSITION_COLUMNS = ["outstanding_cents", "accrued_interest_cents", "paid_off", "next_due_date",
                    "next_payment_cents"]
PROJECTION_COLUMNS = ["month", "principal_cents", "interest_cents", "payment_cents", "outstanding_cents"]
_MONEY = ["opening_cents", "interest_cents", "principal_cents", "payment_cents", "closing_cents"]

# A float PMT within this distance of a half cent is recomputed exactly with integers; the float
# formula's relative error is a few 1e-16, far inside the margin.
_TIE_ABS = 1e-9
_TIE_REL = 1e-13

E = TypeVar("E", bound=StrEnum)


# ----------------------------------------------------------------------------------------- arguments
def _choice(kind: type[E], value: object, name: str) -> E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        wanted = value.strip().lower()
        for member in kind:
            if member.value.lower() == wanted:
                return member
    choices = ", ".join(member.value for member in kind)
    raise ArgumentError(f"{name} must be one of {choices}; got {value!r}")


def _whole(name: str, value: object, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ArgumentError(f"{name} must be a whole number of {unit}, got {value!r}")
    number = int(value)
    if number < low:
        raise ArgumentError(f"{name} must be >= {low}, got {number}")
    if number > high:
        raise ArgumentError(f"{name} must be <= {high} {unit}, got {number}")
    return number


def _principal(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ArgumentError(f"principal must be a whole number of cents (e.g. 1000000 for 10,000.00), "
                            f"got {value!r}")
    if int(value) <= 0:
        raise ArgumentError(f"principal must be > 0 cents, got {int(value)}")
    if int(value) > MAX_PRINCIPAL_CENTS:
        raise ArgumentError(f"principal must be <= {MAX_PRINCIPAL_CENTS} cents (1,000,000,000.00 EUR), "
                            f"got {int(value)}")
    return int(value)


def _day(value: object, name: str) -> np.datetime64:
    if isinstance(value, dt.date | np.datetime64) and not pd.isna(value):
        day = value.astype("datetime64[D]") if isinstance(value, np.datetime64) else np.datetime64(value, "D")
        if not supported_days(day):  # the longest schedule from there still fits the engines' dates
            raise ArgumentError(f"{name} {str(day)!r} is out of range; expected a date {DATE_RANGE}")
        return day
    raise ArgumentError(f"{name} must be a date such as 2026-01-31, got {value!r}")


# ------------------------------------------------------------------------------------------- dates
def _unadjusted_dates(start: np.ndarray, periods: int, frequency: Frequency) -> np.ndarray:
    """(loans, periods + 1) datetime64[D]: column 0 is the start date, column k the k-th period end."""
    k = np.arange(periods + 1)
    if frequency is Frequency.WEEKLY:
        weekly: np.ndarray = start[:, None] + (7 * k)[None, :].astype("timedelta64[D]")
        return weekly
    first_of_month = start.astype("datetime64[M]")
    anchor_day = (start - first_of_month.astype("datetime64[D]")).astype(np.int64) + 1
    months = first_of_month[:, None] + k[None, :].astype("timedelta64[M]")
    month_start = months.astype("datetime64[D]")
    month_length = ((months + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    day = np.minimum(anchor_day[:, None], month_length)  # clamp 31 Jan to 28/29 Feb
    monthly: np.ndarray = month_start + (day - 1).astype("timedelta64[D]")
    return monthly


def _accrual_days(dates: np.ndarray, frequency: Frequency, day_count: DayCount) -> np.ndarray:
    """(loans, periods) day counts of each period, numerator of the day-count fraction."""
    if day_count is not DayCount.THIRTY_360:
        return np.diff(dates, axis=1).astype(np.int64)
    if frequency is Frequency.MONTHLY:
        # 30E/360 on the anchor day: every month is 30 days (see the module docstring).
        return np.full((dates.shape[0], dates.shape[1] - 1), 30, dtype=np.int64)
    month_index = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    day = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    serial = 30 * month_index + np.minimum(day, 30)  # 360 x years + 30 x months + min(day, 30)
    return np.diff(serial, axis=1)


# ------------------------------------------------------------------------------------------ payments
def _exact_annuity(principal: int, rate_ppm: int, periods: int, per_year: int) -> int:
    """PMT in integers: P x r x (1+r)^n / ((1+r)^n - 1) with r = ppm / (per_year x 1e6), half-up."""
    if rate_ppm == 0:
        return int(div_round_half_up(principal, periods))
    base = per_year * PPM
    grown: int = (base + rate_ppm) ** periods  # int ** int is typed Any (a negative power is a float)
    start: int = base**periods
    numerator = principal * rate_ppm * grown
    denominator = base * (grown - start)
    return (2 * numerator + denominator) // (2 * denominator)


def annuity_payment_cents(principal_cents: int, annual_rate_ppm: int, periods: int,
                          frequency: Frequency | str = "monthly") -> int:
    """The level payment: Excel PMT(annual/12 or annual/52, periods, -principal), ROUND_HALF_UP to the cent.

    Computed exactly with integer arithmetic (no float tie can round the wrong way).
    """
    principal = _principal(principal_cents)
    rate = _whole("annual rate", annual_rate_ppm, 0, MAX_RATE_PPM, "ppm")
    n = _whole("periods", periods, 1, MAX_PERIODS, "periods")
    freq = _choice(Frequency, frequency, "frequency")
    return _exact_annuity(principal, rate, n, PERIODS_PER_YEAR[freq])


def _annuity_payments(principal: np.ndarray, rate_ppm: np.ndarray, periods: int, per_year: int) -> np.ndarray:
    """Vectorised PMT: float formula, then the rare near-half-cent cases recomputed exactly."""
    amount = principal.astype(np.float64)
    rate = rate_ppm.astype(np.float64) / (per_year * PPM)
    safe_rate = np.where(rate > 0, rate, 1.0)
    annuity = amount * safe_rate / -np.expm1(-periods * np.log1p(safe_rate))
    result: np.ndarray = np.floor(annuity + 0.5).astype(np.int64)
    fraction = annuity - np.floor(annuity)
    near_tie = (np.abs(fraction - 0.5) < _TIE_ABS + _TIE_REL * annuity) & (rate > 0)
    for i in np.flatnonzero(near_tie):  # rare: a handful of loans at most, never the hot path
        result[i] = _exact_annuity(int(principal[i]), int(rate_ppm[i]), periods, per_year)
    zero = rate_ppm == 0
    if zero.any():
        result[zero] = div_round_half_up(principal[zero], periods)
    return result


def _uniform_periods(frequency: Frequency, day_count: DayCount) -> bool:
    """30E/360 monthly: every period is exactly 1/12 of a year, so the level payment is Excel's PMT."""
    return frequency is Frequency.MONTHLY and day_count is DayCount.THIRTY_360


def _interest_only_periods(rate_ppm: np.ndarray, days: np.ndarray, basis: int) -> tuple[np.ndarray, np.ndarray]:
    """Annuity factors V0 (float, per loan) and the (loans, periods) mask of interest-only periods.

    Backward over the periods, V holds the value at a period's end of 1 per later level payment:
    V = (1 + V') / (1 + r) for a paying period, V = V' for an interest-only one (its balance is unchanged).
    A period is interest-only when its interest on the exact balance, A x V x r, exceeds the level
    payment A, i.e. r x V > 1 (the small margin keeps 30E/360's r x V = 1 - (1+r)^-m < 1 on the right side).
    """
    rate = rate_ppm.astype(np.float64)[:, None] * days / (basis * PPM)
    value = np.zeros(rate.shape[0])
    interest_only = np.zeros(rate.shape, dtype=bool)
    for k in range(rate.shape[1] - 1, -1, -1):
        above = rate[:, k] * value > 1.0 + 1e-12  # the last period has value 0: never interest-only
        interest_only[:, k] = above
        value = np.where(above, value, (1.0 + value) / (1.0 + rate[:, k]))
    return value, interest_only


def _exact_level_payment(principal: int, rate_ppm: int, days: np.ndarray, interest_only: np.ndarray,
                         basis: int) -> int:
    """P / sum of the discount factors, exactly: with c_j = B + R x d_j (B = basis x 1e6, R = ppm) over
    the paying periods, sum D = T / Q where Q = prod c_j and T (Horner) = sum_i B^i prod_{j>i} c_j."""
    base = basis * PPM
    grown = 1
    total = 0
    power = 1
    for d, skip in zip(days.tolist(), interest_only.tolist(), strict=True):
        if skip:
            continue
        c = base + rate_ppm * d
        power *= base
        total = total * c + power
        grown *= c
    return (2 * principal * grown + total) // (2 * total)


def _level_payments(principal: np.ndarray, rate_ppm: np.ndarray, days: np.ndarray, basis: int) -> np.ndarray:
    """Level payments solved on the actual period fractions r_i = rate x days_i / basis (ACT days, weekly 30E).

    A = P / V0 (see _interest_only_periods), ROUND_HALF_UP to the cent: float first, the rare near-half-cent
    cases recomputed exactly with integers; a 0 % rate gives P / n exactly.
    """
    value, interest_only = _interest_only_periods(rate_ppm, days, basis)
    annuity = principal.astype(np.float64) / value
    result = np.floor(annuity + 0.5).astype(np.int64)
    # V0's relative float error grows by a few ulps a period; the margin is ample
    margin = 1e-9 + annuity * np.finfo(np.float64).eps * (4 * days.shape[1] + 8)
    near_tie = (np.abs(annuity - np.floor(annuity) - 0.5) < margin) & (rate_ppm > 0)
    for i in np.flatnonzero(near_tie):  # rare: a handful of loans at most
        result[i] = _exact_level_payment(int(principal[i]), int(rate_ppm[i]), days[i], interest_only[i], basis)
    zero = rate_ppm == 0
    if zero.any():
        result[zero] = div_round_half_up(principal[zero], days.shape[1])
    return np.asarray(result, dtype=np.int64)


# ---------------------------------------------------------------------------------------- amortising
def _amortise(principal: np.ndarray, rate_ppm: np.ndarray, start: np.ndarray, periods: int,
              method: RepaymentMethod, frequency: Frequency, day_count: DayCount,
              payment: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Schedules of loans sharing (method, frequency, day_count, periods) as (loans, periods) arrays.

    Loops over the period index only (annuity balances depend on the previous period's rounding).
    """
    n_loans = principal.shape[0]
    dates = _unadjusted_dates(start, periods, frequency)
    days = _accrual_days(dates, frequency, day_count)
    denominator = YEAR_BASIS_DAYS[day_count] * PPM
    rate = rate_ppm[:, None]

    if method is RepaymentMethod.ANNUITY:
        if payment is None and _uniform_periods(frequency, day_count):
            payment = _annuity_payments(principal, rate_ppm, periods, PERIODS_PER_YEAR[frequency])
        elif payment is None:
            payment = _level_payments(principal, rate_ppm, days, YEAR_BASIS_DAYS[day_count])
        opening = np.empty((n_loans, periods), dtype=np.int64)
        interest = np.empty_like(opening)
        repaid = np.empty_like(opening)
        balance = principal.copy()
        for k in range(periods):
            opening[:, k] = balance
            interest[:, k] = div_round_half_up(balance * rate_ppm * days[:, k], denominator)
            if k == periods - 1:
                repaid[:, k] = balance  # the last period takes the residual
            else:
                repaid[:, k] = np.clip(payment - interest[:, k], 0, balance)
            balance = balance - repaid[:, k]
    else:
        if method is RepaymentMethod.LINEAR:
            level = np.asarray(div_round_half_up(principal, periods), dtype=np.int64)
            steps = np.arange(periods, dtype=np.int64)[None, :] * level[:, None]
            opening = np.maximum(principal[:, None] - steps, 0)
            repaid = np.minimum(level[:, None], opening)
        else:  # bullet
            opening = np.repeat(principal[:, None], periods, axis=1)
            repaid = np.zeros_like(opening)
        repaid[:, -1] = opening[:, -1]  # the last period takes the residual
        interest = np.asarray(div_round_half_up(opening * rate * days, denominator), dtype=np.int64)
        interest = interest.reshape(opening.shape)

    due = next_banking_day(dates[:, 1:])
    period_start = np.concatenate([dates[:, :1], due[:, :-1]], axis=1)
    return {
        "period": np.broadcast_to(np.arange(1, periods + 1, dtype=np.int64), opening.shape),
        "due_date": due,
        "opening_cents": opening,
        "interest_cents": interest,
        "principal_cents": repaid,
        "payment_cents": interest + repaid,
        "closing_cents": opening - repaid,
        "period_start": period_start,
    }


def _frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    data: dict[str, object] = {}
    for column in SCHEDULE_COLUMNS:
        values = np.asarray(arrays[column]).reshape(-1)
        if column in ("due_date", "period_start"):
            data[column] = values.astype("datetime64[ns]")
        else:
            data[column] = values.astype(np.int64)
    return pd.DataFrame(data)


def build_schedule(principal_cents: int, annual_rate_ppm: int, periods: int, start_date: dt.date,
                   method: RepaymentMethod | str = "annuity", frequency: Frequency | str = "monthly",
                   day_count: DayCount | str = "30/360") -> pd.DataFrame:
    """The schedule of one loan: one row per period (columns in SCHEDULE_COLUMNS, rules in the docstring)."""
    principal = _principal(principal_cents)
    rate = _whole("annual rate", annual_rate_ppm, 0, MAX_RATE_PPM, "ppm")
    n = _whole("periods", periods, 1, MAX_PERIODS, "periods")
    start = _day(start_date, "start_date")
    how = _choice(RepaymentMethod, method, "method")
    freq = _choice(Frequency, frequency, "frequency")
    basis = _choice(DayCount, day_count, "day_count")
    payment = None
    if how is RepaymentMethod.ANNUITY and _uniform_periods(freq, basis):
        payment = np.array([_exact_annuity(principal, rate, n, PERIODS_PER_YEAR[freq])], dtype=np.int64)
    arrays = _amortise(np.array([principal], dtype=np.int64), np.array([rate], dtype=np.int64),
                       np.array([start], dtype="datetime64[D]"), n, how, freq, basis, payment)
    return _frame(arrays)


# ----------------------------------------------------------------------------------------- portfolio
def _loan_list(ids: pd.Series, mask: np.ndarray) -> str:
    bad = [str(x) for x in ids[mask][:5]]
    more = f" and {int(mask.sum()) - 5} more" if mask.sum() > 5 else ""
    return ", ".join(bad) + more


def _int_column(loans: pd.DataFrame, column: str, low: int, high: int, expected: str) -> np.ndarray:
    series = loans[column]
    if not pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise ArgumentError(f"loans column {column} must hold int64 {expected}, got dtype {series.dtype}")
    values = series.to_numpy(dtype=np.int64)
    bad = (values < low) | (values > high)
    if bad.any():
        first = values[bad][0]
        raise ArgumentError(f"loans column {column} must be {low}..{high} ({expected}); "
                            f"got {first} for loan {_loan_list(loans['loan_id'], bad)}")
    return values


def _enum_column(loans: pd.DataFrame, column: str, kind: type[StrEnum]) -> np.ndarray:
    lookup = {member.value.lower(): member.value for member in kind}
    text = loans[column].astype("string").str.strip().str.lower()
    values = text.map(lookup)
    bad = values.isna().to_numpy()
    if bad.any():
        first = loans[column][bad].iloc[0]
        choices = ", ".join(member.value for member in kind)
        raise ArgumentError(f"loans column {column} must be one of {choices}; got {first!r} "
                            f"for loan {_loan_list(loans['loan_id'], bad)}")
    return values.to_numpy(dtype=object)


def _empty_schedules() -> pd.DataFrame:
    frame = _frame({c: np.empty(0, dtype="datetime64[D]" if c in ("due_date", "period_start") else np.int64)
                    for c in SCHEDULE_COLUMNS})
    keys = pd.DataFrame({key: pd.Series(dtype=object) for key in LOAN_KEYS})
    return pd.concat([keys, frame], axis=1)


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ArgumentError(f"{what} frame is missing column(s) {', '.join(missing)}; "
                            f"expected columns {', '.join(columns)}")


def portfolio_schedules(loans: pd.DataFrame) -> pd.DataFrame:
    """Schedules of every loan in the loans frame (docs/data_model.md), as one long frame.

    Columns: loan_id, client_id, product, then the build_schedule columns; loans in input order, periods
    ascending. Vectorised: loans are grouped by (method, frequency, day_count, periods) and each group is
    amortised with numpy arrays over its loans, looping only over the period index.
    """
    _require(loans, LOAN_COLUMNS, "loans")
    if len(loans) == 0:
        return _empty_schedules()
    loans = loans.reset_index(drop=True)
    duplicated = loans["loan_id"].duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise ArgumentError(f"loans column loan_id must be unique; repeated: "
                            f"{_loan_list(loans['loan_id'], duplicated)}")
    principal = _int_column(loans, "principal_cents", 1, MAX_PRINCIPAL_CENTS, "cents > 0")
    rate = _int_column(loans, "annual_rate_ppm", 0, MAX_RATE_PPM, "ppm")
    periods = _int_column(loans, "periods", 1, MAX_PERIODS, "periods")
    method = _enum_column(loans, "method", RepaymentMethod)
    frequency = _enum_column(loans, "frequency", Frequency)
    day_count = _enum_column(loans, "day_count", DayCount)
    try:
        start = pd.to_datetime(loans["start_date"]).to_numpy().astype("datetime64[D]")
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"loans column start_date must hold dates such as 2026-01-31 ({error})") from None
    no_date = np.isnat(start)
    if no_date.any():
        raise ArgumentError(f"loans column start_date must be a date such as 2026-01-31; missing for loan "
                            f"{_loan_list(loans['loan_id'], no_date)}")
    outside = ~supported_days(start)
    if outside.any():
        raise ArgumentError(f"loans column start_date must be {DATE_RANGE}; out of range for loan "
                            f"{_loan_list(loans['loan_id'], outside)}")

    groups = pd.DataFrame({"m": method, "f": frequency, "d": day_count, "n": periods}).groupby(
        ["m", "f", "d", "n"], sort=False).indices
    parts: list[dict[str, np.ndarray]] = []
    positions: list[np.ndarray] = []
    for key, index in groups.items():
        how, freq, basis, n = cast(tuple[str, str, str, int], key)
        arrays = _amortise(principal[index], rate[index], start[index], int(n), RepaymentMethod(how),
                           Frequency(freq), DayCount(basis))
        parts.append({c: np.asarray(arrays[c]).reshape(-1) for c in SCHEDULE_COLUMNS})
        positions.append(np.repeat(index, int(n)))
    merged = {c: np.concatenate([part[c] for part in parts]) for c in SCHEDULE_COLUMNS}
    loan_position = np.concatenate(positions)
    order = np.lexsort((merged["period"], loan_position))  # back to input order, periods ascending
    frame = _frame({c: values[order] for c, values in merged.items()})
    rows = loan_position[order]
    keys = pd.DataFrame({key: loans[key].to_numpy()[rows] for key in LOAN_KEYS})
    return pd.concat([keys, frame], axis=1)


# ----------------------------------------------------------------------------------------- positions
def _sorted_schedules(schedules: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows ordered by loan (first appearance) then period; start row and row count of each loan."""
    codes, _ = pd.factorize(schedules["loan_id"])
    order = np.lexsort((schedules["period"].to_numpy(), codes))
    ordered = schedules.iloc[order].reset_index(drop=True)
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, len(codes)])
    return ordered, starts, counts


def _days(series: pd.Series) -> np.ndarray:
    return series.to_numpy().astype("datetime64[D]")


def loan_positions(schedules: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per loan at the end of `as_of`: what is outstanding, accrued and due next.

    - outstanding_cents: closing balance after the last due date <= as_of; the principal from the loan's
      start date to its first due date; 0 before the start date (not yet disbursed, so no exposure).
    - accrued_interest_cents: interest of the running period x days elapsed / days in the period,
      ROUND_HALF_UP, where the running period goes from its period_start (previous due date, or the loan
      start for period 1) to its due date; 0 before the loan starts and once the loan is paid off.
    - paid_off: every due date is <= as_of. next_due_date / next_payment_cents: the running period's
      (NaT / 0 when paid off).
    """
    _require(schedules, ["loan_id"] + SCHEDULE_COLUMNS, "schedules")
    day = _day(as_of, "as_of")
    keys = [k for k in LOAN_KEYS if k in schedules.columns]
    if len(schedules) == 0:
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys},
                             "outstanding_cents": pd.Series(dtype=np.int64),
                             "accrued_interest_cents": pd.Series(dtype=np.int64),
                             "paid_off": pd.Series(dtype=bool),
                             "next_due_date": pd.Series(dtype="datetime64[ns]"),
                             "next_payment_cents": pd.Series(dtype=np.int64)})
    ordered, starts, counts = _sorted_schedules(schedules)
    due = _days(ordered["due_date"])
    opening = ordered["opening_cents"].to_numpy(dtype=np.int64)
    closing = ordered["closing_cents"].to_numpy(dtype=np.int64)
    interest = ordered["interest_cents"].to_numpy(dtype=np.int64)
    payment = ordered["payment_cents"].to_numpy(dtype=np.int64)
    period_start = _days(ordered["period_start"])

    # due dates rise with the period, so the paid rows of a loan are a prefix of its rows
    paid = np.add.reduceat((due <= day).astype(np.int64), starts)
    paid_off = paid == counts
    outstanding = np.where(paid > 0, closing[starts + np.maximum(paid, 1) - 1], opening[starts])
    outstanding = np.where(day < period_start[starts], 0, outstanding)  # not yet disbursed
    running = np.minimum(starts + paid, starts + counts - 1)
    length = np.maximum((due[running] - period_start[running]).astype(np.int64), 1)
    elapsed = np.clip((day - period_start[running]).astype(np.int64), 0, length)
    accrued = (2 * interest[running] * elapsed + length) // (2 * length)  # half-up; all terms >= 0
    accrued = np.where(paid_off, 0, accrued)
    next_due = np.where(paid_off, np.datetime64("NaT"), due[running])

    result = ordered.loc[starts, keys].reset_index(drop=True)
    result["outstanding_cents"] = outstanding.astype(np.int64)
    result["accrued_interest_cents"] = accrued.astype(np.int64)
    result["paid_off"] = paid_off
    result["next_due_date"] = next_due.astype("datetime64[ns]")
    result["next_payment_cents"] = np.where(paid_off, 0, payment[running]).astype(np.int64)
    return result


def projection(schedules: pd.DataFrame, from_date: dt.date) -> pd.DataFrame:
    """Monthly projection of the amounts due on or after `from_date`.

    One row per calendar month from the month of from_date to the month of the last due date (months
    without a due amount show 0): month (first day), principal/interest/payment cents due in that month
    (due_date >= from_date), outstanding_cents = portfolio outstanding after the month's last day
    (the principal of every loan started by then, less all principal due up to that day, including before
    from_date).
    """
    _require(schedules, SCHEDULE_COLUMNS, "schedules")
    day = _day(from_date, "from_date")
    due = _days(schedules["due_date"])
    future = due >= day
    if not future.any():
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[ns]"),
                             **{c: pd.Series(dtype=np.int64) for c in PROJECTION_COLUMNS[1:]}})
    first = day.astype("datetime64[M]")
    month_of_row = due.astype("datetime64[M]")
    n_months = int((month_of_row[future].max() - first).astype(np.int64)) + 1
    slot = (month_of_row[future] - first).astype(np.int64)
    sums: dict[str, np.ndarray] = {}
    for column in ("principal_cents", "interest_cents", "payment_cents"):
        total = np.zeros(n_months, dtype=np.int64)
        np.add.at(total, slot, schedules[column].to_numpy(dtype=np.int64)[future])  # exact int sums
        sums[column] = total
    principal = schedules["principal_cents"].to_numpy(dtype=np.int64)
    repaid_before = int(principal[~future].sum())
    # a loan counts from the month of its start date (disbursement); one started earlier from the first month
    loan_ids = schedules["loan_id"] if "loan_id" in schedules.columns else pd.Series(0, index=schedules.index)
    codes, uniques = pd.factorize(loan_ids)
    per_loan = np.zeros(len(uniques), dtype=np.int64)
    np.add.at(per_loan, codes, principal)
    starts = np.full(len(uniques), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(starts, codes, _days(schedules["period_start"]).astype(np.int64))
    start_month = starts.astype("datetime64[D]").astype("datetime64[M]")
    disbursed = np.zeros(n_months, dtype=np.int64)
    np.add.at(disbursed, np.clip((start_month - first).astype(np.int64), 0, n_months - 1), per_loan)
    outstanding = np.cumsum(disbursed) - repaid_before - np.cumsum(sums["principal_cents"])
    months = first + np.arange(n_months).astype("timedelta64[M]")
    return pd.DataFrame({
        "month": months.astype("datetime64[D]").astype("datetime64[ns]"),
        **sums,
        "outstanding_cents": outstanding.astype(np.int64),
    })
