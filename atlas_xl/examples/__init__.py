"""Examples: the generated example portfolio and the bank's side of its payouts (demo and test data)."""
