"""The credit transfer, as both the pain.001 writer and the reviewer list take it.

Its own module so that `pain001` (which re-exports the reviewer list) and `reviewer_list` both import it at the
top, without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreditTransfer:
    end_to_end_id: str  # <= 35 EPC chars, traceable to the payout (e.g. "<run_id>-<client_id>")
    client_id: str
    amount_cents: int  # > 0
    creditor_name: str
    creditor_iban: str
    creditor_bic: str | None
    remittance: str  # unstructured remittance text
    currency: str = "EUR"
