"""The engine run behind the settlement worksheet functions (ATLAS_PAYOUT, ATLAS_RESERVE, ...).

Excel tables arrive as 2-D lists with a header row. They go through the file loader's validation
(`loader.portfolio_from_tables`), so a cell shows exactly the figure `atlas-xl run` reports for the same data
and refuses exactly what it refuses (non-EUR rows, unknown clients, duplicate keys). Before that, the few
Excel-only forms the loader (written for CSV text) does not know are normalised here: header case and
spaces, 1900-system serial dates, text numbers with thousands commas and percent rates.

Excel recalculates a column of formulas one cell at a time, each cell passing the same whole tables, so
engine runs are cached: a small LRU keyed by a digest of the table contents, the date and the settings.
The digest is taken over pickle bytes: equal bytes always mean equal contents (pickle round-trips), so a
hit is never wrong; at worst equal contents built differently miss the cache and recompute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import numpy as np
import pandas as pd

from atlas_xl import excel_args as xa
from atlas_xl.engine import EngineResult, run_engines
from atlas_xl.errors import ArgumentError, AtlasError
from atlas_xl.schemas import SCHEMAS
from atlas_xl.settings import Settings

T = TypeVar("T")

CACHE_SIZE = 8  # a workbook uses a handful of (date, thresholds) combinations at a time
SOURCE = "Excel"
_ID = re.compile(r"[A-Za-z0-9_-]{1,20}")
_TABLE_SHEET = {"clients": "Clients", "settlements": "Settlements", "loans": "Loans",
                "reserve_terms": "ReserveTerms"}
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


def digest(*parts: object) -> str:
    """Content key of the arguments (tables as Excel passed them, the date, the settings)."""
    return hashlib.blake2b(pickle.dumps(parts, protocol=5), digest_size=20).hexdigest()


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
    bad = ~np.isfinite(serial) | (serial < 1) | (serial >= xa.MAX_SERIAL + 1) | (np.floor(serial) == 60)
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        xa.serial_to_date(float(serial[where]), f"{label} row {int(rows[numeric][where])}")  # raises
    days = np.floor(serial).astype(np.int64)
    epoch = np.where(days < 60, np.datetime64("1899-12-31", "D"), np.datetime64("1899-12-30", "D"))
    out = values.copy()
    out[numeric] = list(pd.to_datetime(epoch + days.astype("timedelta64[D]")).to_pydatetime())
    return out


def raw_table(value: object, table: str) -> pd.DataFrame:
    """An Excel table (header row + rows) as the loader's raw frame, Excel-only forms normalised."""
    grid = xa.rows(value)
    if not grid:
        raise ArgumentError(f"{table} is empty; expected the whole table with its header row "
                            f"({_TABLE_SHEET[table]}[#All])")
    width = len(grid[0])
    if any(len(row) != width for row in grid):
        raise ArgumentError(f"{table} rows have different lengths; expected a rectangular range")
    header = [xa.header_name(h) for h in grid[0]]
    if not set(header) & set(SCHEMAS[table].column_names):
        shown = ", ".join(str(h) for h in grid[0][:4])
        raise ArgumentError(f"{table} first row ({shown[:60]}) is not its header; expected the whole table "
                            f"including the header row ({_TABLE_SHEET[table]}[#All])")
    frame = pd.DataFrame(grid[1:], columns=pd.Index(header, dtype=object), dtype=object)
    rows = np.arange(2, len(frame) + 2)
    for col in SCHEMAS[table].columns:
        if col.name not in frame.columns or not len(frame):
            continue
        values = frame[col.name].to_numpy(dtype=object)
        label = f"{table}.{col.name}"
        if col.kind == "date":
            frame[col.name] = _serial_dates(values, label, rows)
        elif col.kind in ("amount", "rate", "int"):
            frame[col.name] = _number_texts(values, label, col.kind == "rate", rows)
    return frame


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as 1001 arrives as 1001.0
    return "" if xa.is_blank(value) else str(value).strip()


def _reserve_only_clients(*frames: pd.DataFrame) -> pd.DataFrame:
    ids: set[str] = set()
    for frame in frames:
        if "client_id" in frame.columns:
            ids.update(_id_text(v) for v in pd.unique(frame["client_id"].to_numpy(dtype=object)))
    ids = {i for i in ids if _ID.fullmatch(i)}  # a bad id is reported on its own table's row
    if not ids:
        raise ArgumentError("settlements and reserve_terms name no client; expected the tables with their "
                            "header row and at least one settlement row")
    frame = pd.DataFrame({"client_id": sorted(ids)})
    for column, value in _RESERVE_ONLY_CLIENT.items():
        frame[column] = value
    return frame.astype(object)


# ---------------------------------------------------------------------------------------------- runs
def settings_with(settings: Settings, warning: int | None = None, breach: int | None = None) -> Settings:
    """The settings with the sheet's thresholds (ppm) in place of the configured ones."""
    return settings.with_thresholds(None if warning is None else warning / 1_000_000,
                                    None if breach is None else breach / 1_000_000)


def portfolio_run(clients: object, settlements: object, loans: object, reserve_terms: object,
                  as_of: dt.date, settings: Settings) -> EngineResult:
    """run_engines over the four tables (cached)."""
    from atlas_xl.loader import portfolio_from_tables

    def compute() -> EngineResult:
        tables = {"clients": raw_table(clients, "clients"), "settlements": raw_table(settlements, "settlements"),
                  "loans": raw_table(loans, "loans"), "reserve_terms": raw_table(reserve_terms, "reserve_terms")}
        return run_engines(portfolio_from_tables(tables, SOURCE), as_of, settings)

    return CACHE.get(digest("portfolio", clients, settlements, loans, reserve_terms, as_of, settings), compute)


def reserve_run(settlements: object, reserve_terms: object, as_of: dt.date, settings: Settings) -> EngineResult:
    """run_engines over settlements and reserve terms only (cached); only its reserve figures are used.

    A client's reserves depend on its own settlement rows and terms alone, and the day grid starts at the
    first settlement date in both runs, so these figures equal the full run's.
    """
    from atlas_xl.loader import portfolio_from_tables

    def compute() -> EngineResult:
        frames = {"settlements": raw_table(settlements, "settlements"),
                  "reserve_terms": raw_table(reserve_terms, "reserve_terms")}
        frames["clients"] = _reserve_only_clients(*frames.values())
        frames["loans"] = pd.DataFrame(columns=list(SCHEMAS["loans"].column_names), dtype=object)
        return run_engines(portfolio_from_tables(frames, SOURCE), as_of, settings)

    return CACHE.get(digest("reserves", settlements, reserve_terms, as_of, settings), compute)


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
