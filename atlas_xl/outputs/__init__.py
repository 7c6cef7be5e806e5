"""Outputs: every file Atlas writes (report, dashboard, SEPA file), through one atomic writer."""
