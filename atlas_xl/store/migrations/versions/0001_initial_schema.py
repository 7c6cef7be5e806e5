"""Initial schema: users, payout runs with their payouts, exclusions and approvals, paid payouts, audit trail.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "payout_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payout_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("payout_count", sa.Integer(), nullable=False),
        sa.Column("excluded_count", sa.Integer(), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=False),
        sa.Column("debtor_name", sa.String(140), nullable=False),
        sa.Column("debtor_iban", sa.String(34), nullable=False),
        sa.Column("debtor_bic", sa.String(11), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.String(64), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_name", sa.String(1000), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
    )
    op.create_index("ix_payout_runs_payout_date", "payout_runs", ["payout_date"])
    op.create_table(
        "run_payouts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payout_runs.id"), nullable=False),
        sa.Column("client_id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("iban", sa.String(64), nullable=False),
        sa.Column("bic", sa.String(20), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("remittance", sa.String(500), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.UniqueConstraint("run_id", "client_id", name="uq_run_payouts_run_client"),
    )
    op.create_index("ix_run_payouts_run_id", "run_payouts", ["run_id"])
    op.create_table(
        "run_exclusions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payout_runs.id"), nullable=False),
        sa.Column("client_id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("reasons", sa.String(500), nullable=False),
    )
    op.create_index("ix_run_exclusions_run_id", "run_exclusions", ["run_id"])
    op.create_table(
        "run_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payout_runs.id"), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "user_name", name="uq_run_approvals_run_user"),
    )
    op.create_index("ix_run_approvals_run_id", "run_approvals", ["run_id"])
    op.create_table(
        "paid_payouts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.String(20), nullable=False),
        sa.Column("payout_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payout_runs.id"), nullable=False),
        sa.UniqueConstraint("client_id", "payout_date", name="uq_paid_payouts_client_date"),
    )
    op.create_index("ix_paid_payouts_run_id", "paid_payouts", ["run_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.String(20), nullable=True),
        sa.Column("before_json", sa.Text(), nullable=False),
        sa.Column("after_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_run_id", "audit_log", ["run_id"])
    op.create_index("ix_audit_log_client_id", "audit_log", ["client_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    for table in ("audit_head", "audit_log", "paid_payouts", "run_approvals", "run_exclusions",
                  "run_payouts", "payout_runs", "users"):
        op.drop_table(table)
