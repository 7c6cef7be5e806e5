"""Alembic migrations of the payout store (run through atlas_xl.store.database.open_store / migrate)."""
