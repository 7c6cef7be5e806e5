"""A cell as the loader reads it: Excel / pandas cells as the text a CSV would hold (`_cell_text`), whole
columns as text or, when every cell is of the column's number / date kind, typed (`column_array`), and a
cell's text as a problem quotes it (`shown_text`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from atlas_xl.domain.cell_text import UNWRITABLE

SHOWN_TEXT = 80  # characters of a long cell or line quoted in a problem


def shown_text(text: str) -> str:
    """A cell's text as a problem quotes it: a character no spreadsheet cell can hold (xlsafe.UNWRITABLE) as
    <U+0007>, so that the list itself can be printed, sent to Excel or written to a report."""
    return UNWRITABLE.sub(lambda bad: f"<U+{ord(bad.group()):04X}>", text)


def _clipped(text: str) -> str:
    """A long text (a whole line, the rest of a file after an open quote) cut to SHOWN_TEXT characters."""
    return shown_text(text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "...")


def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV would hold: floats through their shortest repr, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number != number:
            return ""  # NaN: pandas' blank
        if number in (float("inf"), float("-inf")):
            return repr(number)
        text = format(Decimal(repr(number)), "f")  # 1e-06 -> 0.000001, 1234.56 stays 1234.56
        return text.rstrip("0").rstrip(".") if "." in text else text
    if value is pd.NaT:
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date().isoformat()  # a date cell; a time part is dropped (normalised to midnight)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else str(value.astype("datetime64[D]"))
    return str(value)


def _column_text(series: pd.Series) -> list[str] | pd.Series:
    """A whole column as CSV text, as `_cell_text` gives per cell; typed columns are converted vectorised."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("") if series.isna().any() else series  # a missing text cell is blank, as ""
    if series.dtype == object:  # cells straight from Excel: one type per column is the normal case
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind == "integer" and not series.isna().any():
            return series.astype(str)  # Python ints of any size, exactly
        if kind in ("floating", "mixed-integer-float"):
            numbers = series.astype("float64")
            if np.nanmax(np.abs(numbers.to_numpy()), initial=0.0) < 2**53:  # every int is exact as a float
                return _column_text(numbers)
        if kind == "string":
            return series.fillna("").astype(str)
        if kind == "datetime":
            try:
                return _column_text(pd.to_datetime(series))
            except (ValueError, TypeError, OverflowError):  # aware and naive mixed, or past 2262: cell by cell
                return [_cell_text(v) for v in series.tolist()]
    if pd.api.types.is_float_dtype(series.dtype):
        # Arrow writes the shortest round-trip repr, like repr(); NaN (a blank) becomes null -> ""
        text = pc.cast(pa.array(series.to_numpy(), from_pandas=True), pa.string())
        out = pd.Series(text.to_pylist(), dtype=object).fillna("")
        exponent = out.str.contains("e", regex=False).to_numpy() & np.isfinite(series.to_numpy())
        if exponent.any():  # 1e+15 and the like: positional digits as _cell_text gives them
            out[exponent] = [_cell_text(v) for v in series.to_numpy()[exponent]]
        return out
    if pd.api.types.is_integer_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("int64").astype(str)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.strftime("%Y-%m-%d").fillna("")
    return [_cell_text(v) for v in series.tolist()]


_NUMBER_KINDS = ("amount", "rate", "int")
# below 1e9 in magnitude, value x 1e6 (a rate in ppm) is a double far inside the exact integers (2**53):
# the typed decimal check is exact there; a larger number takes the text path
_TYPED_LIMIT = 1e9


def column_array(series: pd.Series, kind: str | None) -> pa.Array:
    """A column as the loader reads it: typed when every cell is of its number/date kind, else CSV text."""
    typed = _typed_array(series, kind) if kind in (*_NUMBER_KINDS, "date") else None
    return typed if typed is not None else pa.array(_column_text(series), type=pa.string())


def _typed_array(series: pd.Series, kind: str) -> pa.Array | None:
    """float64 numbers (NaN/None -> null) or timestamps (NaT/None -> null); None when the column is mixed."""
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if kind == "date" and inferred in ("datetime", "datetime64", "date"):
            try:
                series = pd.to_datetime(series)
            except (ValueError, TypeError, OverflowError):
                return None
        elif kind != "date" and inferred in ("floating", "integer", "mixed-integer-float"):
            try:
                series = series.astype("float64")
            except (ValueError, TypeError, OverflowError):
                return None
        else:
            return None
        dtype = series.dtype
    if kind == "date":
        if not pd.api.types.is_datetime64_dtype(dtype):  # tz-aware or anything else: as text
            return None
        try:  # Arrow's cast refuses a date past 2262 (numpy's would wrap it around: 9999 -> 1815): its text path
            return pa.array(series.to_numpy(), from_pandas=True).cast(pa.timestamp("ns"))
        except pa.ArrowInvalid:
            return None
    if pd.api.types.is_bool_dtype(dtype) or not (pd.api.types.is_float_dtype(dtype)
                                                 or pd.api.types.is_integer_dtype(dtype)):
        return None
    numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not typed_exact(numbers):
        return None  # ints above 2**53 and huge amounts: the exact text path
    return pa.array(numbers, type=pa.float64(), from_pandas=True)


def typed_exact(numbers: np.ndarray) -> bool:
    """Whether the typed converters may check these numbers: every finite one below _TYPED_LIMIT in magnitude."""
    if len(numbers) and np.fmin.reduce(numbers) > -_TYPED_LIMIT and np.fmax.reduce(numbers) < _TYPED_LIMIT:
        return True  # the usual column, in two passes without a copy (fmin / fmax pass over NaN)
    finite = numbers[np.isfinite(numbers)]
    return not (finite.size and np.abs(finite).max() >= _TYPED_LIMIT)


def _column_letter(pos: int) -> str:
    from openpyxl.utils import get_column_letter  # lazy: openpyxl takes ~1 s to import, a CSV load never needs it

    return get_column_letter(pos + 1)

