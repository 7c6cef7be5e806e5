"""Load and validate the four input tables (CSV folder, .xlsx/.xlsm workbook or in-memory Excel ranges).

One validation path (`_build`) for all three sources; every check comes from atlas_xl.domain.schemas and runs
vectorised over whole columns with pyarrow compute (regex, split on '.', int casts): no per-row Decimal.
CSV cells arrive as text. Cells from a workbook or an Excel range arrive typed; a number or date column whose
every cell is a number (a date) stays typed (float64 / timestamp) and is checked by the typed converters,
which accept and refuse exactly what the text converters do with the same cells written as CSV text (an
amount double is accepted when it is the double nearest to a whole number of cents, i.e. when its shortest
repr has at most 2 decimals); any other column becomes CSV text (`_cell_text`) first.
Validation is lazy: every problem is collected as a `Problem` (row = the row the user sees, header = 1)
and ONE `LoadError` lists them all. Exact conversion rules: amounts "1234.5" -> 123450 cents (at most
2 decimals, more is an error, never rounded); rates "0.0125" -> 12500 ppm (at most 6 decimals).
Workbooks are untrusted: the zip is checked for bombs and every XML part for DOCTYPE/ENTITY before openpyxl
(with defusedxml active) parses anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from atlas_xl.domain.model import CLIENT_ID_PATTERN, DATE_RANGE, MAX_AMOUNT_CENTS, TABLES, Portfolio, supported_days
from atlas_xl.domain.schemas import SCHEMAS, ColumnSpec, TableSchema
from atlas_xl.errors import LoadError, Problem, UnsafeInputError
from atlas_xl.outputs.xlsafe import FORMULA_TRIGGER_CLASS, UNWRITABLE, UNWRITABLE_RE2, joined_text

MAX_LISTED = 10  # problems listed per table, column and kind; the rest are counted in one line
MAX_UNCOMPRESSED = 2 * 1024**3  # a workbook that inflates beyond 2 GiB is refused unopened
MAX_RATIO = 200  # ... and so is a large member compressed more than 200:1 (real sheets are ~10-40:1)
RATIO_CHECK_FROM = 16 * 1024**2
MAX_MEMBERS = 10_000
_SCAN_CHUNK = 1024**2
_UTF8_BOM = b"\xef\xbb\xbf"
_FORBIDDEN_XML = tuple(
    marker.encode(enc) for marker in ("<!doctype", "<!entity") for enc in ("ascii", "utf-16-le", "utf-16-be")
)

_ID_RE = CLIENT_ID_PATTERN
_NUMBER_RE = r"^[+-]?[0-9]+(\.[0-9]*)?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_INT_RE = r"^[+-]?[0-9]{1,9}$"  # a sign is read, so that -1 gets the range message
SHOWN_TEXT = 80  # characters of a long cell or line quoted in a problem


@dataclass
class _Raw:
    """One table as read: every cell as text ("" when blank), and the user's row number of each row."""

    table: str
    data: pa.Table
    rows: np.ndarray
    file: str
    sheet: str | None
    column_labels: dict[str, str] = field(default_factory=dict)  # blank header -> "column F"


class _Problems:
    """Collects problems, listing at most MAX_LISTED per (table, column, kind) and counting the rest."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.items.append(problem)

    def add_rows(self, raw: _Raw, column: str, mask: np.ndarray, values: pa.Array, message: str) -> None:
        if not mask.any():
            return
        hits = np.flatnonzero(mask)
        for i in hits[:MAX_LISTED]:
            value = values[int(i)].as_py()
            self.items.append(Problem(raw.file, raw.sheet, int(raw.rows[i]), column,
                                      shown_text(value if isinstance(value, str) else _cell_text(value)),
                                      message))
        if hits.size > MAX_LISTED:
            self.items.append(Problem(raw.file, raw.sheet, None, column, None,
                                      f"{hits.size - MAX_LISTED} more row(s) with the same problem "
                                      f"({hits.size} in total): {message}"))


def shown_text(text: str) -> str:
    """A cell's text as a problem quotes it: a character no spreadsheet cell can hold (xlsafe.UNWRITABLE) as
    <U+0007>, so that the list itself can be printed, sent to Excel or written to a report."""
    return UNWRITABLE.sub(lambda bad: f"<U+{ord(bad.group()):04X}>", text)


def _clipped(text: str) -> str:
    """A long text (a whole line, the rest of a file after an open quote) cut to SHOWN_TEXT characters."""
    return shown_text(text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "...")


# ----------------------------------------------------------------------------------------------- entry points
def load_portfolio(path: str | Path) -> Portfolio:
    """Load a folder of the four CSV files or an .xlsx/.xlsm workbook with the four sheets."""
    path = Path(path)
    if path.is_dir():
        return _load_csv_folder(path)
    if not path.exists():
        raise LoadError([Problem(str(path), None, None, None, None,
                                 "no such file or folder; expected a folder of the four CSV files or an .xlsx")])
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        tables, formulas = _read_workbook(path)
        try:
            portfolio = portfolio_from_tables(tables, source=path.name)
        except LoadError as error:  # a formula cell's own problem in place of "required" for its blank
            cells = {(p.sheet, p.row, p.column) for p in formulas}
            raise LoadError([*formulas, *(p for p in error.problems if (p.sheet, p.row, p.column) not in cells)]
                            ) from None
        if formulas:  # not expected (each is a blank required cell), but never load past one
            raise LoadError(formulas)
        return portfolio
    raise LoadError([Problem(path.name, None, None, None, path.suffix,
                             "unsupported input; expected a folder of CSV files or an .xlsx/.xlsm workbook")])


def portfolio_from_tables(tables: Mapping[str, pd.DataFrame], source: str = "workbook") -> Portfolio:
    """Validate raw tables already in memory (header as columns; cells str/float/int/datetime/None).

    Row numbers in problems: a frame with an integer index other than the default 0..n-1 carries the
    sheet row numbers in it (as atlas_xl.excel.args.table builds them); otherwise the header is row 1 and
    the frame's rows follow from row 2, as on a sheet whose range starts at A1. An all-blank row is
    skipped but still counted.
    """
    raws: dict[str, _Raw | None] = {}
    problems = _Problems()
    for table in TABLES:
        if table not in tables:
            problems.add(Problem(source, table, None, None, None,
                                 f"sheet/table '{table}' is missing; expected the sheets {', '.join(TABLES)}"))
            raws[table] = None
            continue
        raws[table] = _raw_from_frame(tables[table], table, source, problems)
    return _build(raws, problems, {t: f"{source}, sheet {t}" for t in TABLES})


def table_from_frame(frame: pd.DataFrame, table: str, source: str = "workbook") -> pd.DataFrame:
    """Validate ONE raw table on its own (no other table to check its references against): the loaded frame,
    or one LoadError listing every problem. Used where a single table is the whole input (ATLAS_PROJECTION)."""
    problems = _Problems()
    raw = _raw_from_frame(frame, table, source, problems)
    if raw is None:
        raise LoadError(problems.items)
    spec = SCHEMAS[table]
    checked = _check_table(raw, spec, problems)
    if checked is None:
        raise LoadError(problems.items)
    raw, values, valid, codes = checked
    _check_keys(raw, spec, values, valid, codes, problems)
    if problems.items:
        raise LoadError(problems.items)
    return _to_frame(raw, spec, values)[0]


def _check_table(raw: _Raw, spec: TableSchema, problems: _Problems) -> tuple | None:
    """One table on its own: blank rows dropped, header checked, every column converted.
    (raw, values, valid, codes) as _convert_columns gives them; None when the header is unusable."""
    raw = _drop_blank_rows(raw)
    if not _check_header(raw, spec, problems):
        return None
    return (raw, *_convert_columns(raw, spec, problems))


def _raw_from_frame(frame: pd.DataFrame | pa.Table, table: str, source: str, problems: _Problems) -> _Raw | None:
    """A frame of cells (or a pyarrow Table of columns as `column_array` gives them) as the loader's raw table."""
    labels: dict[str, str] = {}
    names: list[str] = []
    for pos, name in enumerate(frame.column_names if isinstance(frame, pa.Table) else frame.columns):
        text = _cell_text(name).strip()
        if not text:
            text = f"(blank header {pos + 1})"
            labels[text] = f"column {_column_letter(pos)}"
        names.append(text)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        problems.add(Problem(source, table, 1, dupes[0], None, f"duplicate column header(s) {dupes}"))
        return None
    kinds = {c.name: c.kind for c in SCHEMAS[table].columns}
    if isinstance(frame, pa.Table):
        columns = {name: _arrow_column(column, kinds.get(name))
                   for name, column in zip(names, frame.columns, strict=True)}
        rows = np.arange(2, frame.num_rows + 2, dtype=np.int64)
    else:
        columns = {name: column_array(series, kinds.get(name))
                   for name, (_, series) in zip(names, frame.items(), strict=True)}
        rows = _row_numbers(frame.index)
    data = pa.table(columns) if columns else pa.table({})
    return _Raw(table, data, rows, source, table, labels)


def _arrow_column(column: pa.ChunkedArray, kind: str | None) -> pa.Array:
    """An Arrow column taken as it is when it has a form `column_array` gives; else read from its cells."""
    array = _one_array(column)
    value_type = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if pa.types.is_string(value_type):
        return array
    if kind == "date" and value_type == pa.timestamp("ns"):
        return array
    if kind in _NUMBER_KINDS and pa.types.is_float64(array.type) and typed_exact(
            array.to_numpy(zero_copy_only=False)):
        return array
    return column_array(column.to_pandas(), kind)


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array (a worksheet's columns are one chunk already; a CSV's are many)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _row_numbers(index: pd.Index) -> np.ndarray:
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    if not default and pd.api.types.is_integer_dtype(index.dtype) and index.is_unique and (
            len(index) == 0 or index.min() >= 2):
        return index.to_numpy(dtype=np.int64)
    return np.arange(2, len(index) + 2, dtype=np.int64)


# ----------------------------------------------------------------------------------------------- CSV
_DICT_KINDS = ("id", "country", "currency", "enum", "date")  # few distinct values: convert each once
_CODED_TEXT = pa.dictionary(pa.int32(), pa.string())


def _load_csv_folder(folder: Path) -> Portfolio:
    problems = _Problems()
    raws: dict[str, _Raw | None] = {}
    for table in TABLES:
        raws[table] = _read_csv(folder / f"{table}.csv", SCHEMAS[table], problems)
    return _build(raws, problems, {t: f"{t}.csv" for t in TABLES})


def _read_csv(path: Path, spec: TableSchema, problems: _Problems) -> _Raw | None:
    name = path.name
    if not path.is_file():
        problems.add(Problem(name, None, None, None, None,
                             f"file missing in {path.parent}; expected {name} with columns "
                             f"{','.join(spec.column_names)}"))
        return None
    try:  # only the header line here: Arrow reads the file itself (no copy of 170 MB through Python)
        with path.open("rb") as handle:
            head = handle.readline().removeprefix(_UTF8_BOM)  # Excel's "CSV UTF-8" writes a byte-order mark
        if head.isspace() or not head:  # a blank first line: empty only if nothing else is there either
            data = path.read_bytes().removeprefix(_UTF8_BOM)
            if not data or data.isspace():
                problems.add(Problem(name, None, None, None, None,
                                     f"empty file; expected a header row {','.join(spec.column_names)}"))
                return None
    except OSError as error:
        problems.add(Problem(name, None, None, None, None, f"cannot be read: {error.strerror}"))
        return None
    header_bytes = head.removesuffix(b"\n")
    not_utf8 = _utf8_problem(header_bytes, name)
    if not_utf8 is not None:
        problems.add(not_utf8)
        return None
    header_line = header_bytes.rstrip(b"\r").decode("utf-8")
    if "\r" in header_line:  # a CR inside the first line: its line break is a lone CR, not CR LF or LF
        problems.add(Problem(name, None, None, None, None,
                             "line breaks are carriage returns only (classic Mac OS); "
                             "save it as 'CSV UTF-8 (comma delimited)'"))
        return None
    try:
        names = [n.strip() for n in next(csv.reader([header_line]), [])]
    except csv.Error as error:  # e.g. a field beyond csv's size limit
        problems.add(Problem(name, None, 1, None, _clipped(header_line),
                             f"header row cannot be read as CSV ({error}); expected the header "
                             f"{','.join(spec.column_names)}"))
        return None
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        problems.add(Problem(name, None, 1, dupes[0], None, f"duplicate column header(s) {dupes}"))
        return None
    labels = {}
    for pos, col in enumerate(names):
        if not col:
            names[pos] = f"(blank header {pos + 1})"
            labels[names[pos]] = f"field {pos + 1}"
    table, bad_rows = _parse_csv(path, names, spec, use_threads=True)
    if table is None:  # Arrow checks the UTF-8 of every cell as it reads; locate a bad byte only then
        problems.add(_utf8_problem(path.read_bytes(), name) or Problem(
            name, None, None, None, None, f"cannot be read as CSV: {bad_rows}"))
        return None
    if any(number is None for number, _, _ in bad_rows):  # threaded reads do not know line numbers
        table, bad_rows = _parse_csv(path, names, spec, use_threads=False)
        assert table is not None
    bad_numbers = np.array(sorted(number for number, _, _ in bad_rows), dtype=np.int64)
    for number, text, count in bad_rows[:MAX_LISTED]:
        # an odd number of quotes: one is never closed, and the field ran on to the end of the file
        cause = ("a quote opened on this line is never closed" if text.count('"') % 2
                 else "truncated line or stray comma")
        problems.add(Problem(name, None, number, None, _clipped(text),
                             f"row has {count} field(s), expected {len(names)} ({cause})"))
    if len(bad_rows) > MAX_LISTED:
        problems.add(Problem(name, None, None, None, None,
                             f"{len(bad_rows) - MAX_LISTED} more row(s) with the wrong number of fields "
                             f"({len(bad_rows)} in total)"))
    # physical line of each parsed record: lines 2.. minus the rejected ones
    total = table.num_rows + len(bad_rows)
    rows = np.arange(2, total + 2, dtype=np.int64)
    if bad_numbers.size:
        rows = np.setdiff1d(rows, bad_numbers, assume_unique=True)
    return _Raw(spec.name, table, rows, name, None, labels)


def _utf8_problem(data: bytes, name: str) -> Problem | None:
    """The first byte that is not UTF-8, located by line (None when the bytes are UTF-8)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        bad = data[error.start:error.start + 1]
        return Problem(name, None, line, None, bad, f"{name} is not UTF-8 text (byte 0x{bad.hex()} on line "
                       f"{line}); save it as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)')")
    return None


def _parse_csv(path: Path, names: list[str], spec: TableSchema,
               use_threads: bool) -> tuple[pa.Table | None, list]:
    """The file's records as text columns (its header line, with any byte-order mark, is skipped). Columns of
    few distinct values (ids, codes, dates) come dictionary-encoded: each distinct text is checked once."""
    bad_rows: list[tuple[int | None, str, int]] = []
    kinds = {c.name: c.kind for c in spec.columns}

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.text, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            str(path),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=use_threads),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_bad_row, ignore_empty_lines=False,
                # names may hold a quoted line break; the large settlements file never does (faster)
                newlines_in_values=spec.name != "settlements",
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: _CODED_TEXT if kinds.get(n) in _DICT_KINDS else pa.string() for n in names},
                null_values=[], strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as error:
        return None, [str(error).splitlines()[0]]  # type: ignore[list-item]
    return table, bad_rows


# ----------------------------------------------------------------------------------------------- XLSX
def check_workbook_safe(path: Path) -> None:
    """Refuse a zip bomb or an XML entity attack before any XML parser sees the workbook."""
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise UnsafeInputError(f"{path.name}: refusing to open a workbook without defusedxml; "
                               "install defusedxml so that openpyxl parses workbooks safely")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise UnsafeInputError(f"{path.name}: {len(members)} parts in the workbook; "
                                       f"expected at most {MAX_MEMBERS}")
            total = sum(m.file_size for m in members)
            if total > MAX_UNCOMPRESSED:
                raise UnsafeInputError(f"{path.name}: would inflate to {total:,} bytes (zip bomb?); "
                                       f"expected at most {MAX_UNCOMPRESSED:,}")
            for member in members:
                ratio = member.file_size // max(member.compress_size, 1)
                if member.file_size > RATIO_CHECK_FROM and ratio > MAX_RATIO:
                    raise UnsafeInputError(f"{path.name}: part {member.filename} is compressed {ratio}:1 "
                                           f"(zip bomb?); expected at most {MAX_RATIO}:1")
            for member in members:
                if member.filename.lower().endswith((".xml", ".rels", ".vml")):
                    _scan_xml(archive, member, path.name)
    except zipfile.BadZipFile:
        raise LoadError([Problem(path.name, None, None, None, None,
                                 "not a valid .xlsx workbook (not a zip archive); save it as Excel Workbook")]
                        ) from None


def _scan_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str) -> None:
    tail = b""
    with archive.open(member) as stream:
        while chunk := stream.read(_SCAN_CHUNK):
            window = (tail + chunk).lower()
            if any(marker in window for marker in _FORBIDDEN_XML):
                raise UnsafeInputError(
                    f"{name}: part {member.filename} declares a DOCTYPE/ENTITY (entity expansion attack?); "
                    "workbooks saved by Excel never do, refusing to read it")
            tail = window[-32:]


def _read_workbook(path: Path) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """The sheets' cells as frames (saved values: data_only), and a problem for each formula cell that has no
    saved value (a workbook written by a program and never calculated): openpyxl reads such a cell as blank."""
    check_workbook_safe(path)
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except UnsafeInputError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure is the user's file, not our bug
        raise LoadError([Problem(path.name, None, None, None, None,
                                 f"cannot be read as a workbook ({type(error).__name__}: {error})")]) from None
    tables: dict[str, pd.DataFrame] = {}
    gaps: dict[str, np.ndarray] = {}
    try:
        for table in TABLES:
            if table not in workbook.sheetnames:
                continue
            sheet = workbook[table]
            sheet.reset_dimensions()  # never trust the declared used range (it could claim A1:XFD1048576)
            rows = sheet.iter_rows(values_only=True)
            header = list(next(rows, ()) or ())
            body = [list(r) for r in rows]
            while body and all(v is None or v == "" for v in body[-1]):
                body.pop()
            width = max([len(header)] + [len(r) for r in body]) if body else len(header)
            while width and header[width - 1:width] in ([None], []) and all(
                    len(r) < width or r[width - 1] is None for r in body):
                width -= 1
            header = (header + [None] * width)[:width]
            body = [(r + [None] * width)[:width] for r in body]
            tables[table] = pd.DataFrame(body, columns=pd.Index(header, dtype=object), dtype=object)
            # a blank in a required column is a problem anyway: only then is the workbook read a second time
            # (a blank optional cell, e.g. a cap, is the usual case and a second read costs a third more)
            missing = tables[table].isna().to_numpy()
            blank = missing & np.array([_cell_text(h).strip() in _REQUIRED[table] for h in header], dtype=bool)
            blank[missing.all(axis=1)] = False  # a blank row is skipped, never a formula's missing value
            if blank.any():
                gaps[table] = blank
        formulas = _formulas_without_values(path, gaps) if gaps else []
    except Exception as error:  # noqa: BLE001
        raise LoadError([Problem(path.name, None, None, None, None,
                                 f"cannot be read as a workbook ({type(error).__name__}: {error})")]) from None
    finally:
        workbook.close()
    return tables, formulas


_REQUIRED = {table: {c.name for c in SCHEMAS[table].columns if c.required} for table in TABLES}


def _formulas_without_values(path: Path, gaps: Mapping[str, np.ndarray]) -> list[Problem]:
    """The blank cells (`gaps`: a mask per sheet over its data rows) that hold a formula. The workbook is read
    again without data_only, and of it only the sheets with such a blank (a valid workbook has none)."""
    import openpyxl

    problems: list[Problem] = []
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        for table, blank in gaps.items():
            sheet = workbook[table]
            sheet.reset_dimensions()
            header = next(sheet.iter_rows(max_row=1, values_only=True), ())
            for i, cells in enumerate(sheet.iter_rows(min_row=2, max_row=blank.shape[0] + 1, values_only=True)):
                for pos in np.flatnonzero(blank[i, :len(cells)]):
                    if cells[pos] is not None:  # blank as a saved value, something as a cell: a formula
                        column = _cell_text(header[pos] if pos < len(header) else None).strip()
                        problems.append(Problem(
                            path.name, table, i + 2, column or f"column {_column_letter(int(pos))}",
                            _clipped(_formula_text(cells[pos])),
                            "formula without a saved value; open the file in Excel and save it, or enter the value"))
    finally:
        workbook.close()
    return problems


def _formula_text(cell: object) -> str:
    """A formula cell's text (openpyxl gives array and data-table formulas as objects with a `text`)."""
    return cell if isinstance(cell, str) else str(getattr(cell, "text", None) or cell)


# ----------------------------------------------------------------------------------------------- cells
def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV would hold: floats through their shortest repr, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number != number:
            return ""  # NaN: pandas' blank
        if number in (float("inf"), float("-inf")):
            return repr(number)
        text = format(Decimal(repr(number)), "f")  # 1e-06 -> 0.000001, 1234.56 stays 1234.56
        return text.rstrip("0").rstrip(".") if "." in text else text
    if value is pd.NaT:
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date().isoformat()  # a date cell; a time part is dropped (normalised to midnight)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else str(value.astype("datetime64[D]"))
    return str(value)


def _column_text(series: pd.Series) -> list[str] | pd.Series:
    """A whole column as CSV text, as `_cell_text` gives per cell; typed columns are converted vectorised."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("") if series.isna().any() else series  # a missing text cell is blank, as ""
    if series.dtype == object:  # cells straight from Excel: one type per column is the normal case
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind == "integer" and not series.isna().any():
            return series.astype(str)  # Python ints of any size, exactly
        if kind in ("floating", "mixed-integer-float"):
            numbers = series.astype("float64")
            if np.nanmax(np.abs(numbers.to_numpy()), initial=0.0) < 2**53:  # every int is exact as a float
                return _column_text(numbers)
        if kind == "string":
            return series.fillna("").astype(str)
        if kind == "datetime":
            try:
                return _column_text(pd.to_datetime(series))
            except (ValueError, TypeError, OverflowError):  # aware and naive mixed, or past 2262: cell by cell
                return [_cell_text(v) for v in series.tolist()]
    if pd.api.types.is_float_dtype(series.dtype):
        # Arrow writes the shortest round-trip repr, like repr(); NaN (a blank) becomes null -> ""
        text = pc.cast(pa.array(series.to_numpy(), from_pandas=True), pa.string())
        out = pd.Series(text.to_pylist(), dtype=object).fillna("")
        exponent = out.str.contains("e", regex=False).to_numpy() & np.isfinite(series.to_numpy())
        if exponent.any():  # 1e+15 and the like: positional digits as _cell_text gives them
            out[exponent] = [_cell_text(v) for v in series.to_numpy()[exponent]]
        return out
    if pd.api.types.is_integer_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("int64").astype(str)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.strftime("%Y-%m-%d").fillna("")
    return [_cell_text(v) for v in series.tolist()]


_NUMBER_KINDS = ("amount", "rate", "int")
# below 1e9 in magnitude, value x 1e6 (a rate in ppm) is a double far inside the exact integers (2**53):
# the typed decimal check is exact there; a larger number takes the text path
_TYPED_LIMIT = 1e9


def column_array(series: pd.Series, kind: str | None) -> pa.Array:
    """A column as the loader reads it: typed when every cell is of its number/date kind, else CSV text."""
    typed = _typed_array(series, kind) if kind in (*_NUMBER_KINDS, "date") else None
    return typed if typed is not None else pa.array(_column_text(series), type=pa.string())


def _typed_array(series: pd.Series, kind: str) -> pa.Array | None:
    """float64 numbers (NaN/None -> null) or timestamps (NaT/None -> null); None when the column is mixed."""
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if kind == "date" and inferred in ("datetime", "datetime64", "date"):
            try:
                series = pd.to_datetime(series)
            except (ValueError, TypeError, OverflowError):
                return None
        elif kind != "date" and inferred in ("floating", "integer", "mixed-integer-float"):
            try:
                series = series.astype("float64")
            except (ValueError, TypeError, OverflowError):
                return None
        else:
            return None
        dtype = series.dtype
    if kind == "date":
        if not pd.api.types.is_datetime64_dtype(dtype):  # tz-aware or anything else: as text
            return None
        try:  # Arrow's cast refuses a date past 2262 (numpy's would wrap it around: 9999 -> 1815): its text path
            return pa.array(series.to_numpy(), from_pandas=True).cast(pa.timestamp("ns"))
        except pa.ArrowInvalid:
            return None
    if pd.api.types.is_bool_dtype(dtype) or not (pd.api.types.is_float_dtype(dtype)
                                                 or pd.api.types.is_integer_dtype(dtype)):
        return None
    numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not typed_exact(numbers):
        return None  # ints above 2**53 and huge amounts: the exact text path
    return pa.array(numbers, type=pa.float64(), from_pandas=True)


def typed_exact(numbers: np.ndarray) -> bool:
    """Whether the typed converters may check these numbers: every finite one below _TYPED_LIMIT in magnitude."""
    if len(numbers) and np.fmin.reduce(numbers) > -_TYPED_LIMIT and np.fmax.reduce(numbers) < _TYPED_LIMIT:
        return True  # the usual column, in two passes without a copy (fmin / fmax pass over NaN)
    finite = numbers[np.isfinite(numbers)]
    return not (finite.size and np.abs(finite).max() >= _TYPED_LIMIT)


def _column_letter(pos: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(pos + 1)


# ----------------------------------------------------------------------------------------------- validation
def _build(raws: Mapping[str, _Raw | None], problems: _Problems, sources: Mapping[str, str]) -> Portfolio:
    frames: dict[str, pd.DataFrame] = {}
    keys: dict[str, pa.Array] = {}
    checked: dict[str, tuple[_Raw, dict[str, object], dict[str, np.ndarray], dict[str, _Codes]]] = {}
    for table in TABLES:
        raw = raws.get(table)
        if raw is None:
            continue
        spec = SCHEMAS[table]
        one = _check_table(raw, spec, problems)
        if one is None:
            continue
        raw, values, valid, codes = checked[table] = one
        if raw.data.num_rows < spec.min_rows:  # an empty table has no cell problems to list before this
            problems.add(Problem(raw.file, raw.sheet, None, None, None,
                                 f"no data rows; expected at least {spec.min_rows} {table} row"))
        if table == "clients" and "client_id" in values:
            keys["clients"] = pc.filter(values["client_id"], pa.array(valid["client_id"]))
    _check_totals(checked, problems)
    refused = []
    for table, (raw, values, valid, codes) in checked.items():
        spec = SCHEMAS[table]
        _check_keys(raw, spec, values, valid, codes, problems)
        if "clients" in keys:
            for column, target in spec.references.items():
                if column in codes:  # each distinct id looked up once
                    known = _np(pc.is_in(pa.array(codes[column].values, type=pa.string()),
                                         value_set=keys["clients"]))
                    unknown = valid[column] & ~known[codes[column].row]
                elif column in values:
                    unknown = valid[column] & ~pc.is_in(values[column], value_set=keys["clients"]).to_numpy(
                        zero_copy_only=False)
                else:
                    continue
                problems.add_rows(raw, column, unknown, values[column],
                                  f"unknown client id; expected a {target} from the clients table")
        frames[table], table_refused = _to_frame(raw, spec, values)
        if table_refused is not None:
            refused.append(table_refused)
    if problems.items:
        raise LoadError(problems.items)
    extra = {"refused": pd.concat(refused, ignore_index=True) if len(refused) > 1 else refused[0]} if refused else {}
    return Portfolio(*(frames[t] for t in TABLES), sources=tuple((t, sources[t]) for t in TABLES), **extra)


# Every amount of every table together stays below this, so any total or difference the engines form from
# them (a portfolio's payouts, exposure, ledger columns) fits int64 exactly instead of wrapping around.
TOTAL_LIMIT_CENTS = 2**62


def _check_totals(checked: Mapping[str, tuple], problems: _Problems) -> None:
    amounts = {(table, col.name): values[col.name] for table, (_raw, values, _valid, _codes) in checked.items()
               for col in SCHEMAS[table].columns
               if col.kind == "amount" and isinstance(values.get(col.name), np.ndarray) and values[col.name].size}
    # the usual data ends here: its largest amount times its rows is far below the limit
    bound = sum(max(abs(float(np.fmax.reduce(cents))), abs(float(np.fmin.reduce(cents)))) * cents.size
                for cents in amounts.values())
    if bound < TOTAL_LIMIT_CENTS:
        return
    totals = {key: float(np.abs(cents).sum(dtype=np.float64)) for key, cents in amounts.items()}
    everything = sum(totals.values())
    if everything < TOTAL_LIMIT_CENTS:
        return
    table, column = max(totals, key=totals.__getitem__)
    raw = checked[table][0]
    problems.add(Problem(raw.file, raw.sheet, None, column, None,
                         f"the amounts of all tables add up to {everything / 100:,.0f} EUR ({table}.{column}: "
                         f"{totals[(table, column)] / 100:,.0f} EUR); the engines total at most "
                         f"{TOTAL_LIMIT_CENTS // 100:,} EUR to the cent"))


def _blank_cells(column: pa.Array | pa.ChunkedArray) -> pa.BooleanArray | pa.ChunkedArray:
    """Blank: text that is empty after trimming, or a missing typed value."""
    if isinstance(column, pa.ChunkedArray) and pa.types.is_dictionary(column.type):
        return pa.chunked_array([_blank_cells(chunk) for chunk in column.chunks], type=pa.bool_())
    if pa.types.is_dictionary(column.type):  # each distinct value once; a missing code is a blank cell
        return pc.fill_null(_blank_cells(column.dictionary).take(column.indices), True)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.is_null(column, nan_is_null=True)


def _drop_blank_rows(raw: _Raw) -> _Raw:
    if raw.data.num_columns == 0 or raw.data.num_rows == 0:
        return raw
    # only a row whose first cell is blank can be a blank row: check the others on those rows alone
    first = raw.data.column(0)
    if pa.types.is_dictionary(first.type) and not any(  # coded ids: no blank id at all, the usual case
            chunk.indices.null_count or pc.any(_blank_cells(chunk.dictionary)).as_py() for chunk in first.chunks):
        return raw
    mask = _np(_blank_cells(first))
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        return raw
    subset = raw.data.take(pa.array(candidates))
    for column in subset.columns[1:]:
        mask[candidates] &= _np(_blank_cells(column))
    if not mask.any():
        return raw
    keep = ~mask
    return _Raw(raw.table, raw.data.filter(pa.array(keep)), raw.rows[keep], raw.file, raw.sheet,
                raw.column_labels)


def _check_header(raw: _Raw, spec: TableSchema, problems: _Problems) -> bool:
    present = list(raw.data.column_names)
    missing = [c for c in spec.column_names if c not in present]
    expected = ",".join(spec.column_names)
    for column in missing:
        problems.add(Problem(raw.file, raw.sheet, 1, column, None,
                             f"missing column '{column}'; expected the header {expected}"))
    for column in present:
        if column in spec.column_names:
            continue
        label = raw.column_labels.get(column)
        if label is not None:  # a blank header: fine when the whole column is blank too
            if pc.any(pc.invert(_blank_cells(raw.data[column]))).as_py():
                problems.add(Problem(raw.file, raw.sheet, 1, label, None,
                                     "values under a blank header; expected only the columns " + expected))
            continue
        problems.add(Problem(raw.file, raw.sheet, 1, shown_text(column), shown_text(column),
                             f"unexpected column; expected only the columns {expected}"))
    if len(missing) == len(spec.column_names):
        problems.add(Problem(raw.file, raw.sheet, 1, None, shown_text(",".join(present)[:200]),
                             f"header row missing or wrong; expected the header {expected}"))
        return False
    return True


Issues = list[tuple[np.ndarray, str]]


def _convert_columns(raw: _Raw, spec: TableSchema,
                     problems: _Problems) -> tuple[dict[str, object], dict[str, np.ndarray], dict[str, _Codes]]:
    """Check and convert every declared column; returns converted values, a per-row 'valid' mask, and for the
    dictionary kinds (every key column) one integer code per row: equal codes <=> equal converted values.

    Columns are independent and their work is Arrow / numpy kernels that release the GIL, so a large table's
    columns are converted on a few threads; problems are still reported in column order."""
    present = [col for col in spec.columns if col.name in raw.data.column_names]
    if raw.data.num_rows >= _THREADED_FROM and len(present) > 1:
        with ThreadPoolExecutor(max_workers=min(len(present), os.cpu_count() or 1)) as pool:
            results = list(pool.map(lambda col: _convert_column(raw, col), present))
    else:
        results = [_convert_column(raw, col) for col in present]
    values: dict[str, object] = {}
    valid: dict[str, np.ndarray] = {}
    codes: dict[str, _Codes] = {}
    for col, (text, converted, ok, blank, issues, code) in zip(present, results, strict=True):
        if col.required:
            problems.add_rows(raw, col.name, blank, text, f"required; {_expected(col)}")
        for mask, message in issues:
            problems.add_rows(raw, col.name, mask, text, message)
        values[col.name] = converted
        valid[col.name] = ok
        if code is not None:
            codes[col.name] = code
    return values, valid, codes


_THREADED_FROM = 200_000  # rows; below this a thread pool costs more than it saves


@dataclass(frozen=True)
class _Codes:
    """A dictionary kind's column as one integer code per row and the converted value of each code."""

    row: np.ndarray
    values: np.ndarray


def _convert_column(raw: _Raw, col: ColumnSpec) -> tuple:
    """One column: (cells as read, converted values, ok, blank, [(mask, message)], _Codes or None)."""
    text = _one_array(raw.data[col.name])
    coded = pa.types.is_dictionary(text.type)  # read so by the CSV reader or raw_table: a code per row
    if coded and (col.kind not in _DICT_KINDS or text.indices.null_count):
        text, coded = text.dictionary_decode(), False
    typed = _typed_converter(col, text.type.value_type if coded else text.type)
    convert = typed or _CONVERTERS[col.kind]
    if typed is None and (col.kind in _TEXT_KINDS or col.name in _ACCOUNT_COLUMNS):
        convert = _refusing_unwritable(convert)
    if col.kind not in _DICT_KINDS:
        text = text if typed else pc.cast(text, pa.string())
        return text, *convert(col, text), None
    # 3.65 M settlement rows hold ~365 dates and ~10,000 ids: check the distinct values, then expand
    if not coded:
        text = text if typed else pc.cast(text, pa.string())
        encoded = pc.dictionary_encode(text, null_encoding="encode")  # a missing typed cell: one more entry
    elif typed is None and not pa.types.is_string(text.type.value_type):
        encoded = pa.DictionaryArray.from_arrays(text.indices, pc.cast(text.dictionary, pa.string()))
    else:
        encoded = text
    index = encoded.indices.to_numpy(zero_copy_only=False)  # int32: 4 bytes a row, not 8
    converted, ok, blank, issues = convert(col, encoded.dictionary)
    distinct = converted if isinstance(converted, np.ndarray) else converted.to_numpy(zero_copy_only=False)
    if _all_different(converted):  # the usual case: each raw value converts to a value of its own
        code = _Codes(index, distinct)
    else:  # " C1" and "C1" are one id once trimmed: one code for both
        unique_codes, uniques = pd.factorize(distinct, use_na_sentinel=False)
        code = _Codes(unique_codes[index], uniques)
    converted = converted[index] if isinstance(converted, np.ndarray) else converted.take(encoded.indices)
    # gathers over millions of rows only where a distinct value is bad or blank (the rare case)
    ok = np.ones(len(index), dtype=bool) if ok.all() else ok[index]
    blank = np.zeros(len(index), dtype=bool) if not blank.any() else blank[index]
    issues = [(mask[index], message) for mask, message in issues if mask.any()]
    return text, converted, ok, blank, issues, code


_TEXT_KINDS = ("id", "text", "country", "currency", "enum")
_ACCOUNT_COLUMNS = ("iban", "bic")  # text whatever their declared kind: they go into the reports and SEPA files


def _refusing_unwritable(convert):
    """`convert` plus the rule of every text column: no character that an xlsx cell (XML 1.0) cannot hold
    (xlsafe.UNWRITABLE_RE2: C0 controls other than tab, LF and CR; U+FFFE, U+FFFF). A report or reviewer list
    would fail on it long after the load, perhaps after the payout was made. Such a cell gets this problem
    alone, not also the kind's own (a control character is why an id does not match, or a code is blank).
    One regex run over the column's whole buffer finds that the usual column is clean."""

    def checked(col: ColumnSpec, text: pa.Array):
        converted, ok, blank, issues = convert(col, text)
        if not len(text) or not pc.match_substring_regex(joined_text(text), UNWRITABLE_RE2)[0].as_py():
            return converted, ok, blank, issues
        first = pc.struct_field(pc.extract_regex(text, f"(?P<char>{UNWRITABLE_RE2})"), [0])  # null: clean
        bad = _np(pc.is_valid(first))
        refused: Issues = []
        for char in sorted(pc.unique(first.drop_null()).to_pylist()):
            what = "control character" if char < " " else "non-character"
            refused.append((_np(pc.fill_null(pc.equal(first, char), False)),
                            f"contains the {what} U+{ord(char):04X}, which a spreadsheet cell cannot hold; "
                            "expected printable text"))
        return converted, ok & ~bad, blank & ~bad, [*refused, *((mask & ~bad, message) for mask, message in issues)]

    return checked


def _all_different(values: np.ndarray | pa.Array) -> bool:
    """No two values equal (a missing value counts once, as an entry of its own)."""
    if isinstance(values, np.ndarray):  # dates; NaT equals NaT in both, as in pd.factorize
        return len(pd.unique(values) if values.dtype == object else np.unique(values)) == len(values)
    return pc.count_distinct(values, mode="all").as_py() == len(values)


def _np(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _match(array: pa.Array, pattern: str) -> np.ndarray:
    return _np(pc.match_substring_regex(array, pattern))


def _trim(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    trimmed = pc.utf8_trim_whitespace(text)
    return trimmed, _np(pc.equal(trimmed, ""))


def _expected(col: ColumnSpec) -> str:
    return {
        "id": "expected 1-20 characters of A-Z a-z 0-9 _ -",
        "text": f"expected text of 1-{col.max_len} characters",
        "country": "expected an ISO 3166 alpha-2 country code such as DE",
        "currency": "expected an ISO 4217 currency code such as EUR",
        "enum": "expected one of " + ", ".join(col.allowed),
        "amount": "expected an amount in euros with at most 2 decimals such as 1234.56",
        "rate": "expected a fraction with at most 6 decimals such as 0.025 for 2.5 %",
        "int": "expected a whole number such as 12",
        "date": "expected a date YYYY-MM-DD such as 2026-11-23",
    }[col.kind]


# A CSV written by Atlas guards formula-like text with one apostrophe (OWASP); it is not part of the value.
CSV_FORMULA_GUARD = f"^'({FORMULA_TRIGGER_CLASS})"


def _convert_text(col: ColumnSpec, text: pa.Array):
    trimmed, blank = _trim(text)
    if col.kind == "text":  # names keep their exact text (a leading tab is data, shown safely later)
        text = pc.replace_substring_regex(text, CSV_FORMULA_GUARD, r"\1")  # undo xlsafe.csv_safe
        too_long = _np(pc.greater(pc.utf8_length(text), col.max_len or 10**9))
        return pc.if_else(pa.array(blank), "", text), ~blank & ~too_long, blank, [
            (too_long, f"too long; {_expected(col)}")]
    pattern = {"id": _ID_RE, "country": r"^[A-Z]{2}$", "currency": r"^[A-Z]{3}$"}[col.kind]
    normal = trimmed if col.kind == "id" else pc.utf8_upper(trimmed)
    ok = _match(normal, pattern)
    issues = [(~ok & ~blank, f"not a valid {col.kind}; {_expected(col)}")]
    if col.kind == "country":  # the distinct codes of a dictionary column: a handful of values
        unknown = ok & ~_np(pc.is_in(normal, value_set=_iso_countries()))
        ok = ok & ~unknown
        issues.append((unknown, f"no such country code (ISO 3166-1); {_expected(col)}"))
    return normal, ok, blank, issues


@cache
def _iso_countries() -> pa.Array:
    """The ISO 3166-1 alpha-2 codes (pycountry's list, which schwifty requires for its IBAN / BIC checks)."""
    import pycountry

    return pa.array(sorted(country.alpha_2 for country in pycountry.countries))


def _convert_enum(col: ColumnSpec, text: pa.Array):
    trimmed, blank = _trim(text)
    index = pc.index_in(pc.utf8_upper(trimmed), value_set=pa.array([a.upper() for a in col.allowed]))
    ok = _np(pc.is_valid(index))
    canonical = pa.array(col.allowed).take(pc.fill_null(index, 0))
    return canonical, ok, blank, [(~ok & ~blank, f"not an allowed value; {_expected(col)}")]


_AMOUNT_DIGITS = len(str(MAX_AMOUNT_CENTS // 100))  # 10: the shape that bounds an amount to MAX_AMOUNT_CENTS


def _convert_decimal(col: ColumnSpec, text: pa.Array):
    """'-12.5' -> -1250 cents (amounts) or '0.0125' -> 12500 ppm (rates), exact once the shape is checked."""
    places = 2 if col.kind == "amount" else 6
    # amounts up to model.MAX_AMOUNT_CENTS (10 digits of euros) keep cents x ppm products inside int64
    digits = _AMOUNT_DIGITS if col.kind == "amount" else 11
    shape = rf"^[+-]?[0-9]{{1,{digits}}}(\.[0-9]{{1,{places}}})?$"
    ok = _match(text, shape)
    issues: Issues = []
    if ok.all():  # the common case: clean files skip the trimming and the diagnosis passes
        trimmed, blank = text, np.zeros(len(text), dtype=bool)
    else:
        trimmed, blank = _trim(text)
        ok = _match(trimmed, shape)
        bad = ~ok & ~blank
        numeric = _match(trimmed, _NUMBER_RE)
        too_precise = bad & numeric & _match(trimmed, rf"\.[0-9]{{{places + 1},}}$")
        issues = [
            (bad & ~numeric, f"not a number (decimal point, no thousands separator); {_expected(col)}"),
            (too_precise, f"more than {places} decimals; {_expected(col)}"),
            (bad & numeric & ~too_precise, f"too large or malformed; {_expected(col)}"),
        ]
        trimmed = pc.if_else(pa.array(ok), trimmed, "0")
    if col.kind == "amount":
        # the shape above leaves |cents| < 1e12 < 2**53: the double nearest the text, times 100, lies within a
        # hair of a whole number of cents, and rint lands exactly on it (half the time of a decimal cast)
        numbers = np.asarray(pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        scaled = numbers * 100
        np.rint(scaled, out=scaled)  # in place: one 3.65 M-row temporary less (fresh memory is not free)
        return _scaled_result(col, scaled.astype(np.int64), ok, blank, issues)
    decimals = pc.cast(trimmed, pa.decimal128(18, places))  # rates: 11 + 6 digits do not fit a double
    # a decimal128 is a 16-byte little-endian integer of the scaled value; |value| < 1e17 fits its low word
    words = np.frombuffer(decimals.buffers()[1], dtype=np.int64)
    scaled = words[2 * decimals.offset:2 * (decimals.offset + len(decimals)):2].copy()
    return _scaled_result(col, scaled, ok, blank, issues)


def _scaled_result(col: ColumnSpec, scaled: np.ndarray, ok: np.ndarray, blank: np.ndarray, issues: Issues):
    """Cents / ppm with the column's blank value in place and its range checked (text and typed cells alike)."""
    if col.blank_value is not None:
        scaled = np.where(blank, col.blank_value, scaled)
        ok = ok | blank
    issues += _range_issues(col, scaled, ok & ~blank)
    return scaled, ok, blank, issues


def _convert_int(col: ColumnSpec, text: pa.Array):
    trimmed, blank = _trim(text)
    ok = _match(trimmed, _INT_RE)  # a negative whole number is one: the range check below refuses it
    safe = pc.if_else(pa.array(ok), pc.utf8_ltrim(trimmed, characters="+"), "0")
    number = np.asarray(pc.cast(safe, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    issues = [(~ok & ~blank, f"not a whole number; {_expected(col)}"), *_range_issues(col, number, ok)]
    return number, ok, blank, issues


def _range_issues(col: ColumnSpec, number: np.ndarray, ok: np.ndarray) -> Issues:
    scale = {"amount": 100, "rate": 1_000_000}.get(col.kind, 1)
    issues: Issues = []
    if col.min_value is not None:
        low = (number <= col.min_value) if col.min_exclusive else (number < col.min_value)
        word = "greater than" if col.min_exclusive else "at least"
        issues.append((ok & low, f"must be {word} {_show(col.min_value, scale)}; {_expected(col)}"))
    if col.max_value is not None:
        issues.append((ok & (number > col.max_value),
                       f"must be at most {_show(col.max_value, scale)}; {_expected(col)}"))
    return issues


def _show(value: int, scale: int) -> str:
    return str(Decimal(value) / scale) if scale > 1 else str(value)


def _convert_date(col: ColumnSpec, text: pa.Array):
    trimmed, blank = _trim(text)
    shaped = _match(trimmed, _DATE_RE)
    safe = pc.if_else(pa.array(shaped), trimmed, "1970-01-01")
    stamps = pc.strptime(safe, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2026-02-30 over into March: a real date prints back as itself
    real = _np(pc.fill_null(pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), safe), False))
    ok = shaped & real
    days = pc.fill_null(stamps, pa.scalar(0, pa.timestamp("s")))
    seconds = np.asarray(days.to_numpy(zero_copy_only=False), dtype="datetime64[s]")
    dates, in_range = _supported_days(seconds, ok)
    return dates, ok & in_range, blank, [(~ok & ~blank, f"not a valid date; {_expected(col)}"),
                                          (ok & ~in_range, _OUT_OF_RANGE)]


_OUT_OF_RANGE = f"out of range; expected a date {DATE_RANGE}"


def _supported_days(stamps: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midnight of each date as datetime64[ns], and whether it is in model's supported range (1970-01-01
    stands in where it is not, or where `present` is False). Checked before the conversion to nanoseconds,
    which would wrap a date past 2262 around silently."""
    days = stamps.astype("datetime64[D]")
    in_range = supported_days(days)
    safe = np.where(in_range & present, days, np.datetime64(0, "D"))
    return safe.astype("datetime64[ns]"), in_range

_CONVERTERS = {
    "id": _convert_text, "text": _convert_text, "country": _convert_text, "currency": _convert_text,
    "enum": _convert_enum, "amount": _convert_decimal, "rate": _convert_decimal, "int": _convert_int,
    "date": _convert_date,
}


# ----------------------------------------------------------------------------------------------- typed cells
def _typed_numbers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    if values.null_count == 0:  # the usual column: no blank cell to look for beyond a NaN
        return numbers, np.isnan(numbers)
    return numbers, ~_np(pc.is_valid(values)) | np.isnan(numbers)


def _convert_decimal_typed(col: ColumnSpec, values: pa.Array):
    """A number cell -> cents / ppm, as _convert_decimal does with its shortest repr: the double must be the one
    nearest to a whole number of cents (ppm). `k / scale` is correctly rounded, so it equals the cell exactly
    when the cell's shortest repr has at most 2 (6) decimals. |value| < _TYPED_LIMIT keeps k exact."""
    places = 2 if col.kind == "amount" else 6
    scale = 10**places
    numbers, blank = _typed_numbers(values)
    finite = np.isfinite(numbers)
    if finite.all():  # the usual column (no blank, no infinity): no stand-in values needed
        scaled = np.rint(numbers * scale)
        ok = scaled / scale == numbers
    else:
        finite &= ~blank
        safe = np.where(finite, numbers, 0.0)
        scaled = np.rint(safe * scale)
        ok = finite & (scaled / scale == safe)
    issues: Issues = [
        (~finite & ~blank, f"not a number (decimal point, no thousands separator); {_expected(col)}"),
        (finite & ~ok, f"more than {places} decimals; {_expected(col)}"),
    ]
    return _scaled_result(col, scaled.astype(np.int64), ok, blank, issues)


def _convert_int_typed(col: ColumnSpec, values: pa.Array):
    """A whole number cell, as _convert_int reads its text: at most 9 digits and no fraction (-0.0 is "-0",
    i.e. 0); its range is the column's, as for text."""
    numbers, blank = _typed_numbers(values)
    finite = np.isfinite(numbers)
    safe = np.where(finite, numbers, 0.0)
    ok = ~blank & finite & (safe == np.floor(safe)) & (np.abs(safe) < 1e9)
    number = np.where(ok, safe, 0).astype(np.int64)
    return number, ok, blank, [(~ok & ~blank, f"not a whole number; {_expected(col)}"),
                               *_range_issues(col, number, ok)]


def _convert_date_typed(col: ColumnSpec, values: pa.Array):
    """A date cell; a time of day is dropped, as _cell_text does."""
    blank = ~_np(pc.is_valid(values))
    stamps = np.asarray(values.to_numpy(zero_copy_only=False), dtype="datetime64[ns]")
    days, in_range = _supported_days(stamps, ~blank)
    return days, ~blank & in_range, blank, [(~blank & ~in_range, _OUT_OF_RANGE)]


def _typed_converter(col: ColumnSpec, arrow_type: pa.DataType):
    """The typed converter for a column that arrived typed; None: convert its text."""
    if pa.types.is_floating(arrow_type) and col.kind in _NUMBER_KINDS:
        return _convert_int_typed if col.kind == "int" else _convert_decimal_typed
    if pa.types.is_timestamp(arrow_type) and col.kind == "date":
        return _convert_date_typed
    return None


def _check_keys(raw: _Raw, spec: TableSchema, values: dict, valid: dict, codes: dict,
                problems: _Problems) -> None:
    if any(k not in values for k in spec.key):
        return
    usable = np.logical_and.reduce([valid[k] for k in spec.key])
    for k in spec.key:
        if k not in codes:  # every key column is a dictionary kind today; stay correct if one is not
            value = values[k]
            codes[k] = _Codes(*pd.factorize(value if isinstance(value, np.ndarray)
                                            else value.to_numpy(zero_copy_only=False)))
    if _keys_distinct([codes[k].row for k in spec.key], usable):
        return
    keyframe = pd.DataFrame({k: codes[k].row for k in spec.key})[usable]
    dupes = keyframe.duplicated(keep="first")
    if not dupes.any():
        return
    positions = np.flatnonzero(usable)
    key_rows = pd.Series(raw.rows[positions], index=keyframe.index)
    clash = keyframe.duplicated(keep=False)
    first_row = key_rows[clash].groupby([keyframe.loc[clash, k] for k in spec.key]).transform("min")
    mask = np.zeros(raw.data.num_rows, dtype=bool)
    mask[positions[dupes.to_numpy()]] = True
    dupe_index = np.flatnonzero(mask)
    for i in dupe_index[:MAX_LISTED]:
        key_text = ", ".join(f"{k}={_key_text(values[k], i)}" for k in spec.key)
        problems.add(Problem(raw.file, raw.sheet, int(raw.rows[i]), spec.key[0], key_text,
                             f"duplicate key ({', '.join(spec.key)}); first on row {int(first_row.loc[i])}"))
    if dupe_index.size > MAX_LISTED:
        problems.add(Problem(raw.file, raw.sheet, None, spec.key[0], None,
                             f"{dupe_index.size - MAX_LISTED} more duplicate key row(s) "
                             f"({dupe_index.size} in total)"))


def _keys_distinct(key_codes: list[np.ndarray], usable: np.ndarray) -> bool:
    """True when no two usable rows share a key, by counting mixed-radix key numbers (one O(n) pass; the
    3.65 M settlement keys span ~10,000 ids x 365 days). False means: look closer (or a key space too big)."""
    rows = int(usable.sum())
    sizes = [int(c.max()) + 1 if len(c) else 1 for c in key_codes]
    if int(np.prod(sizes, dtype=object)) > 8 * rows + 1_000_000:
        return False
    number = key_codes[0].astype(np.int64)
    for code, size in zip(key_codes[1:], sizes[1:], strict=True):
        number *= size
        number += code
    if not usable.all():
        number = number[usable]
    return bool(np.bincount(number).max(initial=0) <= 1)


def _key_text(value: object, i: int) -> str:
    if isinstance(value, np.ndarray):
        item = value[i]
        return str(item.astype("datetime64[D]")) if value.dtype.kind == "M" else str(item)
    return str(value[int(i)].as_py())


def _to_frame(raw: _Raw, spec: TableSchema, values: dict) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    columns: dict[str, object] = {}
    for col in spec.columns:
        value = values.get(col.name)
        if value is not None:
            columns[col.loaded_name] = value
    columns["source_row"] = raw.rows.astype(np.int64)
    refused = None
    if spec.name == "settlements" and "currency" in columns:
        foreign = _np(pc.not_equal(columns["currency"], "EUR"))
        if foreign.any():  # Arrow's string kernels: a handful of rows or a million cost the same few calls
            gone = pa.array(np.flatnonzero(foreign))
            reason = pc.binary_join_element_wise(
                "currency ", pc.take(columns["currency"], gone),
                " is not EUR: only EUR settlements are processed (no FX conversion)", "")
            refused = pd.DataFrame({
                "table": pd.array(pa.repeat("settlements", len(gone)), dtype="str"),
                "source_row": columns["source_row"][foreign],
                "client_id": pd.array(pc.take(columns["client_id"], gone), dtype="str"),
                "reason": pd.array(reason, dtype="str"),
            }, copy=False)
            columns = _rows_where(columns, ~foreign)
    return _frame(columns), refused


def _rows_where(columns: dict[str, object], mask: np.ndarray) -> dict[str, object]:
    """The rows of every column where `mask` holds (numpy and Arrow columns; the mask made Arrow once)."""
    arrow_mask = pa.array(mask)
    return {name: value[mask] if isinstance(value, np.ndarray) else pc.filter(value, arrow_mask)
            for name, value in columns.items()}


def _frame(columns: dict[str, object]) -> pd.DataFrame:
    """The loaded frame: text as pandas' Arrow-backed str, numbers and dates as the numpy arrays themselves
    (copy=False: 3.65 M-row columns are not copied into one block)."""
    return pd.DataFrame({name: value if isinstance(value, np.ndarray) else pd.array(value, dtype="str")
                         for name, value in columns.items()}, copy=False)
