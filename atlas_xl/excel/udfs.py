"""ATLAS_* worksheet functions (classic xlwings UDFs; `UDF Modules = atlas_xl.excel.udfs` in xlwings.conf).

Each function is a thin adapter: raw Excel values -> atlas_xl.excel.args -> one engine call -> cells.
No money arithmetic here. Any failure becomes the cell text `#ATLAS! <reason>` (excel_args.excel_safe).
Parameters are annotated `Any` on purpose: that is xlwings' raw value converter, so Excel passes exactly
the values excel_args expects (the same path the tests use). Docstrings are the help texts Excel shows.
Amounts come back as euro numbers (cents / 100), dates as datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import xlwings as xw

from atlas_xl import __version__
from atlas_xl.domain.calendar import next_banking_date
from atlas_xl.domain.model import DayCount, Frequency, RepaymentMethod, ReserveKind
from atlas_xl.errors import ArgumentError
from atlas_xl.excel import args as xa
from atlas_xl.excel import ranges as xe
from atlas_xl.inputs.environment import load_settings

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
@xw.arg("day", doc="a date, a date cell or a 1900-system serial number")
@xa.excel_safe
def ATLAS_NEXT_BANKING_DAY(day: Any) -> Any:  # not `date`: a VBA keyword, the wrapper would not compile
    """The date itself if it is a TARGET2 banking day, else the next TARGET2 banking day."""
    return xa.excel_date(next_banking_date(xa.date_arg(day, "day")))


@xw.func(category=CATEGORY)
@xw.arg("iban", doc="the IBAN as text (spaces allowed)")
@xa.excel_safe
def ATLAS_IBAN_CHECK(iban: Any) -> Any:
    """TRUE when the IBAN passes its country format and check digits, else a short reason."""
    from atlas_xl.domain.accounts import iban_problem

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
    from atlas_xl.engines.schedules import build_schedule

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
    from atlas_xl.engines.schedules import portfolio_schedules, projection

    frame = xe.table_frame(loans, "loans")
    default = frame["start_date"].min().date() if len(frame) else dt.date.today()
    result = projection(portfolio_schedules(frame), xa.date_arg(from_date, "from_date", default=default))
    return [PROJECTION_HEADER] + projection_rows(result)


def projection_rows(result: Any) -> list[list[object]]:
    money = ["principal_cents", "interest_cents", "payment_cents", "outstanding_cents"]
    months = [xa.excel_date(m) for m in result["month"]]
    columns = [[xa.excel_amount(c) for c in result[name].to_numpy()] for name in money]
    return [[month, *values] for month, *values in zip(months, *columns, strict=True)]


# --------------------------------------------------------------------------------------------------
# Settlement engines: client_ids is one cell (answer: one value) or a one-column / one-row range (answer:
# a range of the same shape, ONE cached engine run for all of them; atlas_xl.excel.ranges). Tables go
# through the file loader's validation, so a cell shows the figure `atlas-xl run` reports for the data.
# --------------------------------------------------------------------------------------------------
RELEASES_HEADER = ["Release date", "Reserve", "Amount"]
IDS = "a client id cell, or a column of ids (answers a column)"


def _amounts(cents: Any) -> np.ndarray:
    """Int cents -> euro numbers (int64 -> float64 is exact below 2**53; the division is correctly rounded,
    so each value is the double nearest the exact decimal, as xa.excel_amount)."""
    return np.asarray(cents, dtype=np.int64) / 100


def _full_run(day_arg: tuple[Any, str], clients: Any, settlements: Any, loans: Any, reserve_terms: Any,
              settings: Any = None) -> Any:
    day = xa.date_arg(*day_arg)
    return xe.portfolio_run(clients, settlements, loans, reserve_terms, day, settings or load_settings())


@xw.func(category=CATEGORY)
@xw.arg("client_ids", doc=IDS)
@xw.arg("as_of", doc="the date of the balance")
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("reserve", doc="rolling (default) or partner")
@xa.excel_safe
def ATLAS_RESERVE(client_ids: Any, as_of: Any, settlements: Any, reserve_terms: Any, reserve: Any = None) -> Any:
    """Reserve balance (EUR) of a client at the end of a date (reserve: rolling (default) or partner)."""
    kind = xa.choice(reserve, ReserveKind, "reserve", default=ReserveKind.ROLLING)
    ids, shape = xe.client_cells(client_ids)
    result = xe.reserve_run(settlements, reserve_terms, xa.date_arg(as_of, "as_of"), load_settings())
    frame = result.reserves[result.reserves["reserve"] == kind.value]
    return xe.per_client(frame, ids, _amounts(frame["balance_cents"]), shape, "settlements / reserve_terms")


@xw.func(category=CATEGORY)
@xw.arg("client_id", doc="a client id cell")
@xw.arg("as_of", doc="releases after this date are listed")
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_RESERVE_RELEASES(client_id: Any, as_of: Any, settlements: Any, reserve_terms: Any) -> Any:
    """Upcoming reserve releases of a client after a date (spills: Release date, Reserve, Amount)."""
    client = xa.text_arg(client_id, "client_id")
    result = xe.reserve_run(settlements, reserve_terms, xa.date_arg(as_of, "as_of"), load_settings())
    if client not in set(result.reserves["client_id"]):
        raise ArgumentError(f"client_id {client!r} is not in the settlements / reserve_terms tables")
    rows = result.reserve_releases[result.reserve_releases["client_id"] == client]
    dates = [xa.excel_date(d) for d in rows["release_date"]]
    return [RELEASES_HEADER] + [list(r) for r in zip(dates, rows["reserve"].tolist(),
                                                     _amounts(rows["amount_cents"]).tolist(), strict=True)]


@xw.func(category=CATEGORY)
@xw.arg("client_ids", doc=IDS)
@xw.arg("payout_date", doc="the payout date (the engines' as-of date)")
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_PAYOUT(client_ids: Any, payout_date: Any, clients: Any, settlements: Any, loans: Any,
                 reserve_terms: Any) -> Any:
    """Amount payable to a client on a payout date (EUR); paid only when ATLAS_READINESS is READY."""
    ids, shape = xe.client_cells(client_ids)
    payouts = _full_run((payout_date, "payout_date"), clients, settlements, loans, reserve_terms).payouts
    return xe.per_client(payouts, ids, _amounts(payouts["amount_cents"]), shape)


@xw.func(category=CATEGORY)
@xw.arg("client_ids", doc=IDS)
@xw.arg("payout_date", doc="the payout date (the engines' as-of date)")
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_READINESS(client_ids: Any, payout_date: Any, clients: Any, settlements: Any, loans: Any,
                    reserve_terms: Any) -> Any:
    """READY, or the reasons ('; '-joined) blocking a client's payout on that date."""
    ids, shape = xe.client_cells(client_ids)
    payouts = _full_run((payout_date, "payout_date"), clients, settlements, loans, reserve_terms).payouts
    text = np.where(payouts["ready"].to_numpy(dtype=bool), "READY", payouts["reasons"].to_numpy(dtype=object))
    return xe.per_client(payouts, ids, text, shape)


@xw.func(category=CATEGORY)
@xw.arg("client_ids", doc=IDS)
@xw.arg("as_of", doc="the date of the exposure (before that day's payout)")
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_EXPOSURE(client_ids: Any, as_of: Any, clients: Any, settlements: Any, loans: Any,
                   reserve_terms: Any) -> Any:
    """Credit exposure of a client as of a date (EUR), net of reserve collateral."""
    ids, shape = xe.client_cells(client_ids)
    exposure = _full_run((as_of, "as_of"), clients, settlements, loans, reserve_terms).exposure
    return xe.per_client(exposure, ids, _amounts(exposure["exposure_cents"]), shape)


@xw.func(category=CATEGORY)
@xw.arg("client_ids", doc=IDS)
@xw.arg("as_of", doc="the date of the exposure (before that day's payout)")
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xa.excel_safe
def ATLAS_UTILIZATION(client_ids: Any, as_of: Any, clients: Any, settlements: Any, loans: Any,
                      reserve_terms: Any) -> Any:
    """Exposure as a share of the client's credit limit (0.8 = 80 %); blank when the limit is 0."""
    ids, shape = xe.client_cells(client_ids)
    exposure = _full_run((as_of, "as_of"), clients, settlements, loans, reserve_terms).exposure
    ppm = exposure["utilization_ppm"]
    known = ppm.notna().to_numpy()
    values = np.full(len(ppm), "", dtype=object)  # no credit limit: blank, as in the report
    # ppm / 1e6: the double nearest the exact 6-decimal fraction (as the report's percent cells)
    values[known] = (ppm[known].to_numpy(dtype=np.int64) / 1_000_000).tolist()
    return xe.per_client(exposure, ids, values, shape)


@xw.func(category=CATEGORY)
@xw.arg("client_ids", doc=IDS)
@xw.arg("as_of", doc="the date of the exposure (before that day's payout)")
@xw.arg("clients", ndim=2, doc=TABLE)
@xw.arg("settlements", ndim=2, doc=TABLE)
@xw.arg("loans", ndim=2, doc=TABLE)
@xw.arg("reserve_terms", ndim=2, doc=TABLE)
@xw.arg("warning", doc="utilisation share that is a WARNING (default 0.8)")
@xw.arg("breach", doc="utilisation share that is a BREACH (default 1.0)")
@xa.excel_safe
def ATLAS_LIMIT_STATUS(client_ids: Any, as_of: Any, clients: Any, settlements: Any, loans: Any,
                       reserve_terms: Any, warning: Any = None, breach: Any = None) -> Any:
    """OK, WARNING or BREACH: limit use against the warning / breach thresholds (default 0.8 / 1.0)."""
    base = load_settings()
    settings = xe.settings_with(
        base,
        xa.rate_ppm(warning, "warning", low=1, high=None, default=base.warning_ppm),
        xa.rate_ppm(breach, "breach", low=1, high=None, default=base.breach_ppm),
    )
    ids, shape = xe.client_cells(client_ids)
    exposure = _full_run((as_of, "as_of"), clients, settlements, loans, reserve_terms, settings).exposure
    return xe.per_client(exposure, ids, exposure["status"].to_numpy(dtype=object), shape)


UDF_NAMES = tuple(sorted(name for name in globals() if name.startswith("ATLAS_")))
