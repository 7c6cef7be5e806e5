"""Outbox and one portfolio per store: the executed file's bytes, its requested execution date and its
delivery (when, by whom, into which folder) on the run; the store's portfolio id.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payout_runs") as batch:
        batch.add_column(sa.Column("file_bytes", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("requested_execution_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivered_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("delivered_to", sa.String(1000), nullable=True))
    # runs executed before this revision had their file written before the commit: they count as delivered
    # into the folder their file_name names
    op.execute("UPDATE payout_runs SET delivered_at = COALESCE(executed_at, proposed_at), "
               "delivered_by = executed_by WHERE status IN ('executed', 'settled')")
    op.create_table(
        "store_portfolio",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("portfolio_id", sa.String(64), nullable=False),
        sa.Column("fixed_by", sa.String(64), nullable=False),
        sa.Column("fixed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_store_portfolio_single_row"),
    )


def downgrade() -> None:
    op.drop_table("store_portfolio")
    with op.batch_alter_table("payout_runs") as batch:
        for column in ("delivered_to", "delivered_by", "delivered_at", "requested_execution_date", "file_bytes"):
            batch.drop_column(column)
