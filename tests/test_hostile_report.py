"""Hostile text from portfolio files must be shown, never evaluated, in the report workbook."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.cli.app import main
from atlas_xl.examples.portfolio import HOSTILE_NAMES, generate_portfolio, write_csv

FORMULA_LIKE = [n for n in HOSTILE_NAMES if n[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    write_csv(generate_portfolio(clients=40, days=60, seed=3, hostile=True), root / "data")
    assert main(["run", "--data", str(root / "data"), "--out", str(root / "out"), "--no-dashboard"]) == 0
    (report,) = (root / "out").glob("*.xlsx")
    return report


def test_the_generator_has_formula_like_names():
    assert {'=HYPERLINK("http://x","click")', "@SUM(1+1)"} <= set(FORMULA_LIKE)


def test_hostile_names_are_string_cells_with_the_exact_text(hostile_report):
    wb = openpyxl.load_workbook(hostile_report)
    for sheet in ("Payouts", "Exposure"):
        ws = wb[sheet]
        header_row = 2 if sheet == "Payouts" else 1
        names = {ws.cell(row=r, column=2).value: ws.cell(row=r, column=2) for r in range(header_row + 1,
                                                                                           ws.max_row + 1)}
        for text in FORMULA_LIKE:
            assert text in names, (sheet, text)
            cell = names[text]
            assert cell.data_type == "s", (sheet, text, cell.data_type)
            assert cell.quotePrefix  # Excel keeps it text even when the cell is edited


def test_no_formula_element_in_any_sheet_xml(hostile_report):
    with zipfile.ZipFile(hostile_report) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name), name


def test_numbers_stay_numbers(hostile_report):
    ws = openpyxl.load_workbook(hostile_report)["Payouts"]
    assert ws.cell(row=3, column=14).data_type == "n"  # Payable


def test_generated_csv_guards_formula_text_and_loads_back_exactly(tmp_path):
    import csv

    from atlas_xl.inputs.portfolio import load_portfolio

    tables = generate_portfolio(clients=40, days=5, seed=3, hostile=True)
    write_csv(tables, tmp_path)
    with (tmp_path / "clients.csv").open(encoding="utf-8", newline="") as handle:
        names = [row["name"] for row in csv.DictReader(handle)]
    # in the file, formula-like names carry one apostrophe, so a spreadsheet opening the CSV shows text
    assert "'" + '=HYPERLINK("http://x","click")' in names and "'@SUM(1+1)" in names
    assert not any(n[:1] in ("=", "+", "-", "@", "\t", "\r") for n in names)
    # loading removes the guard: the value is the name exactly as generated
    loaded = load_portfolio(tmp_path).clients["name"].tolist()
    assert loaded == tables["clients"]["name"].tolist()
