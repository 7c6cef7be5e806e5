"""The report writer's fast row path writes the same workbook as openpyxl's per-cell API.

`ReportWriter.table` builds each row's XML a column at a time and splices it into the file openpyxl writes for
the sheet (atlas_xl.outputs.report.openpyxl_fast.SheetRows); without openpyxl's internals it appends cells
through the public API (forced below: the same dump).
Every test here opens the result with openpyxl (not read-only, so styles are
visible) and compares a canonical dump of it: each cell's value, type, number format, font, fill, alignment
and quotePrefix, plus freeze panes, filter, conditional formats, column widths and chart references.

- `report_fast_reference.json` was dumped from the per-cell writer (before the fast path existed) on `edge_frame()`;
- `reference_table` below is that per-cell writer, kept as the yardstick for whole reports and sheet splits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from atlas_xl.outputs.report import layout as report
from atlas_xl.outputs.report import openpyxl_fast
from atlas_xl.outputs.report.layout import Col, ReportWriter
from atlas_xl.outputs.xlsafe import UnwritableTextError, safe_cell

FIXTURE = Path(__file__).with_name("report_fast_reference.json")

# ------------------------------------------------------------------------------------------------ the dump


def _value(value: object) -> list[str] | None:
    if value is None:
        return None
    return [type(value).__name__, value.isoformat() if isinstance(value, dt.date | dt.datetime) else repr(value)]


def _rgb(color: object) -> str | None:
    return color.rgb if color is not None and color.type == "rgb" else None


def dump_sheet(ws) -> dict[str, object]:
    cells = []
    for row in ws.iter_rows():
        for c in row:
            if c.value is None and not c.has_style:
                continue
            cells.append([c.coordinate, _value(c.value), c.data_type, c.number_format, c.font.b, _rgb(c.font.color),
                          c.font.sz, c.fill.fill_type, _rgb(c.fill.fgColor), c.alignment.wrap_text,
                          c.alignment.vertical, c.quotePrefix])
    formats = []
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            fill = rule.dxf.fill if rule.dxf is not None else None
            formats.append([str(cf.sqref), rule.type, rule.operator, list(rule.formula),
                            _rgb(fill.fgColor) if fill is not None else None])
    charts = []
    for chart in ws._charts:
        series = list(chart.series)
        for sub in getattr(chart, "_charts", []):
            if sub is not chart:
                series += list(sub.series)
        charts.append([type(chart).__name__, chart.anchor._from.col, chart.anchor._from.row,
                       [[s.tx.strRef.f if s.tx and s.tx.strRef else None, s.val.numRef.f,
                         (s.cat.strRef or s.cat.numRef).f if s.cat else None] for s in series]])
    return {
        "title": ws.title,
        "freeze_panes": ws.freeze_panes,
        "auto_filter": ws.auto_filter.ref,
        "conditional_formatting": formats,
        "column_widths": {k: d.width for k, d in sorted(ws.column_dimensions.items()) if d.customWidth},
        "charts": charts,
        "cells": cells,
    }


def dump_workbook(path: Path) -> list[dict[str, object]]:
    return [dump_sheet(ws) for ws in openpyxl.load_workbook(path).worksheets]


def assert_same_dump(actual: list[dict[str, object]], expected: list[dict[str, object]]) -> None:
    """Sheet by sheet and cell by cell, so that a failure names the first differing cell."""
    assert [s["title"] for s in actual] == [s["title"] for s in expected]
    for mine, theirs in zip(actual, expected, strict=True):
        for key in theirs:
            if key != "cells":
                assert mine[key] == theirs[key], (theirs["title"], key)
        for a, b in zip(mine["cells"], theirs["cells"], strict=False):
            assert a == b, (theirs["title"], b[0])
        assert len(mine["cells"]) == len(theirs["cells"]), theirs["title"]


# ------------------------------------------------------------------------------------------------ inputs

EDGE_TEXTS = [
    "Plain Name GmbH", '=HYPERLINK("http://x","click")', "@SUM(1+1)", "+1-1", "-2+3", "\tTab leading",
    "\rCR leading", " padded both ", "a & b < c > d ]]>", "Ünïcödé ÆØ € 中文", "", "#N/A", "=", "line1\nline2",
    "'quoted", "trailing newline\n", "None",
]
EDGE_COLUMNS = [
    Col("Client", "client_id", width=12), Col("Name", "name", width=32),
    Col("Amount", "amount_cents", "money"), Col("Maybe amount", "maybe_cents", "money"),
    Col("Utilisation", "ppm", "percent", 11), Col("Due", "due", "date", 12), Col("Day", "day", "date", 12),
    Col("Count", "count", "int", 7), Col("Maybe count", "maybe_count", "int", 7), Col("Ready", "ready", "bool", 8),
    Col("Status", "status", width=10), Col("Other", "other", width=9),
]


def edge_frame() -> pd.DataFrame:
    """One row per awkward value: formula triggers, spaces, markup, unicode, NaN / NA / NaT, signs, tiny rates."""
    n = len(EDGE_TEXTS)

    def cycle(values: Sequence[object]) -> list[object]:
        return [values[i % len(values)] for i in range(n)]

    return pd.DataFrame({
        "client_id": [f"C{i:03d}" for i in range(n)],
        "name": EDGE_TEXTS,
        "amount_cents": cycle([0, 1, -1, 7, 12_345, -123_456_789, 100, -100, 99, 10**15 + 7, 5, 70]),
        "maybe_cents": cycle([250.0, np.nan, -7.0, 1e6]),
        "ppm": pd.array(cycle([0, 1, 10, 100, 224_000, 1_000_000, None, 933_333, -5]), dtype="Int64"),
        "due": pd.to_datetime(cycle(["2026-03-02", None, "2026-03-02 15:30", "1900-01-15", "2031-12-31"]),
                              format="ISO8601"),
        "day": cycle([dt.date(2026, 1, 1), None, dt.date(1999, 12, 31)]),
        "count": cycle([0, 3, -4, 2**40]),
        "maybe_count": cycle([1.0, np.nan, 3.9]),
        "ready": cycle([True, False]),
        "status": cycle(["OK", "WARNING", "BREACH"]),
        "other": cycle(["x", None, np.nan, 12, "-"]),
    })


def write_edge_tables(path: Path) -> Path:
    writer = ReportWriter()
    writer.table("Edge cases", edge_frame(), EDGE_COLUMNS, note="A note row above the header.",
                 status_column="status")
    writer.table("Empty", edge_frame().iloc[0:0], EDGE_COLUMNS, status_column="status")
    writer.table("No note", edge_frame().iloc[:3], EDGE_COLUMNS[:4])
    writer.save(path)
    return path


def reference_table(self: ReportWriter, title: str, frame: pd.DataFrame, columns: Sequence[Col], *,
                    note: str | None = None, status_column: str | None = None,
                    totals: bool = False) -> list[WriteOnlyWorksheet]:
    """The per-cell writer that the fast path replaced (openpyxl's public API: one WriteOnlyCell per cell)."""
    converted = [report.CONVERT[c.kind](frame[c.source]) for c in columns]
    rows_per_sheet = report.EXCEL_MAX_ROWS - (4 if totals else 3)
    parts = max(1, -(-len(frame) // rows_per_sheet))
    sheets = []
    for part in range(parts):
        name = title if parts == 1 else f"{title} ({part + 1})"
        ws = self.book.create_sheet(name[:31])
        for i, col in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = col.width
        top = 2 if (note or parts > 1) else 1
        ws.freeze_panes = f"A{top + 1}"
        if top == 2:
            split = (f"{len(frame):,} rows exceed Excel's {report.EXCEL_MAX_ROWS:,}-row limit: split into {parts} "
                     f"sheets '{title} (1..{parts})'." if parts > 1 else "")
            ws.append([safe_cell(ws, " ".join(x for x in (note or "", split) if x))])
        header = []
        for col in columns:
            cell = safe_cell(ws, col.header)
            cell.font, cell.fill = report.HEADER_FONT, report.HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(cell)
        ws.append(header)
        start, stop = part * rows_per_sheet, min((part + 1) * rows_per_sheet, len(frame))
        formats = [report.FORMAT.get(c.kind) for c in columns]
        for r in range(start, stop):
            row = []
            for values, fmt in zip(converted, formats, strict=True):
                cell = safe_cell(ws, values[r])
                if fmt:
                    cell.number_format = fmt
                row.append(cell)
            ws.append(row)
        last_row = top + (stop - start)
        if totals and part == parts - 1:  # 'Total' under the data: each money column's sum, the rest blank
            total_row = []
            for j, col in enumerate(columns):
                if col.kind == "money" and col.total and j > 0:
                    cell = safe_cell(ws, Decimal(int(frame[col.source].sum())).scaleb(-2))
                    cell.number_format = report.MONEY
                else:
                    cell = safe_cell(ws, "Total" if j == 0 else "")
                total_row.append(cell)
            ws.append(total_row)
        ws.auto_filter.ref = f"A{top}:{get_column_letter(len(columns))}{max(last_row, top)}"
        if status_column is not None and stop > start:
            letter = get_column_letter([c.source for c in columns].index(status_column) + 1)
            rng = f"{letter}{top + 1}:{letter}{last_row}"
            for text, fill in (("BREACH", report.RED), ("WARNING", report.AMBER), ("OK", report.GREEN)):
                ws.conditional_formatting.add(rng, CellIsRule(operator="equal", formula=[f'"{text}"'], fill=fill))
        sheets.append(ws)
    return sheets


@contextlib.contextmanager
def per_cell_writer() -> Iterator[None]:
    """Within the block, ReportWriter writes tables with the per-cell writer."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReportWriter, "table", reference_table)
        yield


# ------------------------------------------------------------------------------------------------ tests


def test_edge_cases_match_the_per_cell_writers_workbook(tmp_path: Path) -> None:
    expected = json.loads(FIXTURE.read_text())
    assert_same_dump(dump_workbook(write_edge_tables(tmp_path / "fast.xlsx")), expected)


def test_the_fixture_is_what_the_per_cell_writer_writes(tmp_path: Path) -> None:
    # guards the yardstick itself: the kept per-cell writer still reproduces the frozen dump
    with per_cell_writer():
        path = write_edge_tables(tmp_path / "reference.xlsx")
    assert_same_dump(dump_workbook(path), json.loads(FIXTURE.read_text()))


def test_rows_written_in_small_chunks_give_the_same_workbook(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(report, "CHUNK_ROWS", 3)  # 17 edge rows: chunks of 3, 3, 3, 3, 3, 2
    assert_same_dump(dump_workbook(write_edge_tables(tmp_path / "fast.xlsx")), json.loads(FIXTURE.read_text()))


def test_sheets_split_past_the_row_limit_match_the_per_cell_writer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(report, "EXCEL_MAX_ROWS", 8)  # 5 data rows a sheet: 17 rows -> 4 sheets
    monkeypatch.setattr(report, "CHUNK_ROWS", 2)
    fast, slow = tmp_path / "fast.xlsx", tmp_path / "slow.xlsx"
    write_edge_tables(fast)
    with per_cell_writer():
        write_edge_tables(slow)
    dump = dump_workbook(fast)
    assert [s["title"] for s in dump][:4] == [f"Edge cases ({i})" for i in range(1, 5)]
    assert dump[0]["cells"][0][1] == ["str", repr("A note row above the header. 17 rows exceed Excel's 8-row "
                                                  "limit: split into 4 sheets 'Edge cases (1..4)'.")]
    assert_same_dump(dump, dump_workbook(slow))


@pytest.fixture(scope="module")
def hostile_result(tmp_path_factory):
    """A generated portfolio with formula-like, padded and non-ASCII client names, as `atlas-xl run` loads it."""
    from atlas_xl.engines.run import run_engines
    from atlas_xl.examples.portfolio import generate_portfolio, write_csv
    from atlas_xl.inputs.portfolio import load_portfolio

    folder = tmp_path_factory.mktemp("hostile")
    write_csv(generate_portfolio(clients=40, days=60, seed=3, hostile=True), folder)
    return run_engines(load_portfolio(folder))


def test_whole_report_matches_the_per_cell_writer(tmp_path: Path, hostile_result) -> None:
    fast = report.write_report(hostile_result, tmp_path / "fast.xlsx", "test data")
    with per_cell_writer():
        slow = report.write_report(hostile_result, tmp_path / "slow.xlsx", "test data")
    dump = dump_workbook(fast)
    assert [s["title"] for s in dump] == ["Dashboard", "Payouts", "Exposure", "Alerts", "Reserves",
                                          "Reserve releases", "Releases per day", "Balances",
                                          "Client drill-down", "Schedules",
                                          "Projection", "Exceptions", "Chart data"]
    assert_same_dump(dump, dump_workbook(slow))
    with zipfile.ZipFile(fast) as fast_zip, zipfile.ZipFile(slow) as slow_zip:
        # styles get the same ids in the same order, so the style sheet is the same file
        assert fast_zip.read("xl/styles.xml") == slow_zip.read("xl/styles.xml")


def test_every_pandas_text_dtype_matches_the_per_cell_writer(tmp_path: Path) -> None:
    # Arrow-backed columns take the vectorised path, the others go value by value; missing text is written as
    # str() of the column's missing marker ("" for NaN, "<NA>" for pd.NA), as the per-cell writer did
    frame = pd.DataFrame({
        "a": pd.Series(["A", None, "=B", " c ", ""], dtype="str"),
        "b": pd.Series(["x", None, "é", "<&>", "+1"], dtype="string[pyarrow]"),
        "c": pd.Series(["OK", None, "-1", "", "\r"], dtype="string[python]"),
        "d": pd.Series(["x", None, "@", "y", "z"], dtype=pd.ArrowDtype(pa.string())),
        "e": pd.Series(["x", None, 3, "\tz", 1.5], dtype=object),
        "ready": [True, False, True, False, True],
        "cents": [7, -5, 100, 0, 12_345],
    })
    columns = [Col(name.upper(), name) for name in "abcde"] + [Col("Ready", "ready", "bool"),
                                                               Col("Amount", "cents", "money")]

    def write(path: Path) -> Path:
        writer = ReportWriter()
        writer.table("Dtypes", frame, columns, note="note")
        writer.save(path)
        return path

    fast = write(tmp_path / "fast.xlsx")
    with per_cell_writer():
        slow = write(tmp_path / "slow.xlsx")
    dump = dump_workbook(fast)
    row = {c[0]: c[1] for c in dump[0]["cells"] if c[0][1:] == "4"}
    assert row == {"B4": ["str", "'<NA>'"], "C4": ["str", "'<NA>'"], "D4": ["str", "'<NA>'"],
                   "F4": ["str", "'no'"], "G4": ["float", "-0.05"]}  # A4, E4: empty text, read back as no value
    assert_same_dump(dump, dump_workbook(slow))


def test_amounts_are_written_as_exact_decimals() -> None:
    cents = pd.Series([0, 1, -1, 7, 100, -12_345, 10**17 + 1, 250])
    assert report.NUMBER_TEXT["money"](cents).to_pylist() == ["0", "0.01", "-0.01", "0.07", "1", "-123.45",
                                                  "1000000000000000.01", "2.5"]
    ppm = pd.array([1, 224_000, 1_000_000, -5, None], dtype="Int64")
    assert report.NUMBER_TEXT["percent"](pd.Series(ppm)).to_pylist() == ["0.000001", "0.224", "1", "-0.000005", None]
    # 1 Jan 1900 is day 1, 1 Mar 1900 day 61 (Excel counts a 29 Feb 1900); 2 Mar 2026 is day 46083
    days = pd.Series(pd.to_datetime(["1900-01-01", "1900-03-01", "2026-03-02 23:59", None], format="ISO8601"))
    assert report.NUMBER_TEXT["date"](days).to_pylist() == ["1", "61", "46083", None]


def test_cells_hold_the_exact_amount_text(tmp_path: Path) -> None:
    # the per-cell writer wrote float(Decimal) with 16 digits ("0.07000000000000001"); the number is the same
    path = write_edge_tables(tmp_path / "fast.xlsx")
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert re.search(r'<c r="C6" s="\d+" t="n"><v>0.07</v></c>', sheet)
    assert re.search(r'<c r="E4" s="\d+" t="n"><v>0.000001</v></c>', sheet)
    assert re.search(r'<c r="D4" s="\d+" t="n"></c>', sheet)  # no amount: an empty cell, still formatted


def test_text_a_cell_cannot_hold_is_refused_with_its_cell(tmp_path: Path) -> None:
    frame = edge_frame()
    frame.loc[2, "name"] = "Bad\x01Name"
    with pytest.raises(UnwritableTextError, match=r"sheet 'Edge cases', cell B5 \(column 'Name'\).*U\+0001"):
        ReportWriter().table("Edge cases", frame, EDGE_COLUMNS, note="note")
    assert issubclass(UnwritableTextError, IllegalCharacterError)  # what openpyxl raised before


def test_a_fast_sheet_refuses_append_and_stays_whole(tmp_path: Path) -> None:
    writer = ReportWriter()
    (ws,) = writer.table("T", edge_frame().iloc[:2], EDGE_COLUMNS)
    with pytest.raises(TypeError, match="SheetRows"):
        ws.append(["x"])
    writer.save(tmp_path / "t.xlsx")
    (sheet,) = dump_workbook(tmp_path / "t.xlsx")
    assert [c[0] for c in sheet["cells"] if c[0].startswith("A")] == ["A1", "A2", "A3"]  # header, 2 rows


def test_a_sheet_openpyxl_does_not_zip_through_write_fails_the_save(tmp_path: Path, monkeypatch) -> None:
    # a table sheet's rows go into the zip only through ReportZip.write: a save that goes round it must fail
    # (its sheet would have no rows), and leave no report behind
    monkeypatch.setattr(openpyxl_fast.ReportZip, "write", zipfile.ZipFile.write)
    writer = ReportWriter()
    writer.table("T", edge_frame().iloc[:2], EDGE_COLUMNS)
    with pytest.raises(RuntimeError, match=r"\['T'\] were not zipped"):
        writer.save(tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_table_sheets_are_zipped_as_zipfile_write_zips_a_file(tmp_path: Path) -> None:
    fast = write_edge_tables(tmp_path / "fast.xlsx")
    with per_cell_writer():
        slow = write_edge_tables(tmp_path / "slow.xlsx")

    def members(path: Path) -> list[tuple[object, ...]]:
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None  # every member's CRC and size check out
            return [(i.filename, i.compress_type, i.external_attr, i.flag_bits, i.extra, i.create_system)
                    for i in archive.infolist()]

    assert members(fast) == members(slow)


def test_table_sheets_are_deflated_by_isal_and_read_back_by_zlib(tmp_path: Path, hostile_result, monkeypatch) -> None:
    # Each table sheet gets ISA-L's compressor (openpyxl_fast.deflate_with_isal); zipfile reads it back with zlib,
    # checking every member's CRC, and the cells are those the zlib-deflated report holds.
    made: list[int] = []
    real = openpyxl_fast.isal_zlib.compressobj

    def counting(*args):
        made.append(args[0])  # the level
        return real(*args)

    monkeypatch.setattr(openpyxl_fast.isal_zlib, "compressobj", counting)
    fast = report.write_report(hostile_result, tmp_path / "isal.xlsx", "test data")
    monkeypatch.setattr(openpyxl_fast, "deflate_with_isal", lambda member_file: None)  # zipfile's own zlib
    plain = report.write_report(hostile_result, tmp_path / "zlib.xlsx", "test data")
    with zipfile.ZipFile(fast) as isal_zip, zipfile.ZipFile(plain) as zlib_zip:
        assert isal_zip.testzip() is None
        sheets = [n for n in isal_zip.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets == [n for n in zlib_zip.namelist() if n.startswith("xl/worksheets/sheet")]
        # the 11 table sheets (Payouts .. Exceptions); Dashboard and Chart data are written by openpyxl itself
        assert len(made) == 11 and set(made) == {openpyxl_fast.SHEET_DEFLATE_LEVEL}
        for name in sheets:
            assert isal_zip.read(name) == zlib_zip.read(name), name
            assert isal_zip.getinfo(name).compress_type == zipfile.ZIP_DEFLATED
    assert_same_dump(dump_workbook(fast), dump_workbook(plain))


def test_a_sheet_member_not_deflated_keeps_zipfiles_own_compressor(tmp_path: Path, monkeypatch) -> None:
    # ISA-L writes raw deflate only: a member of another compression type must not get its compressor
    deflated = dump_workbook(write_edge_tables(tmp_path / "deflated.xlsx"))
    init = openpyxl_fast.ReportZip.__init__

    def bzip2_zip(self, path, sheets):
        init(self, path, sheets)
        self.compression = zipfile.ZIP_BZIP2

    monkeypatch.setattr(openpyxl_fast.ReportZip, "__init__", bzip2_zip)
    path = write_edge_tables(tmp_path / "bzip2.xlsx")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.getinfo("xl/worksheets/sheet1.xml").compress_type == zipfile.ZIP_BZIP2
    assert_same_dump(dump_workbook(path), deflated)


# ------------------------------------------------------------------------------------ the public-API fallback


@pytest.fixture
def without_sheet_internals(monkeypatch) -> None:
    """As on an openpyxl without the write-only sheet internals: every table goes through ws.append."""
    monkeypatch.setattr(openpyxl_fast, "fast_rows_available", lambda: False)


def test_the_internals_are_found_on_this_openpyxl() -> None:
    # the pinned openpyxl (3.1.2-3.1.5) has them: the fast path is what the report uses here
    assert openpyxl_fast.fast_rows_available() is True
    ws = openpyxl.Workbook(write_only=True).create_sheet()
    assert openpyxl_fast.has_sheet_internals(ws)
    rows = openpyxl_fast.sheet_rows(ws)
    assert isinstance(rows, openpyxl_fast.SheetRows)
    rows.finish()  # the sheet closed as a save would close it
    Path(rows.path).unlink()


def test_a_sheet_without_the_internals_gets_no_fast_rows() -> None:
    class PublicOnlySheet:  # what a write-only sheet would be if openpyxl dropped _writer / _rows
        title = "T"

        def append(self, row: object) -> None: ...

        def close(self) -> None: ...

    assert not openpyxl_fast.has_sheet_internals(PublicOnlySheet())
    assert openpyxl_fast.sheet_rows(PublicOnlySheet()) is None  # type: ignore[arg-type]


def test_fallback_edge_cases_match_the_per_cell_writers_workbook(tmp_path: Path, without_sheet_internals) -> None:
    writer = ReportWriter()
    (ws,) = writer.table("Only", edge_frame().iloc[:2], EDGE_COLUMNS)
    assert writer._sheet_rows == []  # no SheetRows: the sheet is openpyxl's own
    ws.append(["appended by hand"])  # a public sheet takes append, unlike a fast one
    writer.save(tmp_path / "only.xlsx")
    assert [c[1] for c in dump_workbook(tmp_path / "only.xlsx")[0]["cells"] if c[0] == "A4"] == [
        ["str", "'appended by hand'"]]
    assert_same_dump(dump_workbook(write_edge_tables(tmp_path / "public.xlsx")), json.loads(FIXTURE.read_text()))


def test_fallback_and_fast_path_write_the_same_report(tmp_path: Path, hostile_result, monkeypatch) -> None:
    fast = report.write_report(hostile_result, tmp_path / "fast.xlsx", "test data")
    monkeypatch.setattr(openpyxl_fast, "fast_rows_available", lambda: False)
    public = report.write_report(hostile_result, tmp_path / "public.xlsx", "test data")
    assert_same_dump(dump_workbook(public), dump_workbook(fast))
    with zipfile.ZipFile(fast) as fast_zip, zipfile.ZipFile(public) as public_zip:
        assert fast_zip.read("xl/styles.xml") == public_zip.read("xl/styles.xml")  # the same formats, same ids
        names = [n for n in fast_zip.namelist() if n.startswith("xl/worksheets/sheet")]
        assert names == [n for n in public_zip.namelist() if n.startswith("xl/worksheets/sheet")]
        for name in names:  # sheet XML: the same text but for the number text of amounts (exact vs float repr)
            mine, theirs = (_canonical_sheet(z.read(name)) for z in (fast_zip, public_zip))
            assert mine == theirs, name


def _canonical_sheet(xml: bytes) -> str:
    """Sheet XML with each number re-read as a float: the fast path writes 0.07, the per-cell API
    float(Decimal("0.07")) as openpyxl prints it; the same double."""
    return re.sub(r"<v>([^<]*)</v>", lambda m: f"<v>{float(m[1])!r}</v>", xml.decode())


def test_split_sheets_through_the_fallback(tmp_path: Path, monkeypatch, without_sheet_internals) -> None:
    monkeypatch.setattr(report, "EXCEL_MAX_ROWS", 8)  # 5 data rows a sheet: 17 rows -> 4 sheets
    public, slow = tmp_path / "public.xlsx", tmp_path / "slow.xlsx"
    write_edge_tables(public)
    with per_cell_writer():
        write_edge_tables(slow)
    assert_same_dump(dump_workbook(public), dump_workbook(slow))
