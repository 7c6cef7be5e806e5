"""Workbooks and CSV files damaged on purpose (edited in their zip / written by a program, never by Excel): each
is refused with a located problem - file, sheet, row, column, value, the expected form - never an internal error
or an unlocated "cannot be read", and never by building rows until the process runs out of memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.domain.model import TABLES
from atlas_xl.errors import Problem
from atlas_xl.inputs import csv_files
from tests.test_loader import GOOD, only, problems_of, raw_tables, write_folder

REPO = Path(__file__).resolve().parent.parent
GRID = "Excel's grid ends at row 1,048,576 and column XFD (16,384)"
RESAVE = "The workbook was not saved by Excel: open it in Excel and save it again"


def located(problem: Problem) -> tuple:
    return problem.file, problem.sheet, problem.row, problem.column, problem.value, problem.message


def good_workbook(path: Path) -> Path:
    """GOOD as a workbook that openpyxl writes (inline strings, numbers as numbers, dates as date cells)."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for table, frame in raw_tables().items():
        sheet = workbook.create_sheet(table)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append(list(row))
    workbook.save(path)
    return path


def edited(tmp_path: Path, table: str, edit: Callable[[bytes], bytes], name: str = "damaged.xlsx") -> Path:
    """The good workbook with the XML of one sheet changed by `edit` (which must change it)."""
    source = good_workbook(tmp_path / "good.xlsx")
    part = f"xl/worksheets/sheet{TABLES.index(table) + 1}.xml"
    target = tmp_path / name
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == part:
                changed = edit(data)
                assert changed != data, "the edit did not apply"
                data = changed
            zout.writestr(item, data)
    return target


def replace(old: str, new: str) -> Callable[[bytes], bytes]:
    return lambda data: data.replace(old.encode(), new.encode(), 1)


# settlements row 2 as openpyxl writes it: A1, 2026-03-02 (serial 46083, date style 1), EUR, 1234.56, 10, 0, 18.52
SALES_B2 = '<c r="D2" t="n"><v>1234.56</v></c>'


# ---------------------------------------------------------------------------------------------- beyond the grid
def test_a_row_index_beyond_excels_grid_is_refused_before_any_row_is_built(tmp_path):
    # one row claims index 99,999,999,999: openpyxl would build every empty row before it. The load runs in a
    # child process limited to 1 GiB of address space (a normal load of this workbook needs ~0.5 GiB): the old
    # code ran out of memory there, the check refuses the sheet before reading a row.
    path = edited(tmp_path, "settlements", lambda data: data.replace(b'<row r="4">', b'<row r="99999999999">', 1)
                  .replace(b'r="A4"', b'r="A99999999999"', 1))
    assert path.stat().st_size < 16 * 1024
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))
        from atlas_xl.errors import LoadError
        from atlas_xl.inputs.portfolio import load_portfolio
        try:
            load_portfolio({str(path)!r})
        except LoadError as error:
            (problem,) = error.problems
            print(repr((problem.file, problem.sheet, problem.row, problem.column, problem.value, problem.message)))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == repr(("damaged.xlsx", "settlements", None, None, "99999999999",
                                        f"a cell or row reference beyond Excel's limits; {GRID}. {RESAVE}"))


def test_a_declared_used_range_beyond_the_grid_is_refused(tmp_path):
    path = edited(tmp_path, "settlements", replace('<dimension ref="A1:G5"/>', '<dimension ref="A1:G99999999999"/>'))
    assert located(only(problems_of(path))) == (
        "damaged.xlsx", "settlements", None, None, "99,999,999,999 rows x 7 columns",
        f"the sheet declares a used range beyond Excel's limits; {GRID}. {RESAVE}")


@pytest.mark.parametrize(("reference", "refused"), [
    ("XFE2", True), ("ZZZZ2", True), ("A1048577", True), ("XFD2", False), ("AAA2", False)])
def test_a_column_beyond_xfd_is_refused_and_one_inside_is_not(tmp_path, reference, refused):
    # G2 (fees) moved to another column: inside the grid it is an extra cell under a blank header (its own
    # problem), beyond the grid the sheet is refused before any row is read
    path = edited(tmp_path, "settlements", replace('<c r="G2"', f'<c r="{reference}"'))
    problems = problems_of(path)
    beyond = (f"a cell or row reference beyond Excel's limits; {GRID}. {RESAVE}")
    assert ([p.message for p in problems] == [beyond]) is refused
    if refused:
        assert located(only(problems))[:5] == ("damaged.xlsx", "settlements", None, None, reference)


# ---------------------------------------------------------------------------------------------- damaged cells
@pytest.mark.parametrize(("edit", "row", "column", "value", "message"), [
    # a decimal comma in a number cell (t="n"): openpyxl's int('12,5') failed with an unlocated ValueError
    (replace(SALES_B2, '<c r="D2" t="n"><v>12,5</v></c>'), 2, "sales", "12,5",
     "a number cell holds text; expected a number with a decimal point such as 12.5 (a decimal comma makes it "
     "text: enter the number again in Excel)"),
    # a date cell (t="d") with junk: "Invalid datetime value"
    (replace('<c r="B3" s="1" t="n"><v>46084</v></c>', '<c r="B3" t="d"><v>03/03/2026</v></c>'), 3, "value_date",
     "03/03/2026", "a date cell (type d) holds no ISO 8601 date; expected a date such as 2026-11-23"),
    # a shared-string cell pointing past the (here absent) shared strings: an IndexError
    (replace('<c r="A2" t="inlineStr"><is><t>A1</t></is></c>', '<c r="A2" t="s"><v>7</v></c>'), 2, "client_id", "7",
     "a text cell points at a shared text the workbook does not hold; expected text"),
    (replace(SALES_B2, '<c r="D2" t="b"><v>yes</v></c>'), 2, "sales", "yes",
     "a TRUE/FALSE cell holds neither 1 nor 0; expected TRUE or FALSE"),
    # a cell reference that is no address ("2D"), and a row number that is no number
    (replace('<c r="D2"', '<c r="2D"'), 2, None, "2D",
     "not a cell reference such as B7; the workbook is damaged: open it in Excel and save it again"),
    (replace('<row r="3">', '<row r="x3">'), 3, None, "x3",
     "the row number is not a whole number; the workbook is damaged: open it in Excel and save it again"),
], ids=["decimal-comma", "date-junk", "shared-string-index", "bool-junk", "bad-reference", "bad-row-number"])
def test_a_cell_openpyxl_cannot_read_is_located(tmp_path, edit, row, column, value, message):
    path = edited(tmp_path, "settlements", edit)
    assert located(only(problems_of(path))) == ("damaged.xlsx", "settlements", row, column, value, message)


def test_a_damaged_cell_under_a_blank_header_is_named_by_its_letter(tmp_path):
    path = edited(tmp_path, "settlements", replace("</row>", '<c r="H1" t="n"><v>1,5</v></c></row>'))
    problem = only(problems_of(path))
    assert (problem.row, problem.column, problem.value) == (1, "column H", "1,5")


# ---------------------------------------------------------------------------------------------- long CSV cells
def test_a_csv_cell_longer_than_arrows_block_is_named_by_its_column(tmp_path):
    # a 3 MB name straddles two of Arrow's 1 MB blocks ("straddling object straddles two block boundaries",
    # unlocated): the file is read again in 64 MB blocks and the name's own length check names the cell
    rows = [GOOD["clients"][0], GOOD["clients"][1].replace("Example Bakery", "x" * 3_000_000), GOOD["clients"][2]]
    problem = only(problems_of(write_folder(tmp_path, clients=rows)))
    assert located(problem) == ("clients.csv", None, 2, "name", "x" * 80 + "...",
                                "too long; expected text of 1-140 characters")


def test_a_csv_row_longer_than_the_larger_block_is_refused_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "LONG_RECORD_BYTES", 2 * 1024**2)  # a 2 MB bound stands for the 64 MB one
    rows = [GOOD["clients"][0], GOOD["clients"][1].replace("Example Bakery", "x" * 5_000_000), GOOD["clients"][2]]
    problem = only(problems_of(write_folder(tmp_path, clients=rows)))
    assert located(problem) == ("clients.csv", None, None, None, None,
                                "a row longer than 2 MB; expected one row per line with cells of at most a few "
                                "hundred characters (is a quote never closed?)")
