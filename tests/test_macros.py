"""The buttons' macros through the openpyxl implementation (FileBook): each changes what it should, a second
click gives the same state, and a failure leaves the file byte-identical."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.cli.app import main
from atlas_xl.errors import AtlasError, ConfigError, LoadError, PermissionDenied, WorkflowError
from atlas_xl.examples.portfolio import generate_portfolio, write_csv
from atlas_xl.excel import macros, udfs
from atlas_xl.excel import ranges as xe
from atlas_xl.excel.workbook import TABLE_SHEETS, build_workbook_file, raw_tables
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.settings import Settings
from atlas_xl.store.database import open_store
from atlas_xl.workflow.common import os_account
from atlas_xl.workflow.runs import list_runs
from atlas_xl.workflow.users import add_user
from tests.ooxml_parts import changes, dynamic_array_cells, snapshot

SPILLS = {("Schedules", "A11"): "ATLAS_SCHEDULE(B2, B3, B4, B5, B6, B7, B8)",
          ("Schedules", "H11"): "ATLAS_PROJECTION(Loans[#All], AsOfDate)",
          ("Schedules", "N11"): "ATLAS_RESERVE_RELEASES(O1, AsOfDate, Settlements[#All], ReserveTerms[#All])"}


SMALL_CLIENTS = 6


@pytest.fixture(scope="module")
def small_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mechanics run on a small generated workbook (6 clients x 5 days, ~60 KB) built once by the same
    builder: openpyxl reads it in a fraction of the 570 KB template's time."""
    folder = tmp_path_factory.mktemp("small")
    write_csv(generate_portfolio(clients=SMALL_CLIENTS, days=5, seed=11), folder / "data")
    return build_workbook_file(load_portfolio(folder / "data"), folder / "small.xlsm", Settings())


@pytest.fixture
def book_path(tmp_path: Path, small_workbook: Path) -> Path:
    path = tmp_path / "ops.xlsm"
    shutil.copy(small_workbook, path)
    xe.CACHE.clear()
    return path


@pytest.fixture
def template_path(tmp_path: Path, repo_root: Path) -> Path:
    """The real template (40 clients, the example data): the figures of the payout run and the fidelity checks."""
    path = tmp_path / "ops.xlsm"
    shutil.copy(repo_root / "workbook_templates" / "atlas_operations.xlsm", path)
    xe.CACHE.clear()
    return path


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    monkeypatch.setenv("ATLAS_DB_URL", url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the user's own profiles.toml lives here
    store = open_store(url, demo=True)  # a demo store: the profile's demo_user acts (see test_identity for not)
    add_user(store, None, "admin", "admin")
    for name, role in (("olga", "operations"), ("fred", "finance"), ("fiona", "finance")):
        add_user(store, "admin", name, role)
    return url


def as_user(monkeypatch: pytest.MonkeyPatch, name: str, profiles: str = "") -> None:
    """`name` acts in the demo store: the user's own profiles.toml says so (the environment's names do not)."""
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # ignored now: set to someone else to show it
        monkeypatch.setenv(var, "mallory")
    path = macros.profiles_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[profiles.default]\ndemo_user = "{name}"\n{profiles}', encoding="utf-8")


def state(path: Path) -> dict[str, object]:
    """Everything a user sees, read from the parts (tests/ooxml_parts.py): every cell's formula, value and
    number format, the tables, the named cells, the VBA project, buttons and dynamic-array metadata."""
    return snapshot(path)


def cell(path: Path, name: str) -> object:
    book = openpyxl.load_workbook(path)
    sheet, ref = next(iter(book.defined_names[name].destinations))
    return book[sheet][ref.replace("$", "")].value


def sheet_rows(path: Path, sheet: str) -> list[list[object]]:
    return [list(r) for r in openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True)]


# ---------------------------------------------------------------------------------------------- load data
def test_load_data_replaces_the_tables_and_is_idempotent(book_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_csv(generate_portfolio(clients=30, days=5, seed=5, hostile=True), data)
    portfolio = load_portfolio(data)
    message = macros.load_data(macros.FileBook(book_path), data)
    assert message.startswith("Loaded 30 clients, 150 settlements") and cell(book_path, "Status") == message
    expected = raw_tables(portfolio)
    for table, sheet in TABLE_SHEETS.items():
        rows = sheet_rows(book_path, sheet)
        assert rows == expected[table] or (len(expected[table]) == 1 and rows[0] == expected[table][0])
        ref = openpyxl.load_workbook(book_path)[sheet].tables[sheet].ref
        assert ref.endswith(str(max(len(expected[table]), 2)))  # resized to the loaded rows
    assert cell(book_path, "AsOfDate") == portfolio.last_date.to_pydatetime()
    # the generator's hostile names are shown as typed and stored as text, never as formulas
    names = openpyxl.load_workbook(book_path)["Clients"]["B"][1:]
    hostile = [c for c in names if str(c.value).startswith(("=", "+", "-", "@"))]
    assert hostile and all(c.data_type == "s" for c in hostile)
    first = state(book_path)
    assert macros.load_data(macros.FileBook(book_path), data) == message
    assert state(book_path) == first


def test_load_data_failure_leaves_the_file_byte_identical(book_path: Path, tmp_path: Path) -> None:
    before = book_path.read_bytes()
    with pytest.raises(LoadError):
        macros.load_data(macros.FileBook(book_path), tmp_path / "missing")
    bad = tmp_path / "bad"
    write_csv(generate_portfolio(clients=3, days=5), bad)
    text = (bad / "settlements.csv").read_text().splitlines()
    text[1] = text[1].replace(",EUR,", ",EUR,-")  # a negative sales amount: refused by the loader
    (bad / "settlements.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(LoadError, match="sales"):
        macros.load_data(macros.FileBook(book_path), bad)
    with pytest.raises(ConfigError, match="Atlas Data Path"):
        macros.load_data(macros.FileBook(book_path))  # nothing configured
    assert book_path.read_bytes() == before


# ---------------------------------------------------------------------------------------------- refresh
def test_refresh_all_writes_the_functions_figures_and_is_idempotent(book_path: Path) -> None:
    book = openpyxl.load_workbook(book_path, keep_vba=True)
    ws = book["Settlements"]
    ws["D2"].value = ws["D2"].value + 1000  # C00001's first day: more sales, so its figures move
    book.save(book_path)
    message = macros.refresh_all(macros.FileBook(book_path))
    assert message.startswith(f"Refreshed {SMALL_CLIENTS} clients as of 2026-11-23")
    t = {table: sheet_rows(book_path, sheet) for table, sheet in TABLE_SHEETS.items()}
    as_of = cell(book_path, "AsOfDate")
    payouts = sheet_rows(book_path, "Payouts")
    assert payouts[0] == ["client_id", "Payable", "Readiness"]
    ids = [[r[0]] for r in payouts[1:]]
    four = (t["clients"], t["settlements"], t["loans"], t["reserve_terms"])
    assert [[r[1]] for r in payouts[1:]] == udfs.ATLAS_PAYOUT(ids, as_of, *four)
    assert [[r[2]] for r in payouts[1:]] == udfs.ATLAS_READINESS(ids, as_of, *four)
    exposure = sheet_rows(book_path, "Exposure")
    assert [[r[3]] for r in exposure[1:]] == udfs.ATLAS_LIMIT_STATUS(ids, as_of, *four, 0.8, 1.0)
    reserves = sheet_rows(book_path, "Reserves")
    assert [[r[1]] for r in reserves[1:]] == udfs.ATLAS_RESERVE(ids, as_of, t["settlements"], t["reserve_terms"])
    first = state(book_path)
    assert macros.refresh_all(macros.FileBook(book_path)) == message
    assert state(book_path) == first


def test_refresh_all_failure_leaves_the_file_byte_identical(book_path: Path) -> None:
    book = openpyxl.load_workbook(book_path, keep_vba=True)
    book["ReserveTerms"]["D2"].value = -3  # hold_days < 0
    book.save(book_path)
    before = book_path.read_bytes()
    with pytest.raises(AtlasError, match="hold_days"):
        macros.refresh_all(macros.FileBook(book_path))
    assert book_path.read_bytes() == before


def test_cli_refresh(book_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workbook", "refresh", str(book_path)]) == 0
    assert f"Refreshed {SMALL_CLIENTS} clients" in capsys.readouterr().out
    missing = tmp_path / "nope.xlsm"
    assert main(["workbook", "refresh", str(missing)]) == 2 and not missing.exists()
    book = openpyxl.load_workbook(book_path, keep_vba=True)
    book["Dashboard"]["B4"].value = "not a date"
    book.save(book_path)
    before = book_path.read_bytes()
    assert main(["workbook", "refresh", str(book_path)]) == 2
    assert "AsOfDate 'not a date' is not a date" in capsys.readouterr().err
    assert book_path.read_bytes() == before


# ---------------------------------------------------------------------------------------------- payout run
def test_propose_approve_sepa_report(template_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real template; after each button only its literally listed cells differ (tests/ooxml_parts.py):
    Propose run writes PayoutRun (B7) and Status (B8), the others only Status."""
    book_path = template_path
    built = snapshot(book_path)
    as_user(monkeypatch, "olga")
    proposed = macros.propose_run(macros.FileBook(book_path))
    # the example data pays 23 clients EUR 150,487.40 on 2026-11-23 (>= 100,000.00: two approvals)
    assert proposed == ("Run R1 for 2026-11-23 proposed: 23 payouts, EUR 150,487.40, status proposed "
                        "(0/2 approvals).")
    assert cell(book_path, "PayoutRun") == "R1" and cell(book_path, "Status") == proposed
    after_propose = state(book_path)
    assert changes(built, after_propose, {"Dashboard": ["B7", "B8"]}) == []
    assert macros.propose_run(macros.FileBook(book_path)) == proposed  # second click: no new run
    assert state(book_path) == after_propose
    store = open_store(store_url)
    assert [r.ref for r in list_runs(store, "olga")] == ["R1"]

    before = book_path.read_bytes()
    with pytest.raises(PermissionDenied, match=r"role operations\) may not approve"):
        macros.approve_run(macros.FileBook(book_path))  # the proposer's role may not approve
    as_user(monkeypatch, "mallory")
    with pytest.raises(PermissionDenied, match="unknown user 'mallory'"):
        macros.approve_run(macros.FileBook(book_path))
    as_user(monkeypatch, "fred")
    with pytest.raises(WorkflowError, match="only an approved run can be executed"):
        macros.generate_sepa(macros.FileBook(book_path))
    assert book_path.read_bytes() == before  # every refusal left the file as it was

    once = macros.approve_run(macros.FileBook(book_path))
    after_approve = snapshot(book_path)
    assert changes(after_propose, after_approve, {"Dashboard": ["B8"]}) == []
    assert once.endswith("approved by fred: 23 payouts, EUR 150,487.40, status proposed (1/2 approvals). "
                         "Four-eyes on a SQLite store is advisory.")
    assert macros.approve_run(macros.FileBook(book_path)) == once  # fred's second click: same state
    as_user(monkeypatch, "fiona")
    assert macros.approve_run(macros.FileBook(book_path)).endswith(
        "status approved (2/2 approvals). Four-eyes on a SQLite store is advisory.")

    before_sepa = snapshot(book_path)
    sepa = macros.generate_sepa(macros.FileBook(book_path))
    after_sepa = snapshot(book_path)
    assert changes(before_sepa, after_sepa, {"Dashboard": ["B8"]}) == []
    assert sepa.startswith("SEPA file for run R1: ")
    files = sorted(p.name for p in (book_path.parent / "atlas-output").iterdir())
    assert macros.generate_sepa(macros.FileBook(book_path)) == sepa  # exactly once: the same file
    assert sorted(p.name for p in (book_path.parent / "atlas-output").iterdir()) == files
    assert [r.status for r in list_runs(store, "fiona")] == ["executed"]

    report = macros.export_report(macros.FileBook(book_path))
    assert changes(after_sepa, snapshot(book_path), {"Dashboard": ["B8"]}) == []
    assert report.startswith("Report as of 2026-11-23 written to atlas-report-2026-11-23.xlsx")
    written = openpyxl.load_workbook(book_path.parent / "atlas-output" / "atlas-report-2026-11-23.xlsx")
    kpis = {r[0]: r[1] for r in written["Dashboard"].iter_rows(values_only=True) if r and r[0]}
    assert kpis["Total to pay (EUR)"] == 150487.40
    assert macros.export_report(macros.FileBook(book_path)) == report


def test_a_db_url_in_the_sheet_is_refused_a_profile_name_is_used(book_path: Path, store_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.db"
    book = openpyxl.load_workbook(book_path, keep_vba=True)
    conf = book["xlwings.conf"]
    row = next(r for r in conf.iter_rows() if r[0].value == "Atlas DB URL")
    row[1].value = f"sqlite:///{other}"
    book.save(book_path)
    as_user(monkeypatch, "olga", f'[profiles.other]\ndb_url = "sqlite:///{other}"\ndemo_user = "olga"\n')
    before = book_path.read_bytes()
    with pytest.raises(ConfigError, match="names a database URL .*refused.*'Atlas Store Profile'"):
        macros.propose_run(macros.FileBook(book_path))
    assert book_path.read_bytes() == before and not other.exists()
    # the sheet names a profile instead: the user's own file maps it to the other store (a new, normal store:
    # the OS account acts there, and it has no users yet)
    book = openpyxl.load_workbook(book_path, keep_vba=True)
    conf = book["xlwings.conf"]
    next(r for r in conf.iter_rows() if r[0].value == "Atlas DB URL")[1].value = ""
    conf.append(["Atlas Store Profile", "other"])
    book.save(book_path)
    with pytest.raises(PermissionDenied, match=f"unknown user '{os_account()}' .your operating-system account"):
        macros.propose_run(macros.FileBook(book_path))
    assert other.exists()
    conf["B" + str(conf.max_row)].value = "nosuch"
    book.save(book_path)
    with pytest.raises(ConfigError, match="no store profile 'nosuch'"):
        macros.propose_run(macros.FileBook(book_path))


def test_load_data_puts_the_stored_credit_limit_into_the_clients_table(book_path: Path, tmp_path: Path,
                                                                       store_url: str) -> None:
    from atlas_xl.workflow.credit import change_credit_limit

    data = tmp_path / "data"
    write_csv(generate_portfolio(clients=30, days=5, seed=5), data)
    store = open_store(store_url)
    add_user(store, "admin", "cora", "credit")
    change_credit_limit(store, "cora", "C00001", 123_456_78)  # 123,456.78 EUR
    macros.load_data(macros.FileBook(book_path), data)
    rows = sheet_rows(book_path, TABLE_SHEETS["clients"])
    header, c00001 = rows[0], next(r for r in rows[1:] if r[0] == "C00001")
    assert c00001[header.index("credit_limit")] == pytest.approx(123456.78)


# ---------------------------------------------------------------------------------------------- fidelity
def test_refresh_changes_only_its_cells_and_keeps_the_excel_parts(template_path: Path) -> None:
    """Read by lxml from the parts: after Refresh all nothing but the status cell and the three computed
    sheets differs; VBA, buttons, spills (metadata.xml + cm flags), tables, names, formats are kept."""
    book_path = template_path
    before = snapshot(book_path)
    spills = dynamic_array_cells(before)
    assert spills == SPILLS
    assert [b["macro"] for b in before["buttons"]] == [
        "[0]!AtlasLoadData", "[0]!AtlasRefreshAll", "[0]!AtlasProposeRun", "[0]!AtlasApproveRun",
        "[0]!AtlasGenerateSepa", "[0]!AtlasExportReport"]
    macros.refresh_all(macros.FileBook(book_path))
    after = snapshot(book_path)
    # 40 clients: header + 40 rows; Payouts / Reserves 3 columns, Exposure 4
    allowed = {"Dashboard": ["B8"], "Payouts": ["A1:C41"], "Reserves": ["A1:C41"], "Exposure": ["A1:D41"]}
    assert changes(before, after, allowed) == []
    assert dynamic_array_cells(after) == spills
    assert after["cells"][("Payouts", "B2")]["formula"] is None  # Refresh all writes values (by design)
    assert after["cells"][("Dashboard", "B8")]["value"].startswith("Refreshed 40 clients")


def test_build_is_the_template(template_path: Path, tmp_path: Path, example_data_dir: Path) -> None:
    """A fresh build of the example data against the committed template: no structural or cell difference,
    and no part differs at all (XlsxWriter's fixed dates; docProps included)."""
    import zipfile

    fresh = build_workbook_file(load_portfolio(example_data_dir), tmp_path / "fresh.xlsm", Settings())
    assert changes(snapshot(template_path), snapshot(fresh), {}) == []
    with zipfile.ZipFile(template_path) as a, zipfile.ZipFile(fresh) as b:
        assert [n for n in a.namelist() if a.read(n) != b.read(n)] == []


def test_load_data_changes_only_the_tables_as_of_and_status(template_path: Path, tmp_path: Path) -> None:
    """Load data on the real template with 30 generated clients: the four table sheets (from A1 to the larger
    of the old and new tables), AsOfDate (B4) and Status (B8) differ; VBA, buttons, spills, totals, names,
    formats stay; the tables' refs are the one structural change."""
    data = tmp_path / "data"
    write_csv(generate_portfolio(clients=30, days=5, seed=5), data)
    before = snapshot(template_path)
    macros.load_data(macros.FileBook(template_path), data)
    after = snapshot(template_path)
    allowed = {"Clients": ["A1:Z100000"], "Settlements": ["A1:Z100000"], "Loans": ["A1:Z100000"],
               "ReserveTerms": ["A1:Z100000"], "Dashboard": ["B4", "B8"]}
    tables = [t for t in before["tables"] if before["tables"][t]["ref"] != after["tables"][t]["ref"]]
    assert sorted(tables) == ["Clients", "Loans", "ReserveTerms", "Settlements"]
    after_same_refs = after | {"tables": before["tables"]}
    assert changes(before, after_same_refs, allowed) == []
    assert dynamic_array_cells(after) == SPILLS
