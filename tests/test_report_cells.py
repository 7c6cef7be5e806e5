"""The report's column-to-XML conversions (atlas_xl.outputs.report.fast_xlsx) and xlsafe's whole-column Arrow check.

Values here are hand-computed; tests/test_report_fast.py compares whole workbooks with the per-cell writer.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_xl.outputs.report.fast_xlsx import (
    NUMBER_TEXT,
    TEXT,
    arrow_texts,
    cell_after,
    decimal_text,
    escape,
    number_cells,
    row_xml,
    text_cells,
)
from atlas_xl.outputs.report.layout import CONVERT
from atlas_xl.outputs.xlsafe import (
    UNWRITABLE,
    UNWRITABLE_RE2,
    UnwritableTextError,
    joined_text,
    sheet_text_array,
    text_bytes,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def texts(*values: str) -> pa.Array:
    return pa.array(values, TEXT)


def decimal_reference(units: int, places: int) -> str:
    """Decimal(units).scaleb(-places) without trailing zeros (nor a point without a fraction)."""
    text = format(Decimal(units).scaleb(-places), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ------------------------------------------------------------------------------------------------ numbers


def test_cents_as_exact_decimal_text() -> None:
    cents = np.array([0, 1, -1, -5, 7, 10, 100, -100, 12_345, 123_456_789, -123_456_789, INT64_MAX, INT64_MIN])
    assert decimal_text(cents, np.zeros(len(cents), bool), 2).to_pylist() == [
        "0", "0.01", "-0.01", "-0.05", "0.07", "0.1", "1", "-1", "123.45", "1234567.89", "-1234567.89",
        "92233720368547758.07", "-92233720368547758.08"]


def test_every_cent_fraction_either_side_of_zero() -> None:
    cents = np.arange(-10_000, 10_001)
    assert decimal_text(cents, np.zeros(len(cents), bool), 2).to_pylist() == [
        decimal_reference(int(c), 2) for c in cents]


def test_missing_amounts_have_no_text() -> None:
    assert decimal_text(np.array([5, 0, -250]), np.array([False, True, False]), 2).to_pylist() == ["0.05", None,
                                                                                                  "-2.5"]


def test_ppm_as_exact_decimal_text() -> None:
    ppm = np.array([0, 1, 10, 224_000, 1_000_000, -5, 1_500_000, 123_456_789, -1_000_000])
    assert decimal_text(ppm, np.zeros(len(ppm), bool), 6).to_pylist() == [
        "0", "0.000001", "0.00001", "0.224", "1", "-0.000005", "1.5", "123.456789", "-1"]


@given(st.lists(st.tuples(st.integers(-(2**62) + 1, 2**62 - 1), st.booleans()), max_size=40),
       st.sampled_from([2, 6]))
def test_vectorised_amounts_equal_decimal_text(values: list[tuple[int, bool]], places: int) -> None:
    units = np.array([u for u, _ in values], dtype=np.int64)
    missing = np.array([gone for _, gone in values], dtype=bool)
    expected = [None if gone else decimal_reference(u, places) for u, gone in values]
    assert decimal_text(units, missing, places).to_pylist() == expected
    # the value-by-value path (columns of Python ints) writes the same text
    column = pd.Series([None if gone else u for u, gone in values], dtype=object)
    assert NUMBER_TEXT["money" if places == 2 else "percent"](column).to_pylist() == expected


def test_money_columns_of_every_dtype() -> None:
    money = NUMBER_TEXT["money"]
    assert money(pd.Series([12_345, -5, 100])).to_pylist() == ["123.45", "-0.05", "1"]
    assert money(pd.Series([7, None], dtype="Int64")).to_pylist() == ["0.07", None]
    # floats are cut toward zero, as int() did
    assert money(pd.Series([250.0, np.nan, 2.9, -2.9])).to_pylist() == ["2.5", None, "0.02", "-0.02"]
    # past int64: Python ints, value by value
    assert money(pd.Series([10**20, -(10**20) - 1, None], dtype=object)).to_pylist() == [
        "1000000000000000000", "-1000000000000000000.01", None]
    assert money(pd.Series([2**64 - 1], dtype=np.uint64)).to_pylist() == ["184467440737095516.15"]
    assert money(pd.Series([], dtype=np.int64)).to_pylist() == []


def test_int_and_date_columns() -> None:
    assert NUMBER_TEXT["int"](pd.Series([3, -4, 2**40])).to_pylist() == ["3", "-4", "1099511627776"]
    assert NUMBER_TEXT["int"](pd.Series([1.0, np.nan, 3.9])).to_pylist() == ["1", None, "3"]
    # 1 Jan 1900 is day 1, 28 Feb 1900 day 59, 1 Mar 1900 day 61 (Excel counts a 29 Feb 1900)
    days = pd.Series(pd.to_datetime(["1900-01-01", "1900-02-28", "1900-03-01", "2026-03-02 23:59", None],
                                    format="ISO8601"))
    assert NUMBER_TEXT["date"](days).to_pylist() == ["1", "59", "61", "46083", None]
    assert NUMBER_TEXT["date"](days.astype("datetime64[s]")).to_pylist() == ["1", "59", "61", "46083", None]
    # dates as objects go value by value; NaT and None are no value
    assert NUMBER_TEXT["date"](pd.Series([dt.date(2026, 3, 2), None, pd.NaT], dtype=object)).to_pylist() == [
        "46083", None, None]


def test_number_cells() -> None:
    assert number_cells(texts("1.5", None, "-0.05"), ' s="3"', '<c r="B').to_pylist() == [
        '" s="3" t="n"><v>1.5</v></c><c r="B', '" s="3" t="n"></c><c r="B', '" s="3" t="n"><v>-0.05</v></c><c r="B']


# ------------------------------------------------------------------------------------------------ texts


@pytest.mark.parametrize(("dtype", "arrow"), [("str", True), ("string[pyarrow]", True), ("string[python]", False),
                                             (pd.ArrowDtype(pa.string()), False), (object, False)])
def test_text_columns_as_the_per_cell_writer_converted_them(dtype: object, arrow: bool) -> None:
    column = pd.Series(["a", None, "", " b "], dtype=dtype)
    fast = arrow_texts(column, "text")
    assert (fast is not None) == arrow  # pandas' Arrow-backed strings; the rest goes value by value
    if fast is not None:
        assert fast.to_pylist() == CONVERT["text"](column)


def test_missing_text_is_what_str_of_the_missing_marker_gave() -> None:
    assert arrow_texts(pd.Series(["a", None], dtype="str"), "text").to_pylist() == ["a", ""]
    assert arrow_texts(pd.Series(["a", None], dtype="string[pyarrow]"), "text").to_pylist() == ["a", "<NA>"]


def test_bool_columns() -> None:
    assert arrow_texts(pd.Series([True, False]), "bool").to_pylist() == ["yes", "no"]
    assert arrow_texts(pd.Series([True, None], dtype="boolean"), "bool") is None  # as before, value by value
    assert arrow_texts(pd.Series([1, 0]), "bool") is None


def test_text_cells() -> None:
    values = texts("plain", " padded ", "=1+1", "", "a & b <c>", "cr\r", "\u00a0nbsp", "end\u3000")
    quoted = pa.array([False, False, True, False, False, False, False, False])
    assert text_cells(values, quoted, "", ' s="5"', "</row>").to_pylist() == [
        '" t="inlineStr"><is><t>plain</t></is></c></row>',
        '" t="inlineStr"><is><t xml:space="preserve"> padded </t></is></c></row>',
        '" s="5" t="inlineStr"><is><t>=1+1</t></is></c></row>',
        '" t="inlineStr"></c></row>',
        '" t="inlineStr"><is><t>a &amp; b &lt;c&gt;</t></is></c></row>',
        '" t="inlineStr"><is><t xml:space="preserve">cr&#13;</t></is></c></row>',
        '" t="inlineStr"><is><t xml:space="preserve">\u00a0nbsp</t></is></c></row>',
        '" t="inlineStr"><is><t xml:space="preserve">end\u3000</t></is></c></row>',
    ]


def test_escape_leaves_clean_columns_alone() -> None:
    clean = texts("a", "b")
    assert escape(clean) is clean
    assert escape(texts("&amp;", "x")).to_pylist() == ["&amp;amp;", "x"]


def test_arrow_white_space_is_str_strip_s() -> None:
    # text_cells marks text != text.strip() with Arrow's trim: the two must agree on every code point
    chars = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF]
    trimmed = pc.binary_length(pc.utf8_trim_whitespace(pa.array(chars))).to_pylist()
    assert [c for c, n in zip(chars, trimmed, strict=True) if (n == 0) != c.isspace()] == []


def test_cell_ends() -> None:
    assert [cell_after(j, 3) for j in range(3)] == ['<c r="B', '<c r="C', "</row>"]
    assert cell_after(25, 30) == '<c r="AA'


def test_rows_as_xml() -> None:
    numbers = number_cells(texts("1", None), "", cell_after(0, 2))
    words = text_cells(texts("ok", "é€😀"), pa.array([False, False]), "", "", cell_after(1, 2))
    assert bytes(row_xml(7, [numbers, words])) == (
        b'<row r="7"><c r="A7" t="n"><v>1</v></c><c r="B7" t="inlineStr"><is><t>ok</t></is></c></row>'
        b'<row r="8"><c r="A8" t="n"></c><c r="B8" t="inlineStr"><is><t>&#233;&#8364;&#128512;</t></is></c></row>')
    one = number_cells(texts(None), ' s="2"', cell_after(0, 1))
    assert bytes(row_xml(3, [one])) == b'<row r="3"><c r="A3" s="2" t="n"></c></row>'
    assert bytes(row_xml(3, [one.slice(0, 0)])) == b""


# ------------------------------------------------------------------------------------------------ xlsafe


def test_joined_text_of_slices() -> None:
    values = texts("ab", "", "cé", "d")
    assert joined_text(values).to_pylist() == ["abcéd"]
    assert joined_text(values.slice(2, 2)).to_pylist() == ["céd"]
    assert joined_text(values.slice(1, 0)).to_pylist() == [""]
    assert text_bytes(values.slice(1, 2)) == "cé".encode()
    assert text_bytes(pa.array([], pa.string())) == b""


def test_the_arrow_check_refuses_what_the_python_check_refuses() -> None:
    # every code point Arrow can hold (lone surrogates are not UTF-8; UNWRITABLE refuses them separately)
    chars = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF]
    arrow = pc.match_substring_regex(pa.array(chars), UNWRITABLE_RE2).to_pylist()
    assert [c for c, bad in zip(chars, arrow, strict=True) if bad != bool(UNWRITABLE.search(c))] == []


def test_sheet_text_array_flags_formula_like_text() -> None:
    values, quoted = sheet_text_array(texts("ok", "=x", "-1", "@a", "\tq", "\rr", "+", "a=b", ""), str)
    assert values.to_pylist() == ["ok", "=x", "-1", "@a", "\tq", "\rr", "+", "a=b", ""]
    assert quoted.to_pylist() == [False, True, True, True, True, True, True, False, False]


def test_sheet_text_array_refuses_a_bad_character_with_its_cell() -> None:
    with pytest.raises(UnwritableTextError, match=r"^row 2: the text 'bad\\x01' holds the character U\+0001"):
        sheet_text_array(texts("fine", "bad\x01", "\ufffe"), lambda i: f"row {i + 1}")
    with pytest.raises(UnwritableTextError, match=r"U\+FFFF"):
        sheet_text_array(texts("fine", "x\uffff"), str)


def test_sheet_text_array_cuts_text_past_excels_limit() -> None:
    values, quoted = sheet_text_array(texts("=" + "x" * 40_000, "short"), str)
    assert [len(v) for v in values.to_pylist()] == [32_767, 5]
    assert quoted.to_pylist() == [True, False]


def test_the_domain_control_characters_are_openpyxls():
    """domain/cell_text writes openpyxl's ILLEGAL_CHARACTERS_RE out (the domain imports no workbook library)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from atlas_xl.domain.cell_text import CONTROL_CHARACTERS

    assert ILLEGAL_CHARACTERS_RE.pattern == CONTROL_CHARACTERS
