"""The reviewer's payout list: the xlsx an approver reads before a payout run's SEPA file is released.

Sheets: "Summary" (run id, payout date, status, count, total, file SHA-256, then any other run facts),
"Transfers" (one row per credit transfer, marked in "Bank details" when the client's IBAN, BIC or name changed
since its last executed payout, and a total row) and "Excluded" (clients left out, with the
reasons). Count and total are computed here from integer cents (values, not formulas) so the list always
agrees with the transfers it shows. Every text goes through `xlsafe.set_text`: a client named
`=HYPERLINK(...)` is shown as that text, never evaluated. Written through `files.replacing`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from atlas_xl.errors import ArgumentError
from atlas_xl.outputs.files import replacing
from atlas_xl.outputs.sepa.transfers import CreditTransfer
from atlas_xl.outputs.xlsafe import set_text, set_value

MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
BOLD = Font(bold=True)

# Summary keys shown first, in this order, with their labels; any other key follows under its own name.
SUMMARY_LABELS = {
    "run_id": "Run id",
    "payout_date": "Payout date",
    "status": "Status",
    "file_sha256": "File SHA-256",
}
# Figures the list computes itself; a caller-supplied value must agree with them.
_COMPUTED = {"count": "Number of transfers", "total_cents": "Total (EUR)"}

TRANSFER_HEADERS = ("Client id", "Name", "IBAN", "BIC", "Amount (EUR)", "Currency", "Remittance",
                    "EndToEndId", "Bank details")
TRANSFER_WIDTHS = (14, 40, 36, 14, 16, 9, 50, 36, 44)
# the mark of a transfer whose IBAN, BIC or name differ from the client's last executed payout
CHANGED_MARK = "CHANGED since the last executed payout"
EXCLUDED_HEADERS = ("Client id", "Name", "Reasons")
EXCLUDED_WIDTHS = (14, 40, 80)


def _euros(cents: int) -> Decimal:
    # exact: Decimal from int cents; openpyxl writes Decimal as its exact decimal text
    return Decimal(int(cents)).scaleb(-2)


def _put(ws: Worksheet, row: int, col: int, value: object, number_format: str | None = None) -> None:
    if value is None or value == "":
        return  # an empty cell, not an empty string
    cell = ws.cell(row=row, column=col)
    set_value(cell, value)
    if isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    if number_format:
        cell.number_format = number_format


def _header(ws: Worksheet, row: int, headers: Sequence[str], widths: Sequence[int]) -> None:
    for col, (text, width) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = ws.cell(row=row, column=col)
        set_text(cell, text)
        cell.font = BOLD
        ws.column_dimensions[get_column_letter(col)].width = width


def _summary_value(value: object) -> object:
    if value is None or isinstance(value, int | float | Decimal | date | datetime | bool):
        return value
    return str(value)  # enums, paths, ...: shown as text (through set_text)


def _write_summary(ws: Worksheet, run_summary: Mapping[str, object], count: int, total_cents: int) -> None:
    for key in _COMPUTED:
        given = run_summary.get(key)
        expected = count if key == "count" else total_cents
        if given is not None and given != expected:
            raise ArgumentError(f"run summary {key} {given!r} does not match the transfers ({expected}); "
                                "expected the run's own figures")
    rows: list[tuple[str, object, str | None]] = []
    for key, label in SUMMARY_LABELS.items():
        if key in run_summary and run_summary[key] is not None:
            rows.append((label, _summary_value(run_summary[key]), None))
        if key == "status":
            rows.append((_COMPUTED["count"], count, "0"))
            rows.append((_COMPUTED["total_cents"], _euros(total_cents), MONEY_FORMAT))
    for key, value in run_summary.items():
        if key not in SUMMARY_LABELS and key not in _COMPUTED:
            rows.append((str(key), _summary_value(value), None))
    set_text(ws.cell(row=1, column=1), "Payout run - reviewer's list")
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    for i, (label, value, fmt) in enumerate(rows, start=3):
        set_text(ws.cell(row=i, column=1), label)
        ws.cell(row=i, column=1).font = BOLD
        _put(ws, i, 2, value, fmt)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 68


def _write_transfers(ws: Worksheet, transfers: Sequence[CreditTransfer], total_cents: int,
                     changed: Collection[str] = frozenset()) -> None:
    _header(ws, 1, TRANSFER_HEADERS, TRANSFER_WIDTHS)
    row = 1
    for row, t in enumerate(transfers, start=2):
        _put(ws, row, 1, str(t.client_id))
        _put(ws, row, 2, str(t.creditor_name))
        _put(ws, row, 3, str(t.creditor_iban))
        _put(ws, row, 4, t.creditor_bic and str(t.creditor_bic))
        _put(ws, row, 5, _euros(t.amount_cents), MONEY_FORMAT)
        _put(ws, row, 6, str(t.currency))
        _put(ws, row, 7, t.remittance and str(t.remittance))
        _put(ws, row, 8, str(t.end_to_end_id))
        if str(t.client_id) in changed:
            _put(ws, row, 9, CHANGED_MARK)
            ws.cell(row=row, column=9).font = BOLD
    last = row
    total_row = last + 1
    set_text(ws.cell(row=total_row, column=1), "Total")
    ws.cell(row=total_row, column=1).font = BOLD
    _put(ws, total_row, 5, _euros(total_cents), MONEY_FORMAT)
    ws.cell(row=total_row, column=5).font = BOLD
    ws.freeze_panes = "A2"
    # the filter covers the transfers only, so sorting never moves the total row
    ws.auto_filter.ref = f"A1:{get_column_letter(len(TRANSFER_HEADERS))}{max(last, 1)}"


def _write_excluded(ws: Worksheet, excluded: Sequence[tuple[str, str, str]]) -> None:
    _header(ws, 1, EXCLUDED_HEADERS, EXCLUDED_WIDTHS)
    row = 1
    for row, entry in enumerate(excluded, start=2):
        if len(entry) != 3:
            raise ArgumentError(f"excluded entry {entry!r} has {len(entry)} fields; "
                                "expected (client_id, name, reasons)")
        for col, text in enumerate(entry, start=1):
            _put(ws, row, col, None if text is None else str(text))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(EXCLUDED_HEADERS))}{max(row, 1)}"


def write_reviewer_list(path: Path, run_summary: Mapping[str, object], transfers: Sequence[CreditTransfer],
                        excluded: Sequence[tuple[str, str, str]] = (), *, changed: Collection[str] = ()) -> None:
    """Write the reviewer's list to `path` atomically (no half-written file is ever left at `path`). The
    transfers of the clients in `changed` (bank details changed since their last executed payout) are marked."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ArgumentError(f"output folder {str(path.parent)!r} does not exist; expected an existing folder")
    count = len(transfers)
    total_cents = sum(int(t.amount_cents) for t in transfers)  # exact integer cents

    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    _write_summary(summary, run_summary, count, total_cents)
    _write_transfers(wb.create_sheet("Transfers"), transfers, total_cents, frozenset(map(str, changed)))
    _write_excluded(wb.create_sheet("Excluded"), excluded)

    with replacing(path) as tmp:
        wb.save(tmp)
