"""Rolling reserves (the client's own and the partner's), simulated day by day across all clients at once.

Rules (per reserve kind, per client, from its reserve_terms row):
- Each day, `rate` x that day's gross sales is held (ROUND_HALF_UP to the cent), moved from the
  settlement subaccount to the reserve subaccount.
- With a `cap`, a day's hold is cut so the reserve balance never exceeds the cap (nothing is held once
  it is reached); the fixed amount counts toward the balance.
- A `fixed_amount` (upfront reserve) is held on the client's first data day, whatever the cap, and is
  not released while the relationship lasts.
- Each hold is released `hold_days` later: calendar days, then rolled forward to the next TARGET2 banking
  day; or banking days counted on the TARGET2 calendar (from the hold day rolled to a banking day).
- Releases never take the balance below `min_balance`: the part kept back is deferred and released as
  soon as the balance allows (tried again every day).
- Order within a day: the day's hold first, then the releases due that day (so a 0-day hold on a
  banking day is released the same day).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from atlas_xl.domain import calendar
from atlas_xl.domain.model import NO_CAP, HoldBasis, ReserveKind
from atlas_xl.domain.money import apply_rate
from atlas_xl.engines.grid import DayGrid


@dataclass(frozen=True)
class ReserveTermsArrays:
    """One reserve kind's terms aligned to the grid's client order (clients without terms: has=False)."""

    has: np.ndarray
    rate_ppm: np.ndarray
    hold_days: np.ndarray
    banking_basis: np.ndarray
    cap_cents: np.ndarray
    fixed_cents: np.ndarray
    min_cents: np.ndarray


@dataclass(frozen=True)
class ReserveFlows:
    """Daily flows of one reserve kind: [client, day] int64 matrices plus what is due after the as-of date."""

    kind: ReserveKind
    held: np.ndarray  # includes the fixed amount on its day
    fixed: np.ndarray  # the fixed (upfront) part of `held`
    released: np.ndarray
    balance: np.ndarray  # end-of-day balance
    deferred: np.ndarray  # per client: due but kept back by min_balance at the as-of date
    future_due: np.ndarray  # [client, k]: releases due on as_of + 1 + k (calendar days)


def terms_arrays(grid: DayGrid, reserve_terms: pd.DataFrame, kind: ReserveKind) -> ReserveTermsArrays:
    n = grid.n_clients
    rows = reserve_terms[reserve_terms["reserve"] == kind.value]
    idx = grid.client_index(rows["client_id"])
    keep = idx >= 0
    idx = idx[keep]

    def column(name: str, fill: int) -> np.ndarray:
        out = np.full(n, fill, dtype=np.int64)
        out[idx] = rows[name].to_numpy(dtype=np.int64)[keep]
        return out

    has = np.zeros(n, dtype=bool)
    has[idx] = True
    banking = np.zeros(n, dtype=bool)
    banking[idx] = (rows["hold_basis"].to_numpy(dtype=object) == HoldBasis.BANKING.value)[keep]
    return ReserveTermsArrays(
        has=has,
        rate_ppm=column("rate_ppm", 0),
        hold_days=column("hold_days", 0),
        banking_basis=banking,
        cap_cents=column("cap_cents", NO_CAP),
        fixed_cents=column("fixed_amount_cents", 0),
        min_cents=column("min_balance_cents", 0),
    )


def release_day_index(grid: DayGrid, terms: ReserveTermsArrays) -> np.ndarray:
    """[client, day] -> the day index (relative to day 0) on which a hold made that day is released.

    A release date depends only on the hold date, hold_days and the basis, so it is worked out once per
    distinct (hold_days, basis) pair over the grid's dates and shared by every client with those terms.
    """
    release = np.zeros((len(terms.has), grid.n_days), dtype=np.int64)
    dates = grid.dates
    pairs = np.stack([terms.hold_days, terms.banking_basis.astype(np.int64)], axis=1)
    distinct, which = np.unique(pairs[terms.has], axis=0, return_inverse=True)
    rows = np.flatnonzero(terms.has)
    for k, (hold, banking) in enumerate(distinct):  # distinct term pairs: a handful, not one per client
        days = (calendar.add_banking_days(dates, int(hold)) if banking
                else calendar.next_banking_day(dates + int(hold)))
        release[rows[which.ravel() == k]] = (days - grid.start).astype(np.int64)
    return release


def simulate_reserve(
    grid: DayGrid, sales: np.ndarray, first_day: np.ndarray, terms: ReserveTermsArrays, kind: ReserveKind
) -> ReserveFlows:
    """Run one reserve kind over the grid. `first_day[c]` is the client's first data day (fixed reserve).

    A client without terms of this kind holds, releases and owes nothing, so the day loop runs over the
    clients with terms only and their rows are placed back among zero rows."""
    rows = np.flatnonzero(terms.has)
    if rows.size == grid.n_clients:
        return _simulate(grid, sales, first_day, terms, kind)
    part = _simulate(grid, sales[rows], first_day[rows], _subset(terms, rows), kind)

    def placed(matrix: np.ndarray) -> np.ndarray:
        out = np.zeros((grid.n_clients, *matrix.shape[1:]), dtype=matrix.dtype)
        out[rows] = matrix
        return out

    return ReserveFlows(kind, placed(part.held), placed(part.fixed), placed(part.released), placed(part.balance),
                        placed(part.deferred), placed(part.future_due))


def _subset(terms: ReserveTermsArrays, rows: np.ndarray) -> ReserveTermsArrays:
    return ReserveTermsArrays(*(getattr(terms, f.name)[rows] for f in fields(ReserveTermsArrays)))


def _simulate(
    grid: DayGrid, sales: np.ndarray, first_day: np.ndarray, terms: ReserveTermsArrays, kind: ReserveKind
) -> ReserveFlows:
    n, days = len(terms.has), grid.n_days
    # the day loop works on [day, client] arrays so each day's slice is contiguous; results are transposed back
    raw_hold = np.ascontiguousarray(np.where(terms.has[:, None], apply_rate(sales, terms.rate_ppm[:, None]), 0).T)
    release_at = np.ascontiguousarray(release_day_index(grid, terms).T)
    width = max(int(release_at.max(initial=0)) + 1, days + 1)  # at least one future day
    due = np.zeros((width, n), dtype=np.int64)
    held = np.zeros((days, n), dtype=np.int64)
    fixed = np.zeros((days, n), dtype=np.int64)
    released = np.zeros((days, n), dtype=np.int64)
    balance = np.zeros((days, n), dtype=np.int64)
    has_fixed = terms.has & (terms.fixed_cents > 0) & (first_day >= 0)
    fixed[first_day[has_fixed], has_fixed.nonzero()[0]] = terms.fixed_cents[has_fixed]
    capped = terms.cap_cents != NO_CAP
    clients = np.arange(n)
    running = np.zeros(n, dtype=np.int64)
    deferred = np.zeros(n, dtype=np.int64)
    for day in range(days):  # a step over days; every operation is across all clients
        hold = raw_hold[day]
        hold = np.where(capped, np.minimum(hold, np.maximum(terms.cap_cents - running - fixed[day], 0)), hold)
        running = running + hold + fixed[day]
        due[release_at[day], clients] += hold
        releasable = np.maximum(running - terms.min_cents, 0)
        wanted = due[day] + deferred
        release = np.minimum(wanted, releasable)
        deferred = wanted - release
        running = running - release
        held[day] = hold + fixed[day]
        released[day] = release
        balance[day] = running
    held, fixed, released, balance = held.T, fixed.T, released.T, balance.T
    future_due = due[days:].T
    return ReserveFlows(kind, held, fixed, released, balance, deferred, future_due)


def reserve_summary(grid: DayGrid, flows: ReserveFlows) -> pd.DataFrame:
    """Per client: held and released to date, balance at the as-of date, deferred, next release."""
    future = flows.future_due
    has_future = future.sum(axis=1) > 0
    next_offset = np.where(has_future, (future > 0).argmax(axis=1), -1)
    next_date = np.where(has_future, grid.as_of + 1 + next_offset, np.datetime64("NaT"))
    return pd.DataFrame(
        {
            "client_id": grid.client_ids,
            "reserve": flows.kind.value,
            "held_cents": flows.held.sum(axis=1),
            "released_cents": flows.released.sum(axis=1),
            "balance_cents": flows.balance[:, -1],
            "fixed_cents": flows.fixed.sum(axis=1),
            "deferred_cents": flows.deferred,
            "upcoming_release_cents": future.sum(axis=1),
            "next_release_date": pd.to_datetime(next_date),
        }
    )


def upcoming_releases(grid: DayGrid, flows: ReserveFlows) -> pd.DataFrame:
    """Releases scheduled after the as-of date (before any min-balance deferral), one row per client and day."""
    rows, offsets = np.nonzero(flows.future_due)
    return pd.DataFrame(
        {
            "client_id": grid.client_ids[rows],
            "reserve": flows.kind.value,
            "release_date": pd.to_datetime(grid.as_of + 1 + offsets),
            "amount_cents": flows.future_due[rows, offsets],
        }
    )


def monthly_movements(grid: DayGrid, flows: ReserveFlows) -> pd.DataFrame:
    """Portfolio reserve held vs released per month (for the dashboard chart)."""
    months = grid.dates.astype("datetime64[M]")
    frame = pd.DataFrame(
        {
            "month": months,
            "held_cents": flows.held.sum(axis=0),
            "released_cents": flows.released.sum(axis=0),
            "balance_cents": flows.balance.sum(axis=0),
        }
    )
    out = frame.groupby("month", as_index=False).agg(
        held_cents=("held_cents", "sum"),
        released_cents=("released_cents", "sum"),
        balance_cents=("balance_cents", "last"),
    )
    out.insert(1, "reserve", flows.kind.value)
    out["month"] = pd.to_datetime(out["month"])
    return out
