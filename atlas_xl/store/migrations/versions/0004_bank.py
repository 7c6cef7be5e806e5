"""The bank's feedback: imported bank files (by MsgId and SHA-256), each payout's bank status and the events
that led there, the payouts owed again, and the clients the bank's reason codes hold back.

Revision ID: 0004_bank
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_bank"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(35), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("file_name", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported_by", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_iban", sa.String(34), nullable=True),
        sa.Column("closing_cents", sa.BigInteger(), nullable=True),
        sa.Column("closing_on", sa.Date(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.UniqueConstraint("kind", "message_id", name="uq_bank_messages_kind_msg"),
    )
    op.create_table(
        "bank_payout_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_message_id", sa.Integer(), sa.ForeignKey("bank_messages.id"), nullable=False, index=True),
        sa.Column("run_payout_id", sa.Integer(), sa.ForeignKey("run_payouts.id"), nullable=False, index=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("reason_code", sa.String(35), nullable=True),
        sa.Column("reason_text", sa.String(500), nullable=True),
        sa.Column("bank_date", sa.Date(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "bank_payout_status",
        sa.Column("run_payout_id", sa.Integer(), sa.ForeignKey("run_payouts.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("reason_code", sa.String(35), nullable=True),
        sa.Column("reason_text", sa.String(500), nullable=True),
        sa.Column("bank_message_id", sa.Integer(), sa.ForeignKey("bank_messages.id"), nullable=False),
    )
    op.create_table(
        "owed_again",
        sa.Column("run_payout_id", sa.Integer(), sa.ForeignKey("run_payouts.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("confirmed_by", sa.String(64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
    )
    # payouts marked returned / rejected before this revision were owed again at once: they stay so
    op.execute("INSERT INTO owed_again (run_payout_id, source, reason, confirmed_by, confirmed_at) "
               "SELECT id, 'manual', status_reason, '(before 0004_bank)', CURRENT_TIMESTAMP FROM run_payouts "
               "WHERE status IN ('returned', 'rejected')")
    op.create_table(
        "client_bank_holds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.String(20), nullable=False, index=True),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("reason_code", sa.String(35), nullable=True),
        sa.Column("rejected_iban", sa.String(64), nullable=False),
        sa.Column("run_payout_id", sa.Integer(), sa.ForeignKey("run_payouts.id"), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_iban", sa.String(64), nullable=True),
        sa.Column("entered_by", sa.String(64), nullable=True),
        sa.Column("confirmed_iban", sa.String(64), nullable=True),
        sa.Column("confirmed_by", sa.String(64), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    for table in ("client_bank_holds", "owed_again", "bank_payout_status", "bank_payout_events", "bank_messages"):
        op.drop_table(table)
