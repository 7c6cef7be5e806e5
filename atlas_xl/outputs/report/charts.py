"""Native charts for the report's Dashboard sheet, drawn from value ranges on a 'Chart data' sheet.

Why a data sheet: a chart in an .xlsx file stores only references to cells (plus a cache that Excel and
LibreOffice rebuild); pointing every series at plain numbers on one sheet makes the charts render the same
in Excel and LibreOffice and lets a reader check each figure. No figure is computed here beyond grouping
engine frames (sums of int cents); cents become exact Decimal euros (cents / 100, no rounding) when written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font

from atlas_xl.domain.model import LimitStatus
from atlas_xl.engines.payouts import Readiness
from atlas_xl.engines.run import EngineResult
from atlas_xl.outputs.report.openpyxl_fast import ChartBase, WriteOnlyWorksheet
from atlas_xl.outputs.xlsafe import safe_cell

CHART_DATA_SHEET = "Chart data"
MONEY = "#,##0.00"
# Chart anchors on the Dashboard sheet: the KPI block fills columns A:B, charts go in two columns beside it.
ANCHORS = ("D2", "L2", "D19", "L19", "D36", "L36")
CHART_WIDTH_CM, CHART_HEIGHT_CM = 15.5, 8.0


def euros(cents: int | np.integer) -> Decimal:
    """Exact: int cents -> Decimal euros (scaleb moves the decimal point; no rounding happens)."""
    return Decimal(int(cents)).scaleb(-2)


@dataclass(frozen=True)
class Block:
    """One table on the chart-data sheet: a title row, a header row, then rows (first column = categories)."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    money_columns: frozenset[int] = frozenset()  # 0-based columns holding euros

    def __len__(self) -> int:
        return len(self.rows)


def payout_block(result: EngineResult) -> Block:
    payouts = result.payouts
    readiness = payouts["readiness"].to_numpy(dtype=object)
    amount = np.clip(payouts["amount_cents"].to_numpy(dtype=np.int64), 0, None)
    # Same figures as the KPI tiles: paid when ready; not due waits for its payout day; blocked is held back.
    rows: list[list[object]] = []
    for label, value in (("Ready", Readiness.READY), ("Not due", Readiness.NOT_DUE), ("Blocked", Readiness.BLOCKED)):
        mine = readiness == value.value
        rows.append([label, int(mine.sum()), euros(amount[mine].sum())])
    return Block("Payouts on the as-of date", ("Readiness", "Clients", "Amount (EUR)"), rows, frozenset({2}))


def exposure_block(result: EngineResult) -> Block:
    exposure = result.exposure
    status = exposure["status"].to_numpy(dtype=object)
    cents = exposure["exposure_cents"].to_numpy(dtype=np.int64)
    rows = []
    for member in LimitStatus:  # three fixed statuses, not a loop over clients
        mask = status == member.value
        rows.append([member.value, int(mask.sum()), euros(cents[mask].sum())])
    return Block("Exposure by limit status", ("Status", "Clients", "Exposure (EUR)"), rows, frozenset({2}))


def top_exposure_block(result: EngineResult) -> Block:
    largest = result.concentration.largest
    top = largest.head(10)
    rows = [
        [str(cid), euros(exp), euros(limit)]
        for cid, exp, limit in zip(
            top["client_id"], top["exposure_cents"], top["credit_limit_cents"], strict=True
        )
    ]
    return Block("Ten largest exposures", ("Client", "Exposure (EUR)", "Credit limit (EUR)"), rows,
                 frozenset({1, 2}))


def reserve_block(result: EngineResult) -> Block:
    monthly = result.reserve_monthly
    if monthly.empty:
        return Block("Reserves held and released per month", ("Month", "Held (EUR)", "Released (EUR)"), [])
    # Rolling and partner reserves added together per month: the portfolio's view.
    per_month = monthly.groupby("month", sort=True)[["held_cents", "released_cents"]].sum()
    rows = [
        [pd.Timestamp(month).strftime("%Y-%m"), euros(held), euros(released)]
        for month, held, released in zip(
            per_month.index, per_month["held_cents"], per_month["released_cents"], strict=True
        )
    ]
    return Block("Reserves held and released per month", ("Month", "Held (EUR)", "Released (EUR)"), rows,
                 frozenset({1, 2}))


def projection_block(result: EngineResult) -> Block:
    projection = result.projection
    rows = [
        [pd.Timestamp(month).strftime("%Y-%m"), euros(principal), euros(interest), euros(outstanding)]
        for month, principal, interest, outstanding in zip(
            projection["month"], projection["principal_cents"], projection["interest_cents"],
            projection["outstanding_cents"], strict=True,
        )
    ]
    return Block("Monthly repayment projection", ("Month", "Principal (EUR)", "Interest (EUR)",
                                                  "Outstanding (EUR)"), rows, frozenset({1, 2, 3}))


@dataclass(frozen=True)
class Placed:
    """Where a block landed on the chart-data sheet (1-based rows; header row, then data rows)."""

    block: Block
    header_row: int

    @property
    def first(self) -> int:
        return self.header_row + 1

    @property
    def last(self) -> int:
        return self.header_row + len(self.block)


def write_chart_data(ws: WriteOnlyWorksheet, blocks: Sequence[Block]) -> list[Placed]:
    """Append the blocks one under another (write-only sheets are filled top to bottom)."""
    ws.column_dimensions["A"].width = 18
    for letter in "BCD":
        ws.column_dimensions[letter].width = 20
    title = safe_cell(ws, "Values behind the Dashboard charts (amounts in EUR, exact from integer cents).")
    title.font = Font(bold=True)
    ws.append([title])
    row = 1
    placed = []
    for block in blocks:
        ws.append([])
        heading = safe_cell(ws, block.title)
        heading.font = Font(bold=True)
        ws.append([heading])
        ws.append([safe_cell(ws, h) for h in block.header])
        row += 3
        placed.append(Placed(block, row))
        for values in block.rows:
            cells = []
            for i, value in enumerate(values):
                cell = safe_cell(ws, value)
                if i in block.money_columns:
                    cell.number_format = MONEY
                cells.append(cell)
            ws.append(cells)
        if not block.rows:
            ws.append([safe_cell(ws, "(no data: chart omitted)")])
            row += 1
        row += len(block.rows)
    return placed


def _size(chart: ChartBase, title: str, y_title: str) -> ChartBase:
    chart.title = title
    chart.y_axis.title = y_title
    chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
    # openpyxl >= 3.1 hides axes unless told (delete=True by default); Excel then shows no labels.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.y_axis.scaling.min = 0  # LibreOffice otherwise starts the axis near the smallest value
    chart.legend.position = "b"
    return chart


def _bar(ws: WriteOnlyWorksheet, placed: Placed, columns: Sequence[int], title: str, y_title: str,
         number_format: str = MONEY) -> BarChart:
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "clustered"
    _size(chart, title, y_title)
    chart.y_axis.number_format = number_format
    for col in columns:
        chart.add_data(Reference(ws, min_col=col, min_row=placed.header_row, max_row=placed.last),
                       titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=placed.first, max_row=placed.last))
    if len(columns) == 1:
        chart.legend = None  # one series: the title says what it is
    return chart


def build_charts(ws: WriteOnlyWorksheet, placed: Sequence[Placed]) -> list[ChartBase]:
    payouts, exposure, top, reserves, projection = placed
    charts: list[ChartBase] = []
    # Count and amount have different units: two small charts rather than one with two scales.
    charts.append(_bar(ws, payouts, [2], "Payouts: clients ready vs blocked", "Clients", "0"))
    charts.append(_bar(ws, payouts, [3], "Payouts: amount ready vs held back", "EUR"))
    charts.append(_bar(ws, exposure, [3], "Exposure by limit status", "EUR"))
    if len(top.block):
        charts.append(_bar(ws, top, [2, 3], "Ten largest exposures vs credit limits", "EUR"))
    if len(reserves.block):
        charts.append(_bar(ws, reserves, [2, 3], "Reserves held vs released per month", "EUR"))
    if len(projection.block):
        bars = _bar(ws, projection, [2, 3], "Monthly repayment projection", "EUR per month")
        bars.grouping = "stacked"
        bars.overlap = 100  # stacked columns must overlap fully
        line = LineChart()
        line.add_data(Reference(ws, min_col=4, min_row=projection.header_row, max_row=projection.last),
                      titles_from_data=True)
        line.set_categories(Reference(ws, min_col=1, min_row=projection.first, max_row=projection.last))
        line.series[0].smooth = False  # a balance moves in steps; a smoothed curve would invent values
        line.y_axis.axId = 200  # second value axis: the outstanding balance dwarfs a month's flow
        line.y_axis.title = "Outstanding EUR"
        line.y_axis.number_format = MONEY
        line.y_axis.crosses = "max"
        line.y_axis.delete = False
        bars += line
        charts.append(bars)
    return charts


def add_dashboard_charts(book: Workbook, dashboard: WriteOnlyWorksheet,
                         result: EngineResult) -> list[ChartBase]:
    """Write the 'Chart data' sheet into `book` and anchor the charts on `dashboard`; returns the charts."""
    data_ws = book.create_sheet(CHART_DATA_SHEET)
    # hidden: the figures behind the Dashboard's charts, not a sheet to read (Format > Sheet > Unhide shows it)
    data_ws.sheet_state = "hidden"
    blocks = [payout_block(result), exposure_block(result), top_exposure_block(result), reserve_block(result),
              projection_block(result)]
    placed = write_chart_data(data_ws, blocks)
    charts = build_charts(data_ws, placed)
    for chart, anchor in zip(charts, ANCHORS, strict=False):
        dashboard.add_chart(chart, anchor)
    # Print (and PDF export) the KPI block with all charts on one landscape A4 page. The page setup is
    # written after the rows in a write-only sheet, so it can still be set here; "fit to page" cannot.
    dashboard.page_setup.orientation = "landscape"
    dashboard.page_setup.paperSize = "9"  # A4
    dashboard.page_setup.scale = 48
    return charts
