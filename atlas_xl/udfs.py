"""ATLAS_* worksheet functions (classic xlwings UDFs; `UDF Modules = atlas_xl.udfs` in xlwings.conf).

Each function is a thin adapter: raw Excel values -> atlas_xl.excel_args -> one engine call -> cells.
No money arithmetic here. Any failure becomes the cell text `#ATLAS! <reason>` (excel_args.excel_safe).
Parameters are annotated `Any` on purpose: that is xlwings' raw value converter, so Excel passes exactly
the values excel_args expects (the same path the tests use). Docstrings are the help texts Excel shows.
Amounts come back as euro numbers (cents / 100), dates as datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import xlwings as xw

from atlas_xl import __version__
from atlas_xl import excel_args as xa
from atlas_xl.calendar import next_banking_date
from atlas_xl.model import DayCount, Frequency, RepaymentMethod

SCHEDULE_HEADER = ["Due date", "Opening", "Interest", "Principal", "Payment", "Closing"]
PROJECTION_HEADER = ["Month", "Principal", "Interest", "Payment", "Outstanding"]
CATEGORY = "Atlas Settlement"
TABLE = "whole Excel table including its header row, e.g. Loans[#All]"


@xw.func(category=CATEGORY)
@xa.excel_safe
def ATLAS_VERSION() -> Any:
    """The Atlas Settlement version running behind these functions."""
    return __version__


@xw.func(category=CATEGORY)
@xw.arg("date", doc="a date, a date cell or a 1900-system serial number")
@xa.excel_safe
def ATLAS_NEXT_BANKING_DAY(date: Any) -> Any:
    """The date itself if it is a TARGET2 banking day, else the next TARGET2 banking day."""
    return xa.excel_date(next_banking_date(xa.date_arg(date, "date")))


@xw.func(category=CATEGORY)
@xw.arg("iban", doc="the IBAN as text (spaces allowed)")
@xa.excel_safe
def ATLAS_IBAN_CHECK(iban: Any) -> Any:
    """TRUE when the IBAN passes its country format and check digits, else a short reason."""
    from atlas_xl.iban import iban_problem

    value = xa.single(iban, "iban")
    problem = iban_problem(None if xa.is_blank(value) else xa.text_arg(value, "iban"))
    return True if problem is None else problem


@xw.func(category=CATEGORY)
@xw.arg("principal", doc="loan amount in EUR, at most 2 decimals, > 0")
@xw.arg("annual_rate", doc="annual rate as a fraction (0.05 or 5%)")
@xw.arg("periods", doc="number of repayments, >= 1")
@xw.arg("start_date", doc="disbursement date; the first due date is one period later")
@xw.arg("method", doc="annuity (default), linear or bullet")
@xw.arg("frequency", doc="monthly (default) or weekly")
@xw.arg("day_count", doc="30/360 (default), ACT/360 or ACT/365F")
@xa.excel_safe
def ATLAS_SCHEDULE(principal: Any, annual_rate: Any, periods: Any, start_date: Any, method: Any = None,
                   frequency: Any = None, day_count: Any = None) -> Any:
    """Repayment schedule (spills): Due date, Opening, Interest, Principal, Payment, Closing per period."""
    from atlas_xl.schedules import build_schedule

    schedule = build_schedule(
        xa.amount_cents(principal, "principal", low=0, exclusive=True),
        xa.rate_ppm(annual_rate, "annual_rate"),
        xa.whole(periods, "periods", low=1),
        xa.date_arg(start_date, "start_date"),
        xa.choice(method, RepaymentMethod, "method", default=RepaymentMethod.ANNUITY),
        xa.choice(frequency, Frequency, "frequency", default=Frequency.MONTHLY),
        xa.choice(day_count, DayCount, "day_count", default=DayCount.THIRTY_360),
    )
    return [SCHEDULE_HEADER] + schedule_rows(schedule)


def schedule_rows(schedule: Any) -> list[list[object]]:
    """Schedule frame -> cell rows (shared with the workbook builder so cached values match the UDF)."""
    money = ["opening_cents", "interest_cents", "principal_cents", "payment_cents", "closing_cents"]
    dates = [xa.excel_date(d) for d in schedule["due_date"]]
    columns = [[xa.excel_amount(c) for c in schedule[name].to_numpy()] for name in money]
    return [[day, *values] for day, *values in zip(dates, *columns, strict=True)]


@xw.func(category=CATEGORY)
@xw.arg("loans", ndim=2, doc=TABLE)
@xw.arg("from_date", doc="first month of the projection (default: the earliest loan start)")
@xa.excel_safe
def ATLAS_PROJECTION(loans: Any, from_date: Any = None) -> Any:
    """Monthly portfolio projection (spills): Month, Principal, Interest, Payment, Outstanding."""
    from atlas_xl.schedules import portfolio_schedules, projection

    frame = xa.table_frame(loans, "loans")
    default = frame["start_date"].min().date() if len(frame) else dt.date.today()
    result = projection(portfolio_schedules(frame), xa.date_arg(from_date, "from_date", default=default))
    return [PROJECTION_HEADER] + projection_rows(result)


def projection_rows(result: Any) -> list[list[object]]:
    money = ["principal_cents", "interest_cents", "payment_cents", "outstanding_cents"]
    months = [xa.excel_date(m) for m in result["month"]]
    columns = [[xa.excel_amount(c) for c in result[name].to_numpy()] for name in money]
    return [[month, *values] for month, *values in zip(months, *columns, strict=True)]


# --------------------------------------------------------------------------------------------------
# Placeholders: registered now (so the VBA wrappers and the workbook carry them), implemented when the
# settlement-engine adapters land. Convert arguments with excel_args.table_frame(<range>, "<table>")
# (clients / settlements / loans / reserve_terms), excel_args.date_arg, text_arg, choice and rate_ppm.
# --------------------------------------------------------------------------------------------------


@xw.func(category=CATEGORY)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_RESERVE(client_id: Any, as_of: Any, settlements: Any, reserve_terms: Any,
                  reserve: Any = None) -> Any:
    """Rolling-reserve balance of a client as of a date (reserve: rolling (default) or partner)."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER: settlement-engine adapter not written yet


@xw.func(category=CATEGORY)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_RESERVE_RELEASES(client_id: Any, as_of: Any, settlements: Any, reserve_terms: Any,
                           reserve: Any = None) -> Any:
    """Upcoming reserve releases of a client after a date (spills: Release date, Amount)."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER


@xw.func(category=CATEGORY)
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_PAYOUT(client_id: Any, payout_date: Any, clients: Any, settlements: Any, reserve_terms: Any,
                 loans: Any) -> Any:
    """Amount payable to a client on a payout date (EUR)."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER


@xw.func(category=CATEGORY)
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_READINESS(client_id: Any, payout_date: Any, clients: Any, settlements: Any, reserve_terms: Any,
                    loans: Any) -> Any:
    """READY, or the reasons blocking a client's payout on that date."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER


@xw.func(category=CATEGORY)
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_EXPOSURE(client_id: Any, as_of: Any, clients: Any, settlements: Any, reserve_terms: Any,
                   loans: Any) -> Any:
    """Credit exposure of a client as of a date (EUR)."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER


@xw.func(category=CATEGORY)
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_UTILIZATION(client_id: Any, as_of: Any, clients: Any, settlements: Any, reserve_terms: Any,
                      loans: Any) -> Any:
    """Exposure as a share of the client's credit limit (0.8 = 80 %)."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER


@xw.func(category=CATEGORY)
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_LIMIT_STATUS(client_id: Any, as_of: Any, clients: Any, settlements: Any, reserve_terms: Any,
                       loans: Any, warning: Any = None, breach: Any = None) -> Any:
    """OK, WARNING or BREACH: limit use against the warning / breach thresholds (default 0.8 / 1.0)."""
    return xa.NOT_AVAILABLE  # PLACEHOLDER


PLACEHOLDERS = ("ATLAS_RESERVE", "ATLAS_RESERVE_RELEASES", "ATLAS_PAYOUT", "ATLAS_READINESS",
                "ATLAS_EXPOSURE", "ATLAS_UTILIZATION", "ATLAS_LIMIT_STATUS")
UDF_NAMES = tuple(sorted(name for name in globals() if name.startswith("ATLAS_")))
