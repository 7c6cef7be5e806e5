"""Merchant payouts: the settlement subaccount stepped day by day, and readiness on the payout date.

Rules:
- The settlement subaccount receives each day's net settlement (sales - refunds - chargebacks - fees),
  gives the day's reserve holds and gets the releases due (see `reserves`). The opening balance (which
  may be negative: carried forward) lands on day 0. A negative balance is carried forward until
  settlements cover it.
- On each of the client's payout days (daily / weekly / monthly, see `grid.payout_days`) a positive
  balance is paid out: the factoring share `factoring_withhold_rate` x balance (ROUND_HALF_UP, at most
  the outstanding advances) is withheld against the factoring subaccount and the rest is paid, unless
  it is below `min_payout` - then nothing moves and the balance is carried forward. When the share takes
  the whole balance, it is withheld and nothing is transferred (NOTHING_TO_PAY on the payout date).
- Before the payout date, only the standing blockers apply (blocked, KYC pending, an IBAN, a BIC or a
  name that no SEPA transfer can carry), and a payout above one SEPA transfer's maximum waits: the
  history does not re-evaluate past credit limits. On the payout date every reason is checked:
  BLOCKED, KYC_PENDING, INVALID_IBAN, INVALID_BIC, NAME_NOT_SEPA, LIMIT_BREACHED (exposure at or over the
  breach threshold, measured before the payout), NOT_PAYOUT_DAY, NEGATIVE_BALANCE, NOTHING_TO_PAY,
  BELOW_MINIMUM, ABOVE_SEPA_MAXIMUM (999,999,999.99 EUR); a client is READY when none applies.
- A client whose only reason is NOT_PAYOUT_DAY is NOT DUE (off-cycle, nothing is wrong), not BLOCKED:
  `Readiness`. Each reason code has its words for people (`REASON_WORDS`); the codes stay for filters.
- Withholding and the sweep, one rule (`withholding`): on a payout the factoring share
  `factoring_withhold_rate` x balance is withheld. A client over its credit limit (LIMIT_BREACHED on the
  payout date) is swept instead: `SWEEP_PPM` (100 %) x the positive balance, at most the outstanding
  advances, is withheld whatever else holds the payout, and the rest of the payout is held. A breach
  never freezes the repayment of the advance that caused it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from atlas_xl.domain.accounts import bic_problem, iban_problems, name_problem, problems_of
from atlas_xl.domain.model import MAX_TRANSFER_CENTS, BlockReason, ClientStatus, KycStatus
from atlas_xl.domain.money import apply_rate
from atlas_xl.engines.grid import DayGrid, dense

# Over the credit limit the withholding steps up to this share of the positive settlement balance (ppm).
SWEEP_PPM = 1_000_000


class Readiness(StrEnum):
    """A client's payout on the as-of date: paid, merely off-cycle, or held back by a reason."""

    READY = "READY"
    NOT_DUE = "NOT DUE"  # the only reason is NOT_PAYOUT_DAY: paid on its next payout day
    BLOCKED = "BLOCKED"


# Each reason code in the words a person reads (the codes stay in `reasons` for filters and files).
REASON_WORDS: dict[BlockReason, str] = {
    BlockReason.BLOCKED: "client blocked",
    BlockReason.KYC_PENDING: "KYC pending",
    BlockReason.INVALID_IBAN: "IBAN invalid",
    BlockReason.INVALID_BIC: "BIC invalid",
    BlockReason.NAME_NOT_SEPA: "name not writable in SEPA characters",
    BlockReason.LIMIT_BREACHED: "credit limit breached (swept)",
    BlockReason.NOT_PAYOUT_DAY: "not a payout day",
    BlockReason.NEGATIVE_BALANCE: "negative balance",
    BlockReason.NOTHING_TO_PAY: "nothing to pay",
    BlockReason.BELOW_MINIMUM: "below the minimum payout",
    BlockReason.ABOVE_SEPA_MAXIMUM: "above the SEPA transfer maximum",
    BlockReason.BANK_DETAILS_REJECTED: "bank details rejected by the bank: new details to be confirmed",
    BlockReason.COMPLIANCE_HOLD: "compliance hold (regulatory reason from the bank)",
    BlockReason.MANUAL_REVIEW: "manual review of the bank's answer",
}


def withholding(balance: np.ndarray, rate_ppm: np.ndarray, outstanding: np.ndarray,
                swept: np.ndarray | None = None, sweep_ppm: int = SWEEP_PPM) -> np.ndarray:
    """What a payout withholds against the factoring subaccount: the client's rate x the positive balance, or
    `sweep_ppm` x it where `swept` (over the limit), ROUND_HALF_UP, at most the outstanding advances."""
    rate = rate_ppm if swept is None else np.where(swept, sweep_ppm, rate_ppm)
    kept: np.ndarray = np.minimum(apply_rate(np.maximum(balance, 0), rate), np.maximum(outstanding, 0))
    return kept


def _iban_words(problem: str) -> str:
    """'IBAN invalid: invalid checksum digits' from the account check's sentence (its part in brackets)."""
    if "missing" in problem and "(" not in problem:
        return "IBAN missing"
    start, end = problem.find("("), problem.find(")")
    detail = problem[start + 1:end].strip() if 0 <= start < end else ""
    return f"IBAN invalid: {detail[:1].lower()}{detail[1:]}" if detail else "IBAN invalid"


def reason_words(reasons: str, iban_problem: str = "") -> str:
    """'; '-joined reason codes in words ('KYC pending; IBAN invalid: invalid checksum digits')."""
    words = []
    for code in filter(None, reasons.split("; ")):
        reason = BlockReason(code)
        words.append(_iban_words(iban_problem) if reason == BlockReason.INVALID_IBAN and iban_problem
                     else REASON_WORDS[reason])
    return "; ".join(words)


@dataclass(frozen=True)
class PayoutState:
    """The settlement side of every client, stepped up to the payout decision of the last day."""

    paid: np.ndarray  # [client, day] payouts made (the last day filled by `decide`)
    withheld: np.ndarray  # [client, day] factoring repayments withheld from payouts
    balance_before: np.ndarray  # per client: settlement balance on the payout date before paying
    carried_forward: np.ndarray  # per client: settlement balance at the end of the previous day
    factoring_before: np.ndarray  # per client: factoring outstanding before the payout (>= 0)
    iban_problem: np.ndarray  # '' or the reason text
    blockers: dict[BlockReason, np.ndarray]  # the standing blockers, checked once


@dataclass(frozen=True)
class DayFlows:
    """Per client: the payout date's own movements on the settlement subaccount, int64 cents (for the payouts
    table: what moved the balance on the day itself)."""

    net_settlement: np.ndarray  # sales - refunds - chargebacks
    fees: np.ndarray
    holds: np.ndarray  # rolling + partner reserve holds
    releases: np.ndarray  # rolling + partner reserve releases


def standing_blockers(clients: pd.DataFrame, iban_problem: np.ndarray) -> dict[BlockReason, np.ndarray]:
    """Reasons that stop every payout of a client, on any day: its status, or an account or name that no
    SEPA credit transfer can carry (the writer's own checks, so an approved run can always be executed)."""
    return {
        BlockReason.BLOCKED: clients["status"].to_numpy(dtype=object) == ClientStatus.BLOCKED.value,
        BlockReason.KYC_PENDING: clients["kyc_status"].to_numpy(dtype=object) != KycStatus.VERIFIED.value,
        BlockReason.INVALID_IBAN: iban_problem != "",
        BlockReason.INVALID_BIC: problems_of(clients["bic"], bic_problem) != "",
        BlockReason.NAME_NOT_SEPA: problems_of(clients["name"], name_problem) != "",
        **_bank_holds(clients),
    }


_BANK_HOLDS = (BlockReason.BANK_DETAILS_REJECTED, BlockReason.COMPLIANCE_HOLD, BlockReason.MANUAL_REVIEW)


def _bank_holds(clients: pd.DataFrame) -> dict[BlockReason, np.ndarray]:
    """The bank's reasons from the store (workflow.history puts a `bank_hold` column on the clients)."""
    if "bank_hold" not in clients.columns:
        return {}
    hold = clients["bank_hold"].fillna("").astype(str)  # reasons joined by ';'
    return {reason: hold.str.contains(rf"(?:^|;){reason.value}(?:;|$)").to_numpy(dtype=bool)
            for reason in _BANK_HOLDS}


def executed_payouts(grid: DayGrid, paid: pd.DataFrame) -> tuple[np.ndarray | None, int]:
    """[client, day] amounts paid in executed runs (None: no run), and the first day they stand for.

    From the first executed run's date on, what left is known: a day without a run paid nothing. Before
    it, the rules stand for the payouts made before Atlas (the history the data starts with).
    """
    if paid.empty:
        return None, grid.n_days
    first = int(grid.day_index(paid["payout_date"]).min())
    amounts = dense(grid, paid, "amount_cents", date_column="payout_date")
    return amounts, min(max(first, 0), grid.n_days)


def step_settlement(
    grid: DayGrid, clients: pd.DataFrame, net_flow: np.ndarray, advances: np.ndarray, pay_days: np.ndarray,
    paid_in_runs: np.ndarray | None = None, runs_from: int | None = None,
) -> PayoutState:
    """Step every client's settlement balance through the days before the payout date (from day
    `runs_from` on, the payouts are those of `paid_in_runs`, the executed runs, instead of the rules)."""
    n, days = grid.n_clients, grid.n_days
    iban = iban_problems(clients["iban"])
    blockers = standing_blockers(clients, iban)
    standing_ok = ~np.logical_or.reduce(list(blockers.values()))
    withhold_ppm = clients["factoring_withhold_rate_ppm"].to_numpy(dtype=np.int64)
    minimum = clients["min_payout_cents"].to_numpy(dtype=np.int64)
    # [day, client] working layout: each day's slice is contiguous; transposed back at the end
    flow_by_day = np.ascontiguousarray(net_flow.T)
    advances_by_day = np.ascontiguousarray(advances.T)
    pay_days_by_day = np.ascontiguousarray(pay_days.T)
    runs_from = days if runs_from is None else runs_from
    paid_in_runs_by_day = None if paid_in_runs is None else np.ascontiguousarray(paid_in_runs.T)
    paid = np.zeros((days, n), dtype=np.int64)
    withheld = np.zeros((days, n), dtype=np.int64)
    balance = np.zeros(n, dtype=np.int64)
    outstanding = np.zeros(n, dtype=np.int64)
    carried = balance
    for day in range(days):  # a step over days; every operation is across all clients
        carried = balance
        balance = balance + flow_by_day[day]
        outstanding = outstanding + advances_by_day[day]
        if day == days - 1:
            break
        keep_back = withholding(balance, withhold_ppm, outstanding)
        if day >= runs_from and paid_in_runs_by_day is not None:  # what left in executed runs, nothing else
            paid[day] = paid_in_runs_by_day[day]
            withheld[day] = np.where(paid[day] > 0, keep_back, 0)  # withheld as the run's payout was made
        else:
            due = pay_days_by_day[day] & standing_ok & (balance > 0)
            to_pay = balance - keep_back
            # to_pay may be 0 when the factoring share takes it all; above one transfer's maximum it waits
            pays = due & (to_pay >= minimum) & (to_pay <= MAX_TRANSFER_CENTS)
            paid[day] = np.where(pays, to_pay, 0)
            withheld[day] = np.where(pays, keep_back, 0)
        balance = balance - paid[day] - withheld[day]
        outstanding = outstanding - withheld[day]
    return PayoutState(paid.T, withheld.T, balance, carried, outstanding, iban, blockers)


def decide(
    grid: DayGrid,
    clients: pd.DataFrame,
    state: PayoutState,
    pay_days: np.ndarray,
    limit_breached: np.ndarray,
    day_flows: DayFlows,
    payout_date: dt.date,
    sweep_ppm: int = SWEEP_PPM,
) -> pd.DataFrame:
    """Readiness and payable amount of every client on the payout date (the grid's last day).

    Fills the last day of `state.paid` / `state.withheld` for the ready clients (the ledger shows the
    payout of the day as made once it is ready) and the sweep of the clients over their limit.
    """
    blockers = state.blockers
    balance = state.balance_before
    withhold_ppm = clients["factoring_withhold_rate_ppm"].to_numpy(dtype=np.int64)
    minimum = clients["min_payout_cents"].to_numpy(dtype=np.int64)
    keep_back = withholding(balance, withhold_ppm, state.factoring_before, limit_breached, sweep_ppm)
    payable = np.where(balance > 0, balance - keep_back, 0)
    reasons = {
        **blockers,
        BlockReason.LIMIT_BREACHED: limit_breached,
        BlockReason.NOT_PAYOUT_DAY: ~pay_days[:, -1],
        BlockReason.NEGATIVE_BALANCE: balance < 0,
        # nothing left once the factoring share is withheld counts as nothing to pay, as on earlier days
        BlockReason.NOTHING_TO_PAY: (balance == 0) | ((balance > 0) & (payable == 0)),
        BlockReason.BELOW_MINIMUM: (payable > 0) & (payable < minimum),
        BlockReason.ABOVE_SEPA_MAXIMUM: payable > MAX_TRANSFER_CENTS,
    }
    text = np.full(grid.n_clients, "", dtype=object)
    others_clear = np.ones(grid.n_clients, dtype=bool)  # every reason but NOTHING_TO_PAY is absent
    for reason, flags in reasons.items():  # the closed set of reasons, each applied to all clients
        text = np.where(flags, text + reason.value + "; ", text)
        if reason != BlockReason.NOTHING_TO_PAY:
            others_clear &= ~flags
    text = pd.Series(text, dtype=object).str.removesuffix("; ").to_numpy(dtype=object)
    ready = text == ""
    last = grid.n_days - 1
    # the day's movement as on earlier payout days: a ready client is paid; when the factoring share
    # takes the whole balance, the share is still withheld although there is nothing to transfer
    state.paid[:, last] = np.where(ready, payable, 0)
    # ... and a client over its limit is swept whatever holds its payout (the breach never freezes repayment)
    state.withheld[:, last] = np.where(
        (others_clear & (balance > 0) & (payable >= minimum)) | limit_breached, keep_back, 0
    )
    only_off_cycle = text == BlockReason.NOT_PAYOUT_DAY.value
    readiness = np.where(ready, Readiness.READY.value,
                         np.where(only_off_cycle, Readiness.NOT_DUE.value, Readiness.BLOCKED.value))
    last_day, last_amount = last_payouts(state.paid)
    has_paid = last_day >= 0
    last_date = np.where(has_paid, grid.start + np.maximum(last_day, 0), np.datetime64("NaT"))
    # days held: for a client not paid today, the days since its last payout (or since the first data day)
    held_days = np.where(has_paid, last - last_day, last)
    days_held = pd.array(held_days, dtype="Int64")
    days_held[ready] = pd.NA  # paid today: not held
    words = [reason_words(r, p) for r, p in zip(text.tolist(), state.iban_problem.tolist(), strict=True)]
    date_text = payout_date.isoformat()
    client_ids = clients["client_id"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "client_id": client_ids,
            "name": clients["name"].to_numpy(dtype=object),
            "country": clients["country"].to_numpy(dtype=object),
            "iban": clients["iban"].to_numpy(dtype=object),
            "bic": clients["bic"].fillna("").to_numpy(dtype=object),
            "payout_frequency": clients["payout_frequency"].to_numpy(dtype=object),
            "carried_forward_cents": state.carried_forward,
            "net_settlement_cents": day_flows.net_settlement,
            "fees_cents": day_flows.fees,
            "new_holds_cents": day_flows.holds,
            "releases_cents": day_flows.releases,
            "available_cents": balance,
            "withheld_cents": keep_back,
            "amount_cents": payable,
            "min_payout_cents": minimum,
            "ready": ready,
            "readiness": readiness,
            "reasons": text,
            "reason_text": np.asarray(words, dtype=object),
            "last_payout_date": pd.to_datetime(last_date),
            "last_payout_cents": last_amount,
            "days_held": days_held,
            "iban_problem": state.iban_problem,
            "remittance": "Atlas settlement payout " + date_text + " " + pd.Series(client_ids, dtype=object),
        }
    )



def last_payouts(paid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per client: the day index of its last payout in `paid` [client, day] (-1: never paid) and its amount."""
    made = paid > 0
    days = paid.shape[1]
    from_end = np.argmax(made[:, ::-1], axis=1)
    day = np.where(made.any(axis=1), days - 1 - from_end, -1)
    amount = np.where(day >= 0, paid[np.arange(paid.shape[0]), np.maximum(day, 0)], 0)
    return day.astype(np.int64), amount.astype(np.int64)
