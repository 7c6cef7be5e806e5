"""Plain data the engines take and return: the validated portfolio and closed sets as enums."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

import numpy as np
import pandas as pd


class ClientStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class KycStatus(StrEnum):
    VERIFIED = "verified"
    PENDING = "pending"


class PayoutFrequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Product(StrEnum):
    FACTORING = "factoring"
    TERM_LOAN = "term_loan"


class RepaymentMethod(StrEnum):
    ANNUITY = "annuity"
    LINEAR = "linear"
    BULLET = "bullet"


class Frequency(StrEnum):
    MONTHLY = "monthly"
    WEEKLY = "weekly"


class DayCount(StrEnum):
    THIRTY_360 = "30/360"
    ACT_360 = "ACT/360"
    ACT_365F = "ACT/365F"


class ReserveKind(StrEnum):
    ROLLING = "rolling"
    PARTNER = "partner"


class HoldBasis(StrEnum):
    CALENDAR = "calendar"
    BANKING = "banking"


class Subaccount(StrEnum):
    SETTLEMENT = "settlement"
    ROLLING_RESERVE = "rolling_reserve"
    PARTNER_RESERVE = "partner_reserve"
    FACTORING = "factoring"
    EXTERNAL = "external"  # the counter-party side of money entering or leaving the client's books


class RunStatus(StrEnum):
    """A payout run: proposed -> approved -> executed (file recorded) -> settled; or cancelled / superseded."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    EXECUTED = "executed"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


class PayoutStatus(StrEnum):
    """One payout of a run."""

    PENDING = "pending"  # in a run that has not been executed
    PAID = "paid"  # sent in an executed run's file
    SETTLED = "settled"
    RETURNED = "returned"
    REJECTED = "rejected"


OPEN_RUN_STATUSES = (RunStatus.PROPOSED, RunStatus.APPROVED)
PAID_RUN_STATUSES = (RunStatus.EXECUTED, RunStatus.SETTLED)  # its file has gone to the bank


class BlockReason(StrEnum):
    BLOCKED = "BLOCKED"
    KYC_PENDING = "KYC_PENDING"
    INVALID_IBAN = "INVALID_IBAN"
    INVALID_BIC = "INVALID_BIC"  # a BIC is given and fails its checks (as the SEPA writer checks it)
    NAME_NOT_SEPA = "NAME_NOT_SEPA"  # no character of the name survives the SEPA (EPC) character set
    BELOW_MINIMUM = "BELOW_MINIMUM"
    NEGATIVE_BALANCE = "NEGATIVE_BALANCE"
    LIMIT_BREACHED = "LIMIT_BREACHED"
    NOT_PAYOUT_DAY = "NOT_PAYOUT_DAY"
    NOTHING_TO_PAY = "NOTHING_TO_PAY"
    ABOVE_SEPA_MAXIMUM = "ABOVE_SEPA_MAXIMUM"  # more than one SEPA credit transfer may carry
    # the bank's answers (domain.bank.REASON_POLICY), fed from the store by workflow.history
    BANK_DETAILS_REJECTED = "BANK_DETAILS_REJECTED"
    COMPLIANCE_HOLD = "COMPLIANCE_HOLD"
    MANUAL_REVIEW = "MANUAL_REVIEW"


class LimitStatus(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    BREACH = "BREACH"


TABLES = ("clients", "settlements", "loans", "reserve_terms")
# The sheet (and Excel table) each input table has in the operations workbook
TABLE_SHEETS = {"clients": "Clients", "settlements": "Settlements", "loans": "Loans", "reserve_terms": "ReserveTerms"}
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,20}$"  # an id (client, loan): 1-20 of A-Z a-z 0-9 _ -
EXCEL_MAX_ROWS = 1_048_576  # rows in one sheet, header included

# The dates the engines accept (input dates, as-of dates, loan starts). The engines carry dates as
# datetime64[ns], which ends on 2262-04-11, and run past the input: a 1,200-month loan starting on the last
# day ends in 2199, a 10,000-day reserve hold in 2127. Outside this range numpy would wrap a date around
# silently (9999-01-01 became 1815-03-31), so the loader and the engines refuse it instead.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)
DATE_RANGE = f"from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"  # as messages state it


@overload
def supported_days(days: np.datetime64) -> np.bool_: ...
@overload
def supported_days(days: np.ndarray) -> np.ndarray: ...
def supported_days(days: np.ndarray | np.datetime64) -> np.ndarray | np.bool_:
    """Whether each day (datetime64 of any unit, at midnight) lies in FIRST_DAY .. LAST_DAY."""
    inside: np.ndarray | np.bool_ = (days >= np.datetime64(FIRST_DAY, "D")) & (days <= np.datetime64(LAST_DAY, "D"))
    return inside

# An amount in the data has at most 10 digits before the point (the loader's shape): cents x ppm products
# stay inside int64 (see money.apply_rate), and a stored override may be no larger.
MAX_AMOUNT_CENTS = 10**12 - 1
MAX_TRANSFER_CENTS = 999_999_999_99  # EPC SCT rulebook: at most 999,999,999.99 EUR per credit transfer
MAX_PRINCIPAL_CENTS = 100_000_000_000  # 1 bn EUR a loan: cents x 1e6 ppm x 31 days x 2 < 2**63 in the schedules


@dataclass(frozen=True)
class Portfolio:
    """Validated input frames (see docs/data_model.md for every column)."""

    clients: pd.DataFrame
    settlements: pd.DataFrame
    loans: pd.DataFrame
    reserve_terms: pd.DataFrame
    refused: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"table": pd.Series(dtype=str), "source_row": pd.Series(dtype="int64"),
             "client_id": pd.Series(dtype=str), "reason": pd.Series(dtype=str)}
        )
    )
    sources: tuple[tuple[str, str], ...] = ()  # (table, "file[, sheet]") pairs, for messages
    # Payouts that left in executed runs (from the store): client_id, payout_date, amount_cents. From the
    # first of these dates on, the engine takes the days' payouts from here instead of its rules, so a
    # payout day without an executed run is carried forward, never taken as paid. Empty: the rules alone.
    paid: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"client_id": pd.Series(dtype=str), "payout_date": pd.Series(dtype="datetime64[ns]"),
             "amount_cents": pd.Series(dtype="int64")}
        )
    )

    @property
    def last_date(self) -> pd.Timestamp:
        """The as-of date by default: the last value date in the settlements."""
        return pd.Timestamp(self.settlements["value_date"].max())

    @property
    def first_date(self) -> pd.Timestamp:
        """The first value date in the settlements: the day the opening balances stand on."""
        return pd.Timestamp(self.settlements["value_date"].min())


# ------------------------------------------------------------------ engine limits and closed sets (engines task)
# Loan periods: cents x ppm x days of every period stays exact in int64 up to this many (engines.schedules),
# and the loader refuses more, located, instead of letting the schedules engine fail on a whole table.
MAX_PERIODS = 1200
NO_CAP = -1  # a reserve's cap_cents when the cap cell is blank: no cap


class ColumnKind(StrEnum):
    """What an input column holds (domain.schemas): decides its raw-text check and its loaded dtype."""

    ID = "id"
    TEXT = "text"
    COUNTRY = "country"
    CURRENCY = "currency"
    ENUM = "enum"
    AMOUNT = "amount"  # loaded as int64 cents (`<name>_cents`)
    RATE = "rate"  # loaded as int64 ppm (`<name>_ppm`)
    INT = "int"
    DATE = "date"


class Movement(StrEnum):
    """A ledger movement type: each is two postings (engines.ledger.LEGS)."""

    OPENING_BALANCE = "opening_balance"
    SALE = "sale"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    FEE = "fee"
    RESERVE_HOLD = "reserve_hold"
    RESERVE_RELEASE = "reserve_release"
    PARTNER_RESERVE_HOLD = "partner_reserve_hold"
    PARTNER_RESERVE_RELEASE = "partner_reserve_release"
    FACTORING_ADVANCE = "factoring_advance"
    FACTORING_WITHHOLD = "factoring_withhold"
    PAYOUT = "payout"


# ------------------------------------------------------------------ the daily close (booked ledger, task K)
class OpeningItem(StrEnum):
    """What a row of the optional opening-balances table holds for a client at the cut-over date."""

    SETTLEMENT = "settlement"  # the settlement balance (may be negative: owed by the client)
    ROLLING_RESERVE = "rolling_reserve"  # a rolling-reserve hold, released on its release_date
    PARTNER_RESERVE = "partner_reserve"  # a partner-reserve hold, released on its release_date
    FACTORING_ADVANCE = "factoring_advance"  # factoring advances outstanding (owed by the client)


# The optional input tables of the close: not part of a portfolio (TABLES), read only by `close` / `journal`
LEDGER_TABLES = ("opening_balances", "chart_of_accounts")
LEDGER_TABLE_SHEETS = {"opening_balances": "OpeningBalances", "chart_of_accounts": "ChartOfAccounts"}
