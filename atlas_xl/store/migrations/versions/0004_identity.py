"""Identity: the store kind (demo or not, fixed once), case-insensitively unique user names, room in the audit's
actor column for the demo mark ("alice (demo)").

The store_kind row is written here, once: a database created by `open_store(url, demo=True)` (`atlas-xl store
init --demo`) is a demo store; every other database, including every store upgraded from 0003 (it may hold real
runs), is a normal one. Triggers refuse to change or remove the row, so neither the Python API nor raw SQL can
turn a demo store into a normal one or back.

Revision ID: 0004_identity
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004_identity"
down_revision = "0003"
branch_labels = None
depends_on = None

FIXED = "the store kind (demo or not) is fixed when the store is created"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION atlas_store_kind_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{FIXED}';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "store_kind",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_store_kind_single_row"),
    )
    demo = bool(op.get_context().config.attributes.get("atlas_demo", False))  # type: ignore[union-attr]
    op.get_bind().execute(sa.text("INSERT INTO store_kind (id, demo, created_at) VALUES (1, :demo, :at)"),
                          {"demo": demo, "at": datetime.now(UTC)})
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER store_kind_fixed BEFORE UPDATE OR DELETE ON store_kind "
                   "FOR EACH ROW EXECUTE FUNCTION atlas_store_kind_fixed()")
        op.execute("CREATE TRIGGER store_kind_no_truncate BEFORE TRUNCATE ON store_kind "
                   "FOR EACH STATEMENT EXECUTE FUNCTION atlas_store_kind_fixed()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER store_kind_no_{event.lower()} BEFORE {event} ON store_kind "
                       f"BEGIN SELECT RAISE(ABORT, '{FIXED}'); END")
    op.create_index("uq_users_name_lower", "users", [sa.text("lower(name)")], unique=True)
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("actor", type_=sa.String(80), existing_type=sa.String(64), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("actor", type_=sa.String(64), existing_type=sa.String(80), existing_nullable=False)
    op.drop_index("uq_users_name_lower", "users")
    op.drop_table("store_kind")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS atlas_store_kind_fixed()")
