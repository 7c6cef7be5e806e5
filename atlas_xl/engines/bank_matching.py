"""Match one account's camt.053 statement against what Atlas expects (pure: no files, no database).

Matching rules, applied to the statement's entries in file order; each expected item is used at most once:
1. Booked entries only (status BOOK); pending/info entries are ignored by matching and by the balance check.
2. Payout return: a CREDIT entry that is a return (bank transaction code subfamily RRTN, or a return reason)
   whose EndToEndId is an expected payout's -> a ``ReturnedPayout`` (with its reason code). The payout counts
   as accounted for (it was paid out, then came back) and is not reported missing; if its debit is in the same
   statement that debit still matches it under rule 3.
3. Payout: a DEBIT entry whose EndToEndId equals an expected payout's. Equal amount -> matched; a different
   amount -> an AMOUNT_MISMATCH exception (the payout counts as found, not missing).
4. Repayment: a CREDIT entry whose remittance information contains a repayment's client reference as a whole
   word (case and spacing ignored) and whose amount is equal -> matched; same reference, other amount ->
   AMOUNT_MISMATCH.
5. Acquirer settlement credit: a CREDIT entry with the amount and booking date of an expected settlement
   credit -> matched (the first such in the expected list).
6. Everything left: an entry -> UNMATCHED_ENTRY (age = as_of - booking date); an expected item due on or before
   ``as_of`` -> MISSING (age = as_of - expected date); items due later are only listed as not yet due.
   Each exception names the best candidate: the unmatched item on the other side of the same direction
   (debit <-> payouts; credit <-> settlements and repayments) with the same amount and a date within +-3 days,
   the nearest date first, then the earlier one, then file/list order.
7. Balance check: opening + sum(booked entries, credits positive) must equal closing to the cent; the
   difference (closing - computed) is reported. Opening is OPBD (else PRCD, else OPAV), closing CLBD (else
   CLAV); with either missing the check says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

import pandas as pd

from atlas_xl.domain.bank import AccountReport, CreditDebit, Entry
from atlas_xl.domain.model import Product

CANDIDATE_WINDOW_DAYS = 3
T = TypeVar("T")


@dataclass(frozen=True)
class ExpectedPayout:
    end_to_end_id: str
    amount_cents: int
    expected_on: date  # requested execution date
    client_id: str = ""


@dataclass(frozen=True)
class ExpectedSettlement:
    reference: str  # e.g. "<acquirer>-<settlement date>"
    amount_cents: int
    expected_on: date  # settlement date


@dataclass(frozen=True)
class ExpectedRepayment:
    client_reference: str
    amount_cents: int
    expected_on: date
    client_id: str = ""


Expected = ExpectedPayout | ExpectedSettlement | ExpectedRepayment


class ExceptionKind(StrEnum):
    UNMATCHED_ENTRY = "unmatched_entry"
    MISSING = "missing"
    AMOUNT_MISMATCH = "amount_mismatch"


@dataclass(frozen=True)
class Match:
    entry: Entry
    expected: Expected


@dataclass(frozen=True)
class ReturnedPayout:
    entry: Entry
    payout: ExpectedPayout
    reason_code: str | None


@dataclass(frozen=True)
class MatchException:
    kind: ExceptionKind
    amount_cents: int
    age_days: int
    entry: Entry | None
    expected: Expected | None
    candidate: Entry | Expected | None  # best candidate on the other side (rule 6), if any
    message: str


@dataclass(frozen=True)
class BalanceCheck:
    opening_cents: int | None
    entries_cents: int
    closing_cents: int | None
    difference_cents: int | None  # closing - (opening + entries); 0 when it reconciles; None when unknown

    @property
    def ok(self) -> bool:
        return self.difference_cents == 0


@dataclass(frozen=True)
class MatchResult:
    matched: tuple[Match, ...]
    returns: tuple[ReturnedPayout, ...]
    exceptions: tuple[MatchException, ...]
    not_yet_due: tuple[Expected, ...]
    balance: BalanceCheck


def acquirer_credits(settlements: pd.DataFrame, start: date, end: date) -> list[ExpectedSettlement]:
    """The acquirer's expected credit per settlement (value) date from ``start`` to ``end``: sales - refunds -
    chargebacks - fees of every client's (loaded, EUR) settlement rows of the day, reference ACQ-<date>;
    days that net to zero or less expect no credit."""
    if settlements.empty:
        return []
    inside = settlements[(settlements["value_date"] >= pd.Timestamp(start))
                         & (settlements["value_date"] <= pd.Timestamp(end))]
    net = inside["sales_cents"] - inside["refunds_cents"] - inside["chargebacks_cents"] - inside["fees_cents"]
    per_day = net.groupby(inside["value_date"]).sum()
    days = [pd.Timestamp(d).date() for d in per_day.index]
    return [ExpectedSettlement(f"ACQ-{day.isoformat()}", int(cents), day)
            for day, cents in zip(days, per_day.to_numpy(dtype="int64").tolist(), strict=True) if cents > 0]


def due_repayments(schedules: pd.DataFrame, start: date, end: date) -> list[ExpectedRepayment]:
    """The term-loan instalments (engines.schedules rows) due from ``start`` to ``end``, referenced by loan id
    (factoring is repaid by withholding from payouts, not by a transfer)."""
    if schedules.empty:
        return []
    due = schedules[(schedules["product"] == Product.TERM_LOAN.value) & (schedules["due_date"] >= pd.Timestamp(start))
                    & (schedules["due_date"] <= pd.Timestamp(end))]
    return [ExpectedRepayment(str(loan), int(cents), pd.Timestamp(day).date(), str(client)) for loan, cents, day, client
            in zip(due["loan_id"].tolist(), due["payment_cents"].tolist(), due["due_date"].tolist(),
                   due["client_id"].tolist(), strict=True)]


def _expected_reference(item: Expected) -> str:
    if isinstance(item, ExpectedPayout):
        return f"payout {item.end_to_end_id}"
    if isinstance(item, ExpectedRepayment):
        return f"repayment {item.client_reference}"
    return f"settlement credit {item.reference}"


def _words(text: str | None) -> str:
    return " " + " ".join(re.findall(r"[0-9A-Za-z]+", (text or "").upper())) + " "


def _has_reference(remittance: str | None, reference: str) -> bool:
    ref = _words(reference)
    return ref.strip() != "" and ref in _words(remittance)


def _entry_date(entry: Entry) -> date | None:
    return entry.booking_date or entry.value_date


def balance_check(report: AccountReport) -> BalanceCheck:
    entries = sum(e.signed_cents for e in report.entries if e.booked)
    opening, closing = report.opening, report.closing
    if opening is None or closing is None:
        return BalanceCheck(None if opening is None else opening.amount_cents, entries,
                            None if closing is None else closing.amount_cents, None)
    return BalanceCheck(opening.amount_cents, entries, closing.amount_cents,
                        closing.amount_cents - (opening.amount_cents + entries))


def match_statement(report: AccountReport, *, payouts: Sequence[ExpectedPayout] = (),
                    settlements: Sequence[ExpectedSettlement] = (), repayments: Sequence[ExpectedRepayment] = (),
                    as_of: date) -> MatchResult:
    """Apply the module's rules to one account report; see the module docstring."""
    by_e2e = {p.end_to_end_id: p for p in payouts}
    found: set[int] = set()  # id() of expected items matched by an entry
    returned: set[int] = set()  # id() of payouts that came back
    matched: list[Match] = []
    returns: list[ReturnedPayout] = []
    exceptions: list[MatchException] = []
    leftover: list[Entry] = []

    for entry in (e for e in report.entries if e.booked):
        e2e = entry.end_to_end_id
        payout = by_e2e.get(e2e) if e2e else None
        if entry.credit_debit is CreditDebit.CREDIT and entry.is_return and payout is not None:
            returns.append(ReturnedPayout(entry, payout, entry.return_reason))
            returned.add(id(payout))
            continue
        if entry.credit_debit is CreditDebit.DEBIT and payout is not None and id(payout) not in found:
            found.add(id(payout))
            if entry.amount_cents == payout.amount_cents:
                matched.append(Match(entry, payout))
            else:
                exceptions.append(_mismatch(entry, payout, as_of))
            continue
        if entry.credit_debit is CreditDebit.CREDIT:
            repayment = next((r for r in repayments if id(r) not in found
                              and _has_reference(entry.remittance_info, r.client_reference)), None)
            if repayment is not None:
                found.add(id(repayment))
                if entry.amount_cents == repayment.amount_cents:
                    matched.append(Match(entry, repayment))
                else:
                    exceptions.append(_mismatch(entry, repayment, as_of))
                continue
            settlement = next((s for s in settlements if id(s) not in found
                               and s.amount_cents == entry.amount_cents and s.expected_on == entry.booking_date),
                              None)
            if settlement is not None:
                found.add(id(settlement))
                matched.append(Match(entry, settlement))
                continue
        leftover.append(entry)

    missing: list[Expected] = []
    not_due: list[Expected] = []
    everything: list[Expected] = [*payouts, *settlements, *repayments]
    for item in everything:
        if id(item) in found or id(item) in returned:
            continue
        (missing if item.expected_on <= as_of else not_due).append(item)

    for entry in leftover:
        side: list[Expected] = [m for m in missing if isinstance(m, ExpectedPayout)] \
            if entry.credit_debit is CreditDebit.DEBIT else [m for m in missing if not isinstance(m, ExpectedPayout)]
        candidate = _best(entry.amount_cents, _entry_date(entry), side, lambda m: m.amount_cents,
                          lambda m: m.expected_on)
        booked = _entry_date(entry)
        age = (as_of - booked).days if booked else 0
        hint = f"; best candidate: {_expected_reference(candidate)}" if candidate is not None else ""
        exceptions.append(MatchException(
            ExceptionKind.UNMATCHED_ENTRY, entry.amount_cents, age, entry, None, candidate,
            f"{entry.credit_debit.value} entry of {entry.amount_cents} cents booked {booked} (line {entry.line}) "
            f"matches nothing expected{hint}"))
    for item in missing:
        direction = CreditDebit.DEBIT if isinstance(item, ExpectedPayout) else CreditDebit.CREDIT
        side_entries = [e for e in leftover if e.credit_debit is direction]
        nearest = _best(item.amount_cents, item.expected_on, side_entries, lambda e: e.amount_cents, _entry_date)
        hint = f"; best candidate: entry on line {nearest.line}" if nearest is not None else ""
        exceptions.append(MatchException(
            ExceptionKind.MISSING, item.amount_cents, (as_of - item.expected_on).days, None, item, nearest,
            f"{_expected_reference(item)} of {item.amount_cents} cents expected {item.expected_on} "
            f"is not on the statement{hint}"))

    return MatchResult(tuple(matched), tuple(returns), tuple(exceptions), tuple(not_due), balance_check(report))


def _mismatch(entry: Entry, item: Expected, as_of: date) -> MatchException:
    booked = _entry_date(entry)
    return MatchException(
        ExceptionKind.AMOUNT_MISMATCH, entry.amount_cents, (as_of - booked).days if booked else 0, entry, item,
        None, f"{_expected_reference(item)} expected {item.amount_cents} cents; the entry on line {entry.line} "
        f"is {entry.amount_cents} cents (difference {entry.amount_cents - item.amount_cents})")


def _best(amount: int, on: date | None, pool: Sequence[T], amount_of: Callable[[T], int],
          date_of: Callable[[T], date | None]) -> T | None:
    """Same amount, date within +-CANDIDATE_WINDOW_DAYS; nearest date, then earlier date, then pool order."""
    if on is None:
        return None
    scored: list[tuple[int, int, int, T]] = []
    for index, item in enumerate(pool):
        other = date_of(item)
        if amount_of(item) != amount or other is None:
            continue
        gap = (other - on).days
        if abs(gap) <= CANDIDATE_WINDOW_DAYS:
            scored.append((abs(gap), gap, index, item))
    return min(scored, key=lambda s: s[:3])[3] if scored else None
