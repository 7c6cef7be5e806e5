"""The operations report workbook (openpyxl, write-only): values, not formulas, formatted for an ops team.

Adapter only: every figure comes from `EngineResult`; this module converts cents to exact Decimals for
display and lays out sheets. Texts from the data go through `xlsafe` (never evaluated as formulas).
A sheet that would pass Excel's row limit is split into numbered parts, and the first part says so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from atlas_xl import __version__
from atlas_xl.engine import EngineResult
from atlas_xl.xlsafe import safe_cell

EXCEL_MAX_ROWS = 1_048_576
MONEY = "#,##0.00"
DATE = "yyyy-mm-dd"
PERCENT = "0.0%"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F3864")
RED = PatternFill("solid", fgColor="F8CBAD")
AMBER = PatternFill("solid", fgColor="FFE699")
GREEN = PatternFill("solid", fgColor="C6EFCE")


@dataclass(frozen=True)
class Col:
    header: str
    source: str
    kind: str = "text"  # text | money | date | int | percent | bool
    width: int = 14


def _money(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else Decimal(int(v)).scaleb(-2) for v in values]


def _percent(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else Decimal(int(v)).scaleb(-6) for v in values]


def _dates(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else pd.Timestamp(v).date() for v in values]


CONVERT: dict[str, Callable[[pd.Series], list[object]]] = {
    "money": _money,
    "percent": _percent,
    "date": _dates,
    "int": lambda s: [None if pd.isna(v) else int(v) for v in s],
    "bool": lambda s: ["yes" if bool(v) else "no" for v in s],
    "text": lambda s: ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s],
}
FORMAT = {"money": MONEY, "percent": PERCENT, "date": DATE, "int": "0"}


class ReportWriter:
    def __init__(self) -> None:
        self.book = Workbook(write_only=True)

    def _header(self, ws: WriteOnlyWorksheet, columns: Sequence[Col]) -> list[WriteOnlyCell]:
        cells = []
        for col in columns:
            cell = safe_cell(ws, col.header)
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cells.append(cell)
        return cells

    def table(self, title: str, frame: pd.DataFrame, columns: Sequence[Col], *, note: str | None = None,
              status_column: str | None = None) -> list[WriteOnlyWorksheet]:
        """Write `frame` as one sheet (or several, past Excel's row limit) with header, filter and formats."""
        converted = [CONVERT[c.kind](frame[c.source]) for c in columns]
        rows_per_sheet = EXCEL_MAX_ROWS - 3
        parts = max(1, -(-len(frame) // rows_per_sheet))
        sheets = []
        for part in range(parts):
            name = title if parts == 1 else f"{title} ({part + 1})"
            ws = self.book.create_sheet(name[:31])
            for i, col in enumerate(columns, start=1):
                ws.column_dimensions[get_column_letter(i)].width = col.width
            top = 2 if (note or parts > 1) else 1
            ws.freeze_panes = f"A{top + 1}"  # write-only sheets take their view before the first row
            if top == 2:
                split = (f"{len(frame):,} rows exceed Excel's {EXCEL_MAX_ROWS:,}-row limit: split into {parts} "
                         f"sheets '{title} (1..{parts})'." if parts > 1 else "")
                ws.append([safe_cell(ws, " ".join(x for x in (note or "", split) if x))])
            ws.append(self._header(ws, columns))
            start, stop = part * rows_per_sheet, min((part + 1) * rows_per_sheet, len(frame))
            formats = [FORMAT.get(c.kind) for c in columns]
            for r in range(start, stop):
                row = []
                for values, fmt in zip(converted, formats, strict=True):
                    cell = safe_cell(ws, values[r])
                    if fmt:
                        cell.number_format = fmt
                    row.append(cell)
                ws.append(row)
            last_row = top + (stop - start)
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

    def save(self, path: Path) -> None:
        """Write to a temporary file beside `path`, then rename: a failed run leaves no partial report."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            self.book.save(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("As-of date", "as_of", "text"),
    ("Clients", "clients", "int"),
    ("Payouts ready", "payouts_ready", "int"),
    ("Payouts blocked", "payouts_blocked", "int"),
    ("Total to pay (EUR)", "total_to_pay_cents", "money"),
    ("Held back from blocked clients (EUR)", "held_back_cents", "money"),
    ("Reserve balance (EUR)", "reserve_balance_cents", "money"),
    ("Upcoming reserve releases (EUR)", "upcoming_releases_cents", "money"),
    ("Total exposure (EUR)", "total_exposure_cents", "money"),
    ("Top-10 share of exposure", "top10_share_ppm", "percent"),
    ("Limit breaches", "limit_breaches", "int"),
    ("Limit warnings", "limit_warnings", "int"),
    ("Alerts", "alerts", "int"),
    ("Loans outstanding (EUR)", "loans_outstanding_cents", "money"),
    ("Refused input rows", "refused_rows", "int"),
)

PAYOUT_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Name", "name", width=32), Col("Country", "country", width=8),
    Col("IBAN", "iban", width=30), Col("BIC", "bic", width=13), Col("Frequency", "payout_frequency", width=10),
    Col("Carried forward", "carried_forward_cents", "money"), Col("Net settlement", "net_settlement_cents", "money"),
    Col("Fees", "fees_cents", "money"), Col("New reserve holds", "new_holds_cents", "money"),
    Col("Releases", "releases_cents", "money"), Col("Available", "available_cents", "money"),
    Col("Factoring withheld", "withheld_cents", "money"), Col("Payable", "amount_cents", "money"),
    Col("Minimum payout", "min_payout_cents", "money"), Col("Ready", "ready", "bool", 8),
    Col("Blocking reasons", "reasons", width=40), Col("IBAN problem", "iban_problem", width=40),
]
EXPOSURE_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Name", "name", width=32),
    Col("Credit limit", "credit_limit_cents", "money"),
    Col("Factoring outstanding", "factoring_outstanding_cents", "money"),
    Col("Loan outstanding", "loan_outstanding_cents", "money"),
    Col("Accrued interest", "accrued_interest_cents", "money"),
    Col("Negative balance", "negative_balance_cents", "money"),
    Col("Chargeback risk", "chargeback_risk_cents", "money"), Col("Reserve collateral", "collateral_cents", "money"),
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


def write_dashboard(writer: ReportWriter, result: EngineResult, source: str) -> WriteOnlyWorksheet:
    ws = writer.book.create_sheet("Dashboard")
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 20
    title = safe_cell(ws, f"Atlas Settlement - operations report as of {result.as_of.isoformat()}")
    title.font = Font(bold=True, size=14)
    ws.append([title])
    ws.append([safe_cell(ws, f"Data: {source} | atlas-xl {__version__}")])
    ws.append([])
    for label, key, kind in KPI_ROWS:
        value = result.kpis[key]
        converted = CONVERT[kind](pd.Series([value]))[0] if kind != "text" else str(value)
        cell = safe_cell(ws, converted)
        if kind in FORMAT:
            cell.number_format = FORMAT[kind]
        ws.append([safe_cell(ws, label), cell])
    return ws


def write_report(result: EngineResult, path: Path, source: str) -> Path:
    writer = ReportWriter()
    dashboard = write_dashboard(writer, result, source)
    writer.table("Payouts", result.payouts, PAYOUT_COLUMNS,
                 note=f"Payouts on {result.as_of.isoformat()}: Payable is paid when Ready; otherwise every "
                      f"blocking reason is listed and the balance is carried forward.")
    writer.table("Exposure", result.exposure, EXPOSURE_COLUMNS, status_column="status")
    writer.table("Alerts", result.alerts, ALERT_COLUMNS, status_column="status")
    writer.table("Reserves", result.reserves, RESERVE_COLUMNS)
    releases, release_note = releases_for_sheet(result.reserve_releases)
    writer.table("Reserve releases", releases, RELEASE_COLUMNS, note=release_note)
    writer.table("Balances", result.balances, BALANCE_COLUMNS,
                 note="Subaccount balances after the as-of date's payouts (client's view).")
    writer.table("Client drill-down", result.ledger.drilldown(), DRILLDOWN_COLUMNS,
                 note="Each subaccount balance explained by its postings, totalled per movement type.")
    writer.table("Schedules", result.schedules, SCHEDULE_COLUMNS)
    writer.table("Projection", result.projection, PROJECTION_COLUMNS)
    writer.table("Exceptions", result.refused, REFUSED_COLUMNS,
                 note="Input rows refused by a stated rule (e.g. non-EUR settlements are not converted).")
    # Native charts on the Dashboard sheet, fed from a 'Chart data' sheet (atlas_xl.report_charts).
    from atlas_xl.report_charts import add_dashboard_charts

    add_dashboard_charts(writer.book, dashboard, result)
    writer.save(path)
    return path

