"""Merge the parallel 0004 revisions: the daily close's ledger, the identity store kind, the bank
feedback and the payment policies.

They were written side by side from 0003 and touch different tables, so the merge itself changes nothing.

Revision ID: 0005_merge
"""

from __future__ import annotations

revision = "0005_merge"
down_revision = ("0004_ledger", "0004_identity", "0004_bank", "0004_policies")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
