"""Schema validation of the loaded tables and problem collection (one path for CSV, workbook and Excel ranges).

Every check comes from atlas_xl.domain.schemas. Validation is lazy: every problem is collected as a `Problem`
(row = the row the user sees, header = 1) in `_Problems`, and ONE `LoadError` lists them all (`_build`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from atlas_xl.domain.cell_text import UNWRITABLE_RE2, joined_text
from atlas_xl.domain.model import TABLES, Portfolio
from atlas_xl.domain.schemas import SCHEMAS, ColumnSpec, TableSchema
from atlas_xl.errors import LoadError, Problem
from atlas_xl.inputs.cells import _cell_text, _clipped, shown_text
from atlas_xl.inputs.convert import (
    _CONVERTERS,
    _DICT_KINDS,
    Column,
    Conversion,
    Converter,
    Issues,
    _expected,
    _np,
    _typed_converter,
)

MAX_LISTED = 10  # problems listed per table, column and kind; the rest are counted in one line


@dataclass
class _Raw:
    """One table as read: every cell as text ("" when blank), and the user's row number of each row."""

    table: str
    data: pa.Table
    rows: np.ndarray
    file: str
    sheet: str | None
    column_labels: dict[str, str] = field(default_factory=dict)  # blank header -> "column F"


class _Problems:
    """Collects problems, listing at most MAX_LISTED per (table, column, kind) and counting the rest."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.items.append(problem)

    def add_rows(self, raw: _Raw, column: str, mask: np.ndarray, values: pa.Array, message: str) -> None:
        if not mask.any():
            return
        hits = np.flatnonzero(mask)
        for i in hits[:MAX_LISTED]:
            value = values[int(i)].as_py()
            self.items.append(Problem(raw.file, raw.sheet, int(raw.rows[i]), column,
                                      _clipped(value if isinstance(value, str) else _cell_text(value)),
                                      message))
        if hits.size > MAX_LISTED:
            self.items.append(Problem(raw.file, raw.sheet, None, column, None,
                                      f"{hits.size - MAX_LISTED} more row(s) with the same problem "
                                      f"({hits.size} in total): {message}"))


class _Checked(NamedTuple):
    """One table checked on its own: the raw table (blank rows dropped) and its columns as _convert_columns
    gives them."""

    raw: _Raw
    values: dict[str, Column]  # converted values by column name
    valid: dict[str, np.ndarray]  # per row: the cell converted without a problem
    codes: dict[str, _Codes]  # the dictionary kinds' columns (every key column): one integer code per row


def _check_table(raw: _Raw, spec: TableSchema, problems: _Problems) -> _Checked | None:
    """One table on its own: blank rows dropped, header checked, every column converted; None when the header
    is unusable."""
    raw = _drop_blank_rows(raw)
    if not _check_header(raw, spec, problems):
        return None
    return _Checked(raw, *_convert_columns(raw, spec, problems))


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array (a worksheet's columns are one chunk already; a CSV's are many)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _build(raws: Mapping[str, _Raw | None], problems: _Problems, sources: Mapping[str, str]) -> Portfolio:
    frames: dict[str, pd.DataFrame] = {}
    keys: dict[str, pa.Array] = {}
    checked: dict[str, _Checked] = {}
    for table in TABLES:
        raw = raws.get(table)
        if raw is None:
            continue
        spec = SCHEMAS[table]
        one = _check_table(raw, spec, problems)
        if one is None:
            continue
        raw, values, valid, codes = checked[table] = one
        if raw.data.num_rows < spec.min_rows:  # an empty table has no cell problems to list before this
            problems.add(Problem(raw.file, raw.sheet, None, None, None,
                                 f"no data rows; expected at least {spec.min_rows} {table} row"))
        if table == "clients" and "client_id" in values:
            keys["clients"] = pc.filter(values["client_id"], pa.array(valid["client_id"]))
    _check_totals(checked, problems)
    refused: list[pd.DataFrame] = []
    for table, (raw, values, valid, codes) in checked.items():
        spec = SCHEMAS[table]
        _check_keys(raw, spec, values, valid, codes, problems)
        if "clients" in keys:
            for column, target in spec.references.items():
                if column in codes:  # each distinct id looked up once
                    known = _np(pc.is_in(pa.array(codes[column].values, type=pa.string()),
                                         value_set=keys["clients"]))
                    unknown = valid[column] & ~known[codes[column].row]
                elif column in values:
                    unknown = valid[column] & ~pc.is_in(values[column], value_set=keys["clients"]).to_numpy(
                        zero_copy_only=False)
                else:
                    continue
                problems.add_rows(raw, column, unknown, values[column],
                                  f"unknown client id; expected a {target} from the clients table")
        frames[table], table_refused = _to_frame(raw, spec, values)
        if table_refused is not None:
            refused.append(table_refused)
    if problems.items:
        raise LoadError(problems.items)
    portfolio = Portfolio(clients=frames["clients"], settlements=frames["settlements"], loans=frames["loans"],
                          reserve_terms=frames["reserve_terms"], sources=tuple((t, sources[t]) for t in TABLES))
    if refused:
        portfolio = replace(portfolio, refused=pd.concat(refused, ignore_index=True) if len(refused) > 1
                            else refused[0])
    return portfolio


# Every amount of every table together stays below this, so any total or difference the engines form from
# them (a portfolio's payouts, exposure, ledger columns) fits int64 exactly instead of wrapping around.
TOTAL_LIMIT_CENTS = 2**62


def _check_totals(checked: Mapping[str, _Checked], problems: _Problems) -> None:
    amounts = {(table, col.name): values[col.name] for table, (_raw, values, _valid, _codes) in checked.items()
               for col in SCHEMAS[table].columns
               if col.kind == "amount" and isinstance(values.get(col.name), np.ndarray) and values[col.name].size}
    # the usual data ends here: its largest amount times its rows is far below the limit
    bound = sum(max(abs(float(np.fmax.reduce(cents))), abs(float(np.fmin.reduce(cents)))) * cents.size
                for cents in amounts.values())
    if bound < TOTAL_LIMIT_CENTS:
        return
    totals = {key: float(np.abs(cents).sum(dtype=np.float64)) for key, cents in amounts.items()}
    everything = sum(totals.values())
    if everything < TOTAL_LIMIT_CENTS:
        return
    table, column = max(totals, key=totals.__getitem__)
    raw = checked[table].raw
    problems.add(Problem(raw.file, raw.sheet, None, column, None,
                         f"the amounts of all tables add up to {everything / 100:,.0f} EUR ({table}.{column}: "
                         f"{totals[(table, column)] / 100:,.0f} EUR); the engines total at most "
                         f"{TOTAL_LIMIT_CENTS // 100:,} EUR to the cent"))


def _blank_cells(column: pa.Array | pa.ChunkedArray) -> pa.BooleanArray | pa.ChunkedArray:
    """Blank: text that is empty after trimming, or a missing typed value."""
    if isinstance(column, pa.ChunkedArray) and pa.types.is_dictionary(column.type):
        return pa.chunked_array([_blank_cells(chunk) for chunk in column.chunks], type=pa.bool_())
    if pa.types.is_dictionary(column.type):  # each distinct value once; a missing code is a blank cell
        return pc.fill_null(_blank_cells(column.dictionary).take(column.indices), True)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.is_null(column, nan_is_null=True)


def _drop_blank_rows(raw: _Raw) -> _Raw:
    if raw.data.num_columns == 0 or raw.data.num_rows == 0:
        return raw
    # only a row whose first cell is blank can be a blank row: check the others on those rows alone
    first = raw.data.column(0)
    if pa.types.is_dictionary(first.type) and not any(  # coded ids: no blank id at all, the usual case
            chunk.indices.null_count or pc.any(_blank_cells(chunk.dictionary)).as_py() for chunk in first.chunks):
        return raw
    mask = _np(_blank_cells(first))
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        return raw
    subset = raw.data.take(pa.array(candidates))
    for column in subset.columns[1:]:
        mask[candidates] &= _np(_blank_cells(column))
    if not mask.any():
        return raw
    keep = ~mask
    return _Raw(raw.table, raw.data.filter(pa.array(keep)), raw.rows[keep], raw.file, raw.sheet,
                raw.column_labels)


def _check_header(raw: _Raw, spec: TableSchema, problems: _Problems) -> bool:
    present = list(raw.data.column_names)
    missing = [c for c in spec.column_names if c not in present]
    expected = ",".join(spec.column_names)
    for column in missing:
        problems.add(Problem(raw.file, raw.sheet, 1, column, None,
                             f"missing column '{column}'; expected the header {expected}"))
    for column in present:
        if column in spec.column_names:
            continue
        label = raw.column_labels.get(column)
        if label is not None:  # a blank header: fine when the whole column is blank too
            if pc.any(pc.invert(_blank_cells(raw.data[column]))).as_py():
                problems.add(Problem(raw.file, raw.sheet, 1, label, None,
                                     "values under a blank header; expected only the columns " + expected))
            continue
        problems.add(Problem(raw.file, raw.sheet, 1, shown_text(column), shown_text(column),
                             f"unexpected column; expected only the columns {expected}"))
    if len(missing) == len(spec.column_names):
        problems.add(Problem(raw.file, raw.sheet, 1, None, shown_text(",".join(present)[:200]),
                             f"header row missing or wrong; expected the header {expected}"))
        return False
    return True



def _convert_columns(raw: _Raw, spec: TableSchema,
                     problems: _Problems) -> tuple[dict[str, Column], dict[str, np.ndarray], dict[str, _Codes]]:
    """Check and convert every declared column; returns converted values, a per-row 'valid' mask, and for the
    dictionary kinds (every key column) one integer code per row: equal codes <=> equal converted values.

    Columns are independent and their work is Arrow / numpy kernels that release the GIL, so a large table's
    columns are converted on a few threads; problems are still reported in column order."""
    present = [col for col in spec.columns if col.name in raw.data.column_names]
    if raw.data.num_rows >= _THREADED_FROM and len(present) > 1:
        with ThreadPoolExecutor(max_workers=min(len(present), os.cpu_count() or 1)) as pool:
            results = list(pool.map(lambda col: _convert_column(raw, col), present))
    else:
        results = [_convert_column(raw, col) for col in present]
    values: dict[str, Column] = {}
    valid: dict[str, np.ndarray] = {}
    codes: dict[str, _Codes] = {}
    for col, (text, converted, ok, blank, issues, code) in zip(present, results, strict=True):
        if col.required:
            problems.add_rows(raw, col.name, blank, text, f"required; {_expected(col)}")
        for mask, message in issues:
            problems.add_rows(raw, col.name, mask, text, message)
        values[col.name] = converted
        valid[col.name] = ok
        if code is not None:
            codes[col.name] = code
    return values, valid, codes


_THREADED_FROM = 200_000  # rows; below this a thread pool costs more than it saves


@dataclass(frozen=True)
class _Codes:
    """A dictionary kind's column as one integer code per row and the converted value of each code."""

    row: np.ndarray
    values: np.ndarray


class _Converted(NamedTuple):
    """One column converted."""

    text: pa.Array  # the cells as read
    values: Column
    ok: np.ndarray
    blank: np.ndarray
    issues: Issues
    codes: _Codes | None


def _convert_column(raw: _Raw, col: ColumnSpec) -> _Converted:
    """One column: the cells as read, converted values, ok, blank, [(mask, message)], and for a dictionary
    kind its codes."""
    text = _one_array(raw.data[col.name])
    coded = pa.types.is_dictionary(text.type)  # read so by the CSV reader or raw_table: a code per row
    if coded and (col.kind not in _DICT_KINDS or text.indices.null_count):
        text, coded = text.dictionary_decode(), False
    typed = _typed_converter(col, text.type.value_type if coded else text.type)
    convert = typed or _CONVERTERS[col.kind]
    if typed is None and (col.kind in _TEXT_KINDS or col.name in _ACCOUNT_COLUMNS):
        convert = _refusing_unwritable(convert)
    if col.kind not in _DICT_KINDS:
        text = text if typed else pc.cast(text, pa.string())
        return _Converted(text, *convert(col, text), None)
    # 3.65 M settlement rows hold ~365 dates and ~10,000 ids: check the distinct values, then expand
    if not coded:
        text = text if typed else pc.cast(text, pa.string())
        encoded = pc.dictionary_encode(text, null_encoding="encode")  # a missing typed cell: one more entry
    elif typed is None and not pa.types.is_string(text.type.value_type):
        encoded = pa.DictionaryArray.from_arrays(text.indices, pc.cast(text.dictionary, pa.string()))
    else:
        encoded = text
    index = encoded.indices.to_numpy(zero_copy_only=False)  # int32: 4 bytes a row, not 8
    converted, ok, blank, issues = convert(col, encoded.dictionary)
    distinct = converted if isinstance(converted, np.ndarray) else converted.to_numpy(zero_copy_only=False)
    if _all_different(converted):  # the usual case: each raw value converts to a value of its own
        code = _Codes(index, distinct)
    else:  # " C1" and "C1" are one id once trimmed: one code for both
        unique_codes, uniques = pd.factorize(distinct, use_na_sentinel=False)
        code = _Codes(unique_codes[index], uniques)
    converted = converted[index] if isinstance(converted, np.ndarray) else converted.take(encoded.indices)
    # gathers over millions of rows only where a distinct value is bad or blank (the rare case)
    ok = np.ones(len(index), dtype=bool) if ok.all() else ok[index]
    blank = np.zeros(len(index), dtype=bool) if not blank.any() else blank[index]
    issues = [(mask[index], message) for mask, message in issues if mask.any()]
    return _Converted(text, converted, ok, blank, issues, code)


_TEXT_KINDS = ("id", "text", "country", "currency", "enum")
_ACCOUNT_COLUMNS = ("iban", "bic")  # text whatever their declared kind: they go into the reports and SEPA files


def _refusing_unwritable(convert: Converter) -> Converter:
    """`convert` plus the rule of every text column: no character that an xlsx cell (XML 1.0) cannot hold
    (xlsafe.UNWRITABLE_RE2: C0 controls other than tab, LF and CR; U+FFFE, U+FFFF). A report or reviewer list
    would fail on it long after the load, perhaps after the payout was made. Such a cell gets this problem
    alone, not also the kind's own (a control character is why an id does not match, or a code is blank).
    One regex run over the column's whole buffer finds that the usual column is clean."""

    def checked(col: ColumnSpec, text: pa.Array) -> Conversion:
        converted, ok, blank, issues = convert(col, text)
        if not len(text) or not pc.match_substring_regex(joined_text(text), UNWRITABLE_RE2)[0].as_py():
            return converted, ok, blank, issues
        first = pc.struct_field(pc.extract_regex(text, f"(?P<char>{UNWRITABLE_RE2})"), [0])  # null: clean
        bad = _np(pc.is_valid(first))
        refused: Issues = []
        for char in sorted(pc.unique(first.drop_null()).to_pylist()):
            what = "control character" if char < " " else "non-character"
            refused.append((_np(pc.fill_null(pc.equal(first, char), False)),
                            f"contains the {what} U+{ord(char):04X}, which a spreadsheet cell cannot hold; "
                            "expected printable text"))
        return converted, ok & ~bad, blank & ~bad, [*refused, *((mask & ~bad, message) for mask, message in issues)]

    return checked


def _all_different(values: np.ndarray | pa.Array) -> bool:
    """No two values equal (a missing value counts once, as an entry of its own)."""
    if isinstance(values, np.ndarray):  # dates; NaT equals NaT in both, as in pd.factorize
        return len(pd.unique(values) if values.dtype == object else np.unique(values)) == len(values)
    return pc.count_distinct(values, mode="all").as_py() == len(values)



def _check_keys(raw: _Raw, spec: TableSchema, values: dict[str, Column], valid: dict[str, np.ndarray],
                codes: dict[str, _Codes], problems: _Problems) -> None:
    if any(k not in values for k in spec.key):
        return
    usable = np.logical_and.reduce([valid[k] for k in spec.key])
    for k in spec.key:
        if k not in codes:  # every key column is a dictionary kind today; stay correct if one is not
            value = values[k]
            codes[k] = _Codes(*pd.factorize(value if isinstance(value, np.ndarray)
                                            else value.to_numpy(zero_copy_only=False)))
    if _keys_distinct([codes[k].row for k in spec.key], usable):
        return
    keyframe = pd.DataFrame({k: codes[k].row for k in spec.key})[usable]
    dupes = keyframe.duplicated(keep="first")
    if not dupes.any():
        return
    positions = np.flatnonzero(usable)
    key_rows = pd.Series(raw.rows[positions], index=keyframe.index)
    clash = keyframe.duplicated(keep=False)
    first_row = key_rows[clash].groupby([keyframe.loc[clash, k] for k in spec.key]).transform("min")
    mask = np.zeros(raw.data.num_rows, dtype=bool)
    mask[positions[dupes.to_numpy()]] = True
    dupe_index = np.flatnonzero(mask)
    for i in dupe_index[:MAX_LISTED]:
        key_text = ", ".join(f"{k}={_key_text(values[k], i)}" for k in spec.key)
        problems.add(Problem(raw.file, raw.sheet, int(raw.rows[i]), spec.key[0], key_text,
                             f"duplicate key ({', '.join(spec.key)}); first on row {int(first_row.loc[i])}"))
    if dupe_index.size > MAX_LISTED:
        problems.add(Problem(raw.file, raw.sheet, None, spec.key[0], None,
                             f"{dupe_index.size - MAX_LISTED} more duplicate key row(s) "
                             f"({dupe_index.size} in total)"))


def _keys_distinct(key_codes: list[np.ndarray], usable: np.ndarray) -> bool:
    """True when no two usable rows share a key, by counting mixed-radix key numbers (one O(n) pass; the
    3.65 M settlement keys span ~10,000 ids x 365 days). False means: look closer (or a key space too big)."""
    rows = int(usable.sum())
    sizes = [int(c.max()) + 1 if len(c) else 1 for c in key_codes]
    if int(np.prod(sizes, dtype=object)) > 8 * rows + 1_000_000:
        return False
    number = key_codes[0].astype(np.int64)
    for code, size in zip(key_codes[1:], sizes[1:], strict=True):
        number *= size
        number += code
    if not usable.all():
        number = number[usable]
    return bool(np.bincount(number).max(initial=0) <= 1)


def _key_text(value: Column, i: int) -> str:
    if isinstance(value, np.ndarray):
        item = value[i]
        return str(item.astype("datetime64[D]")) if value.dtype.kind == "M" else str(item)
    return str(value[int(i)].as_py())


def _to_frame(raw: _Raw, spec: TableSchema, values: dict[str, Column]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    columns: dict[str, Column] = {}
    for col in spec.columns:
        value = values.get(col.name)
        if value is not None:
            columns[col.loaded_name] = value
    columns["source_row"] = raw.rows.astype(np.int64)
    refused = None
    if spec.name == "settlements" and "currency" in columns:
        foreign = _np(pc.not_equal(columns["currency"], "EUR"))
        if foreign.any():  # Arrow's string kernels: a handful of rows or a million cost the same few calls
            gone = pa.array(np.flatnonzero(foreign))
            # the row's date and sales, so the list of refused rows says which money was left out (issue 20)
            day = pa.array(np.asarray(columns["value_date"])[foreign].astype("datetime64[D]").astype(str))
            sales = np.asarray(columns["sales_cents"])[foreign]
            amount = pa.array((pd.Series(sales // 100).map("{:,}".format)
                               + "." + pd.Series(sales % 100).astype(str).str.zfill(2)).tolist(), pa.string())
            currency = pc.take(columns["currency"], gone).cast(pa.string())
            reason = pc.binary_join_element_wise(
                "currency ", currency, " is not EUR: only EUR settlements are processed (no FX conversion); "
                "value date ", day, ", sales ", amount, " ", currency, "")
            refused = pd.DataFrame({
                "table": pd.array(pa.repeat("settlements", len(gone)), dtype="str"),
                "source_row": columns["source_row"][foreign],
                "client_id": pd.array(pc.take(columns["client_id"], gone), dtype="str"),
                "reason": pd.array(reason, dtype="str"),
            }, copy=False)
            columns = _rows_where(columns, ~foreign)
    return _frame(columns), refused


def _rows_where(columns: dict[str, Column], mask: np.ndarray) -> dict[str, Column]:
    """The rows of every column where `mask` holds (numpy and Arrow columns; the mask made Arrow once)."""
    arrow_mask = pa.array(mask)
    return {name: value[mask] if isinstance(value, np.ndarray) else pc.filter(value, arrow_mask)
            for name, value in columns.items()}


def _frame(columns: dict[str, Column]) -> pd.DataFrame:
    """The loaded frame: text as pandas' Arrow-backed str, numbers and dates as the numpy arrays themselves
    (copy=False: 3.65 M-row columns are not copied into one block)."""
    return pd.DataFrame({name: value if isinstance(value, np.ndarray) else pd.array(value, dtype="str")
                         for name, value in columns.items()}, copy=False)


def single_table(raw: _Raw, spec: TableSchema, problems: _Problems) -> pd.DataFrame:
    """One table checked on its own (no other table to check references against): its frame, or one LoadError
    listing every problem found in it."""
    checked = _check_table(raw, spec, problems)
    if checked is None:
        raise LoadError(problems.items)
    raw, values, valid, codes = checked
    _check_keys(raw, spec, values, valid, codes, problems)
    if problems.items:
        raise LoadError(problems.items)
    return _to_frame(raw, spec, values)[0]
