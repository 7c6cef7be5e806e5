"""The booked ledger (the daily close): postings, booked days, corrections, journal exports, period locks.

Revision ID: 0004_ledger
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ledger"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("corrected_day", sa.Date(), nullable=False),
        sa.Column("posted_day", sa.Date(), nullable=False),
        sa.Column("settlements_sha256", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("corrected_by", sa.String(64), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_corrections_corrected_day", "ledger_corrections", ["corrected_day"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("client_id", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("subaccount", sa.String(20), nullable=False),
        sa.Column("counter_subaccount", sa.String(20), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("corrects_day", sa.Date(), nullable=True),
        sa.Column("correction_id", sa.Integer(), sa.ForeignKey("ledger_corrections.id"), nullable=True),
    )
    op.create_index("ix_ledger_postings_day", "ledger_postings", ["day"])
    op.create_index("ix_ledger_postings_client_day", "ledger_postings", ["client_id", "day"])
    op.create_table(
        "booked_days",
        sa.Column("day", sa.Date(), primary_key=True, autoincrement=False),
        sa.Column("settlements_sha256", sa.String(64), nullable=False),
        sa.Column("postings", sa.Integer(), nullable=False),
        sa.Column("booked_by", sa.String(64), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "journal_exports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("to_day", sa.Date(), nullable=False),
        sa.Column("by_client", sa.Boolean(), nullable=False),
        sa.Column("entries_sha256", sa.String(64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exported_by", sa.String(64), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("from_day", "to_day", "by_client", "entries_sha256",
                            name="uq_journal_exports_period_entries"),
    )
    op.create_table(
        "period_locks",
        sa.Column("through_day", sa.Date(), primary_key=True, autoincrement=False),
        sa.Column("locked_by", sa.String(64), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("period_locks", "journal_exports", "booked_days", "ledger_postings", "ledger_corrections"):
        op.drop_table(table)
