"""Python side of the operations workbook's buttons (called by RunPython from the AtlasMacros VBA module).

Stubs for now: the macro implementations (a small workbook interface with a live-Excel and an openpyxl
implementation, status cell, safe on a second click) are written by the macros work. The names here are
fixed: the workbook's buttons and the VBA module call exactly these functions.
"""

from __future__ import annotations

MACROS = ("load_data", "refresh_all", "propose_run", "approve_run", "generate_sepa", "export_report")


def load_data() -> None:
    """Load portfolio data (CSV folder or XLSX) into the workbook's tables."""
    raise NotImplementedError("load_data is not implemented yet")


def refresh_all() -> None:
    """Refresh every computed sheet (readiness, reserves, exposure, schedules, dashboard)."""
    raise NotImplementedError("refresh_all is not implemented yet")


def propose_run() -> None:
    """Propose a payout run for the as-of date."""
    raise NotImplementedError("propose_run is not implemented yet")


def approve_run() -> None:
    """Approve the proposed payout run as the Windows / Excel user."""
    raise NotImplementedError("approve_run is not implemented yet")


def generate_sepa() -> None:
    """Write the SEPA credit-transfer file of the approved run."""
    raise NotImplementedError("generate_sepa is not implemented yet")


def export_report() -> None:
    """Export the headless report for the workbook's data."""
    raise NotImplementedError("export_report is not implemented yet")
