"""The TARGET2 banking calendar (holidays.financial_holidays("XECB")), vectorised with numpy busdays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays
import numpy as np

FIRST_YEAR = 1999
LAST_YEAR = 2100


@lru_cache(maxsize=1)
def target2_holidays() -> np.ndarray:
    """All TARGET2 closing days (besides weekends) from 1999 to 2100 as datetime64[D]."""
    days = holidays.financial_holidays("XECB", years=range(FIRST_YEAR, LAST_YEAR + 1))
    return np.array(sorted(days), dtype="datetime64[D]")


@lru_cache(maxsize=1)
def _busdaycal() -> np.busdaycalendar:
    return np.busdaycalendar(weekmask="1111100", holidays=target2_holidays())


def _as_days(dates: object) -> np.ndarray:
    return np.asarray(dates, dtype="datetime64[D]")


def is_banking_day(dates: object) -> np.ndarray | bool:
    result = np.is_busday(_as_days(dates), busdaycal=_busdaycal())
    return bool(result) if np.ndim(result) == 0 else result


def next_banking_day(dates: object) -> np.ndarray:
    """The date itself if it is a TARGET2 banking day, else the next one (vectorised)."""
    return np.asarray(np.busday_offset(_as_days(dates), 0, roll="forward", busdaycal=_busdaycal()))


def add_banking_days(dates: object, days: int | np.ndarray) -> np.ndarray:
    """Roll forward to a banking day, then move `days` banking days on."""
    return np.asarray(np.busday_offset(_as_days(dates), days, roll="forward", busdaycal=_busdaycal()))


def next_banking_date(day: dt.date) -> dt.date:
    """Scalar convenience for adapters."""
    result: dt.date = next_banking_day(np.datetime64(day, "D")).item()  # datetime64[D] -> datetime.date
    return result


def is_banking_date(day: dt.date) -> bool:
    return bool(is_banking_day(np.datetime64(day, "D")))


def closing_reason(day: dt.date) -> str | None:
    """Why TARGET2 is closed that day ('Saturday', 'Good Friday', ...) or None when open."""
    if day.weekday() >= 5:
        return day.strftime("%A")
    name = holidays.financial_holidays("XECB", years=day.year).get(day)
    return name
