"""The journal export's files: the general-ledger journal lines and the client-money (safeguarding) summary,
as CSV (amounts as EUR with two decimals, plus the integer cents) or one .xlsx workbook with two sheets.

File names carry the export id and the period: `journal-J3-2024-03-01-2024-03-31.csv` (+ `safeguarding-...`).
Every file goes through the atomic writer (outputs.files.replacing).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from atlas_xl.domain.money import cents_to_decimal
from atlas_xl.outputs.files import replacing, safe_output_dir, write_atomic
from atlas_xl.outputs.xlsafe import csv_safe, set_value


def _with_euros(frame: pd.DataFrame, export_id: str) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "export_id", export_id)
    if "day" in out.columns:
        out["day"] = pd.to_datetime(out["day"]).dt.strftime("%Y-%m-%d")
    for column in [c for c in out.columns if c.endswith("_cents")]:
        out[column.removesuffix("_cents")] = [f"{cents_to_decimal(int(v)):.2f}" for v in out[column]]
    return out


def write_journal(out: Path, export_id: str, first: str, last: str, lines: pd.DataFrame,
                  safeguarding: pd.DataFrame, fmt: str = "csv") -> list[Path]:
    """Write the journal and the safeguarding summary into `out`; returns the paths written."""
    folder = safe_output_dir(out)
    stem = f"{export_id}-{first}-{last}"
    journal, guard = _with_euros(lines, export_id), _with_euros(safeguarding, export_id)
    if fmt == "xlsx":
        import openpyxl  # lazy: only this form needs it

        book = openpyxl.Workbook()
        for sheet, frame, title in ((book.active, journal, "Journal"), (book.create_sheet(), guard, "Safeguarding")):
            sheet.title = title
            for c, name in enumerate(frame.columns, start=1):
                set_value(sheet.cell(1, c), name)
            for r, row in enumerate(frame.itertuples(index=False), start=2):
                for c, value in enumerate(row, start=1):
                    set_value(sheet.cell(r, c), value if isinstance(value, str) else int(value))
        path = folder / f"journal-{stem}.xlsx"
        with replacing(path) as tmp:
            book.save(tmp)
        return [path]
    written = []
    for name, frame in (("journal", journal), ("safeguarding", guard)):
        buffer = io.StringIO()
        frame = frame.apply(lambda col: col.map(csv_safe) if col.dtype == object else col)
        frame.to_csv(buffer, index=False, lineterminator="\n")
        written.append(write_atomic(folder / f"{name}-{stem}.csv", buffer.getvalue().encode("utf-8")))
    return written
