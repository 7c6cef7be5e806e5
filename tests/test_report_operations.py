"""Issue 20 in the operations report, read back from the written workbook on the bundled example data."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.engines.run import run_engines
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.outputs.report.charts import CHART_DATA_SHEET
from atlas_xl.outputs.report.layout import write_report


@pytest.fixture(scope="module")
def report(example_data_dir: Path, tmp_path_factory) -> tuple[Path, openpyxl.Workbook, Path]:
    data = example_data_dir.resolve()  # an absolute server path, as `atlas-xl run` gets it
    result = run_engines(load_portfolio(data))
    path = write_report(result, tmp_path_factory.mktemp("report") / "report.xlsx", str(data))
    return path, openpyxl.load_workbook(path), data


def rows(book: openpyxl.Workbook, sheet: str) -> list[tuple]:
    return list(book[sheet].iter_rows(values_only=True))


def test_headline_separates_not_due_from_held_back(report) -> None:
    _, book, _ = report
    kpis = {label: value for label, value in rows(book, "Dashboard")[3:] if label}
    assert kpis["Payouts blocked"] == 6 and kpis["Payouts not due (off-cycle)"] == 11
    assert Decimal(str(kpis["Held back from blocked clients (EUR)"])) == Decimal("1468087.37")
    assert Decimal(str(kpis["Not due: paid on the next payout day (EUR)"])) == Decimal("269229.01")
    # one loans figure: 350,077.12 factoring (ledger, before the day's withholdings) + 199,738.36 term loans
    assert Decimal(str(kpis["Loans outstanding, as the ledger (EUR)"])) == Decimal("549815.48")


def test_payouts_show_status_words_days_held_and_a_total(report) -> None:
    _, book, _ = report
    table = rows(book, "Payouts")
    header = table[1]
    by_client = {r[0]: dict(zip(header, r, strict=True)) for r in table[2:]}
    assert by_client["C00009"]["Status"] == "NOT DUE" and by_client["C00009"]["Reasons"] == "not a payout day"
    c3 = by_client["C00003"]
    assert c3["Status"] == "BLOCKED" and c3["Reasons"] == "KYC pending; not a payout day"
    assert c3["Reason codes"] == "KYC_PENDING; NOT_PAYOUT_DAY"
    assert by_client["C00004"]["Reasons"] == "IBAN invalid: invalid checksum digits"
    total = by_client["Total"]
    # ready 150,487.40 + held back 1,468,087.37 + not due 269,229.01 = 1,887,803.78 payable in all
    assert Decimal(str(total["Payable"])) == Decimal("1887803.78")
    assert total["Minimum payout"] is None  # a per-client setting is not summed


def test_exposure_by_utilisation_with_credit_and_acquiring_risk(report) -> None:
    _, book, _ = report
    table = rows(book, "Exposure")
    header = table[1]
    data = [dict(zip(header, r, strict=True)) for r in table[2:-1]]
    assert [d["Client"] for d in data[:4]] == ["C00006", "C00025", "C00040", "C00007"]  # 244.5, 168.1, 93.2, 89.7 %
    utilisation = [d["Utilisation"] for d in data]
    assert utilisation == sorted(utilisation, reverse=True)
    total = dict(zip(header, table[-1], strict=True))
    assert total["Client"] == "Total"
    assert Decimal(str(total["Credit risk"])) == Decimal("550226.13")  # 350,077.12 + 199,738.36 + 410.65
    assert Decimal(str(total["Acquiring risk"])) == Decimal("135410.21")  # 38,920.99 + 96,489.22


def test_releases_totalled_per_day_match_the_headline(report) -> None:
    _, book, _ = report
    table = rows(book, "Releases per day")
    assert table[1] == ("Release date", "Clients", "Amount")
    days = table[2:-1]
    assert [d[0] for d in days] == sorted(d[0] for d in days) and len({d[0] for d in days}) == len(days)
    assert table[-1][0] == "Total" and Decimal(str(table[-1][2])) == Decimal("95718.01")  # upcoming releases
    assert sum(Decimal(str(d[2])) for d in days) == Decimal("95718.01")


def test_chart_data_is_hidden_and_no_server_path_is_printed(report) -> None:
    path, book, data = report
    assert book[CHART_DATA_SHEET].sheet_state == "hidden"
    assert rows(book, "Dashboard")[1][0].startswith("Data: example_data |")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            assert str(data).encode() not in archive.read(name), name
            assert str(data.parent).encode() not in archive.read(name), name
