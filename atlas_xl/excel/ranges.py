"""The engine run behind the settlement worksheet functions (ATLAS_PAYOUT, ATLAS_RESERVE, ...).

Excel tables arrive as 2-D lists with a header row. They go through the file loader's validation
(`loader.portfolio_from_tables`), so a cell shows exactly the figure `atlas-xl run` reports for the same data
and refuses exactly what it refuses (non-EUR rows, unknown clients, duplicate keys). Before that, the few
Excel-only forms the loader (written for CSV text) does not know are normalised here: header case and
spaces, 1900-system serial dates, text numbers with thousands commas and percent rates.

Excel recalculates a column of formulas one cell at a time, each cell passing the same whole tables, so
engine runs are cached: a small LRU keyed by a digest of the table contents, the date and the settings.
The digest is taken over the tables exactly as the loader receives them (`raw_table`: Arrow columns of
float64 numbers, dates and ids coded by distinct value, or text): each column's type and buffers (for a coded
column its codes and its distinct values). An engine run depends on nothing else
of the cells (and on the date and the settings, also in the key), so a hit is never wrong; at worst equal
contents built differently (another offset) miss the cache and recompute.
"""

from __future__ import annotations

import datetime as dt
import pickle
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from atlas_xl.domain.model import CLIENT_ID_PATTERN, TABLE_SHEETS
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.engines.run import EngineResult, run_engines
from atlas_xl.errors import ArgumentError, AtlasError, LoadError, Problem
from atlas_xl.excel import args as xa
from atlas_xl.inputs.cells import column_array, shown_text, typed_exact
from atlas_xl.inputs.portfolio import portfolio_from_tables, table_from_frame
from atlas_xl.settings import Settings

T = TypeVar("T")

CACHE_SIZE = 8  # a workbook uses a handful of (date, thresholds) combinations at a time
SOURCE = "Excel"
_ID = re.compile(CLIENT_ID_PATTERN)
# a client that only exists so the loader accepts settlements / reserve terms without a clients table:
# its payout and exposure are never shown (only the reserve figures, which depend on nothing of it)
_RESERVE_ONLY_CLIENT = {"name": "reserve only", "country": "DE", "iban": "DE89370400440532013000", "bic": "",
                        "status": "active", "kyc_status": "verified", "credit_limit": 0.0,
                        "payout_frequency": "daily", "min_payout": 0.0, "factoring_withhold_rate": 0.0,
                        "opening_balance": 0.0}


# ---------------------------------------------------------------------------------------------- cache
class _Lru:
    """A small thread-safe LRU of engine results (and of the error a bad table gives, so a column of
    cells over a bad table validates it once too)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, object] = OrderedDict()
        self.lock = threading.Lock()
        self.misses = 0  # engine runs done (for tests: a column of formulas is one run)

    def get(self, key: str, compute: Callable[[], T]) -> T:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                found = self.items[key]
                if isinstance(found, BaseException):
                    raise found
                return found  # type: ignore[return-value]
        try:
            value: object = compute()
        except AtlasError as error:  # a bad table stays bad until its cells change: cache the message too
            value = error
        with self.lock:
            self.misses += 1
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        if isinstance(value, BaseException):
            raise value
        return value  # type: ignore[return-value]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.misses = 0


CACHE = _Lru(CACHE_SIZE)


# XXH3-128 reads ~20 GB/s (SHA-256 ~2 GB/s: 3 ms of a 100,000-row call). It is not a cryptographic hash, so
# the seed is drawn per process: nobody can build two tables that collide without knowing it, and two
# different tables collide by chance with probability ~2**-128. The key never leaves this process.
_SEED = secrets.randbits(64)


def digest(*parts: object) -> str:
    """Content key of the arguments (the loader's raw tables, the date, the settings)."""
    key = xxhash.xxh3_128(seed=_SEED)
    for part in parts:
        if isinstance(part, pa.Table):
            _table_digest(key, part)
        else:
            key.update(b"P" + pickle.dumps(part, protocol=5))
    return key.hexdigest()


def _table_digest(key: xxhash.xxh3_128, table: pa.Table) -> None:
    key.update(b"T" + pickle.dumps((table.column_names, table.num_rows), protocol=5))
    for column in table.columns:
        _array_digest(key, column.combine_chunks())


def _array_digest(key: xxhash.xxh3_128, array: pa.Array) -> None:
    key.update(b"C" + str(array.type).encode() + len(array).to_bytes(8, "little")
               + array.offset.to_bytes(8, "little") + len(array.buffers()).to_bytes(1, "little"))
    for buffer in array.buffers():  # validity bitmap, then offsets and data (or the values, or the codes)
        key.update(b"-" if buffer is None else b"B" + len(buffer).to_bytes(8, "little"))
        if buffer is not None:
            key.update(buffer)
    if pa.types.is_dictionary(array.type):  # the codes above, then what they stand for
        _array_digest(key, array.dictionary)


# ---------------------------------------------------------------------------------------------- tables
def _text_mask(values: np.ndarray) -> np.ndarray:
    return np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))



def _number_texts(values: np.ndarray, label: str, percent: bool, rows: np.ndarray) -> np.ndarray:
    """Text cells of a number column in the loader's plain form ("1,234.56" -> "1234.56", "5%" -> "0.05")."""
    out = values.copy()
    for i in np.flatnonzero(_text_mask(values)):  # text numbers are the exception in a number column
        text = str(values[i])
        if xa.is_blank(text):
            continue
        try:
            plain = xa.number_text(text, f"{label} row {int(rows[i])}", percent=percent)
        except ArgumentError:
            continue  # the loader reports it with the file/sheet/row/column it always uses
        if percent and text.strip().endswith("%"):
            plain = format(Decimal(plain) / 100, "f")
        out[i] = plain
    return out


def _serial_dates(values: np.ndarray, label: str, rows: np.ndarray) -> np.ndarray:
    """Serial-number cells of a date column -> datetimes (one vectorised step), other cells unchanged."""
    numeric = np.fromiter((type(v) is float or type(v) is int for v in values), dtype=bool, count=len(values))
    if not numeric.any():
        return values
    serial = values[numeric].astype(np.float64)
    bad = xa.bad_serials(serial)
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        xa.serial_to_date(float(serial[where]), f"{label} row {int(rows[numeric][where])}")  # raises
    out = values.copy()
    out[numeric] = list(pd.to_datetime(xa.serials_to_days(serial)).to_pydatetime())
    return out


def _grid(value: object) -> Sequence[Sequence[object]]:
    """xa.rows without copying a range that already is a sequence of row sequences (the usual case)."""
    if isinstance(value, list | tuple) and value and set(map(type, value)) <= {list, tuple}:
        return value
    return xa.rows(value)


def raw_table(value: object, table: str) -> pa.Table:
    """An Excel table (header row + rows) as the loader's raw columns, Excel-only forms normalised.

    Number columns of numbers go to the loader as float64 and date columns of datetimes as timestamps (both
    lossless), so it checks them typed; everything else as text, as a CSV would hold it
    (`loader.column_array` decides, for cells of every kind). Dates, ids and codes come coded by distinct
    value (Arrow dictionaries), as the loader checks them. The cache digest hashes these columns: what the
    loader sees is all an engine run depends on.
    """
    grid = _grid(value)
    if not grid:
        raise ArgumentError(f"{table} is empty; expected the whole table with its header row "
                            f"({TABLE_SHEETS[table]}[#All])")
    if len(set(map(len, grid))) != 1:
        raise ArgumentError(f"{table} rows have different lengths; expected a rectangular range")
    header = [xa.header_name(h) for h in grid[0]]
    if not set(header) & set(SCHEMAS[table].column_names):
        shown = ", ".join(str(h) for h in grid[0][:4])
        raise ArgumentError(f"{table} first row ({shown[:60]}) is not its header; expected the whole table "
                            f"including the header row ({TABLE_SHEETS[table]}[#All])")
    cells = _cell_grid(grid, len(header))[1:]  # the header row goes in too: a view past it, not a copied list
    kinds = {c.name: c.kind for c in SCHEMAS[table].columns}
    rows = np.arange(2, len(grid) + 1)
    try:
        return _raw_columns(cells, header, kinds, rows, table)
    except UnicodeEncodeError:  # a cell holds half of a UTF-16 pair: no text can carry it (Excel can)
        raise LoadError(_unpaired_surrogates(cells, header, table)) from None


def _unpaired_surrogates(cells: np.ndarray, header: list[str], table: str) -> list[Problem]:
    """Every text cell holding an unpaired surrogate, located (only looked for once a conversion failed)."""
    problems = []
    for (row, pos), cell in np.ndenumerate(cells):
        surrogate = _SURROGATE.search(cell) if isinstance(cell, str) else None
        if surrogate:
            problems.append(Problem("Excel", table, row + 2, header[pos], shown_text(cell),
                                    f"contains the unpaired surrogate U+{ord(surrogate.group()):04X}, which is not "
                                    f"text; retype the cell"))
    return problems or [Problem("Excel", table, None, None, None, "a cell cannot be read as text")]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _raw_columns(cells: np.ndarray, header: list[str], kinds: Mapping[str, str], rows: np.ndarray,
                 table: str) -> pa.Table:
    arrays = []
    for pos, name in enumerate(header):
        column, kind = cells[:, pos], kinds.get(name)
        if kind == "date":
            values = _date_column(column, f"{table}.{name}", rows)
        elif kind in ("amount", "rate", "int"):
            values = _number_column(column, f"{table}.{name}", kind == "rate", rows)
        elif kind in _CODED_KINDS:
            values = _coded_text_column(column)
        else:
            values = _text_column(column)
        arrays.append(values if isinstance(values, pa.Array) else column_array(pd.Series(values, copy=False), kind))
    return pa.Table.from_arrays(arrays, names=header)


def _cell_grid(rows: Sequence[Sequence[object]], width: int) -> np.ndarray:
    """The rows as one 2-D object array (a column is then a strided view, not a Python list per column)."""
    if _to_object_array is not None:
        return _to_object_array(rows, min_width=width)
    cells = np.empty((len(rows), width), dtype=object)
    for pos in range(width):
        cells[:, pos] = list(map(itemgetter(pos), rows))
    return cells


try:  # pandas' C transposition of a list of rows, 2x faster than a Python pass per column
    from pandas._libs.lib import to_object_array as _to_object_array  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a pandas without it: the Python pass
    _to_object_array = None


def _objects(cells: np.ndarray) -> np.ndarray:
    return np.array(cells, dtype=object)  # a contiguous copy: the converters below write into it


_NUMBERS = ("floating", "integer", "mixed-integer-float", "empty")  # infer_dtype: numbers and blanks only


def _text_column(cells: np.ndarray) -> object:
    """The loader's text when every cell is text or blank (a blank is "", as a CSV holds it); else object cells."""
    try:  # Arrow takes only str (and UTF-8 bytes, which Excel never sends) and None; a number stays an object
        return pa.array(cells, type=pa.string(), from_pandas=False).fill_null("")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return _objects(cells)


_CODED_KINDS = ("id", "country", "currency", "enum")  # few distinct texts (the loader's dictionary kinds)


def _coded_text_column(cells: np.ndarray) -> object:
    """Ids and codes as a dictionary of their distinct texts (the loader checks each distinct value once);
    a blank (None) cell is the empty text, as a CSV holds it. Cells of any other type: as _text_column."""
    codes, distinct = pd.factorize(cells)  # None (and NaN, NaT) -> -1
    missing = codes < 0
    if not set(map(type, distinct)) <= {str} or (
            missing.any() and any(v is not None for v in cells[missing])):
        return _text_column(cells)
    if missing.any():
        empty = np.flatnonzero(distinct == "")
        if empty.size == 0:
            distinct, empty = np.append(distinct, ""), np.array([len(distinct)])
        codes[missing] = empty[0]
    # factorize's codes (every blank now given an entry) are within range by construction: not re-checked
    return pa.DictionaryArray.from_arrays(codes.astype(np.int32), pa.array(distinct, type=pa.string()), safe=False)


def _number_column(cells: np.ndarray, label: str, percent: bool, rows: np.ndarray) -> object:
    """float64 when every cell is a number (blank -> NaN; Arrow's, with blanks missing, when the loader checks
    them typed); text numbers in plain form; else object cells."""
    inferred = pd.api.types.infer_dtype(cells, skipna=True)  # bool and text cells are neither of these
    if inferred in _NUMBERS:
        try:
            numbers = cells.astype(np.float64)  # None -> NaN
        except (TypeError, ValueError, OverflowError):
            numbers = None
        # ints must be exact as doubles; a float that is not exact is checked by its repr downstream, not here
        if numbers is not None and (inferred in ("floating", "empty") or not (np.abs(numbers) >= 2**53).any()):
            if typed_exact(numbers):  # as loader.column_array would make it, without a pandas Series between
                return pa.array(numbers, type=pa.float64(), from_pandas=True)
            return numbers
    values = _objects(cells)
    if inferred not in _NUMBERS and _text_mask(values).any():
        values = _number_texts(values, label, percent, rows)
    return values


def _date_column(cells: np.ndarray, label: str, rows: np.ndarray) -> object:
    """Days coded by distinct date when every cell is a date (blank -> null), serial numbers converted first;
    else object cells.

    A settlements table repeats ~365 dates over 100,000 rows: each distinct day is converted once."""
    kinds = set(map(type, cells))
    if kinds & {float, int}:  # Excel serial numbers (a NaN is refused there, as any bad serial)
        cells = _serial_dates(_objects(cells), label, rows)
        kinds = set(map(type, cells))
    if kinds <= {dt.datetime, pd.Timestamp, type(None)}:
        try:  # Arrow takes each cell's own calendar day (an aware one too, as its text has it): 6x its timestamps
            days = pc.dictionary_encode(pa.array(cells, type=pa.date32()), null_encoding="encode")
            return pa.DictionaryArray.from_arrays(days.indices, days.dictionary.cast(pa.timestamp("ns")))
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            pass  # past 2262 does not fit a timestamp (the checked cast refuses it): read from the cells' text
    return _objects(cells)


def table_frame(value: object, table: str) -> pd.DataFrame:
    """One Excel table on its own (ATLAS_PROJECTION's loans) -> the loaded engine frame, checked by the loader."""
    return table_from_frame(raw_table(value, table), table, SOURCE)


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as 1001 arrives as 1001.0
    return "" if xa.is_blank(value) else str(value).strip()


def _reserve_only_clients(*tables: pa.Table) -> pd.DataFrame:
    ids: set[str] = set()
    for table in tables:
        if "client_id" in table.column_names:  # the loader's text form: a number id is its shortest repr
            ids.update(v.strip() for v in pc.unique(table["client_id"]).to_pylist() if v is not None)
    ids = {i for i in ids if _ID.fullmatch(i)}  # a bad id is reported on its own table's row
    if not ids:
        raise ArgumentError("settlements and reserve_terms name no client; expected the tables with their "
                            "header row and at least one settlement row")
    frame = pd.DataFrame({"client_id": sorted(ids)})
    for column, value in _RESERVE_ONLY_CLIENT.items():
        frame[column] = pd.Series([value] * len(frame), dtype=object)
    return frame.astype(object)


# ---------------------------------------------------------------------------------------------- runs
def settings_with(settings: Settings, warning: int | None = None, breach: int | None = None) -> Settings:
    """The settings with the sheet's thresholds (ppm) in place of the configured ones."""
    return settings.with_thresholds(None if warning is None else warning / 1_000_000,
                                    None if breach is None else breach / 1_000_000)


def portfolio_run(clients: object, settlements: object, loans: object, reserve_terms: object,
                  as_of: dt.date, settings: Settings) -> EngineResult:
    """run_engines over the four tables (cached)."""
    tables = {"clients": raw_table(clients, "clients"), "settlements": raw_table(settlements, "settlements"),
              "loans": raw_table(loans, "loans"), "reserve_terms": raw_table(reserve_terms, "reserve_terms")}

    def compute() -> EngineResult:
        return run_engines(portfolio_from_tables(tables, SOURCE), as_of, settings)

    return CACHE.get(digest("portfolio", *tables.values(), as_of, settings), compute)


def reserve_run(settlements: object, reserve_terms: object, as_of: dt.date, settings: Settings) -> EngineResult:
    """run_engines over settlements and reserve terms only (cached); only its reserve figures are used.

    A client's reserves depend on its own settlement rows and terms alone, and the day grid starts at the
    first settlement date in both runs, so these figures equal the full run's.
    """
    frames = {"settlements": raw_table(settlements, "settlements"),
              "reserve_terms": raw_table(reserve_terms, "reserve_terms")}

    def compute() -> EngineResult:
        tables = {**frames, "clients": _reserve_only_clients(*frames.values()),
                  "loans": pd.DataFrame(columns=list(SCHEMAS["loans"].column_names), dtype=object)}
        return run_engines(portfolio_from_tables(tables, SOURCE), as_of, settings)

    return CACHE.get(digest("reserves", *frames.values(), as_of, settings), compute)


# ---------------------------------------------------------------------------------------------- lookups
def client_cells(value: object, name: str = "client_id") -> tuple[list[str], str]:
    """Client ids from a cell or a one-column / one-row range, and the shape to answer in.

    Shape: "cell" (answer a scalar), "column" or "row" (answer a range of the same orientation).
    """
    grid = xa.rows(value)
    if len(grid) == 1 and len(grid[0]) == 1:  # a cell or a 1x1 range
        return [_id_text(grid[0][0])], "cell"
    shape = "row" if len(grid) == 1 else "column"
    return [_id_text(v) for v in xa.column_values(grid, name)], shape


def per_client(frame: pd.DataFrame, ids: list[str], values: np.ndarray, shape: str,
               table: str = "clients") -> object:
    """`values` (aligned to `frame`'s client_id) looked up for `ids`; answered in the shape asked.

    A blank id in a range answers "" (ranges often run past the data); an unknown id answers a message.
    """
    if shape == "cell" and ids[0] == "":
        raise ArgumentError("client_id is blank; expected a client id such as C00001")
    wanted = np.asarray(ids, dtype=object)
    position = pd.Index(frame["client_id"].to_numpy(dtype=object)).get_indexer(wanted)
    # position -1 (not found, or a blank id) picks the "" appended last
    choices = np.empty(len(values) + 1, dtype=object)
    choices[:-1] = list(np.asarray(values).tolist())
    choices[-1] = ""
    out = choices[position]
    unknown = (position < 0) & (wanted != "")
    for i in np.flatnonzero(unknown):  # the few mistyped ids, each with its own message
        out[i] = xa.excel_error(ArgumentError(f"client_id {ids[i]!r} is not in the {table} table"))
    if shape == "cell":
        if unknown[0]:
            raise ArgumentError(f"client_id {ids[0]!r} is not in the {table} table")
        return out[0]
    if shape == "row":
        return [out.tolist()]
    return [[v] for v in out.tolist()]
