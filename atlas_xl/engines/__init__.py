"""Engines: pure computations on the portfolio (no files, Excel or database)."""
