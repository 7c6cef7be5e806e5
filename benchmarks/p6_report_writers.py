"""P6 - the report's table sheets: openpyxl's private row hook (today's path) against the public alternatives.

Issue #15 asked to measure the report's fast path (openpyxl write-only sheets whose rows are written as XML
text through `outputs/report/openpyxl_fast.SheetRows`, a private hook) against the public APIs: openpyxl's own
write-only `append` (the fallback the report takes when the hook is missing) and XlsxWriter's
`constant_memory` mode. All three write the same table sheets of the same engine result in the same run:

- fast: `write_report` as the product runs it (every sheet, charts and the Dashboard included);
- public openpyxl: `write_report` with the hook switched off (the report's tested fallback, same cells);
- XlsxWriter constant_memory: ONLY the table sheets (each table's header and data rows with its number
  formats; no Dashboard, charts, notes, filters or totals), so its time is a lower bound of a whole report.

    python benchmarks/p6_report_writers.py --quick     # 200 clients x 120 days
    python benchmarks/p6_report_writers.py             # 10,000 clients x 365 days (minutes)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # atlas_xl from the checkout

from common import best_of, data_dir  # noqa: E402

from atlas_xl.engines.run import run_engines  # noqa: E402
from atlas_xl.inputs.portfolio import load_portfolio  # noqa: E402
from atlas_xl.outputs.report import layout, openpyxl_fast  # noqa: E402

FORMATS = {"money": "#,##0.00", "percent": "0.00%", "date": "yyyy-mm-dd", "int": "0"}


def recorded_tables(result: object, folder: Path) -> list[tuple[str, pd.DataFrame, list[layout.Col]]]:
    """The (title, frame, columns) of every table sheet `write_report` writes, in its order."""
    tables: list[tuple[str, pd.DataFrame, list[layout.Col]]] = []
    original = layout.ReportWriter.table

    def recording(self: layout.ReportWriter, title: str, frame: pd.DataFrame, columns: list[layout.Col],
                  **kwargs: object) -> object:
        tables.append((title, frame, list(columns)))
        return original(self, title, frame, columns, **kwargs)

    with mock.patch.object(layout.ReportWriter, "table", recording):
        layout.write_report(result, folder / "recorded.xlsx", "benchmark")  # type: ignore[arg-type]
    return tables


def xlsxwriter_tables(tables: list[tuple[str, pd.DataFrame, list[layout.Col]]], path: Path) -> int:
    """The table sheets through XlsxWriter's constant_memory mode: header row, then each data row."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False, "strings_to_numbers": False})
    formats = {kind: book.add_format({"num_format": text}) for kind, text in FORMATS.items()}
    header = book.add_format({"bold": True})
    cells = 0
    for title, frame, columns in tables:
        ws = book.add_worksheet(title[:31])
        ws.write_row(0, 0, [c.header for c in columns], header)
        prepared = []
        for col in columns:
            series = frame[col.source]
            if col.kind == "money":
                prepared.append((series.to_numpy(dtype=np.float64) / 100, formats["money"]))
            elif col.kind == "percent":
                prepared.append((series.to_numpy(dtype=np.float64) / 1_000_000, formats["percent"]))
            elif col.kind == "date":
                prepared.append((pd.to_datetime(series).astype(object).to_numpy(), formats["date"]))
            elif col.kind == "int":
                prepared.append((series.to_numpy(), formats["int"]))
            else:
                prepared.append((series.astype(str).to_numpy(), None))
        for i in range(len(frame)):  # constant_memory: rows strictly in order
            for j, (values, number_format) in enumerate(prepared):
                value = values[i]
                if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
                    continue  # an empty cell, as the report leaves it
                ws.write(i + 1, j, value, number_format)
        cells += len(frame) * len(columns)
    book.close()
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    clients, days = (200, 120) if args.quick else (10_000, 365)
    result = run_engines(load_portfolio(data_dir(clients, days)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tables = recorded_tables(result, folder)
        rows = sum(len(frame) for _, frame, _ in tables)
        fast, _ = best_of(args.repeat, lambda: layout.write_report(result, folder / "fast.xlsx", "benchmark"))
        with mock.patch.object(openpyxl_fast, "fast_rows_available", lambda: False):
            public, _ = best_of(max(1, args.repeat // 3),
                                lambda: layout.write_report(result, folder / "public.xlsx", "benchmark"))
        xw, cells = best_of(max(1, args.repeat // 3), lambda: xlsxwriter_tables(tables, folder / "xw.xlsx"))
        sizes = {name: (folder / f"{name}.xlsx").stat().st_size for name in ("fast", "public", "xw")}
    print(f"P6 report writers: {clients:,} clients x {days} days; {len(tables)} table sheets, {rows:,} rows, "
          f"{cells:,} table cells")
    print(f"  fast path (openpyxl write-only + SheetRows hook), whole report : {fast:8.3f} s  "
          f"({sizes['fast'] / 1e6:.1f} MB)  baseline")
    print(f"  public openpyxl write-only append, whole report                : {public:8.3f} s  "
          f"({sizes['public'] / 1e6:.1f} MB)  {public / fast:.1f}x")
    print(f"  XlsxWriter constant_memory, table sheets only (a lower bound)   : {xw:8.3f} s  "
          f"({sizes['xw'] / 1e6:.1f} MB)  {xw / fast:.1f}x")
    verdict = "KEEP the fast path" if xw > fast else "XlsxWriter is faster: consider switching"
    print(f"  verdict: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
