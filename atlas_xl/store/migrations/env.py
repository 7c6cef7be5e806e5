"""Alembic environment: always online, on the connection that atlas_xl.store.database.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from atlas_xl.store.models import Base

# An arbitrary constant: every Atlas process migrating the same PostgreSQL database waits on this lock,
# so two first-time `atlas-xl` runs cannot create the schema twice.
MIGRATION_LOCK_KEY = 7_201_133_004

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the Atlas migrations through atlas_xl.store.database.migrate(engine), not the alembic CLI")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.run_migrations()
