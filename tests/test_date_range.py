"""Dates outside what the engines can carry are refused, never wrapped around.

numpy's conversion to datetime64[ns] wraps a date past 2262-04-11 around without a word: 9999-01-01 became
1815-03-31 in a loaded CSV, an Excel range and a frame alike, and a 1,200-month loan from 2199 ended in 1714.
The accepted range is model.FIRST_DAY .. LAST_DAY (1900-01-01 .. 2099-12-31).
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import pytest

from atlas_xl.cli.app import main
from atlas_xl.domain.model import FIRST_DAY, LAST_DAY
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.engines import run as engine_module
from atlas_xl.engines.run import run_engines
from atlas_xl.engines.schedules import build_schedule, portfolio_schedules
from atlas_xl.errors import ArgumentError, DateError, LoadError
from atlas_xl.excel import ranges as xe
from atlas_xl.inputs.environment import load_settings, machine_memory_bytes
from atlas_xl.inputs.portfolio import load_portfolio, table_from_frame
from atlas_xl.settings import Settings
from tests.test_loader import only, problems_of, with_row, write_folder

OUT_OF_RANGE = "out of range; expected a date from 1900-01-01 to 2099-12-31"


@pytest.mark.parametrize("day", ["9999-01-01", "2262-04-12", "2100-01-01", "1899-12-31", "1600-01-01"])
def test_a_csv_date_outside_the_range_is_a_located_problem(tmp_path, day: str) -> None:
    lines = with_row("settlements", 3, f"A1,{day},EUR,100.1,0,0,1.5")
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.file, problem.row, problem.column, problem.value) == ("settlements.csv", 3, "value_date", day)
    assert problem.message == OUT_OF_RANGE


def test_the_first_and_last_day_themselves_load(tmp_path) -> None:
    lines = with_row("settlements", 3, f"A1,{LAST_DAY.isoformat()},EUR,100.1,0,0,1.5")
    lines = [*lines[:2], f"A1,{FIRST_DAY.isoformat()},EUR,1,0,0,0", *lines[2:]]
    dates = load_portfolio(write_folder(tmp_path, settlements=lines)).settlements["value_date"]
    assert {pd.Timestamp(FIRST_DAY), pd.Timestamp(LAST_DAY)} <= set(dates)


@pytest.mark.parametrize("cell", [dt.datetime(9999, 1, 1), dt.datetime(2100, 1, 1, 12, 0), dt.datetime(1850, 6, 1),
                                  2_958_465.0])  # the last serial: Excel's 9999-12-31
def test_an_excel_date_outside_the_range_is_refused_in_a_range_and_in_a_frame(cell: object) -> None:
    header = list(SCHEMAS["settlements"].column_names)
    rows = [header, ["C1", cell, "EUR", 1.0, 0.0, 0.0, 0.0], ["C1", dt.datetime(2026, 1, 1), "EUR", 1.0, 0.0, 0.0, 0.0]]
    tables = [xe.raw_table(rows, "settlements")]
    if not isinstance(cell, float):  # a serial number is a date only in a worksheet range
        tables.append(pd.DataFrame(rows[1:], columns=header))
    for table in tables:
        with pytest.raises(LoadError) as caught:
            table_from_frame(table, "settlements", "Book1.xlsx")
        problem = only(caught.value.problems)
        assert (problem.row, problem.column, problem.message) == (2, "value_date", OUT_OF_RANGE)
        assert problem.value[:4] in ("9999", "2100", "1850")  # the cell's own year, not a wrapped one


def test_a_schedule_must_start_inside_the_range() -> None:
    # the last day plus 1,200 months still fits: 2099-12-31 -> 2199-12-31 (plus a banking-day shift at most)
    assert build_schedule(100_000, 50_000, 1200, LAST_DAY)["due_date"].iloc[-1].year == 2199
    for start in (dt.date(2100, 1, 1), dt.date(9999, 12, 31), np.datetime64("1899-12-31")):
        with pytest.raises(ArgumentError, match="out of range; expected a date from 1900-01-01 to 2099-12-31"):
            build_schedule(100_000, 50_000, 12, start)
    loans = pd.DataFrame({"loan_id": ["L1", "L2"], "client_id": ["C1", "C1"], "product": ["term_loan"] * 2,
                          "principal_cents": [100_000] * 2, "annual_rate_ppm": [50_000] * 2,
                          "start_date": pd.to_datetime(["2026-01-01", "2150-01-01"]), "periods": [12, 12],
                          "method": ["annuity"] * 2, "frequency": ["monthly"] * 2, "day_count": ["30/360"] * 2})
    with pytest.raises(ArgumentError, match="out of range for loan L2"):
        portfolio_schedules(loans)


def _portfolio(tmp_path):
    return load_portfolio(write_folder(tmp_path))


def test_an_as_of_date_outside_the_range_is_refused(tmp_path) -> None:
    portfolio = _portfolio(tmp_path)
    for as_of in ("9999-01-01", dt.date(2100, 1, 1), dt.datetime(1899, 12, 31, 8, 0)):
        with pytest.raises(DateError, match="out of range; expected a date from 1900-01-01 to 2099-12-31"):
            run_engines(portfolio, as_of)


def test_a_run_too_large_for_memory_is_refused_with_its_size(tmp_path, monkeypatch) -> None:
    # GOOD has 2 clients from 2026-03-02: to 2026-03-11 is 10 days, 20 client-days. Without the 1,000,000
    # floor, 13,334 bytes of memory hold 13,334 x 3/4 = 10,000 bytes / 500 = 20 client-days
    portfolio = _portfolio(tmp_path)
    monkeypatch.setattr(engine_module, "MIN_CLIENT_DAYS", 0)
    small = Settings(memory_bytes=13_334)
    assert run_engines(portfolio, "2026-03-11", small).as_of == dt.date(2026, 3, 11)
    with pytest.raises(DateError) as caught:
        run_engines(portfolio, "2026-03-12", small)
    assert str(caught.value).startswith("2 clients x 11 days (2026-03-02 to 2026-03-12) are 22 client-days; "
                                        "this machine's memory holds at most 20 in one run")


def test_the_client_day_limit_is_three_quarters_of_the_memory_at_500_bytes() -> None:
    # 4 GiB: 4,294,967,296 x 3/4 = 3,221,225,472 bytes / 500 = 6,442,450 client-days (the benchmarks'
    # 10,000-client year, 3.65 M client-days, fits)
    assert engine_module.client_day_limit(4 * 2**30) == 6_442_450
    assert engine_module.client_day_limit(2 * 10**9) == 3_000_000  # 1.5e9 / 500
    assert engine_module.client_day_limit(10**6) == 1_000_000  # never fewer than a million
    assert engine_module.client_day_limit(None) == 20_000_000  # unknown memory (no sysconf): ~10 GiB


def test_the_settings_carry_the_machines_memory() -> None:
    # read outside the engines (which import no os): the physical memory, 23.5 GiB on the benchmark machine
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert machine_memory_bytes() == memory
    # the environment reader (inputs.environment) fills it; a bare Settings record knows no machine (the engines
    # then plan with their stated fallback limit)
    assert load_settings({}).memory_bytes == memory and Settings().memory_bytes is None
    limit = engine_module.client_day_limit(memory)
    assert 1_000_000 <= limit <= max(memory // 500, 1_000_000)
    assert limit >= 3_650_000 or memory < 4 * 2**30


def test_the_cli_refuses_an_as_of_date_outside_the_range_and_writes_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    data = write_folder(tmp_path / "data")
    assert main(["run", "--data", str(data), "--out", str(out), "--as-of", "2100-01-01", "--no-store"]) == 2
    assert "as-of date 2100-01-01 is out of range; expected a date from 1900-01-01 to 2099-12-31" in \
        capsys.readouterr().err
    assert not out.exists()
