"""Report table columns as cell XML, a whole column at a time with Arrow string kernels (for report.SheetRows).

Why: at 10,000 clients the report holds ~1.5 M cells; Python string work per value (divmod, f-strings,
str.format per row) cost ~1 s of the ~1.3 s report. Arrow's kernels do the same text work in C++.

Every function writes what the per-cell writer wrote for the same data, as exact text from integers
(Decimal(int(v)).scaleb(-2) for cents, never a binary float). Columns that Arrow cannot take as they are
(object columns, ints past int64, dates with time zones...) go value by value in Python, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import WINDOWS_EPOCH, to_excel

from atlas_xl.outputs.xlsafe import joined_text, text_bytes

TEXT = pa.large_string()  # pandas' Arrow strings are large_string; the kernels want one string type throughout


def lit(text: str) -> pa.Scalar:
    """A constant for the string kernels (a bare str would be a `string` scalar, which does not mix with TEXT)."""
    return pa.scalar(text, TEXT)


def _texts(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, TEXT)


# --- numbers as the text of <v> elements (null: no value) ---------------------------------------------------


def _integers(values: pd.Series) -> tuple[np.ndarray | list[int], np.ndarray]:
    """int(v) of every value (0 where missing) and which are missing: what the per-cell path's int(v) gave.
    An int64 array where every value fits one, else Python ints."""
    missing = values.isna().to_numpy(dtype=bool)
    array = (values.where(~missing, 0) if missing.any() else values).to_numpy()
    if array.dtype.kind == "f" and np.isfinite(array).all() and (np.abs(array) < 2.0**63).all():
        array = array.astype(np.int64)  # cuts toward zero, as int() does
    if array.dtype.kind == "i" or (array.dtype.kind == "u" and (not array.size or array.max() < 2**63)):
        return array.astype(np.int64, copy=False), missing
    return [int(v) for v in array.tolist()], missing  # anything else (and int()'s errors) as before


def _fraction_text(places: int) -> Callable[[int], str]:
    """The fraction part of a decimal from its units past the point: 5 -> ".05" at 2 places, 50 -> ".5", 0 -> ""."""
    return lambda f: "." + f"{f:0{places}d}".rstrip("0") if f else ""


# the hundred possible cent fractions ("", ".01", ..., ".1", ..., ".99"), looked up by `take`
CENT_FRACTIONS = pa.array([_fraction_text(2)(f) for f in range(100)], TEXT)


def decimal_text(units: np.ndarray, missing: np.ndarray, places: int) -> pa.Array:
    """int64 units of 10**-places as exact decimal text, null where missing: 1234 -> "12.34", -5 -> "-0.05",
    100 -> "1" (no trailing zeros, no point without a fraction)."""
    scale = 10**places
    # np.abs(-2**63) wraps to -2**63, which as uint64 is 2**63: the true magnitude, so no int64 is refused
    magnitude = np.abs(units).astype(np.uint64)
    whole = pc.cast(pa.array(magnitude // np.uint64(scale), mask=missing), TEXT)
    rest = magnitude % np.uint64(scale)
    if places == 2:
        fraction = CENT_FRACTIONS.take(pa.array(rest))
    else:
        # scale + rest written out ("1000500" for 0.0005 at 6 places), its leading 1 made the point, trailing
        # zeros cut; with no digit left the point goes too (it is the first character, so only then)
        digits = pc.cast(pa.array(rest + np.uint64(scale)), TEXT)
        fraction = pc.utf8_rtrim(pc.replace_substring(digits, "1", ".", max_replacements=1), characters=".0")
    sign = pc.if_else(pa.array(units < 0), lit("-"), lit(""))
    return pc.binary_join_element_wise(sign, whole, fraction, lit(""))


def _scaled_text(places: int) -> Callable[[pd.Series], pa.Array]:
    """Integers in units of 10**-places as exact decimal text (see `decimal_text`)."""
    scale, fraction = 10**places, _fraction_text(places)

    def convert(values: pd.Series) -> pa.Array:
        units, missing = _integers(values)
        if isinstance(units, np.ndarray):
            return decimal_text(units, missing, places)
        out: list[str | None] = []
        for u, gone in zip(units, missing.tolist(), strict=True):  # Python ints past int64: one by one
            if gone:
                out.append(None)
            else:
                whole, f = divmod(abs(u), scale)
                out.append(f"{'-' if u < 0 else ''}{whole}{fraction(f)}")
        return _texts(out)

    return convert


def _int_text(values: pd.Series) -> pa.Array:
    units, missing = _integers(values)
    if isinstance(units, np.ndarray):
        return pc.cast(pa.array(units, mask=missing), TEXT)
    return _texts([None if gone else str(u) for u, gone in zip(units, missing.tolist(), strict=True)])


def _date_text(values: pd.Series) -> pa.Array:
    """Excel day numbers of each value's date (the time of day dropped, as `.date()` did)."""
    if not pd.api.types.is_datetime64_dtype(values.dtype):  # not naive datetimes: value by value, as before
        return _texts([None if pd.isna(v) else str(int(to_excel(pd.Timestamp(v).date()))) for v in values.tolist()])
    days = values.to_numpy().astype("datetime64[D]")
    serial = (days - np.datetime64(WINDOWS_EPOCH.date(), "D")).astype(np.int64)
    serial -= (serial > 0) & (serial <= 60)  # as openpyxl's to_excel: Excel counts a 29 Feb 1900
    return pc.cast(pa.array(serial, mask=np.isnat(days)), TEXT)


NUMBER_TEXT: dict[str, Callable[[pd.Series], pa.Array]] = {
    "money": _scaled_text(2), "percent": _scaled_text(6), "int": _int_text, "date": _date_text,
}


# --- text columns --------------------------------------------------------------------------------------------


def arrow_texts(values: pd.Series, kind: str) -> pa.Array | None:
    """The texts report.CONVERT[kind] gives, where Arrow can make them from the column as it is; else None.

    Arrow-backed pandas strings are taken as they are: a missing value becomes what the per-cell path's
    str() of the column's missing marker gave ("" for NaN, "<NA>" for pd.NA). Numpy booleans become yes / no.
    """
    dtype = values.dtype
    if kind == "text" and isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        na = dtype.na_value
        missing = "" if na is None or (isinstance(na, float) and np.isnan(na)) else str(na)
        texts = pa.array(values.array)
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        return pc.fill_null(texts.cast(TEXT), lit(missing))
    if kind == "bool" and dtype == np.bool_:
        return pc.if_else(pa.array(values.to_numpy()), lit("yes"), lit("no"))
    return None


def escape(texts: pa.Array) -> pa.Array:
    """XML-escape texts as openpyxl's writer does (a bare CR would be read back as LF)."""
    data = text_bytes(texts)  # what needs escaping is rare: one look at the column's bytes settles it
    if not any(char in data for char in (b"&", b"<", b">", b"\r")):
        return texts
    for char, reference in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
        texts = pc.replace_substring(texts, char, reference)
    return texts


def text_cells(texts: pa.Array, quoted: pa.Array, plain: str, quote: str, after: str) -> pa.Array:
    """Inline-string cells as openpyxl writes them, for `row_xml`: from the quote that closes the coordinate
    through `after` (see `cell_after`). `plain` / `quote` are the style attributes to use (`quoted`: the
    formula-like texts, which get the quote-prefix style)."""
    # Each cell is an opening, the escaped text and a closing. Openings 0-3 by 2 * quoted + preserve: text with
    # white space at either end keeps it with xml:space="preserve", as openpyxl marks it (text != text.strip();
    # Arrow's white space is str.isspace()'s, which tests check code point by code point). Opening 4 is the
    # empty cell, which is never formula-like, so plain.
    openings = _texts([f'"{style} t="inlineStr"><is><t{space}>' for style in (plain, quote)
                       for space in ("", ' xml:space="preserve"')] + [f'"{plain} t="inlineStr"></c>'])
    closings = _texts([f"</t></is></c>{after}", after])
    size = pc.binary_length(texts).to_numpy()
    padded = pc.binary_length(pc.utf8_trim_whitespace(texts)).to_numpy() != size
    empty = size == 0
    which = np.where(empty, 4, 2 * quoted.to_numpy(zero_copy_only=False) + padded)
    return pc.binary_join_element_wise(openings.take(which), escape(texts), closings.take(empty.view(np.int8)),
                                       lit(""))


def number_cells(texts: pa.Array, style: str, after: str) -> pa.Array:
    """Number cells from their <v> texts (null: an empty cell, still styled), for `row_xml` (as `text_cells`)."""
    cells = pc.binary_join_element_wise(lit(f'"{style} t="n"><v>'), texts, lit(f"</v></c>{after}"), lit(""))
    return pc.fill_null(cells, lit(f'"{style} t="n"></c>{after}'))


def cell_after(column: int, columns: int) -> str:
    """What ends the XML of a row's cell `column` (0-based) of `columns`: the next cell's opening up to its row
    number, or the end of the row."""
    return f'<c r="{get_column_letter(column + 2)}' if column + 1 < columns else "</row>"


def row_xml(first_row: int, columns: list[pa.Array]) -> bytes | pa.Buffer:
    """Rows first_row, first_row + 1, ... as one run of XML. `columns[j]` holds row i's cell in column j + 1 from
    the quote closing its coordinate through `cell_after(j, len(columns))`, e.g. '" t="n"><v>1.5</v></c><c r="B'.
    Row numbers are what is left between those pieces, so they go in as the join's separator:
    <row r="7"><c r="A7" t="n"><v>1.5</v></c><c r="B7" ...</row>."""
    if not len(columns[0]):
        return b""
    numbers = pc.cast(pa.array(np.arange(first_row, first_row + len(columns[0]), dtype=np.int64)), TEXT)
    rows = joined_text(pc.binary_join_element_wise(lit('<row r="'), lit('"><c r="A'), *columns, numbers))
    if pc.string_is_ascii(rows)[0].as_py():
        return rows[0].as_buffer()  # written as it is: no Python string of the rows
    # ASCII with character references, as openpyxl's own XML stream writes the sheet
    return rows[0].as_py().encode("ascii", "xmlcharrefreplace")
