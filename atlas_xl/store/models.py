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
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

GENESIS_HASH = "0" * 64  # the "previous hash" of the first audit entry


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
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
    actor: Mapped[str] = mapped_column(String(64), index=True)
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
