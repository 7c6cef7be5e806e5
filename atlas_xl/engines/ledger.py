"""The subaccount ledger: every movement is two postings (legs) that sum to zero.

Subaccounts per client: settlement, rolling_reserve, partner_reserve, factoring, plus `external` -
the other side of money entering or leaving the client's books (card schemes, the bank, the client's
own account). Balances are seen from the client: settlement > 0 is owed to the client, reserves are
held on its behalf, factoring < 0 is owed by the client (advances not yet repaid).

The ledger is kept as [client, day] amount matrices, one per movement type; postings are produced
from them on demand (per client for a drill-down, aggregated for reports), so a 10,000-client year
never has to exist as tens of millions of Python objects.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from atlas_xl.domain.model import Movement, Subaccount
from atlas_xl.engines.grid import DayGrid

__all__ = ["CLIENT_SUBACCOUNTS", "LEGS", "Ledger", "Movement"]  # Movement: the closed set lives in domain.model


# movement -> (subaccount credited +amount, subaccount debited -amount)
LEGS: dict[Movement, tuple[Subaccount, Subaccount]] = {
    Movement.OPENING_BALANCE: (Subaccount.SETTLEMENT, Subaccount.EXTERNAL),
    Movement.SALE: (Subaccount.SETTLEMENT, Subaccount.EXTERNAL),
    Movement.REFUND: (Subaccount.EXTERNAL, Subaccount.SETTLEMENT),
    Movement.CHARGEBACK: (Subaccount.EXTERNAL, Subaccount.SETTLEMENT),
    Movement.FEE: (Subaccount.EXTERNAL, Subaccount.SETTLEMENT),
    Movement.RESERVE_HOLD: (Subaccount.ROLLING_RESERVE, Subaccount.SETTLEMENT),
    Movement.RESERVE_RELEASE: (Subaccount.SETTLEMENT, Subaccount.ROLLING_RESERVE),
    Movement.PARTNER_RESERVE_HOLD: (Subaccount.PARTNER_RESERVE, Subaccount.SETTLEMENT),
    Movement.PARTNER_RESERVE_RELEASE: (Subaccount.SETTLEMENT, Subaccount.PARTNER_RESERVE),
    Movement.FACTORING_ADVANCE: (Subaccount.EXTERNAL, Subaccount.FACTORING),
    Movement.FACTORING_WITHHOLD: (Subaccount.FACTORING, Subaccount.SETTLEMENT),
    Movement.PAYOUT: (Subaccount.EXTERNAL, Subaccount.SETTLEMENT),
}

CLIENT_SUBACCOUNTS = (
    Subaccount.SETTLEMENT,
    Subaccount.ROLLING_RESERVE,
    Subaccount.PARTNER_RESERVE,
    Subaccount.FACTORING,
)


# One lock for every ledger (a lock in the record would make it impossible to pickle or deep-copy); it is
# held only while a drill-down is first computed.
_DRILLDOWN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Ledger:
    grid: DayGrid
    amounts: dict[Movement, np.ndarray]  # [client, day] int64 (may be negative: a negative opening balance)

    def balances(self, through_day: int | None = None) -> pd.DataFrame:
        """Per client: the balance of each subaccount (and external) after day `through_day` (default: last)."""
        stop = self.grid.n_days if through_day is None else through_day + 1
        totals = {account: np.zeros(self.grid.n_clients, dtype=np.int64) for account in Subaccount}
        for movement, matrix in self.amounts.items():
            credited, debited = LEGS[movement]
            moved = matrix[:, :stop].sum(axis=1)
            totals[credited] += moved
            totals[debited] -= moved
        frame = pd.DataFrame({"client_id": self.grid.client_ids})
        for account in Subaccount:
            frame[f"{account.value}_cents"] = totals[account]
        return frame

    # the report and the dashboard page both show the drill-down, on two threads in `atlas-xl run`: whichever
    # asks first computes it (0.14 s at 10,000 clients), the other waits for it and takes the same frame
    _drilldown_cache: list[pd.DataFrame] = field(default_factory=list, init=False, repr=False, compare=False)

    def drilldown(self) -> pd.DataFrame:
        """Per client, subaccount and movement: the total and count of postings that explain each balance."""
        with _DRILLDOWN_LOCK:
            if not self._drilldown_cache:
                self._drilldown_cache.append(self._compute_drilldown())
        return self._drilldown_cache[0].copy()

    def _compute_drilldown(self) -> pd.DataFrame:
        frames = []
        for movement, matrix in self.amounts.items():
            total = matrix.sum(axis=1)
            count = np.count_nonzero(matrix, axis=1)
            credited, debited = LEGS[movement]
            for account, sign in ((credited, 1), (debited, -1)):
                if account == Subaccount.EXTERNAL:
                    continue
                frames.append(
                    pd.DataFrame(
                        {
                            "client_id": self.grid.client_ids,
                            "subaccount": account.value,
                            "movement": movement.value,
                            "amount_cents": sign * total,
                            "postings": count,
                        }
                    )
                )
        out = pd.concat(frames, ignore_index=True)
        out = out[out["postings"] > 0]
        order = {a.value: i for i, a in enumerate(CLIENT_SUBACCOUNTS)}
        out = out.assign(_o=out["subaccount"].map(order)).sort_values(
            ["client_id", "_o", "movement"], kind="stable"
        )
        return out.drop(columns="_o").reset_index(drop=True)

    def postings(self, client_ids: list[str] | None = None) -> pd.DataFrame:
        """Every leg (date, movement, subaccount, signed amount) for the given clients (default: all)."""
        rows_wanted = (
            np.arange(self.grid.n_clients)
            if client_ids is None
            else self.grid.client_index(np.asarray(client_ids, dtype=object))
        )
        rows_wanted = rows_wanted[rows_wanted >= 0]
        frames = []
        for movement, matrix in self.amounts.items():
            sub = matrix[rows_wanted]
            r, d = np.nonzero(sub)
            if not len(r):
                continue
            amount = sub[r, d]
            credited, debited = LEGS[movement]
            for account, sign in ((credited, 1), (debited, -1)):
                frames.append(
                    pd.DataFrame(
                        {
                            "client_id": self.grid.client_ids[rows_wanted[r]],
                            "date": pd.to_datetime(self.grid.start + d),
                            "movement": movement.value,
                            "subaccount": account.value,
                            "amount_cents": sign * amount,
                        }
                    )
                )
        if not frames:
            return pd.DataFrame(
                {
                    "client_id": [],
                    "date": pd.to_datetime([]),
                    "movement": [],
                    "subaccount": [],
                    "amount_cents": np.array([], dtype=np.int64),
                }
            )
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["client_id", "date", "movement", "subaccount"], kind="stable").reset_index(
            drop=True
        )
