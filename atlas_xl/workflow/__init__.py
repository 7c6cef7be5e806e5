"""The payout service: users, runs, four-eyes approvals, exactly-once execution, credit overrides."""
