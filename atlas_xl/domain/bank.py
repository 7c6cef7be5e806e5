"""The bank's answers to a payment file, as typed frozen records: pain.002 status reports, camt.054
notifications and camt.053 statements, plus the one reason-code policy.

Amounts are integer cents (always >= 0 on an entry, with its credit/debit side beside it; balances are signed:
a debit balance is negative). Dates are ``datetime.date``. ``line`` fields give the line in the bank's file so a
user can find the element.

Reason policy (``REASON_POLICY``, the only place it is written down):

==========================  ===================  =====================================================
reason codes                action               why
==========================  ===================  =====================================================
AC01 AC04 AC06 BE04 RC01    BLOCK_BANK_DETAILS   account wrong, closed or blocked, creditor or bank
                                                 identifier wrong: the client is blocked until new bank
                                                 details are entered and confirmed by a second person
RR01 RR02 RR03 RR04         COMPLIANCE_HOLD      regulatory reporting / sanctions data missing or wrong
MS02 MS03                   MANUAL_REVIEW        refused by the creditor / reason not specified
anything else (AM04 ...)    MANUAL_REVIEW        someone looks at it
==========================  ===================  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType


class MessageKind(StrEnum):
    STATUS_REPORT = "pain.002"
    NOTIFICATION = "camt.054"
    STATEMENT = "camt.053"


class TransactionStatus(StrEnum):
    """ISO 20022 ExternalPaymentTransactionStatus1Code / group status codes Atlas understands."""

    RCVD = "RCVD"  # received
    PDNG = "PDNG"  # pending
    ACTC = "ACTC"  # accepted technical validation
    ACCP = "ACCP"  # accepted customer profile
    ACSP = "ACSP"  # accepted settlement in process
    ACSC = "ACSC"  # accepted settlement completed (debtor account debited)
    ACCC = "ACCC"  # accepted settlement completed (creditor account credited)
    ACWC = "ACWC"  # accepted with change
    ACWP = "ACWP"  # accepted without posting
    ACFC = "ACFC"  # accepted funds checked
    ACIS = "ACIS"  # accepted and initiated for settlement
    PART = "PART"  # partially accepted (group / payment information level)
    RJCT = "RJCT"  # rejected
    CANC = "CANC"  # cancelled


class StatusOutcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARTIAL = "partial"
    PENDING = "pending"


_OUTCOME = {
    TransactionStatus.RCVD: StatusOutcome.PENDING,
    TransactionStatus.PDNG: StatusOutcome.PENDING,
    TransactionStatus.PART: StatusOutcome.PARTIAL,
    TransactionStatus.RJCT: StatusOutcome.REJECTED,
    TransactionStatus.CANC: StatusOutcome.REJECTED,
}


def status_outcome(status: TransactionStatus) -> StatusOutcome:
    """Every AC.. status is an acceptance; RCVD/PDNG pending; PART partial; RJCT/CANC rejected."""
    return _OUTCOME.get(status, StatusOutcome.ACCEPTED)


class ReasonAction(StrEnum):
    BLOCK_BANK_DETAILS = "block_bank_details"
    COMPLIANCE_HOLD = "compliance_hold"
    MANUAL_REVIEW = "manual_review"


class ReasonCode(StrEnum):
    """ISO 20022 ExternalStatusReason1Code / ExternalReturnReason1Code values named in the policy or common in
    SEPA credit transfer rejects and returns. A bank may send others: records keep the code as text."""

    AC01 = "AC01"  # incorrect account number
    AC04 = "AC04"  # closed account number
    AC06 = "AC06"  # blocked account
    AG01 = "AG01"  # transaction forbidden on this type of account
    AG02 = "AG02"  # invalid bank operation code
    AM04 = "AM04"  # insufficient funds
    AM05 = "AM05"  # duplication
    BE04 = "BE04"  # missing creditor address
    CUST = "CUST"  # requested by customer
    DUPL = "DUPL"  # duplicate payment
    FF01 = "FF01"  # invalid file format
    FOCR = "FOCR"  # following cancellation request
    MD07 = "MD07"  # end customer deceased
    MS02 = "MS02"  # not specified reason customer generated
    MS03 = "MS03"  # not specified reason agent generated
    RC01 = "RC01"  # bank identifier incorrect
    RR01 = "RR01"  # missing debtor account or identification (regulatory)
    RR02 = "RR02"  # missing debtor name or address (regulatory)
    RR03 = "RR03"  # missing creditor name or address (regulatory)
    RR04 = "RR04"  # regulatory reason
    TM01 = "TM01"  # cut-off time


_POLICY: dict[str, ReasonAction] = {}
for _code in ("AC01", "AC04", "AC06", "BE04", "RC01"):
    _POLICY[_code] = ReasonAction.BLOCK_BANK_DETAILS
for _code in ("RR01", "RR02", "RR03", "RR04"):
    _POLICY[_code] = ReasonAction.COMPLIANCE_HOLD
for _code in ("MS02", "MS03"):
    _POLICY[_code] = ReasonAction.MANUAL_REVIEW
del _code

REASON_POLICY: Mapping[str, ReasonAction] = MappingProxyType(_POLICY)
"""Reason code -> action; codes not listed go to MANUAL_REVIEW (see ``reason_action``)."""


def reason_action(code: str | None) -> ReasonAction:
    """The policy's action for a reject or return reason code (None or unknown -> MANUAL_REVIEW)."""
    if code is None:
        return ReasonAction.MANUAL_REVIEW
    return REASON_POLICY.get(code.strip().upper(), ReasonAction.MANUAL_REVIEW)


class BankPayoutState(StrEnum):
    """A payout's state machine after execution: executed -> accepted | rejected (pain.002) -> booked
    (camt.054 / camt.053 debit) -> returned (camt.054 / camt.053 return). Rejected and returned are final."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    BOOKED = "booked"
    RETURNED = "returned"


_NEXT: dict[BankPayoutState | None, frozenset[BankPayoutState]] = {
    None: frozenset(BankPayoutState),  # executed: a later message may be the first Atlas sees
    BankPayoutState.ACCEPTED: frozenset({BankPayoutState.BOOKED, BankPayoutState.RETURNED}),
    BankPayoutState.BOOKED: frozenset({BankPayoutState.RETURNED}),
    BankPayoutState.REJECTED: frozenset(),
    BankPayoutState.RETURNED: frozenset(),
}


def moves_forward(current: BankPayoutState | None, new: BankPayoutState) -> bool:
    """Whether ``new`` moves a payout in ``current`` (None: executed, no answer yet) forward along the machine;
    an older or conflicting status (ACCP after booked, RJCT after booked) is recorded but not applied."""
    return new in _NEXT[current]


def reason_block(action: ReasonAction) -> str:
    """The client readiness reason (model.BlockReason value) of a policy action."""
    return {ReasonAction.BLOCK_BANK_DETAILS: "BANK_DETAILS_REJECTED", ReasonAction.COMPLIANCE_HOLD: "COMPLIANCE_HOLD",
            ReasonAction.MANUAL_REVIEW: "MANUAL_REVIEW"}[action]


class CreditDebit(StrEnum):
    CREDIT = "CRDT"
    DEBIT = "DBIT"


# --- pain.002 -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusReason:
    code: str | None  # Rsn/Cd (or Rsn/Prtry), e.g. "AC04"
    text: str | None  # AddtlInf lines joined with a space

    @property
    def action(self) -> ReasonAction:
        return reason_action(self.code)


@dataclass(frozen=True)
class TransactionStatusRecord:
    """One TxInfAndSts: the status of one credit transfer of the original payment file."""

    original_msg_id: str
    original_pmt_inf_id: str
    end_to_end_id: str | None
    status: TransactionStatus | None  # None when only the payment-information level carries it
    reason_code: str | None
    reason_text: str | None
    line: int

    @property
    def outcome(self) -> StatusOutcome | None:
        return None if self.status is None else status_outcome(self.status)

    @property
    def action(self) -> ReasonAction | None:
        """What to do about a rejected transfer (None when it was not rejected)."""
        if self.outcome is not StatusOutcome.REJECTED:
            return None
        return reason_action(self.reason_code)


@dataclass(frozen=True)
class PaymentInfoStatus:
    """One OrgnlPmtInfAndSts: the status of one PmtInf block of the original file."""

    original_pmt_inf_id: str
    status: TransactionStatus | None
    reasons: tuple[StatusReason, ...]
    line: int


@dataclass(frozen=True)
class StatusReport:
    """A pain.002 Customer Payment Status Report."""

    file: str
    version: str  # e.g. "pain.002.001.11"
    message_id: str
    created_at: datetime
    original_msg_id: str
    original_msg_name: str  # e.g. "pain.001.001.09"
    group_status: TransactionStatus | None
    group_reasons: tuple[StatusReason, ...]
    payment_infos: tuple[PaymentInfoStatus, ...]
    transactions: tuple[TransactionStatusRecord, ...]

    @property
    def rejected(self) -> tuple[TransactionStatusRecord, ...]:
        return tuple(t for t in self.transactions if t.outcome is StatusOutcome.REJECTED)

    def by_end_to_end_id(self) -> dict[str, TransactionStatusRecord]:
        return {t.end_to_end_id: t for t in self.transactions if t.end_to_end_id}


# --- camt.053 / camt.054 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankTransactionCode:
    domain: str | None  # e.g. "PMNT"
    family: str | None  # e.g. "ICDT" (issued credit transfers), "RCDT" (received)
    subfamily: str | None  # e.g. "ESCT", "RRTN" (return), "BOOK"
    proprietary: str | None = None

    @property
    def is_return(self) -> bool:
        return self.subfamily == "RRTN"


@dataclass(frozen=True)
class Balance:
    code: str  # OPBD, CLBD, PRCD, OPAV, CLAV, ITBD ...
    amount_cents: int  # signed: a debit (DBIT) balance is negative
    on: date


@dataclass(frozen=True)
class EntryDetail:
    """One TxDtls of an entry (a single transfer; a batch entry has several)."""

    end_to_end_id: str | None
    amount_cents: int | None  # TxDtls/Amt (V08) or AmtDtls/TxAmt (V02); None when the bank leaves it out
    remittance_info: str | None  # RmtInf/Ustrd lines joined with a space
    return_reason: str | None  # RtrInf/Rsn/Cd (or Prtry)
    return_text: str | None  # RtrInf/AddtlInf


@dataclass(frozen=True)
class Entry:
    amount_cents: int  # > 0; the side is credit_debit
    credit_debit: CreditDebit
    reversal: bool
    status: str  # BOOK, PDNG, INFO
    booking_date: date | None
    value_date: date | None
    bank_transaction_code: BankTransactionCode
    account_servicer_ref: str | None
    details: tuple[EntryDetail, ...]
    additional_info: str | None
    line: int

    @property
    def signed_cents(self) -> int:
        return self.amount_cents if self.credit_debit is CreditDebit.CREDIT else -self.amount_cents

    @property
    def booked(self) -> bool:
        return self.status == "BOOK"

    @property
    def end_to_end_id(self) -> str | None:
        """The transfer's EndToEndId when the entry is a single transfer that carries one."""
        ids = [d.end_to_end_id for d in self.details if d.end_to_end_id and d.end_to_end_id != "NOTPROVIDED"]
        return ids[0] if len(ids) == 1 and len(self.details) == 1 else None

    @property
    def remittance_info(self) -> str | None:
        parts = [d.remittance_info for d in self.details if d.remittance_info]
        return " ".join(parts) if parts else None

    @property
    def return_reason(self) -> str | None:
        reasons = [d.return_reason for d in self.details if d.return_reason]
        return reasons[0] if reasons else None

    @property
    def is_return(self) -> bool:
        return self.bank_transaction_code.is_return or self.return_reason is not None


@dataclass(frozen=True)
class AccountReport:
    """One <Stmt> (camt.053) or <Ntfctn> (camt.054): one account's balances and entries."""

    report_id: str
    account_iban: str | None
    created_at: datetime | None
    balances: tuple[Balance, ...]
    entries: tuple[Entry, ...]
    line: int

    def balance(self, *codes: str) -> Balance | None:
        """The first balance with the first of ``codes`` that the report has."""
        for code in codes:
            for bal in self.balances:
                if bal.code == code:
                    return bal
        return None

    @property
    def opening(self) -> Balance | None:
        """Opening booked balance OPBD; else the previous closing PRCD; else opening available OPAV."""
        return self.balance("OPBD", "PRCD", "OPAV")

    @property
    def closing(self) -> Balance | None:
        """Closing booked balance CLBD; else closing available CLAV."""
        return self.balance("CLBD", "CLAV")


@dataclass(frozen=True)
class BankReportFile:
    """A camt.053 statement file (kind STATEMENT) or a camt.054 notification file (kind NOTIFICATION)."""

    file: str
    kind: MessageKind
    version: str  # e.g. "camt.053.001.08"
    message_id: str
    created_at: datetime
    reports: tuple[AccountReport, ...]

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(e for r in self.reports for e in r.entries)
