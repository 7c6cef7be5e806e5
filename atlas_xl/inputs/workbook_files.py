"""XLSX / XLSM reading. Workbooks are untrusted: the zip is checked for bombs and every XML part for
DOCTYPE/ENTITY before openpyxl (with defusedxml active) parses anything; then the four sheets' saved values
are read as frames of cells, and a formula cell without a saved value becomes a located problem."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from atlas_xl.domain.model import TABLES
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.errors import LoadError, Problem, UnsafeInputError
from atlas_xl.inputs.cells import _cell_text, _clipped, _column_letter

MAX_UNCOMPRESSED = 2 * 1024**3  # a workbook that inflates beyond 2 GiB is refused unopened
MAX_RATIO = 200  # ... and so is a large member compressed more than 200:1 (real sheets are ~10-40:1)
RATIO_CHECK_FROM = 16 * 1024**2
MAX_MEMBERS = 10_000
_SCAN_CHUNK = 1024**2
_UTF8_BOM = b"\xef\xbb\xbf"
_FORBIDDEN_XML = tuple(
    marker.encode(enc) for marker in ("<!doctype", "<!entity") for enc in ("ascii", "utf-16-le", "utf-16-be")
)



def check_workbook_safe(path: Path) -> None:
    """Refuse a zip bomb or an XML entity attack before any XML parser sees the workbook."""
    import openpyxl  # lazy: ~1 s to import (python -X importtime), and only workbook input needs it

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
            outside = _outside_the_grid(sheet, path.name, table)
            if outside is not None:
                raise LoadError([outside])
            sheet.reset_dimensions()  # never trust the declared used range (it could claim A1:XFD1048576)
            try:
                rows = sheet.iter_rows(values_only=True)
                header = list(next(rows, ()) or ())
                body = [list(r) for r in rows]
            except Exception as error:  # noqa: BLE001 - a cell openpyxl cannot read: find and name it
                raise LoadError([_damaged_cell(sheet, path.name, table) or Problem(
                    path.name, table, None, None, None,
                    f"cannot be read as a worksheet ({type(error).__name__}: {error})")]) from None
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
    except LoadError:
        raise
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



# ----------------------------------------------------------------------------------------------- damaged sheets
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384  # column XFD
_GRID = f"Excel's grid ends at row {EXCEL_MAX_ROWS:,} and column XFD ({EXCEL_MAX_COLUMNS:,})"
# a cell or row reference (the attribute r) with 3+ column letters or 7+ row digits: the only ones that can lie
# beyond the grid, and rare enough in a real sheet that each is checked in Python
_FAR_REFERENCE = re.compile(rb"""\br=["']([A-Za-z]{3,}[0-9]*|[A-Za-z]{0,2}[0-9]{7,})["']""")
_CELL_REFERENCE = re.compile(r"([A-Za-z]{1,3})([0-9]+)")


def _outside_the_grid(sheet, file: str, table: str) -> Problem | None:
    """A sheet whose declared used range or any row / cell reference lies beyond Excel's grid, found before a row
    is read: openpyxl builds every missing row (and cell) up to the largest index it meets, so one cell that
    claims row 99,999,999,999 in a 16 KB file would have it build that many rows until the process is killed.
    One pass over the sheet's XML (regex over 1 MB chunks; a real sheet has no candidate at all)."""
    if (sheet.max_row or 0) > EXCEL_MAX_ROWS or (sheet.max_column or 0) > EXCEL_MAX_COLUMNS:
        return Problem(file, table, None, None, f"{sheet.max_row:,} rows x {sheet.max_column:,} columns",
                       f"the sheet declares a used range beyond Excel's limits; {_GRID}. "
                       "The workbook was not saved by Excel: open it in Excel and save it again")
    from openpyxl.utils import column_index_from_string  # lazy: openpyxl takes ~1 s to import

    tail = b""
    with sheet._get_source() as stream:  # the sheet's part as openpyxl itself opens it to read rows
        while chunk := stream.read(_SCAN_CHUNK):
            window = tail + chunk
            for match in _FAR_REFERENCE.finditer(window):
                reference = match.group(1).decode("ascii")
                letters = reference.rstrip("0123456789")  # _FAR_REFERENCE matched letters, then digits
                digits = reference[len(letters):]
                too_far = bool(digits) and int(digits) > EXCEL_MAX_ROWS
                if letters and not too_far:
                    try:
                        too_far = len(letters) > 3 or column_index_from_string(letters.upper()) > EXCEL_MAX_COLUMNS
                    except ValueError:
                        too_far = True
                if too_far:
                    return Problem(file, table, None, None, _clipped(reference),
                                   f"a cell or row reference beyond Excel's limits; {_GRID}. The workbook was not "
                                   "saved by Excel: open it in Excel and save it again")
            tail = window[-32:]
    return None


_EXPECTED_CELL = {
    "n": "a number cell holds text; expected a number with a decimal point such as 12.5 (a decimal comma makes it "
         "text: enter the number again in Excel)",
    "d": "a date cell (type d) holds no ISO 8601 date; expected a date such as 2026-11-23",
    "b": "a TRUE/FALSE cell holds neither 1 nor 0; expected TRUE or FALSE",
    "s": "a text cell points at a shared text the workbook does not hold; expected text",
}


def _damaged_cell(sheet, file: str, table: str) -> Problem | None:
    """The first cell (or row) of a sheet that openpyxl failed to read, located: the sheet's XML is walked again
    with openpyxl's own cell parser, one cell at a time (only after a failure, so its cost never matters).
    None when every cell reads (the failure was elsewhere)."""
    # lazy and private: openpyxl's worksheet parser is the reference for what it can read; only this rare path
    # uses it, and tests/test_loader_hostile.py pins the result for each kind of damaged cell
    from openpyxl.utils import column_index_from_string, get_column_letter
    from openpyxl.worksheet._reader import CELL_TAG, ROW_TAG, VALUE_TAG, WorkSheetParser
    from openpyxl.xml.functions import iterparse

    book = sheet.parent
    parser = WorkSheetParser(None, sheet._shared_strings, data_only=True, epoch=book.epoch,
                             date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
    header: dict[int, str] = {}
    with sheet._get_source() as stream:
        for _, element in iterparse(stream):
            if element.tag != ROW_TAG:
                continue
            number = element.get("r")
            if number is None:
                parser.row_counter += 1
            else:
                try:
                    value = float(number)
                    if not value.is_integer():
                        raise ValueError(number)
                    parser.row_counter = int(value)
                except ValueError:
                    return Problem(file, table, parser.row_counter + 1, None, _clipped(number),
                                   "the row number is not a whole number; the workbook is damaged: "
                                   "open it in Excel and save it again")
            parser.col_counter = 0
            for cell in element:
                if cell.tag != CELL_TAG:
                    continue
                try:
                    parsed = parser.parse_cell(cell)
                except Exception:  # noqa: BLE001 - exactly what failed the read
                    reference = cell.get("r")
                    if reference is None:
                        row, position = parser.row_counter, parser.col_counter + 1
                    else:
                        shape = _CELL_REFERENCE.fullmatch(reference)
                        if shape is None:
                            return Problem(file, table, parser.row_counter, None, _clipped(reference),
                                           "not a cell reference such as B7; the workbook is damaged: "
                                           "open it in Excel and save it again")
                        row, position = int(shape[2]), column_index_from_string(shape[1].upper())
                    label = header.get(position) or f"column {get_column_letter(position)}"
                    kind = cell.get("t", "n")
                    return Problem(file, table, row, label, _clipped(cell.findtext(VALUE_TAG) or ""),
                                   _EXPECTED_CELL.get(kind, f"a cell of type {kind!r} that cannot be read"))
                if parser.row_counter == 1 and isinstance(parsed["value"], str) and parsed["value"].strip():
                    header[parsed["column"]] = parsed["value"].strip()
            element.clear()
    return None
