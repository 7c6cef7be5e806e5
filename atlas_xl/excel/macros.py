"""The operations workbook's buttons (called by RunPython from the AtlasMacros VBA module).

Each macro is written against `WorkbookIO`, a small interface with two implementations: `LiveBook`
(the open workbook in Excel through xlwings, `xw.Book.caller()`; Windows / macOS only) and `FileBook` (a
saved .xlsm/.xlsx, read through openpyxl and written by patching its sheet XML (atlas_xl.excel.ooxml), used
by `atlas-xl workbook refresh FILE` and the tests).

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
Who acts and which store (issue 17) come from the person, never from the workbook, which anyone can edit:
- the store: the `Atlas Store Profile` row of the xlwings.conf sheet names a profile of the user's own
  configuration file (`profiles.toml` in platformdirs' user_config_dir("atlas-xl")):
      [profiles.treasury]
      db_url = "postgresql+psycopg://olga@db.example/atlas"
  no row: the profile "default" when the file has one, else ATLAS_DB_URL, else the default file. A database URL
  in the sheet (`Atlas DB URL`) is refused.
- the acting user: as on the command line (atlas_xl.workflow.common): the OS account on SQLite, the login of
  the profile's URL on PostgreSQL; never Excel's user name. Only a demo store takes a name, the profile's
  `demo_user`.
"""

from __future__ import annotations

import datetime as dt
import inspect
import io
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import openpyxl

from atlas_xl.domain.model import TABLE_SHEETS
from atlas_xl.errors import ArgumentError, AtlasError, ConfigError
from atlas_xl.excel import ooxml
from atlas_xl.outputs.files import write_atomic

MACROS = ("load_data", "refresh_all", "propose_run", "approve_run", "generate_sepa", "export_report")
CONFIG_SHEET = "xlwings.conf"
DATA_PATH, DB_URL, OUTPUT_FOLDER = "Atlas Data Path", "Atlas DB URL", "Atlas Output Folder"
PROFILE = "Atlas Store Profile"


class WorkbookIO(Protocol):
    """What a macro needs from a workbook (tables are header row + rows of cell values)."""

    def read_table(self, name: str) -> list[list[object]]: ...

    def write_table(self, name: str, rows: list[list[object]]) -> None: ...

    def read_name(self, name: str) -> object: ...

    def write_name(self, name: str, value: object) -> None: ...

    def config(self) -> dict[str, str]: ...

    def set_status(self, text: str) -> None: ...

    def save(self) -> None: ...

    def folder(self) -> Path: ...

    def failed(self, error: BaseException) -> None: ...


# ---------------------------------------------------------------------------------------------- openpyxl
class FileBook:
    """A saved workbook: read through openpyxl, written by patching the sheet XML of the saved file
    (atlas_xl.excel.ooxml), so the VBA project, buttons, dynamic-array metadata, styles and every cell the
    macro does not write stay exactly as they were."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ArgumentError(f"workbook {str(self.path)!r} does not exist; expected an .xlsm or .xlsx file")
        self.data = self.path.read_bytes()
        try:
            self.book = openpyxl.load_workbook(io.BytesIO(self.data), keep_vba=self.path.suffix.lower() == ".xlsm")
        except Exception as error:  # noqa: BLE001 - the user's file, reported in one line
            raise ArgumentError(f"{self.path.name} cannot be opened as a workbook ({type(error).__name__})") from None
        self.edits: dict[str, ooxml.SheetEdits] = {}

    def _sheet(self, name: str) -> Any:
        if name not in self.book.sheetnames:
            raise ArgumentError(f"workbook has no sheet {name!r}; expected the operations workbook's sheets")
        return self.book[name]

    def _edits(self, sheet: str) -> ooxml.SheetEdits:
        return self.edits.setdefault(sheet, ooxml.SheetEdits())

    def read_table(self, name: str) -> list[list[object]]:
        ws = self._sheet(name)
        if name in ws.tables:
            cells = ws[ws.tables[name].ref]
        else:
            cells = ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column)
        return [[c.value for c in row] for row in cells]

    def write_table(self, name: str, rows: list[list[object]]) -> None:
        """Rows from A1; data rows take the first data row's cell styles; what lies beyond is removed."""
        ws = self._sheet(name)
        edits = self._edits(name)
        width = max(len(r) for r in rows)
        for r, values in enumerate(rows, start=1):
            for c in range(1, width + 1):
                edits.cells[(r, c)] = values[c - 1] if c <= len(values) else None
                if r > 1:
                    edits.styles[(r, c)] = (2, c)
        edits.keep_rows, edits.keep_cols = len(rows), width
        if name in ws.tables:  # an Excel table needs a data row: keep one (blank) row
            edits.tables[name] = f"A1:{ooxml.column_letter(width)}{max(len(rows), 2)}"

    def _destination(self, name: str) -> tuple[str, str]:
        if name not in self.book.defined_names:
            raise ArgumentError(f"workbook has no named cell {name!r}; expected the operations workbook")
        sheet, ref = next(iter(self.book.defined_names[name].destinations))
        return sheet, ref.replace("$", "")

    def read_name(self, name: str) -> object:
        sheet, ref = self._destination(name)
        return self.book[sheet][ref].value

    def write_name(self, name: str, value: object) -> None:
        sheet, ref = self._destination(name)
        self._edits(sheet).cells[ooxml.split_ref(ref)] = value

    def config(self) -> dict[str, str]:
        if CONFIG_SHEET not in self.book.sheetnames:
            return {}
        rows = self.book[CONFIG_SHEET].iter_rows(min_col=1, max_col=2, values_only=True)
        return {str(k).strip(): "" if v is None else str(v).strip() for k, v in rows if k is not None}

    def set_status(self, text: str) -> None:
        self.write_name("Status", text)

    def save(self) -> None:
        data = ooxml.patched(self.data, self.edits.items())
        write_atomic(self.path, data)
        self.data, self.edits = data, {}

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


def profiles_file() -> Path:
    """The user's own store profiles (module docstring)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("atlas-xl")) / "profiles.toml"


def _profile(book: WorkbookIO) -> dict[str, Any]:
    config = book.config()
    if config.get(DB_URL):
        raise ConfigError(f"the workbook's {CONFIG_SHEET} sheet names a database URL ({DB_URL!r}); refused: anyone "
                          f"who can edit the workbook could point it at another store. Expected an empty "
                          f"{DB_URL!r} and a {PROFILE!r} row naming a profile of {profiles_file()}")
    name = config.get(PROFILE) or ""
    path = profiles_file()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8")).get("profiles", {}) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read the store profiles {str(path)!r}: {error}") from None
    if not isinstance(profiles, dict):
        raise ConfigError(f"{str(path)!r}: expected [profiles.NAME] tables")
    chosen = profiles.get(name or "default")
    if chosen is None and name:
        raise ConfigError(f"no store profile {name[:64]!r} in {str(path)!r}; expected [profiles.{name[:64]}] with "
                          "db_url = \"...\"")
    if chosen is not None and not isinstance(chosen, dict):
        raise ConfigError(f"{str(path)!r}: profile {name or 'default'!r} is not a table")
    return dict(chosen or {})


def _store(book: WorkbookIO) -> Any:
    from atlas_xl.store.database import open_store

    return open_store(str(_profile(book).get("db_url") or "") or None)  # None: ATLAS_DB_URL, else the default


def _claim(book: WorkbookIO, store: Any) -> str | None:
    """The name a demo store acts as (the profile's demo_user); None elsewhere: the store knows who acts."""
    if not store.demo:
        return None
    user = _profile(book).get("demo_user")
    return None if user is None else str(user)


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


def _raw(function: Callable[..., Any]) -> Callable[..., Any]:
    """An ATLAS_* function without its cell-text error wrapper (excel_safe): a failure raises its own
    AtlasError subclass, which run_macro decides on (never the `#ATLAS!` text of a cell)."""
    return inspect.unwrap(function)


def _refresh_all(book: WorkbookIO) -> str:
    from atlas_xl.excel import udfs

    payout, readiness, reserve = _raw(udfs.ATLAS_PAYOUT), _raw(udfs.ATLAS_READINESS), _raw(udfs.ATLAS_RESERVE)
    exposure, utilization = _raw(udfs.ATLAS_EXPOSURE), _raw(udfs.ATLAS_UTILIZATION)
    limit_status = _raw(udfs.ATLAS_LIMIT_STATUS)
    as_of = _as_of(book)
    t = _tables(book)
    c, s, lo, r = t["clients"], t["settlements"], t["loans"], t["reserve_terms"]
    warning, breach = book.read_name("WarningThreshold"), book.read_name("BreachThreshold")
    ids = [[row[0]] for row in c[1:] if row and row[0] not in (None, "")]
    day = dt.datetime.combine(as_of, dt.time())
    sheets: dict[str, list[tuple[str, Any]]] = {
        "Payouts": [("Payable", payout(ids, day, c, s, lo, r)),
                    ("Readiness", readiness(ids, day, c, s, lo, r))],
        "Reserves": [("Rolling reserve", reserve(ids, day, s, r, "rolling")),
                     ("Partner reserve", reserve(ids, day, s, r, "partner"))],
        "Exposure": [("Exposure", exposure(ids, day, c, s, lo, r)),
                     ("Utilization", utilization(ids, day, c, s, lo, r)),
                     ("Limit status", limit_status(ids, day, c, s, lo, r, warning, breach))],
    }  # a failure above raises (bad tables, dates, thresholds): the whole refresh fails, nothing is written
    out: dict[str, list[list[object]]] = {}
    for sheet, columns in sheets.items():
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

    as_of, store = _as_of(book), _store(book)
    user = _claim(book, store)
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
    from atlas_xl.workflow.common import whoami

    ref, store = _run_ref(book), _store(book)
    user = _claim(book, store)
    run = workflow.show_run(store, ref, user).summary
    me = whoami(store, user)
    advisory = " Four-eyes on a SQLite store is advisory." if store.dialect == "sqlite" else ""
    if me in run.approvals:  # this user's approval is already there: the same state, said the same way
        return _run_text(run, f"approved by {me}") + advisory
    run = workflow.approve_run(store, ref, user)
    return _run_text(run, f"approved by {me}") + advisory


def _generate_sepa(book: WorkbookIO) -> str:
    from atlas_xl.workflow import execution as workflow

    ref, store = _run_ref(book), _store(book)
    user = _claim(book, store)
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


def import_bank_file(book: WorkbookIO | None = None, path: str | Path | None = None) -> str:
    """Import the bank's file (pain.002 / camt.054 / camt.053) named by `path` or the BankFile cell, as the
    Windows / Excel user (atlas_xl.workflow.bank: once per file, audited)."""

    def action(b: WorkbookIO) -> str:
        from atlas_xl.workflow.bank import import_bank_files

        chosen = path if path is not None else b.read_name("BankFile")
        if chosen in (None, ""):
            raise ArgumentError("no bank file given; put its path in the BankFile cell")
        try:  # a statement is matched against the workbook's data; a file that cannot be read: the reader says so
            with open(str(chosen), "rb") as fh:
                statement = b"camt.053" in fh.read(4096)
        except OSError:
            statement = False
        portfolio = _portfolio(b) if statement else None
        store = _store(b)
        return " ".join(r.line().splitlines()[0] for r in import_bank_files(store, _claim(b, store), [str(chosen)],
                                                                              portfolio=portfolio))

    return run_macro(action, book)
