"""XLSX / XLSM reading. Workbooks are untrusted: the zip is checked for bombs and every XML part for
DOCTYPE/ENTITY before openpyxl (with defusedxml active) parses anything; then the four sheets' saved values
are read as frames of cells, and a formula cell without a saved value becomes a located problem."""

from __future__ import annotations

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

