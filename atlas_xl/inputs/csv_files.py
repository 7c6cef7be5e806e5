"""CSV reading: a folder's four files, each read by Arrow as text columns (dictionary-coded for the kinds of
few distinct values), with every unreadable line, bad byte or odd header turned into a located problem."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from atlas_xl.domain.schemas import TableSchema
from atlas_xl.errors import Problem
from atlas_xl.inputs.cells import _clipped
from atlas_xl.inputs.convert import _DICT_KINDS
from atlas_xl.inputs.validate import MAX_LISTED, _Problems, _Raw

_UTF8_BOM = b"\xef\xbb\xbf"

ARROW_BLOCK_BYTES = 1024**2  # Arrow's default block
LONG_RECORD_BYTES = 64 * 1024**2  # the block a CSV is read again in when one record is longer than 1 MB
_CODED_TEXT = pa.dictionary(pa.int32(), pa.string())


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
    block_size = ARROW_BLOCK_BYTES
    table, bad_rows = _parse_csv(path, names, spec, use_threads=True)
    if table is None and "straddl" in bad_rows[0]:
        # a record longer than Arrow's block ("straddling object straddles two block boundaries"): read again in
        # blocks of LONG_RECORD_BYTES, so that the too long cell reaches its column's check and is named there
        block_size = LONG_RECORD_BYTES
        table, bad_rows = _parse_csv(path, names, spec, use_threads=True, block_size=block_size)
        if table is None and "straddl" in bad_rows[0]:
            problems.add(Problem(name, None, None, None, None,
                                 f"a row longer than {LONG_RECORD_BYTES // 1024**2} MB; expected one row per line "
                                 "with cells of at most a few hundred characters (is a quote never closed?)"))
            return None
    if table is None:  # Arrow checks the UTF-8 of every cell as it reads; locate a bad byte only then
        problems.add(_utf8_problem(path.read_bytes(), name) or Problem(
            name, None, None, None, None, f"cannot be read as CSV: {bad_rows[0]}"))
        return None
    if any(number is None for number, _, _ in bad_rows):  # threaded reads do not know line numbers
        table, bad_rows = _parse_csv(path, names, spec, use_threads=False, block_size=block_size)
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
               use_threads: bool, block_size: int = ARROW_BLOCK_BYTES) -> tuple[pa.Table | None, list]:
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
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=use_threads,
                                           block_size=block_size),
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

