"""Typed conversion of one column, vectorised with pyarrow compute (regex, casts), no per-row Decimal.

Each converter takes the column's cells (text, or typed numbers / timestamps) and returns
(converted values, ok mask, blank mask, [(mask, message)]). Exact rules: amounts "1234.5" -> 123450 cents
(at most 2 decimals, more is an error, never rounded); rates "0.0125" -> 12500 ppm (at most 6 decimals).
The typed converters accept and refuse exactly what the text converters do with the same cells written as
CSV text (an amount double is accepted when it is the double nearest to a whole number of cents).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from atlas_xl.domain.cell_text import FORMULA_TRIGGER_CLASS
from atlas_xl.domain.model import CLIENT_ID_PATTERN, DATE_RANGE, MAX_AMOUNT_CENTS, supported_days
from atlas_xl.domain.schemas import ColumnSpec
from atlas_xl.inputs.cells import _NUMBER_KINDS

_ID_RE = CLIENT_ID_PATTERN
_NUMBER_RE = r"^[+-]?[0-9]+(\.[0-9]*)?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_INT_RE = r"^[+-]?[0-9]{1,9}$"  # a sign is read, so that -1 gets the range message

_DICT_KINDS = ("id", "country", "currency", "enum", "date")  # few distinct values: convert each once

Issues = list[tuple[np.ndarray, str]]
Column: TypeAlias = np.ndarray | pa.Array
"""A converted column: numbers and dates as a numpy array, text as an Arrow array."""
Conversion: TypeAlias = tuple[Column, np.ndarray, np.ndarray, Issues]
"""What a converter returns: (converted values, ok mask, blank mask, [(mask, message)])."""
Converter: TypeAlias = Callable[[ColumnSpec, pa.Array], Conversion]


def _np(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _match(array: pa.Array, pattern: str) -> np.ndarray:
    return _np(pc.match_substring_regex(array, pattern))


def _trim(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    trimmed = pc.utf8_trim_whitespace(text)
    return trimmed, _np(pc.equal(trimmed, ""))


def _expected(col: ColumnSpec) -> str:
    return {
        "id": "expected 1-20 characters of A-Z a-z 0-9 _ -",
        "text": f"expected text of 1-{col.max_len} characters",
        "country": "expected an ISO 3166 alpha-2 country code such as DE",
        "currency": "expected an ISO 4217 currency code such as EUR",
        "enum": "expected one of " + ", ".join(col.allowed),
        "amount": "expected an amount in euros with at most 2 decimals such as 1234.56",
        "rate": "expected a fraction with at most 6 decimals such as 0.025 for 2.5 %",
        "int": "expected a whole number such as 12",
        "date": "expected a date YYYY-MM-DD such as 2026-11-23",
    }[col.kind]


# A CSV written by Atlas guards formula-like text with one apostrophe (OWASP); it is not part of the value.
CSV_FORMULA_GUARD = f"^'({FORMULA_TRIGGER_CLASS})"


def _convert_text(col: ColumnSpec, text: pa.Array) -> Conversion:
    trimmed, blank = _trim(text)
    if col.kind == "text":  # names keep their exact text (a leading tab is data, shown safely later)
        text = pc.replace_substring_regex(text, CSV_FORMULA_GUARD, r"\1")  # undo xlsafe.csv_safe
        too_long = _np(pc.greater(pc.utf8_length(text), col.max_len or 10**9))
        return pc.if_else(pa.array(blank), "", text), ~blank & ~too_long, blank, [
            (too_long, f"too long; {_expected(col)}")]
    pattern = {"id": _ID_RE, "country": r"^[A-Z]{2}$", "currency": r"^[A-Z]{3}$"}[col.kind]
    normal = trimmed if col.kind == "id" else pc.utf8_upper(trimmed)
    ok = _match(normal, pattern)
    issues = [(~ok & ~blank, f"not a valid {col.kind}; {_expected(col)}")]
    if col.kind == "country":  # the distinct codes of a dictionary column: a handful of values
        unknown = ok & ~_np(pc.is_in(normal, value_set=_iso_countries()))
        ok = ok & ~unknown
        issues.append((unknown, f"no such country code (ISO 3166-1); {_expected(col)}"))
    return normal, ok, blank, issues


@cache
def _iso_countries() -> pa.Array:
    """The ISO 3166-1 alpha-2 codes (pycountry's list, which schwifty requires for its IBAN / BIC checks)."""
    import pycountry  # lazy: only a country column needs its list

    return pa.array(sorted(country.alpha_2 for country in pycountry.countries))


def _convert_enum(col: ColumnSpec, text: pa.Array) -> Conversion:
    trimmed, blank = _trim(text)
    index = pc.index_in(pc.utf8_upper(trimmed), value_set=pa.array([a.upper() for a in col.allowed]))
    ok = _np(pc.is_valid(index))
    canonical = pa.array(col.allowed).take(pc.fill_null(index, 0))
    return canonical, ok, blank, [(~ok & ~blank, f"not an allowed value; {_expected(col)}")]


_AMOUNT_DIGITS = len(str(MAX_AMOUNT_CENTS // 100))  # 10: the shape that bounds an amount to MAX_AMOUNT_CENTS


def _convert_decimal(col: ColumnSpec, text: pa.Array) -> Conversion:
    """'-12.5' -> -1250 cents (amounts) or '0.0125' -> 12500 ppm (rates), exact once the shape is checked."""
    places = 2 if col.kind == "amount" else 6
    # amounts up to model.MAX_AMOUNT_CENTS (10 digits of euros) keep cents x ppm products inside int64
    digits = _AMOUNT_DIGITS if col.kind == "amount" else 11
    shape = rf"^[+-]?[0-9]{{1,{digits}}}(\.[0-9]{{1,{places}}})?$"
    ok = _match(text, shape)
    issues: Issues = []
    if ok.all():  # the common case: clean files skip the trimming and the diagnosis passes
        trimmed, blank = text, np.zeros(len(text), dtype=bool)
    else:
        trimmed, blank = _trim(text)
        ok = _match(trimmed, shape)
        bad = ~ok & ~blank
        numeric = _match(trimmed, _NUMBER_RE)
        too_precise = bad & numeric & _match(trimmed, rf"\.[0-9]{{{places + 1},}}$")
        issues = [
            (bad & ~numeric, f"not a number (decimal point, no thousands separator); {_expected(col)}"),
            (too_precise, f"more than {places} decimals; {_expected(col)}"),
            (bad & numeric & ~too_precise, f"too large or malformed; {_expected(col)}"),
        ]
        trimmed = pc.if_else(pa.array(ok), trimmed, "0")
    if col.kind == "amount":
        # the shape above leaves |cents| < 1e12 < 2**53: the double nearest the text, times 100, lies within a
        # hair of a whole number of cents, and rint lands exactly on it (half the time of a decimal cast)
        numbers = np.asarray(pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        hundredths = numbers * 100
        np.rint(hundredths, out=hundredths)  # in place: one 3.65 M-row temporary less (fresh memory is not free)
        return _scaled_result(col, hundredths.astype(np.int64), ok, blank, issues)
    decimals = pc.cast(trimmed, pa.decimal128(18, places))  # rates: 11 + 6 digits do not fit a double
    # a decimal128 is a 16-byte little-endian integer of the scaled value; |value| < 1e17 fits its low word
    words = np.frombuffer(decimals.buffers()[1], dtype=np.int64)
    scaled = words[2 * decimals.offset:2 * (decimals.offset + len(decimals)):2].copy()
    return _scaled_result(col, scaled, ok, blank, issues)


def _scaled_result(col: ColumnSpec, scaled: np.ndarray, ok: np.ndarray, blank: np.ndarray,
                   issues: Issues) -> Conversion:
    """Cents / ppm with the column's blank value in place and its range checked (text and typed cells alike)."""
    if col.blank_value is not None:
        scaled = np.where(blank, col.blank_value, scaled)
        ok = ok | blank
    issues += _range_issues(col, scaled, ok & ~blank)
    return scaled, ok, blank, issues


def _convert_int(col: ColumnSpec, text: pa.Array) -> Conversion:
    trimmed, blank = _trim(text)
    ok = _match(trimmed, _INT_RE)  # a negative whole number is one: the range check below refuses it
    safe = pc.if_else(pa.array(ok), pc.utf8_ltrim(trimmed, characters="+"), "0")
    number = np.asarray(pc.cast(safe, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    issues = [(~ok & ~blank, f"not a whole number; {_expected(col)}"), *_range_issues(col, number, ok)]
    return number, ok, blank, issues


def _range_issues(col: ColumnSpec, number: np.ndarray, ok: np.ndarray) -> Issues:
    scale = {"amount": 100, "rate": 1_000_000}.get(col.kind, 1)
    issues: Issues = []
    if col.min_value is not None:
        low = (number <= col.min_value) if col.min_exclusive else (number < col.min_value)
        word = "greater than" if col.min_exclusive else "at least"
        issues.append((ok & low, f"must be {word} {_show(col.min_value, scale)}; {_expected(col)}"))
    if col.max_value is not None:
        issues.append((ok & (number > col.max_value),
                       f"must be at most {_show(col.max_value, scale)}; {_expected(col)}"))
    return issues


def _show(value: int, scale: int) -> str:
    return str(Decimal(value) / scale) if scale > 1 else str(value)


def _convert_date(col: ColumnSpec, text: pa.Array) -> Conversion:
    trimmed, blank = _trim(text)
    shaped = _match(trimmed, _DATE_RE)
    safe = pc.if_else(pa.array(shaped), trimmed, "1970-01-01")
    stamps = pc.strptime(safe, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2026-02-30 over into March: a real date prints back as itself
    real = _np(pc.fill_null(pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), safe), False))
    ok = shaped & real
    days = pc.fill_null(stamps, pa.scalar(0, pa.timestamp("s")))
    seconds = np.asarray(days.to_numpy(zero_copy_only=False), dtype="datetime64[s]")
    dates, in_range = _supported_days(seconds, ok)
    return dates, ok & in_range, blank, [(~ok & ~blank, f"not a valid date; {_expected(col)}"),
                                          (ok & ~in_range, _OUT_OF_RANGE)]


_OUT_OF_RANGE = f"out of range; expected a date {DATE_RANGE}"


def _supported_days(stamps: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midnight of each date as datetime64[ns], and whether it is in model's supported range (1970-01-01
    stands in where it is not, or where `present` is False). Checked before the conversion to nanoseconds,
    which would wrap a date past 2262 around silently."""
    days = stamps.astype("datetime64[D]")
    in_range = supported_days(days)
    safe = np.where(in_range & present, days, np.datetime64(0, "D"))
    return safe.astype("datetime64[ns]"), in_range

_CONVERTERS: dict[str, Converter] = {
    "id": _convert_text, "text": _convert_text, "country": _convert_text, "currency": _convert_text,
    "enum": _convert_enum, "amount": _convert_decimal, "rate": _convert_decimal, "int": _convert_int,
    "date": _convert_date,
}


# ----------------------------------------------------------------------------------------------- typed cells
def _typed_numbers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    if values.null_count == 0:  # the usual column: no blank cell to look for beyond a NaN
        return numbers, np.isnan(numbers)
    return numbers, ~_np(pc.is_valid(values)) | np.isnan(numbers)


def _convert_decimal_typed(col: ColumnSpec, values: pa.Array) -> Conversion:
    """A number cell -> cents / ppm, as _convert_decimal does with its shortest repr: the double must be the one
    nearest to a whole number of cents (ppm). `k / scale` is correctly rounded, so it equals the cell exactly
    when the cell's shortest repr has at most 2 (6) decimals. |value| < _TYPED_LIMIT keeps k exact."""
    places = 2 if col.kind == "amount" else 6
    scale = 10**places
    numbers, blank = _typed_numbers(values)
    finite = np.isfinite(numbers)
    if finite.all():  # the usual column (no blank, no infinity): no stand-in values needed
        scaled = np.rint(numbers * scale)
        ok = scaled / scale == numbers
    else:
        finite &= ~blank
        safe = np.where(finite, numbers, 0.0)
        scaled = np.rint(safe * scale)
        ok = finite & (scaled / scale == safe)
    issues: Issues = [
        (~finite & ~blank, f"not a number (decimal point, no thousands separator); {_expected(col)}"),
        (finite & ~ok, f"more than {places} decimals; {_expected(col)}"),
    ]
    return _scaled_result(col, scaled.astype(np.int64), ok, blank, issues)


def _convert_int_typed(col: ColumnSpec, values: pa.Array) -> Conversion:
    """A whole number cell, as _convert_int reads its text: at most 9 digits and no fraction (-0.0 is "-0",
    i.e. 0); its range is the column's, as for text."""
    numbers, blank = _typed_numbers(values)
    finite = np.isfinite(numbers)
    safe = np.where(finite, numbers, 0.0)
    ok = ~blank & finite & (safe == np.floor(safe)) & (np.abs(safe) < 1e9)
    number = np.where(ok, safe, 0).astype(np.int64)
    return number, ok, blank, [(~ok & ~blank, f"not a whole number; {_expected(col)}"),
                               *_range_issues(col, number, ok)]


def _convert_date_typed(col: ColumnSpec, values: pa.Array) -> Conversion:
    """A date cell; a time of day is dropped, as _cell_text does."""
    blank = ~_np(pc.is_valid(values))
    stamps = np.asarray(values.to_numpy(zero_copy_only=False), dtype="datetime64[ns]")
    days, in_range = _supported_days(stamps, ~blank)
    return days, ~blank & in_range, blank, [(~blank & ~in_range, _OUT_OF_RANGE)]


def _typed_converter(col: ColumnSpec, arrow_type: pa.DataType) -> Converter | None:
    """The typed converter for a column that arrived typed; None: convert its text."""
    if pa.types.is_floating(arrow_type) and col.kind in _NUMBER_KINDS:
        return _convert_int_typed if col.kind == "int" else _convert_decimal_typed
    if pa.types.is_timestamp(arrow_type) and col.kind == "date":
        return _convert_date_typed
    return None

