"""The client x day grid the settlement engines work on: dense int64 matrices, one row per client.

Settlement rows are one per client per value date, so the natural vectorised form is a dense
matrix [client, day]; the engines then step over days with numpy operations across all clients at
once (never a Python loop over clients or rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from atlas_xl.domain import calendar
from atlas_xl.domain.model import PayoutFrequency


@dataclass(frozen=True)
class DayGrid:
    client_ids: np.ndarray  # object array, the row order of every matrix
    start: np.datetime64  # day 0 (datetime64[D])
    n_days: int  # day n_days - 1 is the as-of date

    @property
    def n_clients(self) -> int:
        return len(self.client_ids)

    @property
    def dates(self) -> np.ndarray:
        return self.start + np.arange(self.n_days)

    @property
    def as_of(self) -> np.datetime64:
        return self.start + (self.n_days - 1)

    @cached_property
    def _index(self) -> pd.Index:
        index: pd.Index = pd.Index(self.client_ids)
        return index

    def client_index(self, client_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Row of each id on the grid (-1 when unknown). Factorised first: millions of rows, few clients."""
        codes, uniques = pd.factorize(client_ids)
        lookup = np.append(self._index.get_indexer(pd.Index(uniques)), -1)  # code -1 (a missing id) maps to -1
        return lookup[codes]

    def day_index(self, dates: pd.Series | np.ndarray) -> np.ndarray:
        days = np.asarray(pd.to_datetime(dates), dtype="datetime64[D]")
        return (days - self.start).astype(np.int64)


def build_grid(
    client_ids: pd.Series | np.ndarray, settlements: pd.DataFrame, as_of: np.datetime64
) -> DayGrid:
    as_of = as_of.astype("datetime64[D]")
    if len(settlements):
        first = np.datetime64(settlements["value_date"].min(), "D")
        start = min(first, as_of)
    else:
        start = as_of
    n_days = int((as_of - start).astype(np.int64)) + 1
    return DayGrid(np.asarray(client_ids, dtype=object), start, n_days)


PRESENT = "present"  # the key of the [client, day] bool matrix "the frame has a row here"


def dense_columns(grid: DayGrid, frame: pd.DataFrame, columns: list[str], date_column: str = "value_date",
                  clip_before_start: bool = False) -> dict[str, np.ndarray]:
    """Sum each of `columns` of a long frame into a [client, day] int64 matrix; rows after the as-of date
    are left out. The rows' places on the grid are worked out once for all columns; `PRESENT` marks them.

    With clip_before_start, rows dated before day 0 land on day 0 (e.g. an advance paid before the data).
    """
    shape = (grid.n_clients, grid.n_days)
    if frame.empty:
        return {**{column: np.zeros(shape, dtype=np.int64) for column in columns}, PRESENT: np.zeros(shape, bool)}
    rows = grid.client_index(frame["client_id"])
    days = grid.day_index(frame[date_column])
    if clip_before_start:
        days = np.maximum(days, 0)
    keep = (rows >= 0) & (days >= 0) & (days < grid.n_days)
    every = bool(keep.all())  # the normal case: no 3.65 M-row masked copies (fresh memory is not free)
    # one flat cell number per row: 1-D scatter is several times cheaper than [rows, days] indexing
    flat = rows  # client_index's own fresh array: reused in place
    flat *= grid.n_days
    flat += days
    if not every:
        flat = flat[keep]
    counts = np.bincount(flat, minlength=grid.n_clients * grid.n_days)
    unique = counts.max(initial=0) <= 1  # one row per client and day (the normal case): plain assignment
    matrices: dict[str, np.ndarray] = {PRESENT: (counts > 0).reshape(shape)}
    for column in columns:
        values = frame[column].to_numpy(dtype=np.int64)
        values = values if every else values[keep]
        matrix = np.zeros(grid.n_clients * grid.n_days, dtype=np.int64)
        if unique:
            matrix[flat] = values
        else:
            np.add.at(matrix, flat, values)  # exact int64 sums (bincount's weights would be float64)
        matrices[column] = matrix.reshape(shape)
    return matrices


def dense(grid: DayGrid, frame: pd.DataFrame, column: str, date_column: str = "value_date",
          clip_before_start: bool = False) -> np.ndarray:
    """One column of `dense_columns`."""
    return dense_columns(grid, frame, [column], date_column, clip_before_start)[column]


def first_days(present: np.ndarray) -> np.ndarray:
    """Per client, the first day index with a row (-1 when it has none)."""
    return np.where(present.any(axis=1), present.argmax(axis=1), -1).astype(np.int64)


def payout_days(grid: DayGrid, frequencies: np.ndarray) -> np.ndarray:
    """[client, day] bool: is the day a payout day for the client's frequency?

    daily = every TARGET2 banking day; weekly = the first banking day of each ISO week;
    monthly = the first banking day of each calendar month.
    """
    dates = grid.dates
    banking = np.asarray(calendar.is_banking_day(dates), dtype=bool)
    # first banking day of a period: the banking day whose previous banking day lies in an earlier period
    # (looked up on a calendar that starts a month before the grid, so day 0 is judged correctly)
    lead = 31
    ext_dates = grid.start - lead + np.arange(grid.n_days + lead)
    ext_banking = np.asarray(calendar.is_banking_day(ext_dates), dtype=bool)
    ext_bank_dates = ext_dates[ext_banking]
    prev_bank = np.full(grid.n_days, np.datetime64("NaT"), dtype="datetime64[D]")
    pos = np.searchsorted(ext_bank_dates, dates, side="left") - 1
    has_prev = pos >= 0
    prev_bank[has_prev] = ext_bank_dates[pos[has_prev]]
    week = (dates - np.datetime64("1970-01-05")).astype(np.int64) // 7  # ISO weeks start on Monday
    prev_week = (prev_bank - np.datetime64("1970-01-05")).astype(np.int64) // 7
    month = dates.astype("datetime64[M]")
    prev_month = prev_bank.astype("datetime64[M]")
    first_of_week = banking & (~has_prev | (week != prev_week))
    first_of_month = banking & (~has_prev | (month != prev_month))
    by_frequency = {
        PayoutFrequency.DAILY.value: banking,
        PayoutFrequency.WEEKLY.value: first_of_week,
        PayoutFrequency.MONTHLY.value: first_of_month,
    }
    result = np.zeros((grid.n_clients, grid.n_days), dtype=bool)
    frequencies = np.asarray(frequencies, dtype=object)
    for frequency, days in by_frequency.items():  # three closed-set values, not a loop over rows
        result[frequencies == frequency] = days
    return result
