"""Typed cells (numbers and dates from a workbook or an Excel range) are checked by typed converters; they must
accept and refuse exactly what the text path does with the same cells written as CSV text (`_cell_text`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.errors import LoadError
from atlas_xl.excel import ranges as xe
from atlas_xl.inputs.cells import _cell_text
from atlas_xl.inputs.portfolio import portfolio_from_tables, table_from_frame

CLIENT = {"name": "Shop", "country": "DE", "iban": "DE89370400440532013000", "bic": "", "status": "active",
          "kyc_status": "verified", "payout_frequency": "daily", "min_payout": 0.0, "opening_balance": 0.0}


def tables(amounts: list[object], rates: list[object], days: list[object], dates: list[object]) -> dict:
    """One client per value: credit_limit / fixed_amount = amounts[i], rates in the two rate columns,
    hold_days = days[i]; one settlement per client on dates[i]."""
    n = len(amounts)
    ids = [f"C{i:03d}" for i in range(n)]
    clients = pd.DataFrame({"client_id": ids, **{k: [v] * n for k, v in CLIENT.items()},
                            "credit_limit": amounts, "factoring_withhold_rate": rates})
    settlements = pd.DataFrame({"client_id": ids, "value_date": dates, "currency": ["EUR"] * n,
                                "sales": amounts, "refunds": [0.0] * n, "chargebacks": [0.0] * n,
                                "fees": [0.0] * n})
    terms = pd.DataFrame({"client_id": ids, "reserve": ["rolling"] * n, "rate": rates, "hold_days": days,
                          "hold_basis": ["calendar"] * n, "cap": amounts, "fixed_amount": amounts,
                          "min_balance": [0.0] * n})
    loans = pd.DataFrame(columns=list(SCHEMAS["loans"].column_names), dtype=object)
    return {"clients": clients, "settlements": settlements, "loans": loans, "reserve_terms": terms}


def as_text(frames: dict) -> dict:
    """The same tables as a CSV would hold them (every cell through _cell_text)."""
    return {name: frame.map(_cell_text).astype(object) for name, frame in frames.items()}


def outcome(frames: dict) -> object:
    try:
        portfolio = portfolio_from_tables(frames, source="t")
    except LoadError as error:
        return sorted((p.sheet, p.row, p.column, str(p.value), p.message) for p in error.problems)
    return {name: getattr(portfolio, name).to_dict("list") for name in ("clients", "settlements", "reserve_terms")}


def decimal_floats(places: int) -> st.SearchStrategy[float]:
    return st.decimals(min_value=-10**9, max_value=10**9, places=places, allow_nan=False).map(float)


NUMBERS = st.one_of(
    decimal_floats(2), decimal_floats(3), decimal_floats(6), decimal_floats(7),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-10**12, max_value=10**12).map(float),
    st.sampled_from([0.0, -0.0, 1e-7, 0.1 + 0.2, 1234.56, 999_999_999.99, 1e9, 2.0**53, float("nan")]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(NUMBERS, NUMBERS, NUMBERS), min_size=1, max_size=6))
def test_typed_numbers_load_exactly_as_their_text(cells: list[tuple[float, float, float]]) -> None:
    amounts, rates, days = (list(c) for c in zip(*cells, strict=True))
    dates = [dt.datetime(2026, 11, 2)] * len(cells)
    frames = tables(amounts, rates, days, dates)
    assert frames["clients"]["credit_limit"].dtype == np.float64  # the typed path is the one exercised
    assert outcome(frames) == outcome(as_text(frames))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2200, 12, 31)),
                min_size=1, max_size=5, unique_by=lambda d: d.date()))
def test_typed_dates_load_exactly_as_their_text(stamps: list[dt.datetime]) -> None:
    n = len(stamps)
    frames = tables([100.0] * n, [0.1] * n, [7.0] * n, stamps)  # times of day are dropped in both paths
    assert outcome(frames) == outcome(as_text(frames))


def test_a_typed_amount_with_three_decimals_is_named_like_its_text() -> None:
    frames = tables([1234.567, 10.5], [0.1, 0.1], [7.0, 7.0], [dt.datetime(2026, 11, 2)] * 2)
    with pytest.raises(LoadError) as caught:
        portfolio_from_tables(frames, source="t")
    found = {(p.sheet, p.row, p.column, p.value) for p in caught.value.problems}
    # 1234.567 in credit_limit (clients), sales (settlements), cap and fixed_amount (reserve_terms), row 2
    assert found == {("clients", 2, "credit_limit", "1234.567"), ("settlements", 2, "sales", "1234.567"),
                     ("reserve_terms", 2, "cap", "1234.567"), ("reserve_terms", 2, "fixed_amount", "1234.567")}
    assert all("more than 2 decimals" in p.message for p in caught.value.problems)


def test_typed_cents_are_exact() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 as a double: more than 2 decimals, refused (not rounded to 0.30);
    # 1234.56 is the double nearest 123456 / 100: exactly 123456 cents; 0.025 is 25000 ppm
    frames = tables([1234.56, 999_999_999.99], [0.025, 1.0], [30.0, 0.0], [dt.datetime(2026, 11, 2)] * 2)
    portfolio = portfolio_from_tables(frames, source="t")
    assert portfolio.clients["credit_limit_cents"].tolist() == [123456, 99_999_999_999]
    assert portfolio.clients["factoring_withhold_rate_ppm"].tolist() == [25_000, 1_000_000]
    assert portfolio.reserve_terms["hold_days"].tolist() == [30, 0]


def test_excel_range_columns_are_typed_and_text_numbers_still_read() -> None:
    header = list(SCHEMAS["settlements"].column_names)
    day = dt.datetime(2026, 11, 2, 15, 30)
    typed = xe.raw_table([header, ["C1", day, "EUR", 10.0, 0.0, None, 1.5]], "settlements")
    assert typed["sales"].type == pa.float64()
    assert typed["value_date"].type == pa.dictionary(pa.int32(), pa.timestamp("ns"))  # coded by distinct date
    assert typed["client_id"].type == pa.dictionary(pa.int32(), pa.string())
    assert typed["chargebacks"].to_pylist() == [None]  # a blank cell
    mixed = xe.raw_table([header, ["C1", 46328.0, "EUR", "1,234.50", 0.0, 0.0, 0.0]], "settlements")
    assert mixed["sales"].to_pylist() == ["1234.50"]  # text numbers normalised for the loader
    assert mixed["value_date"].to_pylist() == [dt.datetime(2026, 11, 2)]  # serial 46328 = 2026-11-02
    huge = xe.raw_table([header, ["C1", day, "EUR", 2**53 + 1, True, 0.0, 0.0]], "settlements")
    assert huge["sales"].to_pylist() == [str(2**53 + 1)]  # not exact as a double: the exact text path
    assert huge["refunds"].to_pylist() == ["True"]  # a logical cell is no number; the loader refuses its text


# aware datetimes (any fixed offset): each keeps its own calendar day, whichever path reads it
OFFSETS = st.builds(dt.timezone, st.timedeltas(min_value=dt.timedelta(hours=-12), max_value=dt.timedelta(hours=14)))

CELLS = st.one_of(
    st.none(), st.booleans(), decimal_floats(2), st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-2**60, max_value=2**60), st.sampled_from(["12.5", "abc", "", "0.125", " 7 "]),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2200, 12, 31)),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2200, 12, 31), timezones=OFFSETS),
)


CODES = st.one_of(CELLS, st.sampled_from(["EUR", " eur", "USD", "C000", "C001 ", "C 1", "", "x" * 21]))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS.filter(lambda c: type(c) not in (int, float)), CODES, CODES),
                min_size=1, max_size=6))
def test_excel_ranges_load_exactly_as_the_same_cells_in_a_frame(cells: list[tuple[object, ...]]) -> None:
    # raw_table's fast census (one 2-D object array, infer_dtype, factorised dates, coded ids) against the
    # loader reading the same cells from an object frame. Numbers in a date column are Excel serial dates,
    # which only raw_table knows, so the date column gets every other kind of cell. The currency and the
    # reserve terms' client ids (coded columns) get any cell.
    amounts, dates, currencies, term_ids = (list(c) for c in zip(*cells, strict=True))
    frames = tables([100.0] * len(cells), [0.1] * len(cells), [7.0] * len(cells),
                    [dt.datetime(2026, 11, 2)] * len(cells))
    ranges = {name: [list(frame.columns)] + frame.astype(object).to_numpy().tolist() for name, frame in frames.items()}
    for row, amount, day, currency in zip(ranges["settlements"][1:], amounts, dates, currencies, strict=True):
        row[1], row[2], row[3] = day, currency, amount
    for row, client in zip(ranges["reserve_terms"][1:], term_ids, strict=True):
        row[0] = client
    from_ranges = {name: xe.raw_table(rows, name) for name, rows in ranges.items()}
    from_frames = {name: pd.DataFrame(rows[1:], columns=rows[0], dtype=object) for name, rows in ranges.items()}
    assert outcome(from_ranges) == outcome(from_frames)


def test_an_aware_datetime_keeps_its_own_day_as_in_a_frame() -> None:
    # Arrow would move 2026-11-02 01:00+02:00 to UTC (Nov 1); the cell's own date is Nov 2, as its text says
    header = list(SCHEMAS["settlements"].column_names)
    aware = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    rows = [header, ["C1", aware, "EUR", 1.0, 0.0, 0.0, 0.0]]
    for table in (xe.raw_table(rows, "settlements"), pd.DataFrame(rows[1:], columns=header)):
        loaded = table_from_frame(table, "settlements", "Book1.xlsx")
        assert loaded["value_date"].tolist() == [pd.Timestamp("2026-11-02")]


def test_a_coded_column_is_keyed_by_its_codes_and_its_values() -> None:
    # two tables whose currency codes are equal but stand for other texts must not share an engine run
    header = list(SCHEMAS["settlements"].column_names)
    day = dt.datetime(2026, 11, 2)
    eur = xe.raw_table([header, ["C1", day, "EUR", 1.0, 0.0, 0.0, 0.0]], "settlements")
    usd = xe.raw_table([header, ["C1", day, "USD", 1.0, 0.0, 0.0, 0.0]], "settlements")
    assert eur["currency"].chunk(0).indices.equals(usd["currency"].chunk(0).indices)
    assert xe.digest(eur) != xe.digest(usd)


def test_cache_key_tells_blank_from_empty_text_and_a_changed_cent() -> None:
    header = list(SCHEMAS["settlements"].column_names)
    day = dt.datetime(2026, 11, 2)

    def key(*row: object) -> str:
        return xe.digest(xe.raw_table([header, list(row)], "settlements"))

    base = key("C1", day, "EUR", 10.0, 0.0, 0.0, 0.0)
    assert base == key("C1", day, "EUR", 10.0, 0.0, 0.0, 0.0)
    assert base != key("C1", day, "EUR", 10.01, 0.0, 0.0, 0.0)
    assert base != key("C1", day + dt.timedelta(days=1), "EUR", 10.0, 0.0, 0.0, 0.0)
    assert key("C1", day, "EUR", None, 0.0, 0.0, 0.0) != key("C1", day, "EUR", 0.0, 0.0, 0.0, 0.0)
    # the key is over what the loader reads: a blank cell and an empty text are both the blank "" to it
    assert key("C1", day, None, 10.0, 0.0, 0.0, 0.0) == key("C1", day, "", 10.0, 0.0, 0.0, 0.0)
    assert base != key("C1", day, "EUR", "10", 0.0, 0.0, 0.0)  # text "10" is another cell than 10.0


def test_decimal_strategy_sanity() -> None:
    # the strategies above produce doubles whose shortest repr has the requested decimals
    assert _cell_text(float(Decimal("1234.567"))) == "1234.567"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.decimals(min_value=-(10**10) + Decimal("0.01"), max_value=10**10 - Decimal("0.01"), places=2,
                            allow_nan=False), min_size=1, max_size=20))
def test_text_amounts_load_to_the_exact_cent(amounts: list[Decimal]) -> None:
    # every text amount with <= 10 integer digits and <= 2 decimals is exactly its value x 100 in cents
    # (e.g. "9999999999.99" -> 999999999999, "-0.07" -> -7), compared with Decimal arithmetic
    texts = [format(a, "f") for a in amounts]
    frames = as_text(tables([0.0] * len(texts), [0.1] * len(texts), [7.0] * len(texts),
                            [dt.datetime(2026, 11, 2)] * len(texts)))
    frames["clients"]["opening_balance"] = texts  # may be negative
    portfolio = portfolio_from_tables(frames, source="t")
    assert portfolio.clients["opening_balance_cents"].tolist() == [int(a * 100) for a in amounts]


def test_a_blank_cell_in_a_column_of_dates_is_reported_on_its_row() -> None:
    # Found by the property test above: a typed date column with one blank cell used to end in an IndexError
    # (its dictionary codes held a null); now it is the "required" problem of that cell, as in a CSV.
    header = list(SCHEMAS["settlements"].column_names)
    rows = [header, ["C1", None, "EUR", 1.0, 0.0, 0.0, 0.0], ["C1", dt.datetime(2026, 1, 1), "EUR", 1.0, 0.0, 0.0, 0.0]]
    for table in (xe.raw_table(rows, "settlements"), pd.DataFrame(rows[1:], columns=header)):
        with pytest.raises(LoadError) as caught:
            table_from_frame(table, "settlements", "Book1.xlsx")
        assert [(p.row, p.column, p.message.split(";")[0]) for p in caught.value.problems] == [
            (2, "value_date", "required")]


ANY_CELL = st.one_of(
    st.none(), st.booleans(), decimal_floats(2), decimal_floats(6), st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from(["", " ", "EUR", "12.5", "x", "C001"]),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2200, 12, 31)),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2200, 12, 31), timezones=OFFSETS),
)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_cells_in_any_column_load_exactly_as_their_text(data: st.DataObject) -> None:
    # A workbook's cells of any type in any column (typed when a column is all numbers or all dates, text
    # otherwise) must give what the same cells give written out as CSV text: the same figures or the same
    # located problems. Two rows, a few cells replaced at random.
    frames = tables([100.0, 250.5], [0.1, 0.05], [7.0, 3.0], [dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 3)])
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        name = data.draw(st.sampled_from(["clients", "settlements", "reserve_terms"]))
        frame = frames[name]
        column = data.draw(st.sampled_from(list(frame.columns)))
        frame[column] = frame[column].astype(object)
        frame.loc[data.draw(st.integers(min_value=0, max_value=1)), column] = data.draw(ANY_CELL)
    assert outcome(frames) == outcome(as_text(frames))


def test_an_arrow_number_column_is_kept_typed_only_where_the_typed_check_is_exact() -> None:
    # the same rule as for a frame's numbers (typed_exact): below 1e9 in magnitude (blanks and infinities
    # aside) the column stays float64; 2e9 goes to the exact text path, as column_array sends it
    from atlas_xl.inputs.portfolio import _arrow_column

    small = _arrow_column(pa.chunked_array([pa.array([12.5, None, float("inf")])]), "amount")
    assert small.type == pa.float64()
    large = _arrow_column(pa.chunked_array([pa.array([12.5, 2e9])]), "amount")
    assert large.to_pylist() == ["12.5", "2000000000"]
