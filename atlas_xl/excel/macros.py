"""The operations workbook's buttons (called by RunPython from the AtlasMacros VBA module).

Each macro is written against `WorkbookIO`, a small interface with two implementations: `LiveBook`
(the open workbook in Excel through xlwings, `xw.Book.caller()`; Windows / macOS only) and `FileBook` (a
saved .xlsm/.xlsx through openpyxl, used by `atlas-xl workbook refresh FILE` and the tests).

Rules every macro keeps:
- It first reads and computes everything, and only then writes: a failure (bad data, refused approval)
  changes nothing. FileBook writes the file only at the end, to a temp file renamed into place, so a
  failed macro leaves the file byte-identical.
- A second click gives the same state: loading the same data, refreshing, proposing an unchanged run,
  approving an already-approved run, generating an already-written SEPA file and exporting the same report
  report the same thing and change nothing else.
- It says what it did in the Dashboard's status cell (named `Status`); no timestamps, so a repeat click
  leaves the same text.
- Every text from the data is written as text, never as a formula (xlsafe.set_text in files; a leading
  apostrophe in live Excel, which Excel shows as the text itself).
The acting user for the payout buttons is the Windows / Excel user name; it must be a user of the store
(`atlas-xl users add`). The store is the `Atlas DB URL` row of the xlwings.conf sheet, else ATLAS_DB_URL.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from atlas_xl.domain.model import TABLE_SHEETS
from atlas_xl.errors import ArgumentError, AtlasError, ConfigError
from atlas_xl.outputs.files import replacing

MACROS = ("load_data", "refresh_all", "propose_run", "approve_run", "generate_sepa", "export_report")
CONFIG_SHEET = "xlwings.conf"
DATA_PATH, DB_URL, OUTPUT_FOLDER = "Atlas Data Path", "Atlas DB URL", "Atlas Output Folder"


class WorkbookIO(Protocol):
    """What a macro needs from a workbook (tables are header row + rows of cell values)."""

    def read_table(self, name: str) -> list[list[object]]: ...

    def write_table(self, name: str, rows: list[list[object]]) -> None: ...

    def read_name(self, name: str) -> object: ...

    def write_name(self, name: str, value: object) -> None: ...

    def config(self) -> dict[str, str]: ...

    def set_status(self, text: str) -> None: ...

    def save(self) -> None: ...

    def user_name(self) -> str: ...

    def folder(self) -> Path: ...

    def failed(self, error: BaseException) -> None: ...


# ---------------------------------------------------------------------------------------------- openpyxl
class FileBook:
    """A saved workbook through openpyxl (VBA project and buttons kept for .xlsm)."""

    def __init__(self, path: str | Path) -> None:
        import openpyxl

        self.path = Path(path)
        if not self.path.is_file():
            raise ArgumentError(f"workbook {str(self.path)!r} does not exist; expected an .xlsm or .xlsx file")
        try:
            self.book = openpyxl.load_workbook(self.path, keep_vba=self.path.suffix.lower() == ".xlsm")
        except Exception as error:  # noqa: BLE001 - the user's file, reported in one line
            raise ArgumentError(f"{self.path.name} cannot be opened as a workbook ({type(error).__name__})") from None

    def _sheet(self, name: str) -> Any:
        if name not in self.book.sheetnames:
            raise ArgumentError(f"workbook has no sheet {name!r}; expected the operations workbook's sheets")
        return self.book[name]

    def read_table(self, name: str) -> list[list[object]]:
        ws = self._sheet(name)
        if name in ws.tables:
            cells = ws[ws.tables[name].ref]
        else:
            cells = ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column)
        return [[c.value for c in row] for row in cells]

    def write_table(self, name: str, rows: list[list[object]]) -> None:
        from openpyxl.utils import get_column_letter

        from atlas_xl.outputs.xlsafe import set_value

        ws = self._sheet(name)
        width = max(len(r) for r in rows)
        old_rows, old_cols = ws.max_row, ws.max_column
        formats = [ws.cell(2, c).number_format for c in range(1, width + 1)]  # the first data row's formats
        for r, values in enumerate(rows, start=1):
            for c in range(1, width + 1):
                cell = ws.cell(r, c)
                set_value(cell, values[c - 1] if c <= len(values) else None)
                if r > 1:
                    cell.number_format = formats[c - 1]
        if old_rows > len(rows):  # remove what the old, larger content left behind (cells and formats)
            ws.delete_rows(len(rows) + 1, old_rows - len(rows))
        if old_cols > width:
            ws.delete_cols(width + 1, old_cols - width)
        if name in ws.tables:  # an Excel table needs a data row: keep one (blank) row
            ws.tables[name].ref = f"A1:{get_column_letter(width)}{max(len(rows), 2)}"

    def _cell(self, name: str) -> Any:
        if name not in self.book.defined_names:
            raise ArgumentError(f"workbook has no named cell {name!r}; expected the operations workbook")
        sheet, ref = next(iter(self.book.defined_names[name].destinations))
        return self.book[sheet][ref.replace("$", "")]

    def read_name(self, name: str) -> object:
        return self._cell(name).value

    def write_name(self, name: str, value: object) -> None:
        from atlas_xl.outputs.xlsafe import set_value

        set_value(self._cell(name), value)

    def config(self) -> dict[str, str]:
        if CONFIG_SHEET not in self.book.sheetnames:
            return {}
        rows = self.book[CONFIG_SHEET].iter_rows(min_col=1, max_col=2, values_only=True)
        return {str(k).strip(): "" if v is None else str(v).strip() for k, v in rows if k is not None}

    def set_status(self, text: str) -> None:
        self.write_name("Status", text)

    def save(self) -> None:
        with replacing(self.path) as tmp:
            self.book.save(tmp)

    def user_name(self) -> str:
        return getpass.getuser()  # the login name (USERNAME on Windows)

    def folder(self) -> Path:
        return self.path.resolve().parent

    def failed(self, error: BaseException) -> None:
        raise error  # nothing was saved: the file is as it was; the caller (CLI) reports the error


# ---------------------------------------------------------------------------------------------- xlwings
class LiveBook:  # pragma: no cover - needs Excel (Windows / macOS); kept thin, the logic is shared
    """The workbook open in Excel, through xlwings."""

    def __init__(self, book: Any = None) -> None:
        import xlwings as xw

        self.book = book or xw.Book.caller()

    def _range(self, name: str) -> Any:
        sheet = self.book.sheets[name]
        tables = {t.name: t for t in sheet.tables}
        return sheet, tables.get(name), (tables[name].range if name in tables else sheet.used_range)

    def read_table(self, name: str) -> list[list[object]]:
        return self._range(name)[2].options(ndim=2).value

    def write_table(self, name: str, rows: list[list[object]]) -> None:
        from atlas_xl.outputs.xlsafe import csv_safe

        sheet, table, old = self._range(name)
        safe = [[csv_safe(v) if isinstance(v, str) else v for v in row] for row in rows]
        old.clear_contents()
        if table is not None:
            table.resize(sheet.range((1, 1), (max(len(rows), 2), len(rows[0]))))
        sheet.range((1, 1)).value = safe

    def read_name(self, name: str) -> object:
        return self.book.names[name].refers_to_range.value

    def write_name(self, name: str, value: object) -> None:
        from atlas_xl.outputs.xlsafe import csv_safe

        self.book.names[name].refers_to_range.value = csv_safe(value) if isinstance(value, str) else value

    def config(self) -> dict[str, str]:
        if CONFIG_SHEET not in [s.name for s in self.book.sheets]:
            return {}
        rows = self.book.sheets[CONFIG_SHEET].range("A1").expand().options(ndim=2).value
        return {str(k).strip(): "" if v is None else str(v).strip() for k, v in rows if k is not None}

    def set_status(self, text: str) -> None:
        self.write_name("Status", text)

    def save(self) -> None:
        self.book.save()

    def user_name(self) -> str:
        try:
            return str(self.book.app.api.UserName)  # Excel's user name (File > Options > General)
        except Exception:  # noqa: BLE001 - macOS/AppleScript: fall back to the login name
            return getpass.getuser()

    def folder(self) -> Path:
        return Path(self.book.fullname).resolve().parent

    def failed(self, error: BaseException) -> None:
        from atlas_xl.excel.args import excel_error

        self.book.app.alert(excel_error(error).removeprefix("#ATLAS! "), title="Atlas Settlement")


# ---------------------------------------------------------------------------------------------- running
def run_macro(action: Callable[[WorkbookIO], str], book: WorkbookIO | None) -> str:
    """Compute (which may fail and then changes nothing), write, set the status, save."""
    book = book if book is not None else LiveBook()
    try:
        message = action(book)
    except AtlasError as error:
        book.failed(error)
        return str(error).splitlines()[0]
    book.set_status(message)
    book.save()
    return message


def _as_of(book: WorkbookIO) -> dt.date:
    from atlas_xl.excel import args as xa

    return xa.date_arg(book.read_name("AsOfDate"), "AsOfDate")


def _tables(book: WorkbookIO) -> dict[str, list[list[object]]]:
    return {table: book.read_table(sheet) for table, sheet in TABLE_SHEETS.items()}


def _portfolio(book: WorkbookIO) -> Any:
    from atlas_xl.excel.ranges import SOURCE, raw_table
    from atlas_xl.inputs.portfolio import portfolio_from_tables

    return portfolio_from_tables({t: raw_table(rows, t) for t, rows in _tables(book).items()}, SOURCE)


def _store(book: WorkbookIO) -> Any:
    from atlas_xl.store.database import open_store

    return open_store(book.config().get(DB_URL) or None)  # None: ATLAS_DB_URL, else the default file


def _output_folder(book: WorkbookIO) -> Path:
    from atlas_xl.outputs.files import safe_output_dir

    chosen = book.config().get(OUTPUT_FOLDER)
    return safe_output_dir(Path(chosen) if chosen else book.folder() / "atlas-output")


# ---------------------------------------------------------------------------------------------- the macros
def _load_data(book: WorkbookIO, source: str | Path | None = None) -> str:
    from atlas_xl.excel.workbook import raw_tables
    from atlas_xl.inputs.portfolio import load_portfolio

    path = source or book.config().get(DATA_PATH)
    if not path:
        raise ConfigError(f"no data to load; put a CSV folder or .xlsx path in the '{DATA_PATH}' row of the "
                          f"{CONFIG_SHEET} sheet")
    from atlas_xl.workflow.history import apply_overrides

    # validated completely before anything is written; the credit managers' stored limits and reserve
    # terms go into the tables, so formulas, Refresh all, proposals and exports all see the same terms
    portfolio = apply_overrides(_store(book), load_portfolio(path))
    tables = raw_tables(portfolio)
    for table, sheet in TABLE_SHEETS.items():
        book.write_table(sheet, tables[table])
    from atlas_xl.excel.args import excel_date

    book.write_name("AsOfDate", excel_date(portfolio.last_date))
    counts = ", ".join(f"{len(tables[t]) - 1:,} {t.replace('_', ' ')}" for t in TABLE_SHEETS)
    refused = f"; {len(portfolio.refused)} row(s) refused (see atlas-xl run)" if len(portfolio.refused) else ""
    return f"Loaded {counts} from {Path(path).name}{refused}. Press Refresh all."


def _refresh_all(book: WorkbookIO) -> str:
    from atlas_xl.excel import udfs

    as_of = _as_of(book)
    t = _tables(book)
    c, s, lo, r = t["clients"], t["settlements"], t["loans"], t["reserve_terms"]
    warning, breach = book.read_name("WarningThreshold"), book.read_name("BreachThreshold")
    ids = [[row[0]] for row in c[1:] if row and row[0] not in (None, "")]
    day = dt.datetime.combine(as_of, dt.time())
    sheets: dict[str, list[tuple[str, Any]]] = {
        "Payouts": [("Payable", udfs.ATLAS_PAYOUT(ids, day, c, s, lo, r)),
                    ("Readiness", udfs.ATLAS_READINESS(ids, day, c, s, lo, r))],
        "Reserves": [("Rolling reserve", udfs.ATLAS_RESERVE(ids, day, s, r, "rolling")),
                     ("Partner reserve", udfs.ATLAS_RESERVE(ids, day, s, r, "partner"))],
        "Exposure": [("Exposure", udfs.ATLAS_EXPOSURE(ids, day, c, s, lo, r)),
                     ("Utilization", udfs.ATLAS_UTILIZATION(ids, day, c, s, lo, r)),
                     ("Limit status", udfs.ATLAS_LIMIT_STATUS(ids, day, c, s, lo, r, warning, breach))],
    }
    out: dict[str, list[list[object]]] = {}
    for sheet, columns in sheets.items():
        for _title, cells in columns:
            if isinstance(cells, str):  # an #ATLAS! message: the whole refresh fails, nothing is written
                raise ArgumentError(cells.removeprefix("#ATLAS! "))
        header = ["client_id", *(title for title, _ in columns)]
        out[sheet] = [header] + [[cid[0], *(cells[i][0] for _, cells in columns)] for i, cid in enumerate(ids)]
    for sheet, rows in out.items():
        book.write_table(sheet, rows)
    ready = sum(1 for row in out["Payouts"][1:] if row[2] == "READY")
    flagged = sum(1 for row in out["Exposure"][1:] if row[3] != "OK")
    return (f"Refreshed {len(ids)} clients as of {as_of.isoformat()}: {ready} payouts ready, "
            f"{flagged} limit warnings/breaches.")


def _propose_run(book: WorkbookIO) -> str:
    from atlas_xl.engines.run import compute_payouts
    from atlas_xl.workflow import history, policies
    from atlas_xl.workflow import runs as workflow

    as_of, user, store = _as_of(book), book.user_name(), _store(book)
    settings = policies.payment_settings(store)  # the store's payment policy (ATLAS_* only stricter)
    portfolio, basis = history.with_store_history(store, _portfolio(book))
    frame = compute_payouts(portfolio, as_of, settings)
    # click twice = once: an open run with the same snapshot (every field of the file, not only ids and amounts)
    run = workflow.find_open_run(store, frame, as_of, user, settings=settings)
    if run is None:
        run = workflow.propose_run(store, frame, as_of, user, settings=settings, source="operations workbook",
                                   basis=basis).run
    book.write_name("PayoutRun", run.ref)
    return _run_text(run, "proposed")


def _run_text(run: Any, verb: str) -> str:
    from atlas_xl.domain.money import format_eur

    return (f"Run {run.ref} for {run.payout_date.isoformat()} {verb}: {run.payout_count} payouts, "
            f"{format_eur(run.total_cents)}, status {run.status} "
            f"({len(run.approvals)}/{run.approvals_required} approvals).")


def _run_ref(book: WorkbookIO) -> str:
    ref = book.read_name("PayoutRun")
    if ref in (None, ""):
        raise ArgumentError("no payout run in the PayoutRun cell; press Propose run first")
    return str(ref).strip()


def _approve_run(book: WorkbookIO) -> str:
    from atlas_xl.workflow import runs as workflow

    ref, user, store = _run_ref(book), book.user_name(), _store(book)
    run = workflow.show_run(store, ref, user).summary
    if user in run.approvals:  # this user's approval is already there: the same state, said the same way
        return _run_text(run, f"approved by {user}")
    run = workflow.approve_run(store, ref, user)
    return _run_text(run, f"approved by {user}")


def _generate_sepa(book: WorkbookIO) -> str:
    from atlas_xl.workflow import execution as workflow

    ref, user, store = _run_ref(book), book.user_name(), _store(book)
    result = workflow.execute_run(store, ref, user, _output_folder(book))  # exactly once; a repeat returns it
    return f"SEPA file for run {result.run.ref}: {result.xml_path.name} (sha256 {result.sha256[:12]}...)."


def _export_report(book: WorkbookIO) -> str:
    from atlas_xl.engines.run import run_engines
    from atlas_xl.inputs.environment import load_settings
    from atlas_xl.outputs.report.layout import write_report

    warning, breach = book.read_name("WarningThreshold"), book.read_name("BreachThreshold")
    settings = load_settings().with_thresholds(warning, breach)
    result = run_engines(_portfolio(book), _as_of(book), settings)
    path = _output_folder(book) / f"atlas-report-{result.as_of.isoformat()}.xlsx"
    write_report(result, path, "operations workbook")
    return f"Report as of {result.as_of.isoformat()} written to {path.name} in {path.parent}."


def load_data(book: WorkbookIO | None = None, source: str | Path | None = None) -> str:
    """Load portfolio data (CSV folder or XLSX) into the workbook's tables."""
    return run_macro(lambda b: _load_data(b, source), book)


def refresh_all(book: WorkbookIO | None = None) -> str:
    """Refresh every computed sheet (payouts and readiness, reserves, exposure and limit status)."""
    return run_macro(_refresh_all, book)


def propose_run(book: WorkbookIO | None = None) -> str:
    """Propose a payout run for the as-of date (as the Windows / Excel user)."""
    return run_macro(_propose_run, book)


def approve_run(book: WorkbookIO | None = None) -> str:
    """Approve the run in the PayoutRun cell as the Windows / Excel user."""
    return run_macro(_approve_run, book)


def generate_sepa(book: WorkbookIO | None = None) -> str:
    """Write the SEPA credit-transfer file of the approved run (exactly once)."""
    return run_macro(_generate_sepa, book)


def export_report(book: WorkbookIO | None = None) -> str:
    """Export the headless report for the workbook's data and as-of date."""
    return run_macro(_export_report, book)
