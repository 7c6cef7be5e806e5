"""The openpyxl and zipfile internals behind the report's speed, in one place, with a public-API way round them.

Checked against openpyxl 3.1.2 to 3.1.5 (pyproject pins >=3.1.2,<3.2) and the zipfile of Python 3.11 to 3.13.
What is used below the public APIs, and only here:

- openpyxl's write-only sheet: `ws._get_writer()`, `ws._writer` (its `xf`, the sheet's XML stream, and `out`,
  the sheet's temporary file) and `ws._rows` (openpyxl/worksheet/_write_only.py and _writer.py): `SheetRows`;
- openpyxl's save zipping each write-only sheet with `archive.write(ws._writer.out, arcname)`
  (ExcelWriter.write_worksheet, openpyxl/writer/excel.py): `ReportZip`;
- zipfile's `ZipInfo._compresslevel` (before 3.13's public `compress_level`) and `_ZipWriteFile._compressor`:
  `ReportZip.write`, `deflate_with_isal`.

`sheet_rows(ws)` gives a `SheetRows` only where the sheet internals are there (`fast_rows_available`, hasattr
checks on a throwaway sheet, once a process); elsewhere it gives None and the report appends its cells through
openpyxl's public write-only API (`ws.append`): about ten times slower, the same cells and formats
(tests/test_report_fast.py writes both). Without `_compressor`, zipfile's own zlib deflates the sheets: the same
file, written more slowly. A save that went round `ReportZip.write` fails loudly rather than lose rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from isal import isal_zlib
from openpyxl import Workbook
from openpyxl.chart._chart import ChartBase  # charts' type: no public name
from openpyxl.worksheet._write_only import WriteOnlyWorksheet  # the write-only sheet's type: no public name
from openpyxl.writer.excel import ExcelWriter

from atlas_xl.outputs.report.fast_xlsx import row_xml

__all__ = ["SHEET_DEFLATE_LEVEL", "ZIP_LEVEL", "ChartBase", "ReportZip", "SheetRows", "WriteOnlyWorksheet",
           "deflate_with_isal", "fast_rows_available", "save_workbook", "sheet_rows"]

SHEET_ATTRIBUTES = ("_get_writer", "_writer", "_rows", "close")  # what SheetRows uses of a write-only sheet
WRITER_ATTRIBUTES = ("xf", "out")  # ... and of its writer


def has_sheet_internals(ws: object) -> bool:
    """Whether `ws` has the attributes of a write-only sheet SheetRows uses."""
    return all(hasattr(ws, name) for name in SHEET_ATTRIBUTES)


@functools.cache
def fast_rows_available() -> bool:
    """Whether this openpyxl has the write-only sheet internals `SheetRows` needs: checked on a throwaway sheet
    (its writer made and dropped again; one empty temporary file, removed), once a process."""
    ws = Workbook(write_only=True).create_sheet()
    if not has_sheet_internals(ws) or getattr(ws, "_writer", True) is not None:
        return False
    try:
        ws._get_writer()
        writer = ws._writer
        present = all(hasattr(writer, name) for name in WRITER_ATTRIBUTES) and hasattr(writer.xf, "send")
    except (AttributeError, TypeError):
        return False
    with contextlib.suppress(AttributeError, OSError, TypeError):
        writer.xf.close()
    with contextlib.suppress(AttributeError, OSError, TypeError, ValueError):
        writer.cleanup()  # removes its temporary file
    return present


def sheet_rows(ws: WriteOnlyWorksheet) -> SheetRows | None:
    """The fast row writer for a new write-only sheet, or None where openpyxl's internals are not there."""
    return SheetRows(ws) if fast_rows_available() and has_sheet_internals(ws) else None


class SheetRows:
    """The rows of one write-only sheet, written as XML text straight into the file openpyxl zips for the sheet.

    Why: openpyxl's `append` costs ~10 us a cell (a cell object, type inference, style binding and several
    lxml calls each); rows built here a column at a time cost well under 1 us a cell.

    Below openpyxl's public API, on purpose and kept small. A WriteOnlyWorksheet hands each appended row
    to its `_rows` object (`send`), which writes cells between <sheetData> tags through the XML stream
    the sheet's writer lends out when sent True and takes back when sent None; `ws.close()` closes `_rows`,
    writes the sheet's tail and closes the sheet's temporary file, `_writer.out`, which the workbook's save
    zips. (openpyxl/worksheet/_write_only.py and _writer.py, the same in 3.1.2 to 3.1.5; pyproject pins
    >=3.1.2,<3.2.) A SheetRows is that `_rows` object: it leaves a marker in <sheetData> and spools the
    rows to a file of its own; `finish()` closes the sheet, and the save zips openpyxl's file with the rows
    in place of the marker (`copy_to`, through `ReportZip`).
    tests/test_report_fast.py reads the result back with openpyxl and compares it with what the per-cell
    writer makes of the same data.
    """

    MARKER = "atlas-xl: rows go here"  # nothing else in a sheet's file is text (data texts are all in rows)

    def __init__(self, ws: WriteOnlyWorksheet) -> None:
        if ws._writer is not None:
            raise ValueError(f"sheet {ws.title!r} has rows already")
        ws._get_writer()  # writes what comes before the rows: column widths and freeze panes must be set
        writer: Any = ws._writer  # made by _get_writer() (openpyxl's stubs type the attribute as None)
        self.ws = ws
        xf = writer.xf.send(True)  # the sheet's XML stream, until close() hands it back
        self._open = contextlib.ExitStack()  # closes last-in first: </sheetData>, then hand back
        self._open.callback(writer.xf.send, None)
        self._open.enter_context(xf.element("sheetData"))
        xf.write(self.MARKER)
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - lives until copy_to() (or is dropped unused)
        self._rows_size = 0
        self._head = self._tail = b""
        ws._rows = self

    def send(self, row: object) -> None:
        """What `ws.append(row)` calls: refused, so that two writers never mix in one sheet."""
        raise TypeError(f"sheet {self.ws.title!r}: rows are written by SheetRows.write, not append()")

    def close(self) -> None:
        """What `ws.close()` calls before the sheet's tail: end <sheetData>, give the stream back."""
        self._open.close()

    def write(self, first_row: int, columns: Sequence[pa.Array]) -> None:
        """Rows first_row, first_row + 1, ...; `columns[j][i]` is row i's cell in column j + 1, as
        report_cells.row_xml takes it."""
        rows = row_xml(first_row, list(columns))
        self._spool.write(rows)
        self._rows_size += len(rows)

    def finish(self) -> None:
        """Close the sheet (openpyxl writes its tail) and keep what it wrote before and after the row marker."""
        self.ws.close()
        self._head, marker, self._tail = Path(self.path).read_bytes().partition(self.MARKER.encode())
        if not marker or self.MARKER.encode() in self._tail:
            raise RuntimeError(f"sheet {self.ws.title!r}: openpyxl's sheet file does not hold one row marker")

    @property
    def path(self) -> str:
        """openpyxl's file for the sheet, which its save zips."""
        return self.ws._writer.out

    @property
    def size(self) -> int:
        """The length of the sheet's XML, rows spliced in (after `finish`)."""
        return len(self._head) + self._rows_size + len(self._tail)

    def copy_to(self, out: IO[bytes]) -> None:
        """The sheet's XML (after `finish`): openpyxl's file with the spooled rows in place of the marker."""
        with self._spool:
            out.write(self._head)
            self._spool.seek(0)
            shutil.copyfileobj(self._spool, out, 1 << 20)
            out.write(self._tail)


ZIP_LEVEL = 1  # deflate level: ~0.5 s less than zlib's default 6 at 10,000 clients, for a ~30 % larger file
# Table sheets are deflated by ISA-L (isal) at its level 1: 76 MB of sheet XML at 10,000 clients in 0.06 s
# instead of zlib's 0.23 s, and 9.7 MB instead of 10.3. The stream is standard raw deflate, as zlib's.
SHEET_DEFLATE_LEVEL = 1


class ReportZip(zipfile.ZipFile):
    """The workbook's zip, where each table sheet goes in as openpyxl's file for it with the spooled rows in place
    of the marker, read once: no spliced copy of every sheet is written to disk first (~0.07 s at 10,000 clients).

    openpyxl's save zips a write-only sheet with `archive.write(ws._writer.out, arcname)` (ExcelWriter.
    write_worksheet, openpyxl/writer/excel.py, the same in 3.1.2 to 3.1.5); `write` takes that call for the
    sheets in `sheets` and does what ZipFile.write does, from `SheetRows.copy_to`.
    """

    def __init__(self, path: Path, sheets: Sequence[SheetRows]) -> None:
        super().__init__(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=ZIP_LEVEL)
        self.unzipped = {rows.path: rows for rows in sheets}

    def write(self, filename: str | os.PathLike[str], arcname: str | os.PathLike[str] | None = None,
              compress_type: int | None = None,
              compresslevel: int | None = None) -> None:
        rows = self.unzipped.pop(os.fspath(filename), None)
        if rows is None:
            super().write(filename, arcname, compress_type, compresslevel)
            return
        member = zipfile.ZipInfo.from_file(filename, arcname)  # name, time and mode as ZipFile.write takes them
        member.compress_type = self.compression if compress_type is None else compress_type
        # the level as ZipFile.write sets it (a public name, compress_level, only from Python 3.13)
        level = self.compresslevel if compresslevel is None else compresslevel
        if hasattr(member, "compress_level"):
            member.compress_level = level
        else:
            member._compresslevel = level  # type: ignore[attr-defined]  # Python < 3.13's name
        member.file_size = rows.size  # the whole sheet's size, for ZipFile's choice of zip64 headers
        with self.open(member, "w") as out:
            if member.compress_type == zipfile.ZIP_DEFLATED:
                deflate_with_isal(out)
            rows.copy_to(out)


def deflate_with_isal(member_file: object) -> None:
    """Give a deflated zip member being written (zipfile's `_ZipWriteFile`, nothing written yet) ISA-L's
    compressor at SHEET_DEFLATE_LEVEL (ISA-L's levels are 0-3, not zlib's 1-9).

    zipfile has no public hook for the compressor; `_compressor` is its name for it in Python 3.8-3.14 and the
    object only needs `compress` and `flush`, which isal_zlib's has as zlib's does. Without that attribute
    (a future zipfile) zlib's compressor stays: the same file, written more slowly.
    """
    if getattr(member_file, "_compressor", None) is not None:
        member_file._compressor = isal_zlib.compressobj(  # type: ignore[attr-defined]  # getattr above
            SHEET_DEFLATE_LEVEL, isal_zlib.DEFLATED, -15)


def save_workbook(book: Workbook, path: Path, sheets: Sequence[SheetRows] = ()) -> None:
    """openpyxl's save_workbook with a faster deflate level (its ZipFile takes no level), table sheets zipped
    with their rows (`ReportZip`)."""
    if not book.worksheets:
        book.create_sheet()
    book.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)
    with ReportZip(path, sheets) as archive:
        ExcelWriter(book, archive).save()
        if archive.unzipped:  # openpyxl zipped them some other way: their rows would be missing
            titles = [rows.ws.title for rows in archive.unzipped.values()]
            raise RuntimeError(f"sheets {titles} were not zipped through ZipFile.write: openpyxl's save changed")
