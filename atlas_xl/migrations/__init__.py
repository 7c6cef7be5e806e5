"""Alembic migrations of the payout store (run through atlas_xl.store.open_store / migrate)."""
