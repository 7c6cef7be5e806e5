"""The reviewer's payout list (atlas_xl.outputs.sepa.reviewer_list), read back with openpyxl as an approver's
Excel would."""

from __future__ import annotations

import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from atlas_xl.errors import ArgumentError
from atlas_xl.outputs.sepa.pain001 import CreditTransfer
from atlas_xl.outputs.sepa.pain001 import write_reviewer_list as reexported
from atlas_xl.outputs.sepa.reviewer_list import write_reviewer_list

HYPERLINK = '=HYPERLINK("http://x","click")'
TRANSFERS = [
    CreditTransfer("RUN7-C001", "C001", 123456, "Müller & Söhne GmbH", "DE02120300000000202051",
                   "BYLADEM1001", "Payout 2026-04-07 C001"),
    CreditTransfer("RUN7-C002", "C002", 1, HYPERLINK, "FR1420041010050500013M02606", None, "@SUM(1+1)"),
    CreditTransfer("RUN7-C003", "C003", 10, "-10+20", "NL91ABNA0417164300", "ABNANL2A", "+cmd"),
]
# total by hand: 123456 + 1 + 10 = 123467 cents = 1234.67 EUR
EXCLUDED = [("C004", "=1+1", "INVALID_IBAN"), ("C005", "Blocked Ltd", "CLIENT_BLOCKED; KYC_PENDING")]
SUMMARY = {"run_id": "RUN7", "payout_date": date(2026, 4, 7), "status": "approved",
           "file_sha256": "ab" * 32, "proposed_by": "olivia"}


@pytest.fixture
def workbook_path(tmp_path: Path) -> Path:
    path = tmp_path / "RUN7-review.xlsx"
    write_reviewer_list(path, SUMMARY, TRANSFERS, EXCLUDED)
    return path


def test_reexported_from_sepa() -> None:
    assert reexported is write_reviewer_list


def test_summary_block(workbook_path: Path) -> None:
    ws = load_workbook(workbook_path)["Summary"]
    rows = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(3, ws.max_row + 1)}
    assert list(rows) == ["Run id", "Payout date", "Status", "Number of transfers", "Total (EUR)",
                          "File SHA-256", "proposed_by"]
    assert rows["Run id"].value == "RUN7"
    assert rows["Payout date"].value.date() == date(2026, 4, 7)
    assert rows["Status"].value == "approved"
    assert rows["Number of transfers"].value == 3
    assert rows["Total (EUR)"].value == pytest.approx(1234.67)
    assert rows["Total (EUR)"].number_format == "#,##0.00"
    assert rows["File SHA-256"].value == "ab" * 32
    assert rows["proposed_by"].value == "olivia"


def test_transfer_table_values_and_total(workbook_path: Path) -> None:
    ws = load_workbook(workbook_path)["Transfers"]
    header = [c.value for c in ws[1]]
    assert header == ["Client id", "Name", "IBAN", "BIC", "Amount (EUR)", "Currency", "Remittance",
                      "EndToEndId", "Bank details"]  # marked when changed since the last executed payout
    body = [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_row=4)]
    assert body == [
        ["C001", "Müller & Söhne GmbH", "DE02120300000000202051", "BYLADEM1001", 1234.56, "EUR",
         "Payout 2026-04-07 C001", "RUN7-C001", None],
        ["C002", HYPERLINK, "FR1420041010050500013M02606", None, 0.01, "EUR", "@SUM(1+1)", "RUN7-C002", None],
        ["C003", "-10+20", "NL91ABNA0417164300", "ABNANL2A", 0.1, "EUR", "+cmd", "RUN7-C003", None],
    ]
    assert ws.cell(5, 1).value == "Total"
    total = ws.cell(5, 5)
    assert total.data_type == "n" and total.value == pytest.approx(1234.67)  # a value, not a formula
    assert all(ws.cell(r, 5).number_format == "#,##0.00" for r in range(2, 6))
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:I4"  # filters cover the transfers, not the total row
    assert ws.column_dimensions["B"].width == 40


def test_amounts_are_exact_decimal_text_in_the_file(workbook_path: Path) -> None:
    # the XML holds the decimal text written from int cents, not a binary-float artefact
    with zipfile.ZipFile(workbook_path) as zf:
        names = [n for n in zf.namelist() if n.startswith("xl/worksheets/")]
        sheet_xml = b"".join(zf.read(n) for n in names)
    for text in (b"<v>1234.56</v>", b"<v>0.01</v>", b"<v>0.1</v>", b"<v>1234.67</v>"):
        assert text in sheet_xml
    assert b"<f>" not in sheet_xml  # no formula anywhere in the workbook


def test_hostile_text_is_stored_as_strings(workbook_path: Path) -> None:
    wb = load_workbook(workbook_path)
    ws = wb["Transfers"]
    name = ws.cell(3, 2)
    assert name.value == HYPERLINK and name.data_type == "s"
    assert ws.cell(3, 4).value is None  # no BIC: an empty cell, not an empty string
    for cell in (ws.cell(3, 7), ws.cell(4, 2), ws.cell(4, 7)):
        assert cell.data_type == "s"
    excluded = wb["Excluded"]
    assert excluded.cell(2, 2).value == "=1+1" and excluded.cell(2, 2).data_type == "s"


def test_excluded_sheet(workbook_path: Path) -> None:
    ws = load_workbook(workbook_path)["Excluded"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [
        ["Client id", "Name", "Reasons"],
        ["C004", "=1+1", "INVALID_IBAN"],
        ["C005", "Blocked Ltd", "CLIENT_BLOCKED; KYC_PENDING"],
    ]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C3"


def test_empty_run(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    write_reviewer_list(path, {"run_id": "RUN8"}, [])
    wb = load_workbook(path)
    assert wb["Transfers"].cell(2, 1).value == "Total"
    assert wb["Transfers"].cell(2, 5).value == 0
    assert wb["Excluded"].max_row == 1


def test_summary_figures_must_agree(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"run summary total_cents 123466 does not match the transfers "
                                            r"\(123467\)"):
        write_reviewer_list(tmp_path / "x.xlsx", {**SUMMARY, "total_cents": 123466}, TRANSFERS)
    with pytest.raises(ArgumentError, match=r"run summary count 2 does not match the transfers \(3\)"):
        write_reviewer_list(tmp_path / "x.xlsx", {**SUMMARY, "count": 2}, TRANSFERS)
    assert list(tmp_path.iterdir()) == []  # nothing written on refusal
    write_reviewer_list(tmp_path / "x.xlsx", {**SUMMARY, "count": 3, "total_cents": 123467}, TRANSFERS)


def test_atomic_replace_and_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"old contents")
    bad_excluded = [("C9", "only two fields")]
    with pytest.raises(ArgumentError, match="expected \\(client_id, name, reasons\\)"):
        write_reviewer_list(path, SUMMARY, TRANSFERS, bad_excluded)  # type: ignore[arg-type]
    assert path.read_bytes() == b"old contents"  # the old file is untouched
    write_reviewer_list(path, SUMMARY, TRANSFERS, EXCLUDED)
    assert load_workbook(path)["Summary"].cell(3, 2).value == "RUN7"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.xlsx"]  # no temp file left
    with pytest.raises(ArgumentError, match="does not exist"):
        write_reviewer_list(tmp_path / "nope" / "x.xlsx", SUMMARY, TRANSFERS)


def test_amount_decimal_exactness() -> None:
    # the writer converts int cents with Decimal.scaleb, exact for any size
    from atlas_xl.outputs.sepa.reviewer_list import _euros

    assert _euros(123467) == Decimal("1234.67")
    assert _euros(99_999_999_999) == Decimal("999999999.99")
    assert _euros(-5) == Decimal("-0.05")
