"""Raw Excel values -> engine inputs: blanks, text numbers, serial dates, 2-D vs scalar, big columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_xl.domain.model import DayCount
from atlas_xl.domain.money import to_cents
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.errors import AmountError, ArgumentError, LoadError, Problem
from atlas_xl.excel import args as xa
from atlas_xl.excel import ranges as xe

LOANS_HEADER = ["loan_id", "client_id", "product", "principal", "annual_rate", "start_date", "periods",
                "method", "frequency", "day_count"]


# ---- shapes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [12.5, [[12.5]], [12.5]])
def test_single_cell_or_1x1_range(value: object) -> None:
    assert xa.amount_cents(value, "x") == 1250


def test_larger_range_where_a_cell_is_expected() -> None:
    with pytest.raises(ArgumentError, match="x must be a single cell, got a 2x1 range"):
        xa.single([[1.0], [2.0]], "x")


def test_rows_and_columns() -> None:
    assert xa.rows(3.0) == [[3.0]]
    assert xa.rows([1.0, 2.0]) == [[1.0], [2.0]]
    assert xa.column_values([[1.0, 2.0, 3.0]], "c") == [1.0, 2.0, 3.0]  # a one-row range
    with pytest.raises(ArgumentError, match="must be one column"):
        xa.column_values([[1.0, 2.0], [3.0, 4.0]], "c")


# ---- amounts, rates, whole numbers ---------------------------------------------------------------
@pytest.mark.parametrize(("raw", "cents"), [
    (1234.56, 123456), (0.1, 10), (" 1,234.56 ", 123456), ("1234.5", 123450), ("-0.01", -1),
    ("1,000,000", 100_000_000), (7, 700), ("\u00a012.30", 1230),
])
def test_amounts(raw: object, cents: int) -> None:
    assert xa.amount_cents(raw, "amount") == cents


@pytest.mark.parametrize(("raw", "message"), [
    ("1.234,56", "not a number"), ("12,5", "not a number"), ("1,23,456", "not a number"),
    (True, "not an amount"), (0.125, "more than 2 decimals"), (None, "amount is blank"),
    (float("inf"), "finite"),
])
def test_bad_amounts(raw: object, message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        xa.amount_cents(raw, "amount")


def test_amount_bounds_and_default() -> None:
    assert xa.amount_cents(None, "cap", default=-1) == -1
    with pytest.raises(ArgumentError, match="^principal must be > 0$"):
        xa.amount_cents(0.0, "principal", low=0, exclusive=True)


@pytest.mark.parametrize(("raw", "ppm"), [(0.05, 50_000), ("5%", 50_000), ("0.1025", 102_500),
                                          ("10.25%", 102_500), (1.0, 1_000_000), (0.000001, 1)])
def test_rates(raw: object, ppm: int) -> None:
    assert xa.rate_ppm(raw, "rate") == ppm


def test_bad_rates() -> None:
    with pytest.raises(ArgumentError, match="more than 6 decimals"):
        xa.rate_ppm(0.0000001, "rate")
    with pytest.raises(ArgumentError, match="rate must be <= 1"):
        xa.rate_ppm(1.5, "rate")


def test_whole_numbers() -> None:
    assert xa.whole(12.0, "periods") == 12
    assert xa.whole("12", "periods") == 12
    with pytest.raises(ArgumentError, match="^hold_days must be >= 0$"):
        xa.whole(-1.0, "hold_days", low=0)
    with pytest.raises(ArgumentError, match="not a whole number"):
        xa.whole(12.5, "periods")


# ---- dates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("serial", "day"), [
    (1, dt.date(1900, 1, 1)), (59, dt.date(1900, 2, 28)), (61, dt.date(1900, 3, 1)),
    (45292, dt.date(2024, 1, 1)), (45292.75, dt.date(2024, 1, 1)),  # 18:00 is still that day
    (2_958_465, dt.date(9999, 12, 31)),
])
def test_serial_dates_1900_system(serial: float, day: dt.date) -> None:
    # 45292: 2024-01-01 is 45292 days after 1899-12-30 (the epoch that absorbs the 1900-02-29 bug)
    assert xa.serial_to_date(serial) == day
    assert xa.date_arg(float(serial), "d") == day


def test_lotus_leap_day_and_out_of_range() -> None:
    with pytest.raises(ArgumentError, match="1900-02-29, which does not exist"):
        xa.date_arg(60.0, "start_date")
    for bad in (0.0, -3.0, 2_958_466.0):
        with pytest.raises(ArgumentError, match="not a date serial"):
            xa.date_arg(bad, "start_date")


def test_other_date_forms() -> None:
    assert xa.date_arg(dt.datetime(2024, 5, 6, 13, 0), "d") == dt.date(2024, 5, 6)
    assert xa.date_arg(" 2024-05-06 ", "d") == dt.date(2024, 5, 6)
    assert xa.date_arg(None, "d", default=dt.date(2020, 1, 1)) == dt.date(2020, 1, 1)
    with pytest.raises(ArgumentError, match="expected YYYY-MM-DD"):
        xa.date_arg("06/05/2024", "d")


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_serial_round_trip(day: dt.date) -> None:
    assert xa.serial_to_date(xa.date_to_serial(day)) == day


# ---- enums, text, flags ----------------------------------------------------------------------------
def test_choices_and_text() -> None:
    assert xa.choice("act/360", DayCount, "day_count") is DayCount.ACT_360
    assert xa.choice(None, DayCount, "day_count", default=DayCount.THIRTY_360) is DayCount.THIRTY_360
    with pytest.raises(ArgumentError, match="day_count 'ACT/ACT' is not one of 30/360, ACT/360, ACT/365F"):
        xa.choice("ACT/ACT", DayCount, "day_count")
    assert xa.text_arg(1001.0, "client_id") == "1001"
    assert xa.flag("true", "f") is True and xa.flag(None, "f") is False


# ---- columns and tables: one Excel table through the file loader's checks (excel_engine.table_frame) ---------
def _clients(opening: list[object]) -> list[list[object]]:
    """A clients table whose opening_balance column (may be negative) holds `opening`."""
    rows = [[f"C{i}", "Shop", "DE", "DE89370400440532013000", None, "active", "verified", 0.0, "daily", 0.0,
             0.0, value] for i, value in enumerate(opening)]
    return [list(SCHEMAS["clients"].column_names), *rows]


@given(st.lists(st.integers(-10**11, 10**11), min_size=1, max_size=50))
def test_amount_column_matches_scalar_rule(cents: list[int]) -> None:
    floats = [c / 100 for c in cents]  # what Excel holds for each typed amount
    expected = [to_cents(repr(f)) for f in floats]
    assert xe.table_frame(_clients(floats), "clients")["opening_balance_cents"].tolist() == expected


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_amount_column_refuses_what_to_cents_refuses(value: float) -> None:
    try:
        expected: int | None = to_cents(value)
    except AmountError:
        expected = None
    if expected is None:
        with pytest.raises(LoadError, match="more than 2 decimals"):
            xe.table_frame(_clients([value]), "clients")
    else:
        assert xe.table_frame(_clients([value]), "clients")["opening_balance_cents"].tolist() == [expected]


def test_100000_row_column() -> None:
    rng = np.random.default_rng(5)
    cents = rng.integers(0, 10**9, size=100_000)
    header = list(SCHEMAS["settlements"].column_names)
    table = [header] + [[f"C{i}", 45292.0 + (i % 3000), "EUR", int(c) / 100, 0.0, 0.0, 0.0]
                        for i, c in enumerate(cents)]
    table[501][3] = "1,234.56"  # a text number amid the floats (data row 500)
    frame = xe.table_frame(table, "settlements")
    expected = cents.copy()
    expected[500] = 123456
    assert frame["sales_cents"].dtype == np.int64 and np.array_equal(frame["sales_cents"], expected)
    days = frame["value_date"].to_numpy(dtype="datetime64[D]")  # serial 45292 = 2024-01-01
    assert days[0] == np.datetime64("2024-01-01") and days[2999] == np.datetime64("2024-01-01") + 2999


def test_column_error_names_the_row() -> None:
    header = list(SCHEMAS["settlements"].column_names)
    table = [header, *([f"C{i}", 45000.0, "EUR", v, 0.0, 0.0, 0.0] for i, v in enumerate([1.0, 2.0, 1.005]))]
    with pytest.raises(LoadError, match=r"sheet settlements, row 4, column sales: more than 2 decimals"):
        xe.table_frame(table, "settlements")
    table = [header, ["C1", 45000.0, "EUR", 1.0, 0.0, 0.0, 0.0], ["C2", 60.0, "EUR", 1.0, 0.0, 0.0, 0.0]]
    with pytest.raises(ArgumentError, match="settlements.value_date row 3 serial 60"):
        xe.table_frame(table, "settlements")


# ---- tables --------------------------------------------------------------------------------------
def test_loans_table_to_engine_frame() -> None:
    raw = [
        [" Loan ID ".replace(" ID", "_id").strip(), *LOANS_HEADER[1:]],
        ["L1", "C1", "Term_Loan", "10,000.00", "5%", 45292.0, 12.0, "annuity", "monthly", "act/365f"],
        [None] * 10,  # a blank row inside the table range
        ["L2", "C1", "factoring", 2500.5, 0.1, dt.datetime(2024, 2, 1), 3.0, "bullet", "weekly", "30/360"],
    ]
    frame = xe.table_frame(raw, "loans")
    assert frame["principal_cents"].tolist() == [1_000_000, 250_050]
    assert frame["annual_rate_ppm"].tolist() == [50_000, 100_000]
    assert frame["start_date"].tolist() == [np.datetime64("2024-01-01"), np.datetime64("2024-02-01")]
    assert frame["product"].tolist() == ["term_loan", "factoring"]
    assert frame["day_count"].tolist() == ["ACT/365F", "30/360"]
    assert frame["source_row"].tolist() == [2, 4]
    assert str(frame["periods"].dtype) == "int64"


def test_reserve_terms_blank_cap_is_no_cap_and_bad_hold_days() -> None:
    header = ["client_id", "reserve", "rate", "hold_days", "hold_basis", "cap", "fixed_amount", "min_balance"]
    good = ["C1", "rolling", 0.1, 90.0, "calendar", None, 0.0, 0.0]
    assert xe.table_frame([header, good], "reserve_terms")["cap_cents"].tolist() == [-1]
    bad = ["C1", "rolling", 0.1, -1.0, "calendar", None, 0.0, 0.0]
    with pytest.raises(LoadError, match="row 2, column hold_days: must be at least 0"):
        xe.table_frame([header, bad], "reserve_terms")


def test_table_shape_errors() -> None:
    with pytest.raises(LoadError, match="missing column 'client_id'"):
        xe.table_frame([["loan_id"], ["L1"]], "loans")
    with pytest.raises(LoadError, match="duplicate column header"):
        xe.table_frame([["loan_id", "loan_id"], ["L1", "L2"]], "loans")



# ---- errors in cells -----------------------------------------------------------------------------
def test_excel_error_texts() -> None:
    assert xa.excel_error(ArgumentError("hold_days must be >= 0")) == "#ATLAS! hold_days must be >= 0"
    assert xa.excel_error(KeyError("secret")) == "#ATLAS! internal error: KeyError"
    long = xa.excel_error(ArgumentError("x" * 1000 + "\nsecond line"))
    assert len(long) == 255 and "\n" not in long and long.endswith("...")
    load = LoadError([Problem("loans.csv", None, 3, "principal", "-1", "must be > 0")] * 3)
    assert xa.excel_error(load) == "#ATLAS! loans.csv, row 3, column principal: must be > 0 (value '-1') (+2 more)"


def test_excel_safe_keeps_signature_and_never_raises() -> None:
    import inspect

    @xa.excel_safe
    def f(a: object, b: object = None) -> object:
        return 1 / 0

    assert list(inspect.signature(f).parameters) == ["a", "b"]
    assert f(1) == "#ATLAS! internal error: ZeroDivisionError"


def test_vectorised_serials_match_the_scalar_rule() -> None:
    # 1..3000 and the last serial, either side of the fictitious 1900-02-29 (serial 60, refused by both)
    serials = np.array([s for s in range(1, 3001) if s != 60] + [xa.MAX_SERIAL, 59.75, 61.5], dtype=np.float64)
    assert not xa.bad_serials(serials).any()
    assert xa.serials_to_days(serials).tolist() == [xa.serial_to_date(float(s)) for s in serials]
    assert xa.bad_serials(np.array([60.0, 0.5, np.nan, xa.MAX_SERIAL + 1.0])).all()
