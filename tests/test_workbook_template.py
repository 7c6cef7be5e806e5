"""The operations workbook: fresh against its builder, opens with openpyxl, carries what users click on."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree

from atlas_xl.cli.app import main
from atlas_xl.domain.model import Portfolio
from atlas_xl.excel import udfs
from atlas_xl.excel.workbook import BUTTONS, NAMED_CELLS, SHEETS, TABLE_SHEETS, build_workbook_file
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.settings import Settings

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, example_data_dir: Path) -> Path:
    return build_workbook_file(load_portfolio(example_data_dir), tmp_path_factory.mktemp("wb") / "ops.xlsm",
                               Settings())


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_committed_template_is_fresh(built: Path, repo_root: Path) -> None:
    committed = repo_root / "workbook_templates" / "atlas_operations.xlsm"
    assert committed.exists(), "run: atlas-xl workbook build --out workbook_templates/atlas_operations.xlsm"
    fresh, old = parts(built), parts(committed)
    assert sorted(fresh) == sorted(old)
    stale = [name for name in fresh if fresh[name] != old[name]]
    assert not stale, f"stale parts {stale}: rebuild with atlas-xl workbook build --out {committed}"


def test_rebuild_is_byte_identical(built: Path, tmp_path: Path, example_data_dir: Path) -> None:
    again = build_workbook_file(load_portfolio(example_data_dir), tmp_path / "again.xlsm", Settings())
    assert again.read_bytes() == built.read_bytes()


def test_sheets_tables_names(built: Path) -> None:
    book = openpyxl.load_workbook(built, keep_vba=True)
    assert book.sheetnames == SHEETS
    assert sorted(book.defined_names) == sorted(NAMED_CELLS)
    assert book.defined_names["AsOfDate"].attr_text == "Dashboard!$B$4"
    portfolio = load_portfolio(Path(__file__).resolve().parent.parent / "example_data")
    for table, sheet in TABLE_SHEETS.items():
        ws = book[sheet]
        assert list(ws.tables) == [sheet]
        rows = len(getattr(portfolio, table))
        assert ws.tables[sheet].ref.endswith(str(rows + 1))  # header + one row per record
    config = {row[0]: row[1] for row in book["xlwings.conf"].iter_rows(values_only=True)}
    assert config["UDF Modules"] == "atlas_xl.excel.udfs"
    assert book["Dashboard"]["B4"].number_format == "yyyy-mm-dd"
    assert book["Dashboard"].freeze_panes is None and book["Clients"].freeze_panes == "A2"
    assert book.vba_archive is not None


def test_cached_values_are_the_functions_results(built: Path) -> None:
    values = openpyxl.load_workbook(built, data_only=True)
    formulas = openpyxl.load_workbook(built)
    schedule = values["Schedules"]
    assert formulas["Schedules"]["A11"].value.text == "=ATLAS_SCHEDULE(B2, B3, B4, B5, B6, B7, B8)"
    loans = formulas["Loans"]
    loan = {loans.cell(1, c).value: loans.cell(2, c).value for c in range(1, 11)}
    expected = udfs.ATLAS_SCHEDULE(loan["principal"], loan["annual_rate"], loan["periods"], loan["start_date"],
                                   loan["method"], loan["frequency"], loan["day_count"])
    assert isinstance(expected, list) and len(expected) == loan["periods"] + 1
    header = [schedule.cell(11, c).value for c in range(1, 7)]
    assert header == udfs.SCHEDULE_HEADER
    first = [schedule.cell(12, c).value for c in range(1, 7)]
    assert first == expected[1]
    payouts = formulas["Payouts"]
    assert payouts["B2"].value.startswith("=ATLAS_PAYOUT(A2, AsOfDate, Clients[#All]")
    tables = {name: [list(r) for r in formulas[sheet].iter_rows(values_only=True)]
              for name, sheet in TABLE_SHEETS.items()}
    as_of = formulas["Dashboard"]["B4"].value
    expected_payout = udfs.ATLAS_PAYOUT(payouts["A2"].value, as_of, tables["clients"], tables["settlements"],
                                        tables["loans"], tables["reserve_terms"])
    assert isinstance(expected_payout, float) and values["Payouts"]["B2"].value == expected_payout
    assert values["Payouts"]["C2"].value == "READY"  # C00001 is paid on the example as-of date
    assert values["Dashboard"]["B10"].value == udfs.ATLAS_VERSION()


def test_buttons_call_existing_macros(built: Path) -> None:
    files = parts(built)
    vml = b"".join(v for k, v in files.items() if k.endswith(".vml"))
    macros = re.findall(rb"<x:FmlaMacro>\[0\]!(\w+)</x:FmlaMacro>", vml)
    assert [m.decode() for m in macros] == [b.macro for b in BUTTONS]


def test_no_data_text_is_stored_as_a_formula(tmp_path: Path, example_data_dir: Path) -> None:
    portfolio = load_portfolio(example_data_dir)
    clients = portfolio.clients.copy()
    hostile = ['=HYPERLINK("http://x","click")', "@SUM(1+1)", "+1", "-2", "\tTAB"]
    clients.loc[: len(hostile) - 1, "name"] = hostile
    path = build_workbook_file(Portfolio(clients, portfolio.settlements, portfolio.loans,
                                         portfolio.reserve_terms), tmp_path / "hostile.xlsm", Settings())
    files = parts(path)
    for name, xml in files.items():
        if not name.startswith("xl/worksheets/sheet"):
            continue
        for cell in etree.fromstring(xml).iterfind(".//m:c", NS):
            formula = cell.find("m:f", NS)
            if formula is not None:  # only our own ATLAS_* / INDEX formulas and the Dashboard totals, never data
                assert re.match(r"(_xlfn\.)?(ATLAS_|INDEX\()", formula.text or "") or \
                    re.fullmatch(r'IF\(COUNTIF\((\w+)!(\$[BC]):\2,"#ATLAS!\*"\)>0,NA\(\),SUM\(\1!\2:\2\)\)',
                                 formula.text or ""), (name, formula.text)
    book = openpyxl.load_workbook(path)
    names = [c.value for c in book["Clients"]["B"][1:6]]
    assert names == hostile
    assert all(c.data_type == "s" for c in book["Clients"]["B"][1:6])


def test_cli_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "ops.xlsm"
    assert main(["workbook", "build", "--out", str(out)]) == 0
    assert out.exists() and "wrote" in capsys.readouterr().out
    assert main(["workbook", "build", "--out", str(tmp_path / "ops.xlsx")]) == 2
    assert not (tmp_path / "ops.xlsx").exists()
    assert main(["workbook", "build", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_the_three_spilling_functions_are_dynamic_arrays(built: Path) -> None:
    """Read from the file's XML (tests/ooxml_parts.py): cm="1" on an array formula, pointing at the XLDAPR
    fDynamic=1 cell metadata of xl/metadata.xml, declared in the content types and workbook relations."""
    from tests.ooxml_parts import dynamic_array_cells, snapshot

    snap = snapshot(built)
    assert dynamic_array_cells(snap) == {
        ("Schedules", "A11"): "ATLAS_SCHEDULE(B2, B3, B4, B5, B6, B7, B8)",
        ("Schedules", "H11"): "ATLAS_PROJECTION(Loans[#All], AsOfDate)",
        ("Schedules", "N11"): "ATLAS_RESERVE_RELEASES(O1, AsOfDate, Settlements[#All], ReserveTerms[#All])"}
    # the releases of C00001 after 2026-11-23 spill below the header: the first one cached as Excel shows it
    assert snap["cells"][("Schedules", "O1")]["value"] == "C00001"
    assert snap["cells"][("Schedules", "N12")]["value"] == 46350.0  # 2026-11-24: serial 46350
    assert snap["cells"][("Schedules", "P12")]["value"] == 70.65
