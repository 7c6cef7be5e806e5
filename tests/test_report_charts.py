"""The report's Dashboard charts: read the workbook back and follow every series to real numbers."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart._chart import ChartBase

from atlas_xl.engines.run import run_engines
from atlas_xl.outputs.report.charts import CHART_DATA_SHEET
from atlas_xl.outputs.report.layout import write_report
from tests.portfolio_builder import client, daily_sales, loan, portfolio, reserve

DAY = dt.date(2026, 3, 2)  # a Monday and a TARGET2 banking day: daily payouts are due
REF = re.compile(r"^'?(?P<sheet>[^'!]+)'?!\$?(?P<c1>[A-Z]+)\$?(?P<r1>\d+)"
                 r"(:\$?(?P<c2>[A-Z]+)\$?(?P<r2>\d+))?$")

TITLES = [
    "Payouts: clients ready vs blocked",
    "Payouts: amount ready vs held back",
    "Exposure by limit status",
    "Ten largest exposures vs credit limits",
    "Reserves held vs released per month",
    "Monthly repayment projection",
]


def small_portfolio(with_loan: bool = True):
    """One data day. C1 ready; C2 blocked (and over its limit); C3 KYC pending (near its limit)."""
    loans = [loan("L1", "C1", "term_loan", 120_000, DAY, rate_ppm=120_000, periods=12, method="linear",
                  day_count="30/360")] if with_loan else []
    return portfolio(
        [client("C1", credit_limit_cents=500_000), client("C2", status="blocked", credit_limit_cents=1_000),
         client("C3", kyc_status="pending", credit_limit_cents=1_500)],
        daily_sales("C1", DAY, 1, 100_000) + daily_sales("C2", DAY, 1, 50_000)
        + daily_sales("C3", DAY, 1, 70_000),
        [reserve("C1", rate_ppm=100_000, hold_days=7)],
        loans,
    )


def write(tmp_path: Path, with_loan: bool = True) -> openpyxl.Workbook:
    path = write_report(run_engines(small_portfolio(with_loan)), tmp_path / "report.xlsx", "test data")
    return openpyxl.load_workbook(path)


def title_of(chart: ChartBase) -> str:
    return "".join(run.t for par in chart.title.tx.rich.p for run in (par.r or []))


def cells(book: openpyxl.Workbook, formula: str) -> list[object]:
    """The values a chart reference such as 'Chart data'!$B$5:$B$6 points at (one column)."""
    match = REF.match(formula)
    assert match, f"unexpected reference {formula!r}"
    assert match["sheet"] == CHART_DATA_SHEET
    assert match["c2"] in (None, match["c1"]), "a series is one column"
    ws = book[match["sheet"]]
    first, last = int(match["r1"]), int(match["r2"] or match["r1"])
    return [ws[f"{match['c1']}{row}"].value for row in range(first, last + 1)]


def category_ref(series) -> str:
    return series.cat.strRef.f if series.cat.strRef else series.cat.numRef.f


def all_series(chart: ChartBase) -> list:
    # A combined chart (columns + line) reads back as the bar chart with the line chart in `_charts`.
    series = list(chart.series)
    for sub in getattr(chart, "_charts", []):
        if sub is not chart:
            series += list(sub.series)
    return series


def series_values(book: openpyxl.Workbook, chart: ChartBase) -> dict[str, list[object]]:
    out = {}
    for s in all_series(chart):
        name = cells(book, s.tx.strRef.f)[0]
        out[name] = cells(book, s.val.numRef.f)
    return out


def test_every_chart_series_points_at_a_non_empty_range_of_numbers(tmp_path: Path) -> None:
    book = write(tmp_path)
    charts = book["Dashboard"]._charts
    assert [title_of(c) for c in charts] == TITLES
    for chart in charts:
        series = all_series(chart)
        assert series, title_of(chart)
        for s in series:
            values = cells(book, s.val.numRef.f)
            assert values, title_of(chart)
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in values), values
            categories = cells(book, category_ref(s))
            assert len(categories) == len(values)
            assert all(isinstance(c, str) and c for c in categories), categories


def test_chart_values_are_the_engine_figures(tmp_path: Path) -> None:
    book = write(tmp_path)
    charts = {title_of(c): c for c in book["Dashboard"]._charts}
    # C1: sale 1,000.00 - rolling reserve hold 10 % (100.00) = 900.00 ready.
    # Not due: none. Blocked: C2 500.00 + C3 700.00 = 1,200.00 held back (no reserve terms: nothing held).
    assert series_values(book, charts[TITLES[0]]) == {"Clients": [1, 0, 2]}
    assert series_values(book, charts[TITLES[1]]) == {"Amount (EUR)": [900, 0, 1200]}
    # Exposure = loans + accrued interest + 2 % chargeback risk on recent sales - reserve collateral:
    # C1 1,200.00 + 0 + 20.00 - 100.00 = 1,120.00 of 5,000.00 -> 22.4 % OK
    # C2 0 + 10.00 = 10.00 of 10.00 -> 100 % BREACH;  C3 14.00 of 15.00 -> 93.3 % WARNING (>= 80 %)
    assert series_values(book, charts[TITLES[2]]) == {"Exposure (EUR)": [1120, 14, 10]}
    ws = book[CHART_DATA_SHEET]
    status_rows = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert (status_rows["OK"], status_rows["WARNING"], status_rows["BREACH"]) == (1, 1, 1)
    top = charts[TITLES[3]]
    assert series_values(book, top) == {"Exposure (EUR)": [1120, 14, 10],
                                        "Credit limit (EUR)": [5000, 15, 10]}
    assert cells(book, category_ref(top.series[0])) == ["C1", "C3", "C2"]
    # Rolling reserve: 10 % of 1,000.00 held in March 2026, nothing released yet (7-day hold).
    assert series_values(book, charts[TITLES[4]]) == {"Held (EUR)": [100], "Released (EUR)": [0]}
    # 1,200.00 linear over 12 months at 12 % (30/360): principal 100.00 a month; interest 1 % of the
    # opening balance: April 12.00 (1,200.00 x 1 %), May 11.00, ..., March 2027 1.00; March 2026 is the
    # start month with no instalment.
    projection = series_values(book, charts[TITLES[5]])
    assert projection["Principal (EUR)"] == [0] + [100] * 12
    assert projection["Interest (EUR)"] == [0] + list(range(12, 0, -1))
    assert projection["Outstanding (EUR)"] == [1200 - 100 * i for i in range(13)]


def test_money_on_the_chart_data_sheet_is_exact_cents(tmp_path: Path) -> None:
    book = write(tmp_path)
    ws = book[CHART_DATA_SHEET]
    money = [c for row in ws.iter_rows() for c in row if c.number_format == "#,##0.00"]
    assert money
    for cell in money:  # written as Decimal euros: never more than 2 decimals
        assert Decimal(repr(cell.value)) * 100 == (Decimal(repr(cell.value)) * 100).to_integral_value()


def test_without_loans_the_projection_chart_is_left_out_and_said_so(tmp_path: Path) -> None:
    book = write(tmp_path, with_loan=False)
    assert [title_of(c) for c in book["Dashboard"]._charts] == TITLES[:5]
    texts = [c.value for row in book[CHART_DATA_SHEET].iter_rows() for c in row]
    assert "(no data: chart omitted)" in texts


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"http://x\",\"click\")", "@SUM(1+1)"])
def test_chart_categories_from_data_stay_text(tmp_path: Path, hostile: str) -> None:
    # Client ids are restricted by the loader, but the chart sheet must not rely on it.
    p = small_portfolio()
    clients = p.clients.copy()
    clients.loc[0, "client_id"] = hostile
    settlements = p.settlements.copy()
    settlements.loc[settlements["client_id"] == "C1", "client_id"] = hostile
    p2 = type(p)(clients=clients, settlements=settlements, loans=p.loans.iloc[0:0],
                 reserve_terms=p.reserve_terms.iloc[0:0])
    path = write_report(run_engines(p2), tmp_path / "r.xlsx", "test")
    ws = openpyxl.load_workbook(path)[CHART_DATA_SHEET]
    found = [c for row in ws.iter_rows() for c in row if c.value == hostile]
    assert found and all(c.data_type == "s" for c in found)
