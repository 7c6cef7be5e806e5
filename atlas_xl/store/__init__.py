"""The payout store: database, audit chain, migrations."""
