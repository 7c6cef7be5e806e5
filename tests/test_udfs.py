"""ATLAS_* worksheet functions called with Excel-shaped inputs, compared with the engines."""

from __future__ import annotations

import datetime as dt
import inspect

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest

from atlas_xl import __version__
from atlas_xl.engines.schedules import build_schedule, portfolio_schedules, projection
from atlas_xl.excel import ranges as xe
from atlas_xl.excel import udfs

LOANS_HEADER = ["loan_id", "client_id", "product", "principal", "annual_rate", "start_date", "periods",
                "method", "frequency", "day_count"]


def test_version_and_registry() -> None:
    assert udfs.ATLAS_VERSION() == __version__
    assert set(udfs.UDF_NAMES) == {
        "ATLAS_SCHEDULE", "ATLAS_PROJECTION", "ATLAS_IBAN_CHECK", "ATLAS_NEXT_BANKING_DAY", "ATLAS_VERSION",
        "ATLAS_RESERVE", "ATLAS_RESERVE_RELEASES", "ATLAS_PAYOUT", "ATLAS_READINESS", "ATLAS_EXPOSURE",
        "ATLAS_UTILIZATION", "ATLAS_LIMIT_STATUS"}
    for name in udfs.UDF_NAMES:
        func = getattr(udfs, name)
        assert func.__doc__ and len(func.__doc__) <= 255, name  # Excel's help text limit
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in inspect.signature(func).parameters.values())


@pytest.mark.parametrize(("raw", "expected"), [
    (45382.0, dt.datetime(2024, 4, 2)),  # Sun 31 Mar 2024 -> Easter Monday closed -> Tue 2 Apr
    (dt.datetime(2024, 12, 24), dt.datetime(2024, 12, 24)),  # an open day is itself
    ([[dt.datetime(2024, 12, 25)]], dt.datetime(2024, 12, 27)),  # 25 and 26 Dec closed
    ("2025-05-01", dt.datetime(2025, 5, 2)),  # Labour Day
])
def test_next_banking_day(raw: object, expected: dt.datetime) -> None:
    assert udfs.ATLAS_NEXT_BANKING_DAY(raw) == expected


def test_iban_check() -> None:
    assert udfs.ATLAS_IBAN_CHECK("DE89 3704 0044 0532 0130 00") is True
    reason = udfs.ATLAS_IBAN_CHECK("DE89370400440532013001")
    assert isinstance(reason, str) and "checksum" in reason.lower()
    assert udfs.ATLAS_IBAN_CHECK(None) == "IBAN is missing"


def test_schedule_hand_computed_and_independent_pmt() -> None:
    # 10,000.00 at 5 % over 12 months: r = 0.05/12; PMT = 10000 r / (1 - (1+r)^-12) = 856.0748 -> 856.07
    # period 1 interest = 10000 x 0.05 / 12 = 41.666.. -> 41.67; principal = 856.07 - 41.67 = 814.40
    cells = udfs.ATLAS_SCHEDULE(10000.0, 0.05, 12.0, dt.datetime(2024, 1, 15))
    assert cells[0] == udfs.SCHEDULE_HEADER
    assert cells[1] == [dt.datetime(2024, 2, 15), 10000.0, 41.67, 814.40, 856.07, 9185.60]
    assert round(float(npf.pmt(0.05 / 12, 12, -10000)), 2) == 856.07
    assert len(cells) == 13 and cells[-1][5] == 0.0
    assert round(sum(row[3] for row in cells[1:]), 2) == 10000.0


def test_schedule_equals_engine_for_excel_shaped_arguments() -> None:
    # text number, percent text, serial date, 1x1 ranges and case-insensitive options
    cells = udfs.ATLAS_SCHEDULE("25,000.50", [["7.5%"]], [[36.0]], 45322.0, "Linear", "weekly", "act/360")
    engine = build_schedule(2_500_050, 75_000, 36, dt.date(2024, 1, 31), "linear", "weekly", "ACT/360")
    assert len(cells) == 37
    for row, (_, expect) in zip(cells[1:], engine.iterrows(), strict=True):
        assert row[0] == pd.Timestamp(expect["due_date"]).to_pydatetime()
        assert row[1:] == [expect[c] / 100 for c in ("opening_cents", "interest_cents", "principal_cents",
                                                      "payment_cents", "closing_cents")]


def test_schedule_blank_options_take_defaults() -> None:
    assert udfs.ATLAS_SCHEDULE(1200.0, 0.0, 12.0, 45292.0, None, "", None) == udfs.ATLAS_SCHEDULE(
        1200.0, 0.0, 12.0, 45292.0, "annuity", "monthly", "30/360")


@pytest.mark.parametrize(("args", "message"), [
    ((0.0, 0.05, 12.0, 45292.0), "#ATLAS! principal must be > 0"),
    ((100.0, 0.05, 0.0, 45292.0), "#ATLAS! periods must be >= 1"),
    ((100.0, 0.05, 12.5, 45292.0), "#ATLAS! periods 12.5 is not a whole number"),
    ((100.0, "5,0%", 12.0, 45292.0), "#ATLAS! annual_rate '5,0%' is not a number"),
    ((100.0, 0.05, 12.0, 60.0), "#ATLAS! start_date serial 60 is 1900-02-29"),
    ((100.0, 0.05, 12.0, None), "#ATLAS! start_date is blank; expected a date"),
    ((100.0, 0.05, 12.0, 45292.0, "balloon"), "#ATLAS! method 'balloon' is not one of annuity, linear, bullet"),
    ((100.001, 0.05, 12.0, 45292.0), "#ATLAS! principal: 100.001 has more than 2 decimals"),
    (([[1.0], [2.0]], 0.05, 12.0, 45292.0), "#ATLAS! principal must be a single cell, got a 2x1 range"),
])
def test_bad_arguments_give_readable_cell_text(args: tuple[object, ...], message: str) -> None:
    result = udfs.ATLAS_SCHEDULE(*args)
    assert isinstance(result, str) and result.startswith(message), result


def _loans_table(n: int) -> list[list[object]]:
    rng = np.random.default_rng(11)
    rows: list[list[object]] = [LOANS_HEADER]
    methods, freqs, counts = ["annuity", "linear", "bullet"], ["monthly", "weekly"], ["30/360", "ACT/360",
                                                                                      "ACT/365F"]
    for i in range(n):
        rows.append([f"L{i}", f"C{i % 50}", "term_loan", int(rng.integers(1_000_00, 500_000_00)) / 100,
                     int(rng.integers(0, 150_000)) / 1_000_000, 45292.0 + int(rng.integers(0, 365)),
                     float(rng.integers(1, 60)), methods[i % 3], freqs[i % 2], counts[i % 3]])
    return rows


def test_projection_equals_engine() -> None:
    table = _loans_table(2000)
    cells = udfs.ATLAS_PROJECTION(table, 45444.0)  # 2024-06-01
    frame = xe.table_frame(table, "loans")
    engine = projection(portfolio_schedules(frame), dt.date(2024, 6, 1))
    assert cells[0] == udfs.PROJECTION_HEADER
    assert len(cells) == len(engine) + 1
    assert cells[1][0] == dt.datetime(2024, 6, 1)
    got = np.array([row[1:] for row in cells[1:]])
    want = engine[["principal_cents", "interest_cents", "payment_cents", "outstanding_cents"]].to_numpy() / 100
    assert np.array_equal(got, want)


def test_projection_bad_table() -> None:
    table = _loans_table(3)
    table[2][3] = "12.345,00"
    assert udfs.ATLAS_PROJECTION(table).startswith("#ATLAS! Excel, sheet loans, row 3, column principal: not a number")
