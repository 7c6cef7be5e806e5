"""A deliberately simple per-row reference of the reserve, payout and exposure rules (the test oracle).

Written from the rules stated in `reserves`, `payouts` and `exposure` the way a careful analyst would
work them through in a spreadsheet: one client at a time, one day at a time, amounts as `Decimal`
euros, every rounding ROUND_HALF_UP to the cent (rates) or to the whole ppm (utilisation). It shares
nothing with the vectorised engines except the TARGET2 calendar (`is_banking_date`,
`next_banking_date`), schwifty for IBAN checks and the schedules engine for term-loan positions.

It is slow on purpose (Python loops over rows and days) and serves twice: as the differential oracle
in `tests/test_reference_diff.py` and as the per-row baseline of `benchmarks/`.

Input: the validated `Portfolio` (non-EUR rows are already refused by the loader).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

import pandas as pd
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from atlas_xl.domain.calendar import is_banking_date, next_banking_date
from atlas_xl.domain.epc_text import epc_name
from atlas_xl.domain.model import BlockReason, Portfolio
from atlas_xl.engines import schedules
from atlas_xl.engines.run import as_of_date
from atlas_xl.settings import Settings

CENT = Decimal("0.01")
ZERO = Decimal(0)
ONE_DAY = dt.timedelta(days=1)
KINDS = ("rolling", "partner")
REASON_ORDER = (
    BlockReason.BLOCKED,
    BlockReason.KYC_PENDING,
    BlockReason.INVALID_IBAN,
    BlockReason.INVALID_BIC,
    BlockReason.NAME_NOT_SEPA,
    BlockReason.LIMIT_BREACHED,
    BlockReason.NOT_PAYOUT_DAY,
    BlockReason.NEGATIVE_BALANCE,
    BlockReason.NOTHING_TO_PAY,
    BlockReason.BELOW_MINIMUM,
    BlockReason.ABOVE_SEPA_MAXIMUM,
)
SWEEP = Decimal(1)  # over the credit limit, the whole positive balance goes to the factoring advances (100 %)
MAX_TRANSFER = Decimal("999999999.99")  # the EPC SCT rulebook's largest credit transfer, in euros

DAILY_COLUMNS = (
    "rolling_held_cents", "rolling_released_cents", "rolling_balance_cents",
    "partner_held_cents", "partner_released_cents", "partner_balance_cents",
    "paid_cents", "withheld_cents", "settlement_balance_cents",
)


@dataclass(frozen=True)
class ReferenceResult:
    as_of: dt.date
    start: dt.date
    daily: pd.DataFrame  # client_id, date, then DAILY_COLUMNS (int cents; balances at the end of the day)
    payouts: pd.DataFrame  # per client: readiness and amounts on the as-of (payout) date
    exposure: pd.DataFrame  # per client: components, exposure, utilisation, status
    upcoming: pd.DataFrame  # client_id, reserve, release_date, amount_cents (due after the as-of date)


# ------------------------------------------------------------------------------------------ money and dates
def euros(cents: object) -> Decimal:
    return Decimal(int(cents)) / 100


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def fraction(ppm: object) -> Decimal:
    return Decimal(int(ppm)) / 1_000_000


def share(amount: Decimal, rate: Decimal) -> Decimal:
    """amount x rate, ROUND_HALF_UP to the cent (half away from zero, also for negative amounts)."""
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


@cache
def banking(day: dt.date) -> bool:
    return is_banking_date(day)


@cache
def release_date(hold_day: dt.date, hold_days: int, basis: str) -> dt.date:
    """Calendar: hold day + N days, rolled to the next banking day. Banking: hold day rolled to a
    banking day, then N banking days on (each counted day must be a TARGET2 banking day)."""
    if basis == "calendar":
        return next_banking_date(hold_day + dt.timedelta(days=hold_days))
    day = next_banking_date(hold_day)
    for _ in range(hold_days):
        day += ONE_DAY
        while not banking(day):
            day += ONE_DAY
    return day


@cache
def is_payout_day(day: dt.date, frequency: str) -> bool:
    """daily: a banking day; weekly / monthly: the first banking day of its ISO week / month."""
    if not banking(day):
        return False
    if frequency == "daily":
        return True
    previous = day - ONE_DAY
    while not banking(previous):
        previous -= ONE_DAY
    if frequency == "weekly":
        return previous.isocalendar()[:2] != day.isocalendar()[:2]
    return (previous.year, previous.month) != (day.year, day.month)


@lru_cache(maxsize=65536)
def iban_is_valid(iban: object) -> bool:
    if iban is None or (isinstance(iban, float) and iban != iban) or not str(iban).strip():
        return False
    try:
        IBAN(str(iban), validate_bban=True)
    except SchwiftyException:
        return False
    return True


@lru_cache(maxsize=65536)
def bic_is_valid(bic: object) -> bool:
    """A blank BIC is valid (it is optional); a given one must be an ISO 9362 BIC schwifty accepts."""
    if bic is None or (isinstance(bic, float) and bic != bic) or not str(bic).strip():
        return True
    try:
        BIC(str(bic))
    except SchwiftyException:
        return False
    return True


def _date(value: object) -> dt.date:
    return pd.Timestamp(value).date()


# ------------------------------------------------------------------------------------------ one reserve
@dataclass
class ReserveDays:
    held: list[Decimal]
    released: list[Decimal]
    balance: list[Decimal]
    future: dict[dt.date, Decimal]  # releases due after the last day, before any min-balance deferral


def reserve_days(days: list[dt.date], sales: list[Decimal], first_day: dt.date | None,
                 terms: dict | None) -> ReserveDays:
    """One client's reserve of one kind, worked day by day (see the rules in `atlas_xl.engines.reserves`)."""
    n = len(days)
    if terms is None:
        return ReserveDays([ZERO] * n, [ZERO] * n, [ZERO] * n, {})
    rate = fraction(terms["rate_ppm"])
    cap = None if int(terms["cap_cents"]) == -1 else euros(terms["cap_cents"])
    fixed_amount = euros(terms["fixed_amount_cents"])
    minimum = euros(terms["min_balance_cents"])
    hold_days, basis = int(terms["hold_days"]), str(terms["hold_basis"])
    due: dict[dt.date, Decimal] = defaultdict(Decimal)
    balance = deferred = ZERO
    out = ReserveDays([], [], [], {})
    for day, day_sales in zip(days, sales, strict=True):
        fixed = fixed_amount if day == first_day else ZERO  # the upfront reserve, whatever the cap
        hold = share(day_sales, rate)
        if cap is not None:
            hold = min(hold, max(cap - balance - fixed, ZERO))  # the fixed amount counts toward the cap
        balance += hold + fixed
        due[release_date(day, hold_days, basis)] += hold  # the day's hold first, then its releases
        wanted = due.pop(day, ZERO) + deferred
        release = min(wanted, max(balance - minimum, ZERO))  # never below the minimum balance
        deferred = wanted - release
        balance -= release
        out.held.append(hold + fixed)
        out.released.append(release)
        out.balance.append(balance)
    out.future = {d: a for d, a in sorted(due.items()) if a != 0}
    return out


# ------------------------------------------------------------------------------------------ whole run
def _records(frame: pd.DataFrame, wanted: set[str] | None) -> Iterable[dict]:
    if wanted is not None:
        frame = frame[frame["client_id"].isin(wanted)]  # picking the sample, not part of the calculation
    return frame.to_dict("records")


def reference_run(portfolio: Portfolio, as_of: dt.date | str | None = None, settings: Settings | None = None,
                  client_ids: Iterable[str] | None = None) -> ReferenceResult:
    """Work every client (or only `client_ids`, a sample) through every day up to the as-of date.

    The day range is the engines': from the earliest settlement value date (or the as-of date, if
    earlier) to the as-of date, whatever the sample.
    """
    settings = settings or Settings()
    as_of = as_of_date(portfolio, as_of)  # argument parsing only, shared with the engine
    start = as_of
    if len(portfolio.settlements):
        start = min(_date(portfolio.settlements["value_date"].min()), as_of)
    days = [start + dt.timedelta(days=i) for i in range((as_of - start).days + 1)]
    wanted = None if client_ids is None else set(client_ids)

    rows: dict[str, dict[dt.date, list[Decimal]]] = defaultdict(dict)
    for row in _records(portfolio.settlements, wanted):  # one settlement row at a time
        day = _date(row["value_date"])
        if day > as_of:
            continue
        amounts = [euros(row[c]) for c in ("sales_cents", "refunds_cents", "chargebacks_cents", "fees_cents")]
        known = rows[row["client_id"]].get(day)
        rows[row["client_id"]][day] = amounts if known is None else [a + b for a, b in zip(known, amounts,
                                                                                             strict=True)]
    terms: dict[tuple[str, str], dict] = {}
    for row in _records(portfolio.reserve_terms, wanted):
        terms[(row["client_id"], row["reserve"])] = row
    advances: dict[str, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in _records(portfolio.loans, wanted):
        day = max(_date(row["start_date"]), start)  # an advance paid before the data lands on day 0
        if row["product"] == "factoring" and day <= as_of:
            advances[row["client_id"]][day] += euros(row["principal_cents"])
    # payouts that left in executed runs: from the first run's date on, they are the days' payouts
    paid_in_runs: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for row in _records(portfolio.paid, wanted):
        paid_in_runs[(row["client_id"], _date(row["payout_date"]))] += euros(row["amount_cents"])
    runs_from = min((day for _, day in paid_in_runs), default=None)
    with_credit = {row["client_id"] for row in _records(portfolio.loans, wanted)}  # any factoring or term loan
    loan_outstanding: dict[str, Decimal] = defaultdict(Decimal)
    accrued: dict[str, Decimal] = defaultdict(Decimal)
    loans = portfolio.loans if wanted is None else portfolio.loans[portfolio.loans["client_id"].isin(wanted)]
    positions = schedules.loan_positions(schedules.portfolio_schedules(loans), as_of)
    for row in positions.to_dict("records"):
        if row["product"] == "term_loan":
            loan_outstanding[row["client_id"]] += euros(row["outstanding_cents"])
        accrued[row["client_id"]] += euros(row["accrued_interest_cents"])

    daily: dict[str, list] = {"client_id": [], "date": [], **{c: [] for c in DAILY_COLUMNS}}
    payouts: list[dict] = []
    exposures: list[dict] = []
    upcoming: list[dict] = []
    for client in _records(portfolio.clients, wanted):
        cid = client["client_id"]
        data = rows.get(cid, {})
        zero4 = [ZERO] * 4
        day_rows = [data.get(day, zero4) for day in days]
        sales = [r[0] for r in day_rows]
        first_day = min(data) if data else None
        reserves = {kind: reserve_days(days, sales, first_day, terms.get((cid, kind))) for kind in KINDS}
        for kind in KINDS:
            upcoming += [{"client_id": cid, "reserve": kind, "release_date": pd.Timestamp(d),
                          "amount_cents": cents(a)} for d, a in reserves[kind].future.items()]

        # the settlement subaccount, day by day, with the payouts before the as-of date
        standing = {
            BlockReason.BLOCKED: client["status"] == "blocked",
            BlockReason.KYC_PENDING: client["kyc_status"] != "verified",
            BlockReason.INVALID_IBAN: not iban_is_valid(client["iban"]),
            BlockReason.INVALID_BIC: not bic_is_valid(client.get("bic")),
            BlockReason.NAME_NOT_SEPA: not epc_name(str(client["name"] or "")),
        }
        standing_ok = not any(standing.values())
        withhold_rate = fraction(client["factoring_withhold_rate_ppm"])
        minimum = euros(client["min_payout_cents"])
        frequency = client["payout_frequency"]
        balance = carried = outstanding = ZERO
        paid: list[Decimal] = []
        withheld: list[Decimal] = []
        balances: list[Decimal] = []
        client_advances = advances.get(cid, {})
        for i, day in enumerate(days):
            carried = balance
            sale, refund, chargeback, fee = day_rows[i]
            if i == 0:  # the opening balance (may be negative) lands on day 0
                balance += euros(client["opening_balance_cents"])
            balance += sale - refund - chargeback - fee
            balance += -reserves["rolling"].held[i] - reserves["partner"].held[i]
            balance += reserves["rolling"].released[i] + reserves["partner"].released[i]
            outstanding += client_advances.get(day, ZERO)
            pay = keep = ZERO
            if runs_from is not None and runs_from <= day != as_of:  # what left in the runs, nothing else
                pay = paid_in_runs.get((cid, day), ZERO)
                if pay > 0:
                    keep = min(share(max(balance, ZERO), withhold_rate), outstanding)
            elif day != as_of and standing_ok and balance > 0 and is_payout_day(day, frequency):
                keep_back = min(share(balance, withhold_rate), outstanding)
                to_pay = balance - keep_back
                # below the minimum nothing moves (the balance is carried forward); above one transfer's
                # maximum it waits as well
                if minimum <= to_pay <= MAX_TRANSFER:
                    pay, keep = to_pay, keep_back
            balance -= pay + keep
            outstanding -= keep
            paid.append(pay)
            withheld.append(keep)
            balances.append(balance)

        # exposure on the as-of date, before that day's payout
        recent_from = as_of - dt.timedelta(days=settings.recent_days - 1)
        recent = sum((s for day, s in zip(days, sales, strict=True) if day >= recent_from), ZERO)
        parts = {
            "factoring_outstanding_cents": max(outstanding, ZERO),
            "loan_outstanding_cents": loan_outstanding.get(cid, ZERO),
            "accrued_interest_cents": accrued.get(cid, ZERO),
            "negative_balance_cents": max(-balance, ZERO),
            "chargeback_risk_cents": share(recent, fraction(settings.chargeback_risk_ppm)),
        }
        collateral = reserves["rolling"].balance[-1] + reserves["partner"].balance[-1]
        gross = sum(parts.values(), ZERO)
        exposure = max(gross - collateral, ZERO)
        limit = euros(client["credit_limit_cents"])
        if limit > 0:
            utilization = int((exposure / limit * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))
            breach = utilization >= settings.breach_ppm
            warning = not breach and utilization >= settings.warning_ppm
        else:
            # no limit: a breach only where a credit product was granted (acquiring risk alone has no limit)
            utilization, breach, warning = None, cid in with_credit and exposure > 0, False
        exposures.append({"client_id": cid, **{k: cents(v) for k, v in parts.items()},
                          "collateral_cents": cents(collateral), "gross_exposure_cents": cents(gross),
                          "exposure_cents": cents(exposure), "utilization_ppm": utilization,
                          "status": "BREACH" if breach else "WARNING" if warning else "OK"})

        # readiness on the payout date: every reason is checked
        # over the limit the balance is swept at SWEEP instead of the client's rate
        keep_back = (min(share(balance, SWEEP if breach else withhold_rate), max(outstanding, ZERO))
                     if balance > 0 else ZERO)
        payable = balance - keep_back if balance > 0 else ZERO
        flags = {
            **standing,
            BlockReason.LIMIT_BREACHED: breach,
            BlockReason.NOT_PAYOUT_DAY: not is_payout_day(as_of, frequency),
            BlockReason.NEGATIVE_BALANCE: balance < 0,
            # a balance the factoring share takes whole leaves nothing to transfer
            BlockReason.NOTHING_TO_PAY: balance == 0 or (balance > 0 and payable == 0),
            BlockReason.BELOW_MINIMUM: ZERO < payable < minimum,
            BlockReason.ABOVE_SEPA_MAXIMUM: payable > MAX_TRANSFER,
        }
        reasons = [reason.value for reason in REASON_ORDER if flags[reason]]
        ready = not reasons
        readiness = ("READY" if ready else "NOT DUE" if reasons == [BlockReason.NOT_PAYOUT_DAY.value]
                     else "BLOCKED")
        payouts.append({"client_id": cid, "carried_forward_cents": cents(carried),
                        "available_cents": cents(balance), "withheld_cents": cents(keep_back),
                        "amount_cents": cents(payable), "ready": ready, "readiness": readiness,
                        "reasons": "; ".join(reasons)})
        if ready:  # the payout of the day is made once it is ready
            paid[-1], withheld[-1] = payable, keep_back
            balances[-1] = balance - payable - keep_back
        elif breach or (reasons == [BlockReason.NOTHING_TO_PAY.value] and balance > 0 and payable >= minimum):
            # swept over the limit whatever holds the payout; or, as on earlier payout days, the share is
            # withheld when it leaves nothing to pay
            withheld[-1] = keep_back
            balances[-1] = balance - keep_back

        # the last payout (today's when ready) and, when not paid today, the days since it (or since day 0)
        last_paid = max((i for i, amount in enumerate(paid) if amount > 0), default=None)
        payouts[-1] |= {"last_payout_cents": cents(paid[last_paid]) if last_paid is not None else 0,
                        "days_held": None if ready else (len(days) - 1 - (last_paid or 0))}

        rolling, partner = reserves["rolling"], reserves["partner"]
        daily["client_id"] += [cid] * len(days)
        daily["date"] += days
        columns = (rolling.held, rolling.released, rolling.balance, partner.held, partner.released,
                   partner.balance, paid, withheld, balances)
        for column, values in zip(DAILY_COLUMNS, columns, strict=True):
            daily[column] += [cents(v) for v in values]

    daily_frame = pd.DataFrame(daily)
    daily_frame["date"] = pd.to_datetime(daily_frame["date"])
    upcoming_frame = pd.DataFrame(upcoming, columns=["client_id", "reserve", "release_date", "amount_cents"])
    payout_frame = pd.DataFrame(payouts, columns=["client_id", "carried_forward_cents", "available_cents",
                                                  "withheld_cents", "amount_cents", "ready", "readiness",
                                                  "reasons", "last_payout_cents", "days_held"])
    exposure_frame = pd.DataFrame(exposures)
    if len(exposure_frame):  # blank utilisation (no limit) stays blank next to whole ppm
        utilization = exposure_frame["utilization_ppm"].tolist()
        exposure_frame["utilization_ppm"] = pd.array(utilization, dtype="Int64")
    return ReferenceResult(as_of, start, daily_frame, payout_frame, exposure_frame, upcoming_frame)
