"""The daily close, pure: a day's postings from the engines' ledger, the input hash of a day's settlement rows,
the differences between booked and recomputed postings, general-ledger journal entries and the client-money
(safeguarding) summary. No files, no database: atlas_xl.workflow.close stores what this computes.

A posting is one client's movement of one kind on one day: `amount_cents` credited to `subaccount` and debited
from `counter_subaccount` (the client's view, engines.ledger.LEGS); amounts are signed int64 cents (an opening
balance or a correction may be negative). One row per client, day and kind: the kind fixes both subaccounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from atlas_xl.domain.model import Movement, OpeningItem, Subaccount
from atlas_xl.engines.ledger import LEGS, Ledger

# kinds the opening-balances table books (once, with the first close); the engines never derive them
OPENING_KINDS: dict[str, tuple[Subaccount, Subaccount]] = {
    f"opening_{OpeningItem.SETTLEMENT.value}": (Subaccount.SETTLEMENT, Subaccount.EXTERNAL),
    f"opening_{OpeningItem.ROLLING_RESERVE.value}": (Subaccount.ROLLING_RESERVE, Subaccount.EXTERNAL),
    f"opening_{OpeningItem.PARTNER_RESERVE.value}": (Subaccount.PARTNER_RESERVE, Subaccount.EXTERNAL),
    # an advance outstanding is owed BY the client: the factoring subaccount goes negative (as FACTORING_ADVANCE)
    f"opening_{OpeningItem.FACTORING_ADVANCE.value}": (Subaccount.EXTERNAL, Subaccount.FACTORING),
}
KIND_LEGS: dict[str, tuple[Subaccount, Subaccount]] = {m.value: legs for m, legs in LEGS.items()} | OPENING_KINDS

POSTING_COLUMNS = ["day", "client_id", "kind", "subaccount", "counter_subaccount", "amount_cents"]
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CLIENT_MONEY = (Subaccount.SETTLEMENT, Subaccount.ROLLING_RESERVE, Subaccount.PARTNER_RESERVE)


def day_index(ledger: Ledger, day: dt.date) -> int:
    return int((np.datetime64(day, "D") - ledger.grid.start.astype("datetime64[D]")).astype(int))


def postings(ledger: Ledger, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The ledger's movements on `first` .. `last` as postings (POSTING_COLUMNS), by day, client and kind."""
    lo, hi = max(day_index(ledger, first), 0), min(day_index(ledger, last), ledger.grid.n_days - 1)
    frames = []
    for movement, matrix in ledger.amounts.items():
        window = matrix[:, lo:hi + 1]
        rows, days = np.nonzero(window)
        if not len(rows):
            continue
        credited, debited = LEGS[movement]
        frames.append(pd.DataFrame({
            "day": ledger.grid.start.astype("datetime64[D]") + (lo + days),
            "client_id": ledger.grid.client_ids[rows], "kind": movement.value, "subaccount": credited.value,
            "counter_subaccount": debited.value, "amount_cents": window[rows, days].astype(np.int64)}))
    return _ordered(frames)


def _ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[s]" if c == "day" else "int64" if c == "amount_cents"
                                          else object) for c in POSTING_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out["day"] = out["day"].astype("datetime64[s]")
    return out.sort_values(["day", "client_id", "kind"], kind="stable").reset_index(drop=True)[POSTING_COLUMNS]


def opening_postings(opening: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The opening-balances table (client_id, item, amount_cents, ...) as one opening entry on `day`: one
    posting per client and item (reserve holds with several release dates add up)."""
    if opening.empty:
        return _ordered([])
    summed = opening.groupby(["client_id", "item"], sort=True)["amount_cents"].sum().reset_index()
    summed = summed[summed["amount_cents"] != 0]
    kinds = "opening_" + summed["item"].astype(str)
    frame = pd.DataFrame({
        "day": np.datetime64(day, "D"), "client_id": summed["client_id"].astype(str).to_numpy(),
        "kind": kinds.to_numpy(), "subaccount": [KIND_LEGS[k][0].value for k in kinds],
        "counter_subaccount": [KIND_LEGS[k][1].value for k in kinds],
        "amount_cents": summed["amount_cents"].to_numpy(dtype=np.int64)})
    return _ordered([frame])


def settlement_hashes(settlements: pd.DataFrame, days: list[dt.date]) -> dict[dt.date, str]:
    """sha256 of each day's settlement rows (client, currency and the four amounts, sorted), so a row that
    changed or arrived late for a booked day is seen. A day without rows hashes as the empty text."""
    out = dict.fromkeys(days, EMPTY_SHA256)
    if settlements.empty or not days:
        return out
    wanted = np.array([np.datetime64(d, "D") for d in days])
    values = settlements["value_date"].to_numpy(dtype="datetime64[D]")
    rows = settlements[np.isin(values, wanted)]
    if rows.empty:
        return out
    text = rows["client_id"].astype(str) + "," + rows["currency"].astype(str)
    for column in ("sales_cents", "refunds_cents", "chargebacks_cents", "fees_cents"):
        text = text + "," + rows[column].astype("int64").astype(str)
    keyed = pd.DataFrame({"day": rows["value_date"].to_numpy(dtype="datetime64[D]"), "line": text.to_numpy()})
    for day, group in keyed.groupby("day", sort=True):
        lines = sorted(group["line"].tolist())
        out[pd.Timestamp(str(day)).date()] = hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()
    return out


def _legs(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Each posting as its two legs (+amount on subaccount, -amount on counter_subaccount), client subaccounts."""
    credit = frame[[*key, "subaccount", "amount_cents"]]
    debit = frame[[*key, "counter_subaccount", "amount_cents"]].rename(columns={"counter_subaccount": "subaccount"})
    debit = debit.assign(amount_cents=-debit["amount_cents"])
    legs = pd.concat([credit, debit], ignore_index=True)
    return legs[legs["subaccount"] != Subaccount.EXTERNAL.value]


def differences(booked: pd.DataFrame, recomputed: pd.DataFrame) -> pd.DataFrame:
    """Per client, day and subaccount where the booked postings and the recomputed ones disagree: columns
    client_id, day, subaccount, booked_cents, recomputed_cents, difference_cents (recomputed - booked)."""
    key = ["client_id", "day"]
    a = _legs(booked, key).groupby([*key, "subaccount"])["amount_cents"].sum().rename("booked_cents")
    b = _legs(recomputed, key).groupby([*key, "subaccount"])["amount_cents"].sum().rename("recomputed_cents")
    both = pd.concat([a, b], axis=1).fillna(0).astype("int64")
    both["difference_cents"] = both["recomputed_cents"] - both["booked_cents"]
    out = both[both["difference_cents"] != 0].reset_index()
    return out.sort_values(["day", "client_id", "subaccount"], kind="stable").reset_index(drop=True)


def kind_differences(booked: pd.DataFrame, recomputed: pd.DataFrame) -> pd.DataFrame:
    """Per client, day and kind: recomputed - booked (the correction postings), POSTING_COLUMNS."""
    key = ["day", "client_id", "kind"]
    a = booked.groupby(key)["amount_cents"].sum()
    b = recomputed.groupby(key)["amount_cents"].sum()
    net = b.sub(a, fill_value=0).astype("int64")
    frame = net[net != 0].reset_index()
    frame["subaccount"] = [KIND_LEGS[k][0].value for k in frame["kind"]]
    frame["counter_subaccount"] = [KIND_LEGS[k][1].value for k in frame["kind"]]
    return _ordered([frame])


# ---------------------------------------------------------------------------------------------- journal

JOURNAL_COLUMNS = ["entry", "day", "kind", "client_id", "account", "debit_cents", "credit_cents"]


def journal_lines(booked: pd.DataFrame, mapping: pd.DataFrame, by_client: bool = False) -> pd.DataFrame:
    """General-ledger journal lines: one balanced entry per day and kind (per client, day and kind with
    `by_client`), each posting mapped through `mapping` (kind, subaccount -> debit_account, credit_account,
    where subaccount is the credited one). A negative amount swaps the two sides. Lines per entry and
    account are netted into one debit or credit line; entries are numbered 1.. in (day, kind[, client]) order.
    Raises KeyError naming a (kind, subaccount) the mapping lacks."""
    if booked.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in JOURNAL_COLUMNS})
    keyed = mapping.set_index(["kind", "subaccount"])
    index = pd.MultiIndex.from_arrays([booked["kind"], booked["subaccount"]])
    missing = sorted(set(index) - set(keyed.index))
    if missing:
        raise KeyError(missing)
    debit_account = keyed["debit_account"].reindex(index).to_numpy(dtype=object)
    credit_account = keyed["credit_account"].reindex(index).to_numpy(dtype=object)
    amount = booked["amount_cents"].to_numpy(dtype=np.int64)
    client = booked["client_id"].to_numpy(dtype=object) if by_client else np.full(len(booked), "", dtype=object)
    base = {"day": booked["day"].to_numpy(), "kind": booked["kind"].to_numpy(dtype=object), "client_id": client}
    # signed per account: + debit, - credit
    legs = pd.concat([pd.DataFrame({**base, "account": debit_account, "signed": amount}),
                      pd.DataFrame({**base, "account": credit_account, "signed": -amount})], ignore_index=True)
    net = legs.groupby(["day", "kind", "client_id", "account"], sort=True)["signed"].sum().reset_index()
    net = net[net["signed"] != 0]
    entry_keys = net[["day", "kind", "client_id"]].drop_duplicates()
    entry_keys = entry_keys.assign(entry=np.arange(1, len(entry_keys) + 1))
    net = net.merge(entry_keys, on=["day", "kind", "client_id"])
    net["debit_cents"] = net["signed"].clip(lower=0).astype("int64")
    net["credit_cents"] = (-net["signed"]).clip(lower=0).astype("int64")
    net = net.sort_values(["entry", "credit_cents", "account"], kind="stable")  # debits first, then credits
    return net[JOURNAL_COLUMNS].reset_index(drop=True)


def safeguarding(booked: pd.DataFrame, days: list[dt.date]) -> pd.DataFrame:
    """Per day (end of day, from the first booked posting on): the money held for merchants (each client's
    settlement balance where positive, plus its rolling and partner reserves) against the lender's own:
    what merchants owe (negative settlement balances), factoring advances outstanding and fees earned.
    Columns: day, client_money_cents, merchants_owe_cents, advances_outstanding_cents, fees_earned_cents."""
    columns = ["day", "client_money_cents", "merchants_owe_cents", "advances_outstanding_cents",
               "fees_earned_cents"]
    if not days:
        return pd.DataFrame({c: [] for c in columns})
    legs = _legs(booked.assign(day=booked["day"].astype("datetime64[s]")), ["client_id", "day"])
    grid_days = pd.DatetimeIndex([pd.Timestamp(d) for d in days]).astype("datetime64[s]")
    rows = []
    per = legs.groupby(["day", "client_id", "subaccount"])["amount_cents"].sum()
    by_sub = {s.value: per.xs(s.value, level="subaccount").unstack("client_id", fill_value=0)
              .reindex(grid_days, fill_value=0).cumsum() if s.value in per.index.get_level_values("subaccount")
              else None for s in Subaccount if s != Subaccount.EXTERNAL}
    fee_rows = booked[booked["kind"] == Movement.FEE.value]
    fees = fee_rows.groupby(fee_rows["day"].astype("datetime64[s]"))["amount_cents"].sum().reindex(
        grid_days, fill_value=0).cumsum()
    for i, day in enumerate(grid_days):
        def row_of(sub: Subaccount, i: int = i) -> np.ndarray:
            frame = by_sub[sub.value]
            return np.zeros(0, dtype=np.int64) if frame is None else frame.iloc[i].to_numpy(dtype=np.int64)
        settlement = row_of(Subaccount.SETTLEMENT)
        rows.append({"day": day.date(),
                     "client_money_cents": int(settlement.clip(min=0).sum() + row_of(Subaccount.ROLLING_RESERVE).sum()
                                               + row_of(Subaccount.PARTNER_RESERVE).sum()),
                     "merchants_owe_cents": int((-settlement).clip(min=0).sum()),
                     "advances_outstanding_cents": int(-row_of(Subaccount.FACTORING).sum()),
                     "fees_earned_cents": int(fees.iloc[i])})
    return pd.DataFrame(rows, columns=columns)
