"""The operations report workbook (openpyxl, write-only): values, not formulas, formatted for an ops team.

Adapter only: every figure comes from `EngineResult`; this module converts cents to exact decimals for
display and lays out sheets. Texts from the data go through `xlsafe` (never evaluated as formulas).
A sheet that would pass Excel's row limit is split into numbered parts, and the first part says so.

Table sheets (~1.5 M cells at 10,000 clients) do not go through openpyxl's per-cell `append`, which costs
~10 us a cell (a cell object, type inference, style binding and several lxml calls each); their rows are
built as XML a column at a time (Arrow string kernels, `report_cells`) and zipped in the place openpyxl
leaves for them in its file for the sheet (`SheetRows`). The openpyxl and zipfile internals that takes are all in
`openpyxl_fast`; where they are missing, the same cells go through openpyxl's public `append` (`_append_data`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from atlas_xl import __version__
from atlas_xl.domain.model import EXCEL_MAX_ROWS
from atlas_xl.engines.run import EngineResult
from atlas_xl.outputs.files import replacing
from atlas_xl.outputs.report import reconciliation
from atlas_xl.outputs.report.charts import add_dashboard_charts
from atlas_xl.outputs.report.fast_xlsx import (
    NUMBER_TEXT,
    TEXT,
    arrow_texts,
    cell_after,
    lit,
    number_cells,
    text_cells,
)
from atlas_xl.outputs.report.openpyxl_fast import SheetRows, WriteOnlyWorksheet, save_workbook, sheet_rows
from atlas_xl.outputs.report.reconciliation import has_feedback
from atlas_xl.outputs.xlsafe import safe_cell, sheet_text_array, sheet_texts

MONEY = "#,##0.00"
DATE = "yyyy-mm-dd"
PERCENT = "0.0%"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F3864")
HEADER_ALIGNMENT = Alignment(wrap_text=True, vertical="top")
RED = PatternFill("solid", fgColor="F8CBAD")
AMBER = PatternFill("solid", fgColor="FFE699")
GREEN = PatternFill("solid", fgColor="C6EFCE")
CHUNK_ROWS = 2_000  # rows built and spooled at a time: bounds memory on million-row sheets


@dataclass(frozen=True)
class Col:
    header: str
    source: str
    kind: str = "text"  # text | money | date | int | percent | bool
    width: int = 14
    total: bool = True  # a money column summed in a table's 'Total' row (False: a per-client setting)


def _money(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else Decimal(int(v)).scaleb(-2) for v in values]


def _percent(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else Decimal(int(v)).scaleb(-6) for v in values]


def _dates(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else pd.Timestamp(v).date() for v in values]


# Per-cell values for the Dashboard's KPI cells (and the text kinds of table columns).
CONVERT: dict[str, Callable[[pd.Series], list[object]]] = {
    "money": _money,
    "percent": _percent,
    "date": _dates,
    "int": lambda s: [None if pd.isna(v) else int(v) for v in s],
    "bool": lambda s: ["yes" if bool(v) else "no" for v in s.tolist()],
    "text": lambda s: ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s.tolist()],
}
FORMAT = {"money": MONEY, "percent": PERCENT, "date": DATE, "int": "0"}


def _where(sheet: str, row: int, column: int, header: str | None = None) -> str:
    cell = f"sheet {sheet!r}, cell {get_column_letter(column + 1)}{row}"
    return f"{cell} (column {header!r})" if header else cell


def _columns(frame: pd.DataFrame, columns: Sequence[Col], sheet: str,
             first_row: int) -> tuple[list[pa.Array], list[pa.Array | None]]:
    """Each column whole: <v> texts of number kinds (null: none); texts as cells store them, and which are
    formula-like (None for number kinds)."""
    values: list[pa.Array] = []
    quoted: list[pa.Array | None] = []
    for j, col in enumerate(columns):
        series = frame[col.source]
        if col.kind in FORMAT:
            values.append(NUMBER_TEXT[col.kind](series))
            quoted.append(None)
            continue

        def locate(i: int, j: int = j) -> str:
            return _where(sheet, first_row + i, j, columns[j].header)

        texts = arrow_texts(series, col.kind)
        if texts is None:  # a column Arrow does not hold as text: converted and checked value by value
            plain, flags = sheet_texts(CONVERT[col.kind](series), locate)
            texts, formula_like = pa.array(plain, TEXT), pa.array(flags, pa.bool_())
        else:
            texts, formula_like = sheet_text_array(texts, locate)
        values.append(texts)
        quoted.append(formula_like)
    return values, quoted


def _append_data(ws: WriteOnlyWorksheet, frame: pd.DataFrame, columns: Sequence[Col],
                 values: Sequence[pa.Array]) -> None:
    """The data rows through openpyxl's public write-only API, one cell object each (~10 times slower than
    `SheetRows`): numbers as CONVERT gives them with their format, texts as `_columns` checked them."""
    cells = [CONVERT[c.kind](frame[c.source]) if c.kind in FORMAT else v.to_pylist()
             for c, v in zip(columns, values, strict=True)]
    formats = [FORMAT.get(c.kind) for c in columns]
    for row in zip(*cells, strict=True):
        out = []
        for value, number_format in zip(row, formats, strict=True):
            cell = safe_cell(ws, value)
            if number_format:
                cell.number_format = number_format
            out.append(cell)
        ws.append(out)


class ReportWriter:
    def __init__(self) -> None:
        self.book = Workbook(write_only=True)
        self._styles: dict[tuple[str | None, bool, bool], str] = {}
        self._sheet_rows: list[SheetRows] = []

    def _style(self, ws: WriteOnlyWorksheet, number_format: str | None = None, quote: bool = False,
               header: bool = False) -> str:
        """A cell's style attribute (' s="7"', or "" for the default style), registered on first use."""
        key = (number_format, quote, header)
        if key not in self._styles:
            cell = WriteOnlyCell(ws)  # a template: openpyxl binds the style once, every cell reuses its id
            if quote:
                cell.quotePrefix = True
            if header:
                cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
            if number_format:
                cell.number_format = number_format
            self._styles[key] = f' s="{cell.style_id}"' if cell.has_style else ""
        return self._styles[key]

    def _text_row(self, ws: WriteOnlyWorksheet, rows: SheetRows | None, texts: list[str], row: int,
                  header: bool = False) -> None:
        """One row of text cells (the note, the header): through `rows`, or appended where it is None."""
        texts, quoted = sheet_texts(texts, lambda j: _where(ws.title, row, j))
        if rows is None:
            cells = [safe_cell(ws, text) for text in texts]
            for cell in cells if header else ():
                cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
            ws.append(cells)
            return
        plain = self._style(ws, header=header)
        quote = self._style(ws, quote=True, header=header) if any(quoted) else ""
        cells = text_cells(pa.array(texts, TEXT), pa.array(quoted, pa.bool_()), plain, quote, "")
        rows.write(row, [pc.binary_join_element_wise(cells.slice(j, 1), lit(cell_after(j, len(texts))), lit(""))
                         for j in range(len(texts))])

    def table(self, title: str, frame: pd.DataFrame, columns: Sequence[Col], *, note: str | None = None,
              status_column: str | None = None, totals: bool = False) -> list[WriteOnlyWorksheet]:
        """Write `frame` as one sheet (or several, past Excel's row limit) with header, filter and formats;
        with `totals`, a 'Total' row under the last part's data sums every money column (outside the filter)."""
        rows_per_sheet = EXCEL_MAX_ROWS - (4 if totals else 3)  # header, note, (total) row
        parts = max(1, -(-len(frame) // rows_per_sheet))
        sheets = []
        for part in range(parts):
            name = (title if parts == 1 else f"{title} ({part + 1})")[:31]
            top = 2 if (note or parts > 1) else 1
            start, stop = part * rows_per_sheet, min((part + 1) * rows_per_sheet, len(frame))
            # all values converted and checked before the sheet exists: bad data leaves no half-written sheet
            values, quoted = _columns(frame.iloc[start:stop], columns, name, top + 1)
            ws = self.book.create_sheet(name)
            for i, col in enumerate(columns, start=1):
                ws.column_dimensions[get_column_letter(i)].width = col.width
            ws.freeze_panes = f"A{top + 1}"  # write-only sheets take their view before the first row
            rows = sheet_rows(ws)  # None: openpyxl's internals are not there, cells go through append()
            if rows is not None:
                self._sheet_rows.append(rows)
            if top == 2:
                split = (f"{len(frame):,} rows exceed Excel's {EXCEL_MAX_ROWS:,}-row limit: split into {parts} "
                         f"sheets '{title} (1..{parts})'." if parts > 1 else "")
                self._text_row(ws, rows, [" ".join(x for x in (note or "", split) if x)], 1)
            self._text_row(ws, rows, [c.header for c in columns], top, header=True)
            if rows is None:
                _append_data(ws, frame.iloc[start:stop], columns, values)
            else:
                self._data(ws, rows, columns, values, quoted, top + 1)
            last_row = top + (stop - start)
            if totals and part == parts - 1:
                self._totals(ws, rows, frame, columns, last_row + 1)
            last_col = get_column_letter(len(columns))
            ws.auto_filter.ref = f"A{top}:{last_col}{max(last_row, top)}"
            if status_column is not None and stop > start:
                letter = get_column_letter([c.source for c in columns].index(status_column) + 1)
                rng = f"{letter}{top + 1}:{letter}{last_row}"
                ws.conditional_formatting.add(rng, CellIsRule(operator="equal", formula=['"BREACH"'], fill=RED))
                ws.conditional_formatting.add(rng, CellIsRule(operator="equal", formula=['"WARNING"'], fill=AMBER))
                ws.conditional_formatting.add(rng, CellIsRule(operator="equal", formula=['"OK"'], fill=GREEN))
            sheets.append(ws)
        return sheets

    def _totals(self, ws: WriteOnlyWorksheet, rows: SheetRows | None, frame: pd.DataFrame, columns: Sequence[Col],
                row: int) -> None:
        """The 'Total' row: the sum of each money column over every row of `frame`; other cells blank."""
        line: dict[str, pd.Series] = {}
        shown: list[Col] = []
        for j, col in enumerate(columns):
            if col.kind == "money" and col.total and j > 0:
                line[col.source] = pd.Series([int(frame[col.source].sum())], dtype="int64")
                shown.append(col)
            else:  # the label in the first column, every other cell blank text
                line[col.source] = pd.Series(["Total" if j == 0 else ""], dtype=object)
                shown.append(replace(col, kind="text"))
        total = pd.DataFrame(line)
        columns = shown
        values, quoted = _columns(total, columns, ws.title, row)
        if rows is None:
            _append_data(ws, total, columns, values)
        else:
            self._data(ws, rows, columns, values, quoted, row)

    def _data(self, ws: WriteOnlyWorksheet, rows: SheetRows, columns: Sequence[Col],
              values: Sequence[pa.Array], quoted: Sequence[pa.Array | None], first_row: int) -> None:
        """The data rows from `_columns`' output, CHUNK_ROWS rows at a time."""
        count = len(values[0]) if values else 0
        # Styles get their ids in the order the per-cell writer met them (row by row, left to right), so
        # styles.xml comes out the same: number formats in the first row, quote prefix where first needed.
        first_use = [(0, j, FORMAT[c.kind], False) for j, c in enumerate(columns) if c.kind in FORMAT and count]
        first_quoted = [-1 if flags is None else pc.index(flags, True).as_py() for flags in quoted]
        first_use += [(i, j, None, True) for j, i in enumerate(first_quoted) if i >= 0]
        for _, _, number_format, quote in sorted(first_use):
            self._style(ws, number_format, quote)
        plain = self._style(ws)
        quote = self._style(ws, quote=True) if max(first_quoted, default=-1) >= 0 else ""
        ends = [cell_after(j, len(columns)) for j in range(len(columns))]
        for begin in range(0, count, CHUNK_ROWS):
            cells = [number_cells(v.slice(begin, CHUNK_ROWS), self._style(ws, FORMAT[c.kind]), end) if q is None
                     else text_cells(v.slice(begin, CHUNK_ROWS), q.slice(begin, CHUNK_ROWS), plain, quote, end)
                     for c, v, q, end in zip(columns, values, quoted, ends, strict=True)]
            rows.write(first_row + begin, cells)

    def save(self, path: Path) -> None:
        """Write through `files.replacing`: a failed run leaves no partial report."""
        try:
            for rows in self._sheet_rows:
                rows.finish()
            with replacing(path) as tmp:
                save_workbook(self.book, tmp, self._sheet_rows)
        except BaseException:
            # a refused target: close the sheets openpyxl's save did not reach, so that no open XML stream
            # is left for the garbage collector to report (the CLI shows those as 'ignored while cleaning up')
            for ws in self.book.worksheets:
                with contextlib.suppress(Exception):  # a sheet closed already says so; nothing else to do
                    ws.close()
            raise


KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("As-of date", "as_of", "text"),
    ("Clients", "clients", "int"),
    ("Payouts ready", "payouts_ready", "int"),
    ("Payouts blocked", "payouts_blocked", "int"),
    ("Payouts not due (off-cycle)", "payouts_not_due", "int"),
    ("Total to pay (EUR)", "total_to_pay_cents", "money"),
    ("Held back from blocked clients (EUR)", "held_back_cents", "money"),
    ("Not due: paid on the next payout day (EUR)", "not_due_cents", "money"),
    ("Reserve balance (EUR)", "reserve_balance_cents", "money"),
    ("Upcoming reserve releases (EUR)", "upcoming_releases_cents", "money"),
    ("Total exposure (EUR)", "total_exposure_cents", "money"),
    ("Top-10 share of exposure", "top10_share_ppm", "percent"),
    ("Limit breaches", "limit_breaches", "int"),
    ("Limit warnings", "limit_warnings", "int"),
    ("Alerts", "alerts", "int"),
    ("Loans outstanding, as the ledger (EUR)", "loans_outstanding_cents", "money"),
    ("Refused input rows", "refused_rows", "int"),
)

PAYOUT_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Name", "name", width=32), Col("Status", "readiness", width=10),
    Col("Reasons", "reason_text", width=40), Col("Days held", "days_held", "int", 9),
    Col("Last payout", "last_payout_date", "date", 12), Col("Last payout amount", "last_payout_cents", "money"),
    Col("Country", "country", width=8), Col("IBAN", "iban", width=30), Col("BIC", "bic", width=13),
    Col("Frequency", "payout_frequency", width=10),
    Col("Carried forward", "carried_forward_cents", "money"), Col("Net settlement", "net_settlement_cents", "money"),
    Col("Fees", "fees_cents", "money"), Col("New reserve holds", "new_holds_cents", "money"),
    Col("Releases", "releases_cents", "money"), Col("Available", "available_cents", "money"),
    Col("Factoring withheld", "withheld_cents", "money"), Col("Payable", "amount_cents", "money"),
    Col("Minimum payout", "min_payout_cents", "money", total=False), Col("Ready", "ready", "bool", 8),
    Col("Reason codes", "reasons", width=40), Col("IBAN problem", "iban_problem", width=40),
]
EXPOSURE_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Name", "name", width=32),
    Col("Credit limit", "credit_limit_cents", "money", total=False),
    Col("Factoring outstanding", "factoring_outstanding_cents", "money"),
    Col("Loan outstanding", "loan_outstanding_cents", "money"),
    Col("Accrued interest", "accrued_interest_cents", "money"),
    Col("Negative balance", "negative_balance_cents", "money"),
    Col("Chargeback risk", "chargeback_risk_cents", "money"),
    Col("Credit risk", "credit_risk_cents", "money"), Col("Acquiring risk", "acquiring_risk_cents", "money"),
    Col("Reserve collateral", "collateral_cents", "money"),
    Col("Exposure", "exposure_cents", "money"), Col("Utilisation", "utilization_ppm", "percent", 11),
    Col("Status", "status", width=10),
]
ALERT_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Name", "name", width=32), Col("Status", "status", width=10),
    Col("Reason", "reason", width=70), Col("Exposure", "exposure_cents", "money"),
    Col("Credit limit", "credit_limit_cents", "money"), Col("Utilisation", "utilization_ppm", "percent", 11),
]
RESERVE_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Reserve", "reserve", width=10),
    Col("Held to date", "held_cents", "money"),
    Col("Released to date", "released_cents", "money"), Col("Balance", "balance_cents", "money"),
    Col("Fixed part", "fixed_cents", "money"), Col("Deferred by minimum", "deferred_cents", "money"),
    Col("Upcoming releases", "upcoming_release_cents", "money"), Col("Next release", "next_release_date", "date", 12),
]
RELEASE_COLUMNS = [
    Col("Release date", "release_date", "date", 12), Col("Client", "client_id", width=12),
    Col("Reserve", "reserve", width=10), Col("Amount", "amount_cents", "money"),
]
DAILY_RELEASE_COLUMNS = [
    Col("Release date", "release_date", "date", 12), Col("Clients", "clients", "int", 9),
    Col("Amount", "amount_cents", "money"),
]
DRILLDOWN_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Subaccount", "subaccount", width=16),
    Col("Movement", "movement", width=24), Col("Postings", "postings", "int", 10),
    Col("Amount", "amount_cents", "money"),
]
BALANCE_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Settlement", "settlement_cents", "money"),
    Col("Rolling reserve", "rolling_reserve_cents", "money"), Col("Partner reserve", "partner_reserve_cents", "money"),
    Col("Factoring", "factoring_cents", "money"),
]
SCHEDULE_COLUMNS = [
    Col("Loan", "loan_id", width=12), Col("Client", "client_id", width=12), Col("Product", "product", width=11),
    Col("Period", "period", "int", 7), Col("Due date", "due_date", "date", 12),
    Col("Opening", "opening_cents", "money"),
    Col("Interest", "interest_cents", "money"), Col("Principal", "principal_cents", "money"),
    Col("Payment", "payment_cents", "money"), Col("Closing", "closing_cents", "money"),
]
PROJECTION_COLUMNS = [
    Col("Month", "month", "date", 12), Col("Principal", "principal_cents", "money"),
    Col("Interest", "interest_cents", "money"), Col("Payment", "payment_cents", "money"),
    Col("Outstanding", "outstanding_cents", "money"),
]
REFUSED_COLUMNS = [
    Col("Table", "table", width=14), Col("Row in file", "source_row", "int", 10), Col("Client", "client_id", width=12),
    Col("Reason", "reason", width=80),
]


RELEASE_DETAIL_LIMIT = 100_000


def releases_for_sheet(releases: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Upcoming releases one row per client, reserve and day; past RELEASE_DETAIL_LIMIT rows, per month."""
    note = "Scheduled releases after the as-of date, rolled to TARGET2 banking days."
    if len(releases) <= RELEASE_DETAIL_LIMIT:
        return releases, note
    monthly = releases.assign(release_date=releases["release_date"].dt.to_period("M").dt.to_timestamp())
    monthly = (monthly.groupby(["release_date", "client_id", "reserve"], as_index=False, sort=True)["amount_cents"]
               .sum())
    return monthly, (f"{note} {len(releases):,} daily rows are more than a sheet should hold: totalled per client, "
                     f"reserve and month (Release date = the month's first day); the daily detail is in the "
                     f"HTML dashboard and =ATLAS_RESERVE_RELEASES().")


def releases_per_day(releases: pd.DataFrame) -> pd.DataFrame:
    """Upcoming reserve releases totalled per day, for cash forecasting: release_date, clients, amount_cents."""
    return (releases.groupby("release_date", as_index=False, sort=True)
            .agg(clients=("client_id", "nunique"), amount_cents=("amount_cents", "sum")))


def by_utilisation(exposure: pd.DataFrame) -> pd.DataFrame:
    """The exposure table, highest utilisation first (no limit: by exposure, after those with one)."""
    order = exposure.assign(_u=exposure["utilization_ppm"].astype("Float64"))
    return order.sort_values(["_u", "exposure_cents", "client_id"], ascending=[False, False, True],
                             na_position="last", kind="stable").drop(columns="_u").reset_index(drop=True)


def source_name(source: str) -> str:
    """The data's file name without the folder it was read from (no server path in a shared report)."""
    return Path(source).name or source


def write_dashboard(writer: ReportWriter, result: EngineResult, source: str) -> WriteOnlyWorksheet:
    ws = writer.book.create_sheet("Dashboard")
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 20
    title = safe_cell(ws, f"Atlas Settlement - operations report as of {result.as_of.isoformat()}")
    title.font = Font(bold=True, size=14)
    ws.append([title])
    ws.append([safe_cell(ws, f"Data: {source_name(source)} | atlas-xl {__version__}")])
    ws.append([])
    kpis = result.kpis.as_dict()
    for label, key, kind in KPI_ROWS:
        value = kpis[key]
        converted = CONVERT[kind](pd.Series([value]))[0] if kind != "text" else str(value)
        cell = safe_cell(ws, converted)
        if kind in FORMAT:
            cell.number_format = FORMAT[kind]
        ws.append([safe_cell(ws, label), cell])
    return ws


def write_report(result: EngineResult, path: Path, source: str, bank: Mapping[str, Any] | None = None) -> Path:
    writer = ReportWriter()
    dashboard = write_dashboard(writer, result, source)
    writer.table("Payouts", result.payouts, PAYOUT_COLUMNS,
                 note=f"Payouts on {result.as_of.isoformat()}: Payable is paid when Ready; otherwise every "
                      f"blocking reason is listed and the balance is carried forward. NOT DUE: the only reason "
                      f"is that today is not the client's payout day (paid on its next one).", totals=True)
    writer.table("Exposure", by_utilisation(result.exposure), EXPOSURE_COLUMNS, status_column="status",
                 note="Highest utilisation first. Credit risk = factoring + term loans + accrued interest; "
                      "acquiring risk = negative balance + chargeback risk.", totals=True)
    writer.table("Alerts", result.alerts, ALERT_COLUMNS, status_column="status")
    writer.table("Reserves", result.reserves, RESERVE_COLUMNS, totals=True)
    releases, release_note = releases_for_sheet(result.reserve_releases)
    writer.table("Reserve releases", releases, RELEASE_COLUMNS, note=release_note, totals=True)
    writer.table("Releases per day", releases_per_day(result.reserve_releases), DAILY_RELEASE_COLUMNS,
                 note="Upcoming reserve releases totalled per day, for the cash forecast.", totals=True)
    writer.table("Balances", result.balances, BALANCE_COLUMNS,
                 note="Subaccount balances after the as-of date's payouts (client's view).", totals=True)
    writer.table("Client drill-down", result.ledger.drilldown(), DRILLDOWN_COLUMNS,
                 note="Each subaccount balance explained by its postings, totalled per movement type.")
    writer.table("Schedules", result.schedules, SCHEDULE_COLUMNS)
    writer.table("Projection", result.projection, PROJECTION_COLUMNS)  # per month: a total would mix balances
    writer.table("Exceptions", result.refused, REFUSED_COLUMNS,
                 note="Input rows refused by a stated rule (e.g. non-EUR settlements are not converted).")
    if has_feedback(bank):  # the store's bank feedback (atlas_xl.outputs.report.reconciliation)
        writer.table(reconciliation.SHEET, reconciliation.reconciliation_frame(bank or {}),
                     [Col(*c) for c in reconciliation.COLUMNS], note=reconciliation.NOTE)
    # Native charts on the Dashboard sheet, fed from a 'Chart data' sheet (atlas_xl.outputs.report.charts).
    add_dashboard_charts(writer.book, dashboard, result)
    writer.save(path)
    return path

