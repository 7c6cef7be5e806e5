"""The one adapter from raw Excel values to engine inputs (used by every ATLAS_* worksheet function).

Excel (through xlwings' classic UDF bridge) passes: a scalar for a single cell, a 2-D list of rows for a
range, None for a blank cell, floats for every number, datetimes for date-formatted cells (serial
numbers otherwise), True/False, and str for text. On Linux the xlwings decorators apply no converters,
so the worksheet functions convert here and tests exercise exactly the path Excel uses.

Decisions (stated once):
- Amounts -> int cents through the float's shortest repr (money.to_cents): 1234.56 is exactly 123456
  cents; more than 2 decimals is an error, never rounded away.
- Text numbers are accepted in the English form a user types into a text-formatted cell:
  "1234.56", "1,234.56" (comma thousands groups of exactly 3), surrounding spaces, and for rates a
  trailing "%" ("10%" = 0.10). "1.234,56" or "12,5" are refused: with a decimal comma the value is
  ambiguous, and guessing could move an amount by a factor of 1000.
- Dates: datetime/date values, ISO text "YYYY-MM-DD", or serial numbers in the 1900 date system,
  which includes Lotus' fictitious 1900-02-29 (serial 60): serials 1-59 count from 1899-12-31, serials
  >= 61 from 1899-12-30, and 60 is refused. A time of day (fraction) is ignored.
- Blank (None or "") takes the argument's default when it has one, else is an error.
- Tables: a 2-D range whose first row is the header (an Excel table referenced with [#All], or a
  range including its header). Headers are matched case-insensitively with spaces as "_"; fully blank
  rows are dropped; columns follow atlas_xl.domain.schemas, the same declaration the file loader uses.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from enum import StrEnum
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd

from atlas_xl.domain.money import PPM, rate_to_ppm, to_cents
from atlas_xl.errors import ArgumentError, AtlasError, LoadError

E = TypeVar("E", bound=StrEnum)
P = ParamSpec("P")
R = TypeVar("R")

MAX_MESSAGE = 255  # Excel shows at most 255 characters of a cell's error text in a tooltip
_LOTUS_BUG = 60
_EPOCH_BEFORE_BUG = dt.date(1899, 12, 31)
_EPOCH_AFTER_BUG = dt.date(1899, 12, 30)
MAX_SERIAL = 2_958_465  # 9999-12-31
_TEXT_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d*)?|[+-]?\.\d+")


# ---------------------------------------------------------------------------------------------- shapes
def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or (
        isinstance(value, float) and value != value
    )


def rows(value: object) -> list[list[object]]:
    """Any Excel argument as a 2-D list of rows (a scalar is a 1x1 range, a 1-D list one column)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        if not value:
            return []
        if all(isinstance(row, list | tuple) for row in value):
            return [list(row) for row in value]
        return [[v] for v in value]
    return [[value]]


def single(value: object, name: str) -> object:
    """A one-cell argument; a 1x1 range is unwrapped, a larger range is an error."""
    grid = rows(value)
    if len(grid) != 1 or len(grid[0]) != 1:
        size = f"{len(grid)}x{len(grid[0]) if grid else 0}"
        raise ArgumentError(f"{name} must be a single cell, got a {size} range")
    return grid[0][0]


def column_values(value: object, name: str) -> list[object]:
    """A one-column (or one-row) range as a flat list."""
    grid = rows(value)
    if not grid:
        return []
    if len(grid[0]) == 1:
        return [row[0] if row else None for row in grid]
    if len(grid) == 1:
        return list(grid[0])
    raise ArgumentError(f"{name} must be one column, got {len(grid)}x{len(grid[0])} cells")


# ---------------------------------------------------------------------------------------------- scalars
def number_text(text: str, name: str, percent: bool = False) -> str:
    """A typed text number in plain form ("1,234.56" -> "1234.56"; with percent "5%" -> "5")."""
    return _number_text(text, name, percent)


def _number_text(text: str, name: str, percent: bool = False) -> str:
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if percent and cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    if not _TEXT_NUMBER.fullmatch(cleaned):
        raise ArgumentError(f"{name} {text!r} is not a number; expected e.g. 1234.56 or 1,234.56")
    return cleaned.replace(",", "")


def _check_range(number: int, name: str, low: int | None, high: int | None, exclusive: bool,
                 shown: str) -> None:
    if low is not None and (number <= low if exclusive else number < low):
        raise ArgumentError(f"{name} must be {'>' if exclusive else '>='} {shown_value(low, shown)}")
    if high is not None and number > high:
        raise ArgumentError(f"{name} must be <= {shown_value(high, shown)}")


def shown_value(number: int, unit: str) -> str:
    if unit == "cents":
        return f"{number / 100:g}"
    if unit == "ppm":
        return f"{number / PPM:g}"
    return str(number)


def amount_cents(value: object, name: str, *, low: int | None = None, exclusive: bool = False,
                 default: int | None = None) -> int:
    """An amount in euros -> int cents (exact; `low` is in cents)."""
    value = single(value, name)
    if is_blank(value):
        if default is None:
            raise ArgumentError(f"{name} is blank; expected an amount such as 1234.56")
        return default
    if isinstance(value, bool):
        raise ArgumentError(f"{name} {value} is not an amount; expected a number such as 1234.56")
    if isinstance(value, str):
        value = _number_text(value, name)
    try:
        cents = to_cents(value)
    except AtlasError as error:
        raise ArgumentError(f"{name}: {error}") from None
    _check_range(cents, name, low, None, exclusive, "cents")
    return cents


def rate_ppm(value: object, name: str, *, low: int = 0, high: int | None = PPM,
             default: int | None = None) -> int:
    """A rate as a fraction (0.10, "10%", "0.1") -> int ppm, with at most 6 decimals."""
    value = single(value, name)
    if is_blank(value):
        if default is None:
            raise ArgumentError(f"{name} is blank; expected a rate such as 0.10 for 10 %")
        return default
    if isinstance(value, bool):
        raise ArgumentError(f"{name} {value} is not a rate; expected a fraction such as 0.10")
    percent = isinstance(value, str) and value.strip().endswith("%")
    if isinstance(value, str):
        value = _number_text(value, name, percent=True)
    try:
        ppm = rate_to_ppm(value)
        if percent:
            ppm, rest = divmod(ppm, 100)
            if rest:
                raise ArgumentError(f"{name} {value}% has more than 6 decimals as a fraction")
    except AtlasError as error:
        raise ArgumentError(f"{name}: {error}") from None
    _check_range(ppm, name, low, high, False, "ppm")
    return ppm


def whole(value: object, name: str, *, low: int | None = None, high: int | None = None,
          default: int | None = None) -> int:
    """A whole number (Excel passes 12.0 for 12)."""
    value = single(value, name)
    if is_blank(value):
        if default is None:
            raise ArgumentError(f"{name} is blank; expected a whole number")
        return default
    if isinstance(value, bool):
        raise ArgumentError(f"{name} {value} is not a whole number")
    if isinstance(value, str):
        value = _number_text(value, name)
    try:
        number = float(value) if not isinstance(value, int) else value  # type: ignore[arg-type]  # caught below
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} {value!r} is not a whole number") from None
    if isinstance(number, float) and (number != number or number in (float("inf"), float("-inf"))
                                      or number != int(number)):
        raise ArgumentError(f"{name} {value!r} is not a whole number")
    result = int(number)
    _check_range(result, name, low, high, False, "")
    return result


def serial_to_date(serial: float, name: str = "date") -> dt.date:
    """Excel 1900-system serial number -> date (serial 60, the fictitious 1900-02-29, is refused)."""
    if serial != serial or not 1 <= serial < MAX_SERIAL + 1:
        raise ArgumentError(f"{name} {serial!r} is not a date serial; expected 1 (1900-01-01) .. {MAX_SERIAL}")
    day = int(serial)  # the fraction is the time of day
    if day == _LOTUS_BUG:
        raise ArgumentError(f"{name} serial 60 is 1900-02-29, which does not exist; expected a real date")
    epoch = _EPOCH_BEFORE_BUG if day < _LOTUS_BUG else _EPOCH_AFTER_BUG
    return epoch + dt.timedelta(days=day)


def bad_serials(serial: np.ndarray) -> np.ndarray:
    """Which serial numbers serial_to_date refuses (vectorised)."""
    return ~np.isfinite(serial) | (serial < 1) | (serial >= MAX_SERIAL + 1) | (np.floor(serial) == _LOTUS_BUG)


def serials_to_days(serial: np.ndarray) -> np.ndarray:
    """serial_to_date over an array of good serials (see bad_serials) -> datetime64[D]."""
    days = np.floor(serial).astype(np.int64)
    epoch = np.where(days < _LOTUS_BUG, np.datetime64(_EPOCH_BEFORE_BUG, "D"), np.datetime64(_EPOCH_AFTER_BUG, "D"))
    return epoch + days.astype("timedelta64[D]")


def date_to_serial(day: dt.date) -> int:
    """Inverse of serial_to_date (for writing cached values and tests)."""
    if day < dt.date(1900, 3, 1):
        return (day - _EPOCH_BEFORE_BUG).days
    return (day - _EPOCH_AFTER_BUG).days


def date_arg(value: object, name: str, *, default: dt.date | None = None) -> dt.date:
    value = single(value, name)
    if is_blank(value):
        if default is None:
            raise ArgumentError(f"{name} is blank; expected a date")
        return default
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).date()
    if isinstance(value, bool):
        raise ArgumentError(f"{name} {value} is not a date")
    if isinstance(value, int | float):
        return serial_to_date(float(value), name)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ArgumentError(f"{name} {value!r} is not a date; expected YYYY-MM-DD or a date cell") from None
    raise ArgumentError(f"{name} {value!r} is not a date")


def choice(value: object, kind: type[E], name: str, *, default: E | None = None) -> E:
    """One of an enum's values, case-insensitive ("Annuity", "act/360")."""
    value = single(value, name)
    if is_blank(value):
        if default is None:
            raise ArgumentError(f"{name} is blank; expected one of {', '.join(kind)}")
        return default
    wanted = str(value).strip().lower()
    for member in kind:
        if member.value.lower() == wanted:
            return member
    raise ArgumentError(f"{name} {value!r} is not one of {', '.join(kind)}")


def text_arg(value: object, name: str, *, default: str | None = None) -> str:
    value = single(value, name)
    if is_blank(value):
        if default is None:
            raise ArgumentError(f"{name} is blank; expected text")
        return default
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as 1001 arrives as 1001.0
    return str(value).strip()


def flag(value: object, name: str, *, default: bool = False) -> bool:
    value = single(value, name)
    if is_blank(value):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().upper() in ("TRUE", "FALSE"):
        return value.strip().upper() == "TRUE"
    raise ArgumentError(f"{name} {value!r} is not TRUE or FALSE")


# ---------------------------------------------------------------------------------------------- tables
def header_name(text: object) -> str:
    """A header cell as a column name: case-insensitive, spaces as "_" ("Client ID" -> "client_id")."""
    return _header(text)


def _header(text: object) -> str:
    return re.sub(r"\s+", "_", str(text).strip().lower()) if not is_blank(text) else ""


def excel_amount(cents: int | np.integer) -> float:
    """Int cents -> the euro number Excel shows (the double nearest the exact decimal)."""
    return int(cents) / 100


def excel_date(day: object) -> dt.datetime:
    """A date for a cell: xlwings/pywin32 turn datetime (not date) into an Excel date."""
    stamp = pd.Timestamp(day)  # type: ignore[arg-type]  # a date, datetime, Timestamp or ISO text
    return dt.datetime(stamp.year, stamp.month, stamp.day)


def excel_error(error: BaseException) -> str:
    """`#ATLAS! <message>`: one line, at most 255 characters, never a traceback."""
    if isinstance(error, LoadError) and error.problems:
        message = str(error.problems[0]) + (f" (+{len(error.problems) - 1} more)" if len(error.problems) > 1
                                            else "")
    elif isinstance(error, AtlasError):
        message = str(error)
    else:
        message = f"internal error: {type(error).__name__}"
    message = " ".join(message.split()) or type(error).__name__
    text = f"#ATLAS! {message}"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def excel_safe(func: Callable[P, R]) -> Callable[P, R | str]:
    """Decorator: any exception becomes the cell text `#ATLAS! ...` (keeps the signature for xlwings)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | str:
        try:
            return func(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - a cell shows a message, never a traceback
            return excel_error(error)

    return wrapper


NOT_AVAILABLE = "#ATLAS! not available yet"
