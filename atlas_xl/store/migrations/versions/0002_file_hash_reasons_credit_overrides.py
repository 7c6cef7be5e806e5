"""Executed file SHA-256 and pain.001 version on the run, returned/rejected reason on a payout,
credit managers' overrides of credit limits and reserve terms.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payout_runs", sa.Column("file_sha256", sa.String(64), nullable=True))
    op.add_column("payout_runs", sa.Column("pain_version", sa.String(20), nullable=True))
    op.add_column("run_payouts", sa.Column("status_reason", sa.String(200), nullable=True))
    op.create_table(
        "credit_limit_overrides",
        sa.Column("client_id", sa.String(20), primary_key=True),
        sa.Column("credit_limit_cents", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reserve_term_overrides",
        sa.Column("client_id", sa.String(20), primary_key=True),
        sa.Column("reserve", sa.String(10), primary_key=True),
        sa.Column("rate_ppm", sa.BigInteger(), nullable=True),
        sa.Column("hold_days", sa.Integer(), nullable=True),
        sa.Column("hold_basis", sa.String(10), nullable=True),
        sa.Column("cap_cents", sa.BigInteger(), nullable=True),
        sa.Column("fixed_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("min_balance_cents", sa.BigInteger(), nullable=True),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reserve_term_overrides")
    op.drop_table("credit_limit_overrides")
    # batch mode: SQLite cannot drop a column in place
    with op.batch_alter_table("run_payouts") as batch:
        batch.drop_column("status_reason")
    with op.batch_alter_table("payout_runs") as batch:
        batch.drop_column("pain_version")
        batch.drop_column("file_sha256")
