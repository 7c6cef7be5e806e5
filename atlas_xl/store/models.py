"""The payout store's tables: SQLAlchemy 2 ORM models mirroring the head Alembic revision (a test compares them).

The schema itself is owned by the migrations in ``atlas_xl/store/migrations``; ``atlas_xl.store.database`` opens
and migrates a database.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

GENESIS_HASH = "0" * 64  # the "previous hash" of the first audit entry


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    # revision 0004_identity: names are unique case-insensitively (olga and Olga are one person)
    __table_args__ = (Index("uq_users_name_lower", func.lower(text("name")), unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))


class PayoutRun(Base):
    __tablename__ = "payout_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payout_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    payout_count: Mapped[int] = mapped_column(Integer)
    excluded_count: Mapped[int] = mapped_column(Integer)
    approvals_required: Mapped[int] = mapped_column(Integer)
    # sha256 over the canonical JSON of the snapshotted payouts: execution refuses a run whose rows changed
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    # the paying account is snapshotted too, so the approved file cannot change under the approvers
    debtor_name: Mapped[str] = mapped_column(String(140))
    debtor_iban: Mapped[str] = mapped_column(String(34))
    debtor_bic: Mapped[str] = mapped_column(String(11))
    source: Mapped[str] = mapped_column(String(500))
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    executed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    file_name: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    superseded_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # revision 0002
    file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pain_version: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # revision 0003, the outbox: the file's bytes are stored in the transaction that marks the run executed;
    # the file reaches a folder only after that commit (delivered_to is set at execution, delivered_at once there)
    file_bytes: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    requested_execution_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivered_to: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # revision 0004_policies: the payment policy the run was proposed under (its id and, as canonical JSON, the
    # policy's values and the controls applied); covered by snapshot_sha256. NULL: proposed before policies.
    policy_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    policy_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunPayout(Base):
    __tablename__ = "run_payouts"
    __table_args__ = (UniqueConstraint("run_id", "client_id", name="uq_run_payouts_run_client"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payout_runs.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(2))
    iban: Mapped[str] = mapped_column(String(64))
    bic: Mapped[str | None] = mapped_column(String(20), nullable=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    remittance: Mapped[str] = mapped_column(String(500))
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(20))
    # revision 0002: why a payout was returned or rejected (bank reason code / free text)
    status_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # revision 0004_policies: IBAN, BIC or name differ from the client's last executed payout (needs two approvers)
    bank_details_changed: Mapped[bool] = mapped_column(Boolean, server_default=false())


class RunExclusion(Base):
    __tablename__ = "run_exclusions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payout_runs.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(500))
    reasons: Mapped[str] = mapped_column(String(500))


class RunApproval(Base):
    __tablename__ = "run_approvals"
    # one approval per user per run, enforced by the database as well as by the service
    __table_args__ = (UniqueConstraint("run_id", "user_name", name="uq_run_approvals_run_user"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payout_runs.id"), index=True)
    user_name: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PaidPayout(Base):
    """One row per (client, payout date) that left in an executed run: the database-level never-twice rule."""

    __tablename__ = "paid_payouts"
    __table_args__ = (UniqueConstraint("client_id", "payout_date", name="uq_paid_payouts_client_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(20))
    payout_date: Mapped[date] = mapped_column(Date)
    run_id: Mapped[int] = mapped_column(ForeignKey("payout_runs.id"), index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40), index=True)  # ISO 8601 UTC text: hashed exactly as stored
    # revision 0004_identity: 80 wide, room for "name (demo)" (a 64-character name and the demo mark)
    actor: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    client_id: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    before_json: Mapped[str] = mapped_column(Text)
    after_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The single row naming the last audit entry: detects a truncated tail and serialises writers."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class CreditLimitOverride(Base):
    """revision 0002: a credit manager's limit for a client, replacing the limit in the data."""

    __tablename__ = "credit_limit_overrides"
    client_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    credit_limit_cents: Mapped[int] = mapped_column(BigInteger)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReserveTermOverride(Base):
    """revision 0002: reserve terms set by a credit manager; NULL keeps the value from the data."""

    __tablename__ = "reserve_term_overrides"
    client_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    reserve: Mapped[str] = mapped_column(String(10), primary_key=True)
    rate_ppm: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hold_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hold_basis: Mapped[str | None] = mapped_column(String(10), nullable=True)
    cap_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fixed_amount_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    min_balance_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StorePortfolio(Base):
    """revision 0003: the one portfolio this store serves, fixed by its first proposal (or `store init`)."""

    __tablename__ = "store_portfolio"
    __table_args__ = (CheckConstraint("id = 1", name="ck_store_portfolio_single_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    portfolio_id: Mapped[str] = mapped_column(String(64))
    fixed_by: Mapped[str] = mapped_column(String(64))
    fixed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------------------------------- revision 0004_ledger
# The booked ledger (the daily close): immutable postings, the days booked with their input hash, corrections
# (reversals posted on the next open day), journal exports and period locks. Rows are only ever inserted.


class LedgerPosting(Base):
    """One client's movement of one kind on one day: `amount_cents` credited to `subaccount` and debited from
    `counter_subaccount` (the client's view, engines.ledger.LEGS). A correction row stands on the day it was
    posted and names the booked day it corrects."""

    __tablename__ = "ledger_postings"
    __table_args__ = (Index("ix_ledger_postings_client_day", "client_id", "day"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    client_id: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))
    subaccount: Mapped[str] = mapped_column(String(20))
    counter_subaccount: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    corrects_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    correction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_corrections.id"), nullable=True)


class BookedDay(Base):
    """A day the close booked: the primary key makes booking a day twice impossible."""

    __tablename__ = "booked_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True, autoincrement=False)
    settlements_sha256: Mapped[str] = mapped_column(String(64))
    postings: Mapped[int] = mapped_column(Integer)
    booked_by: Mapped[str] = mapped_column(String(64))
    booked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerCorrection(Base):
    """A correction of one booked day whose inputs changed: the differences are posted on `posted_day` (the
    next open day); `settlements_sha256` is the day's input hash the correction accepted."""

    __tablename__ = "ledger_corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corrected_day: Mapped[date] = mapped_column(Date, index=True)
    posted_day: Mapped[date] = mapped_column(Date)
    settlements_sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    corrected_by: Mapped[str] = mapped_column(String(64))
    corrected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JournalExport(Base):
    """A journal export of a period: the same period and form with the same entries is the same export."""

    __tablename__ = "journal_exports"
    __table_args__ = (UniqueConstraint("from_day", "to_day", "by_client", "entries_sha256",
                                       name="uq_journal_exports_period_entries"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_day: Mapped[date] = mapped_column(Date)
    to_day: Mapped[date] = mapped_column(Date)
    by_client: Mapped[bool] = mapped_column(Boolean)
    entries_sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    exported_by: Mapped[str] = mapped_column(String(64))
    exported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PeriodLock(Base):
    """Finance locked the ledger through `through_day`: no posting may stand on or before it."""

    __tablename__ = "period_locks"
    through_day: Mapped[date] = mapped_column(Date, primary_key=True, autoincrement=False)
    locked_by: Mapped[str] = mapped_column(String(64))
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoreKind(Base):
    """revision 0004_identity: whether this is a demo store. One row, written once when the store is created
    (`atlas-xl store init --demo` or the first open); triggers refuse any UPDATE, DELETE (or TRUNCATE)."""

    __tablename__ = "store_kind"
    __table_args__ = (CheckConstraint("id = 1", name="ck_store_kind_single_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    demo: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- revision 0004_bank: the bank's feedback (pain.002 / camt.054 / camt.053) ------------------------------


class BankMessage(Base):
    """One imported bank file, recorded once by its MsgId and its SHA-256 (a second import changes nothing)."""

    __tablename__ = "bank_messages"
    __table_args__ = (UniqueConstraint("kind", "message_id", name="uq_bank_messages_kind_msg"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # pain.002 / camt.054 / camt.053
    version: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(35))
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    account_iban: Mapped[str | None] = mapped_column(String(34), nullable=True)
    # camt.053: the closing balance (the debtor account's last known balance) and its date
    closing_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closing_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # camt.053: the matching result (matched count, exceptions, balance check) as canonical JSON
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class BankPayoutEvent(Base):
    """One status the bank gave one payout; `applied` says whether it moved the payout along the machine."""

    __tablename__ = "bank_payout_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_message_id: Mapped[int] = mapped_column(ForeignKey("bank_messages.id"), index=True)
    run_payout_id: Mapped[int] = mapped_column(ForeignKey("run_payouts.id"), index=True)
    state: Mapped[str] = mapped_column(String(10))  # accepted / rejected / booked / returned
    reason_code: Mapped[str | None] = mapped_column(String(35), nullable=True)
    reason_text: Mapped[str | None] = mapped_column(String(500), nullable=True)
    bank_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    line: Mapped[int] = mapped_column(Integer)
    applied: Mapped[bool] = mapped_column(Boolean)


class BankPayoutStatus(Base):
    """A payout's current bank state (executed payouts without a row have no answer from the bank yet)."""

    __tablename__ = "bank_payout_status"
    run_payout_id: Mapped[int] = mapped_column(ForeignKey("run_payouts.id"), primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(10))
    reason_code: Mapped[str | None] = mapped_column(String(35), nullable=True)
    reason_text: Mapped[str | None] = mapped_column(String(500), nullable=True)
    bank_message_id: Mapped[int] = mapped_column(ForeignKey("bank_messages.id"))


class OwedAgain(Base):
    """A payout that did not stay paid: a pain.002 rejection or a matched return (source bank), or a manual
    mark confirmed by a second person (source manual). Only these rows make a payout owed again."""

    __tablename__ = "owed_again"
    run_payout_id: Mapped[int] = mapped_column(ForeignKey("run_payouts.id"), primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(10))  # bank / manual
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confirmed_by: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ClientBankHold(Base):
    """A readiness reason the bank's answer put on a client (BANK_DETAILS_REJECTED, COMPLIANCE_HOLD,
    MANUAL_REVIEW). A BANK_DETAILS_REJECTED hold ends once the data's IBAN differs from `rejected_iban` and
    equals `confirmed_iban`, which a second person confirmed (`entered_by` != `confirmed_by`)."""

    __tablename__ = "client_bank_holds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(30))
    reason_code: Mapped[str | None] = mapped_column(String(35), nullable=True)
    rejected_iban: Mapped[str] = mapped_column(String(64))
    run_payout_id: Mapped[int] = mapped_column(ForeignKey("run_payouts.id"))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    new_iban: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confirmed_iban: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PaymentPolicy(Base):
    """revision 0004_policies: the payment controls (who is paid, how much, from which account, with how many
    approvals). One row per version: proposed by an admin, in force once a second admin approves it; the row in
    force is the only one with status in_force. Version 1 is today's defaults, recorded on first use."""

    __tablename__ = "payment_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(20))  # proposed, in_force, replaced, withdrawn
    based_on: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version in force when proposed
    dual_approval_cents: Mapped[int] = mapped_column(BigInteger)
    warning_ppm: Mapped[int] = mapped_column(BigInteger)
    breach_ppm: Mapped[int] = mapped_column(BigInteger)
    debtor_name: Mapped[str] = mapped_column(String(140))
    debtor_iban: Mapped[str] = mapped_column(String(34))
    debtor_bic: Mapped[str] = mapped_column(String(11))
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
