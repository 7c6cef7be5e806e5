"""Payment policies: the controls that decide who is paid, how much, from which account and with how many
approvals live in the store (proposed by an admin, in force once a second admin approves); each run records the
policy it was proposed under; each payout records whether the client's bank details changed since the last
executed payout.

The initial policy (today's defaults) is written and audited on the store's first use after this revision
(atlas_xl.workflow.policies.policy_in_force), through the audit module, so that the audit chain has one writer.

Revision ID: 0004_policies
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_policies"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_policies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("based_on", sa.Integer(), nullable=True),
        sa.Column("dual_approval_cents", sa.BigInteger(), nullable=False),
        sa.Column("warning_ppm", sa.BigInteger(), nullable=False),
        sa.Column("breach_ppm", sa.BigInteger(), nullable=False),
        sa.Column("debtor_name", sa.String(140), nullable=False),
        sa.Column("debtor_iban", sa.String(34), nullable=False),
        sa.Column("debtor_bic", sa.String(11), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("payout_runs") as batch:
        batch.add_column(sa.Column("policy_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("policy_json", sa.Text(), nullable=True))
    with op.batch_alter_table("run_payouts") as batch:
        batch.add_column(sa.Column("bank_details_changed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("run_payouts") as batch:
        batch.drop_column("bank_details_changed")
    with op.batch_alter_table("payout_runs") as batch:
        batch.drop_column("policy_json")
        batch.drop_column("policy_id")
    op.drop_table("payment_policies")
