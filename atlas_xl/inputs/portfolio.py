"""Load and validate the four input tables (CSV folder, .xlsx/.xlsm workbook or in-memory Excel ranges): the
public entry points. One validation path (validate._build) for all three sources.

CSV cells arrive as text (csv_files). Cells from a workbook (workbook_files) or an Excel range arrive typed;
a number or date column whose every cell is a number (a date) stays typed (float64 / timestamp) and is
checked by the typed converters (convert); any other column becomes CSV text (cells._cell_text) first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from atlas_xl.domain.model import TABLES, Portfolio
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.errors import LoadError, Problem
from atlas_xl.inputs.cells import _NUMBER_KINDS, _cell_text, _column_letter, column_array, typed_exact
from atlas_xl.inputs.csv_files import _read_csv
from atlas_xl.inputs.validate import _build, _one_array, _Problems, _Raw, single_table
from atlas_xl.inputs.workbook_files import _read_workbook


def load_portfolio(path: str | Path) -> Portfolio:
    """Load a folder of the four CSV files or an .xlsx/.xlsm workbook with the four sheets."""
    path = Path(path)
    if path.is_dir():
        return _load_csv_folder(path)
    if not path.exists():
        raise LoadError([Problem(str(path), None, None, None, None,
                                 "no such file or folder; expected a folder of the four CSV files or an .xlsx")])
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        tables, formulas = _read_workbook(path)
        try:
            portfolio = portfolio_from_tables(tables, source=path.name)
        except LoadError as error:  # a formula cell's own problem in place of "required" for its blank
            cells = {(p.sheet, p.row, p.column) for p in formulas}
            raise LoadError([*formulas, *(p for p in error.problems if (p.sheet, p.row, p.column) not in cells)]
                            ) from None
        if formulas:  # not expected (each is a blank required cell), but never load past one
            raise LoadError(formulas)
        return portfolio
    raise LoadError([Problem(path.name, None, None, None, path.suffix,
                             "unsupported input; expected a folder of CSV files or an .xlsx/.xlsm workbook")])


def portfolio_from_tables(tables: Mapping[str, pd.DataFrame], source: str = "workbook") -> Portfolio:
    """Validate raw tables already in memory (header as columns; cells str/float/int/datetime/None).

    Row numbers in problems: a frame with an integer index other than the default 0..n-1 carries the
    sheet row numbers in it (as atlas_xl.excel.args.table builds them); otherwise the header is row 1 and
    the frame's rows follow from row 2, as on a sheet whose range starts at A1. An all-blank row is
    skipped but still counted.
    """
    raws: dict[str, _Raw | None] = {}
    problems = _Problems()
    for table in TABLES:
        if table not in tables:
            problems.add(Problem(source, table, None, None, None,
                                 f"sheet/table '{table}' is missing; expected the sheets {', '.join(TABLES)}"))
            raws[table] = None
            continue
        raws[table] = _raw_from_frame(tables[table], table, source, problems)
    return _build(raws, problems, {t: f"{source}, sheet {t}" for t in TABLES})


def table_from_frame(frame: pd.DataFrame, table: str, source: str = "workbook") -> pd.DataFrame:
    """Validate ONE raw table on its own (no other table to check its references against): the loaded frame,
    or one LoadError listing every problem. Used where a single table is the whole input (ATLAS_PROJECTION)."""
    problems = _Problems()
    raw = _raw_from_frame(frame, table, source, problems)
    if raw is None:
        raise LoadError(problems.items)
    spec = SCHEMAS[table]
    return single_table(raw, spec, problems)



def _raw_from_frame(frame: pd.DataFrame | pa.Table, table: str, source: str, problems: _Problems) -> _Raw | None:
    """A frame of cells (or a pyarrow Table of columns as `column_array` gives them) as the loader's raw table."""
    labels: dict[str, str] = {}
    names: list[str] = []
    for pos, name in enumerate(frame.column_names if isinstance(frame, pa.Table) else frame.columns):
        text = _cell_text(name).strip()
        if not text:
            text = f"(blank header {pos + 1})"
            labels[text] = f"column {_column_letter(pos)}"
        names.append(text)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        problems.add(Problem(source, table, 1, dupes[0], None, f"duplicate column header(s) {dupes}"))
        return None
    kinds = {c.name: c.kind for c in SCHEMAS[table].columns}
    if isinstance(frame, pa.Table):
        columns = {name: _arrow_column(column, kinds.get(name))
                   for name, column in zip(names, frame.columns, strict=True)}
        rows = np.arange(2, frame.num_rows + 2, dtype=np.int64)
    else:
        columns = {name: column_array(series, kinds.get(name))
                   for name, (_, series) in zip(names, frame.items(), strict=True)}
        rows = _row_numbers(frame.index)
    data = pa.table(columns) if columns else pa.table({})
    return _Raw(table, data, rows, source, table, labels)


def _arrow_column(column: pa.ChunkedArray, kind: str | None) -> pa.Array:
    """An Arrow column taken as it is when it has a form `column_array` gives; else read from its cells."""
    array = _one_array(column)
    value_type = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if pa.types.is_string(value_type):
        return array
    if kind == "date" and value_type == pa.timestamp("ns"):
        return array
    if kind in _NUMBER_KINDS and pa.types.is_float64(array.type) and typed_exact(
            array.to_numpy(zero_copy_only=False)):
        return array
    return column_array(column.to_pandas(), kind)



def _row_numbers(index: pd.Index) -> np.ndarray:
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    if not default and pd.api.types.is_integer_dtype(index.dtype) and index.is_unique and (
            len(index) == 0 or index.min() >= 2):
        return index.to_numpy(dtype=np.int64)
    return np.arange(2, len(index) + 2, dtype=np.int64)



def _load_csv_folder(folder: Path) -> Portfolio:
    problems = _Problems()
    raws: dict[str, _Raw | None] = {}
    for table in TABLES:
        raws[table] = _read_csv(folder / f"{table}.csv", SCHEMAS[table], problems)
    return _build(raws, problems, {t: f"{t}.csv" for t in TABLES})


