"""Payment policies: the controls that decide who is paid, how much, from which account and with how many
approvals live in the store (proposed by an admin, in force once a second admin approves); each run records the
policy it was proposed under; each payout records whether the client's bank details changed since the last
executed payout.

The initial policy P1 is today's defaults (the values below, frozen here: later defaults do not change a store's
policy); it is recorded in the audit trail by atlas_xl.workflow.policies (through the audit module, the chain's one
writer) before the first change is proposed.

Revision ID: 0004_policies
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004_policies"
down_revision = "0003"
branch_labels = None
depends_on = None


INITIAL_POLICY = {"id": 1, "status": "in_force", "based_on": None, "dual_approval_cents": 100_000_00,
                  "warning_ppm": 800_000, "breach_ppm": 1_000_000, "debtor_name": "Atlas Settlement Demo GmbH",
                  "debtor_iban": "DE89370400440532013000", "debtor_bic": "COBADEFFXXX",
                  "proposed_by": "(initial policy)", "approved_by": "(initial policy)"}


def upgrade() -> None:
    policies = op.create_table(
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
    stamp = datetime.now(UTC)
    op.bulk_insert(policies, [{**INITIAL_POLICY, "proposed_at": stamp, "approved_at": stamp}])
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
