"""The close's two optional input tables, read on their own with the loader's located checks: the opening
balances (a client's balances at a cut-over date) and the chart-of-accounts mapping of the journal export.

Each is a CSV file (`opening_balances.csv`, `chart_of_accounts.csv`) or a sheet of an .xlsx workbook
(sheet named as the table). Problems come back as one LoadError listing file, sheet, row, column and value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from atlas_xl.domain.model import OpeningItem
from atlas_xl.domain.schemas import LEDGER_SCHEMAS
from atlas_xl.errors import LoadError, Problem
from atlas_xl.inputs.cells import column_array
from atlas_xl.inputs.csv_files import _read_csv
from atlas_xl.inputs.validate import _Problems, _Raw, single_table
from atlas_xl.inputs.workbook_files import check_workbook_safe


def find_table(data: Path, table: str) -> Path | None:
    """The table beside the portfolio: `<folder>/<table>.csv`, or the workbook itself when it has the sheet."""
    if data.is_dir():
        candidate = data / f"{table}.csv"
        return candidate if candidate.is_file() else None
    if data.suffix.lower() in (".xlsx", ".xlsm") and data.is_file():
        import openpyxl  # lazy: only a workbook source needs it

        check_workbook_safe(data)
        book = openpyxl.load_workbook(data, read_only=True)
        try:
            return data if table in book.sheetnames else None
        finally:
            book.close()
    return None


def load_table(path: Path, table: str) -> pd.DataFrame:
    """One optional table from a CSV file or a workbook's sheet `table`: the loaded frame (amounts as int64
    cents, dates as datetime64), or one LoadError listing every problem."""
    spec = LEDGER_SCHEMAS[table]
    problems = _Problems()
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raw = _raw_from_sheet(path, table, problems)
    else:
        raw = _read_csv(path, spec, problems)
    if raw is None:
        raise LoadError(problems.items)
    return single_table(raw, spec, problems)


def _raw_from_sheet(path: Path, table: str, problems: _Problems) -> _Raw | None:
    import openpyxl  # lazy: only a workbook source needs it

    check_workbook_safe(path)
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if table not in book.sheetnames:
            problems.add(Problem(path.name, table, None, None, None, f"sheet '{table}' is missing"))
            return None
        sheet = book[table]
        sheet.reset_dimensions()
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        problems.add(Problem(path.name, table, None, None, None, "empty sheet; expected a header row"))
        return None
    header = [str(h).strip() if h is not None else f"(blank header {i + 1})" for i, h in enumerate(rows[0])]
    kinds = {c.name: c.kind for c in LEDGER_SCHEMAS[table].columns}
    body = [list(r) + [None] * (len(header) - len(r)) for r in rows[1:]]
    columns = {name: column_array(pd.Series([r[i] for r in body], dtype=object), kinds.get(name))
               for i, name in enumerate(header)}
    return _Raw(table, pa.table(columns), np.arange(2, len(body) + 2, dtype=np.int64), path.name, table)


def check_opening(opening: pd.DataFrame, client_ids: set[str], first_day: pd.Timestamp, path: Path) -> None:
    """The rules across rows: known clients, one cut-over date before the first booked day, and a negative
    amount only on a settlement row."""
    problems = []
    source, sheet = path.name, ("opening_balances" if path.suffix.lower() in (".xlsx", ".xlsm") else None)
    for row in opening.to_dict("records"):
        where = (source, sheet, int(row["source_row"]))
        client, cut_over, amount = str(row["client_id"]), pd.Timestamp(row["cut_over_date"]), int(row["amount_cents"])
        if client not in client_ids:
            problems.append(Problem(*where, "client_id", client, "unknown client; expected a client_id "
                                    "of the clients table"))
        if cut_over >= first_day:
            problems.append(Problem(*where, "cut_over_date", str(cut_over.date()),
                                    f"must be before the first day the close books ({first_day.date()})"))
        if amount < 0 and row["item"] != OpeningItem.SETTLEMENT.value:
            problems.append(Problem(*where, "amount", str(amount),
                                    "negative; only a settlement balance may be negative"))
    if opening["cut_over_date"].nunique() > 1:
        problems.append(Problem(source, sheet, None, "cut_over_date", None,
                                "more than one cut-over date; expected the same date on every row"))
    if problems:
        raise LoadError(problems)
