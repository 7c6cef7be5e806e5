"""The report's Reconciliation sheet: the bank's side of the books (workflow.bank.bank_feedback's record).

One sheet, one row per line: for each imported camt.053 statement its balance check (opening + entries =
closing, the difference to the cent), its matched entries (count and total) and every exception with its age,
amount and best candidate; then the payouts the bank rejected or returned with the reason policy's action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

SHEET = "Reconciliation"


def reconciliation_frame(bank: Mapping[str, Any]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for statement in bank.get("statements", ()):
        where = f"statement {statement['message_id']} ({statement['from']} to {statement['to']})"
        bal = statement["balance"]
        check = "OK" if bal["ok"] else ("UNKNOWN" if bal["difference_cents"] is None else "DIFFERS")
        rows.append({"section": "balance check", "source": where, "item": f"closing - (opening + entries): {check}",
                     "amount_cents": bal["difference_cents"], "age_days": None, "candidate": "",
                     "detail": f"opening {bal['opening_cents']} + entries {bal['entries_cents']} = closing "
                               f"{bal['closing_cents']} (cents)"})
        rows.append({"section": "matched", "source": where, "item": f"{statement['matched_count']} entries matched",
                     "amount_cents": statement["matched_cents"], "age_days": None, "candidate": "", "detail": ""})
        rows += [{"section": f"exception: {x['kind']}", "source": where, "item": x["reference"],
                  "amount_cents": x["amount_cents"], "age_days": x["age_days"], "candidate": x["candidate"],
                  "detail": x["message"]} for x in statement["exceptions"]]
    rows += [{"section": f"payout {p['state']}", "source": p["run"], "item": f"{p['client_id']} ({p['end_to_end_id']})",
              "amount_cents": p["amount_cents"], "age_days": None, "candidate": "",
              "detail": f"reason {p['reason_code'] or '-'}: client {p['action']}; owed again"}
             for p in bank.get("rejected_returned", ())]
    return pd.DataFrame(rows, columns=["section", "source", "item", "amount_cents", "age_days", "candidate",
                                       "detail"]).astype({"amount_cents": "Int64", "age_days": "Int64"})


# (header, source column, kind, width): layout.Col's fields; layout builds the Cols (it imports this module)
COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("Section", "section", "text", 24), ("Statement / run", "source", "text", 40), ("Item", "item", "text", 36),
    ("Amount", "amount_cents", "money", 16), ("Age (days)", "age_days", "int", 10),
    ("Best candidate", "candidate", "text", 30), ("Detail", "detail", "text", 90))
NOTE = ("The bank's side: each imported camt.053's balance check and matching (atlas-xl bank import), and the "
        "payouts the bank rejected or returned.")


def has_feedback(bank: Mapping[str, Any] | None) -> bool:
    return bool(bank and (bank.get("statements") or bank.get("rejected_returned")))
