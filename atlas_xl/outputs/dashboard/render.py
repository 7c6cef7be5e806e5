"""The self-contained HTML dashboard: one file with its CSS, JavaScript and data inline (no network at all).

Adapter only: every figure comes from `EngineResult` (int cents, ppm); the page formats them. Data goes
into `<script type="application/json" id="data">` as column arrays (compact, and the page sorts/filters
index arrays over them). Hostile text cannot leave that element: `<`, `>`, `&`, `/`, U+2028 and U+2029
are written as JSON escapes, and the page renders every text with `textContent`, never as markup.
Escaping `/` also means a URL typed into a merchant name never appears as `http://` in the file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from enum import StrEnum
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from atlas_xl import __version__
from atlas_xl.domain.model import BlockReason, LimitStatus, ReserveKind, Subaccount
from atlas_xl.engines.ledger import CLIENT_SUBACCOUNTS, LEGS, Movement
from atlas_xl.engines.payouts import REASON_WORDS, Readiness
from atlas_xl.engines.run import EngineResult
from atlas_xl.errors import ArgumentError
from atlas_xl.outputs.files import write_atomic
from atlas_xl.outputs.report.layout import KPI_ROWS, by_utilisation, releases_per_day, source_name

# At most this many posting legs go into the page (about 25 bytes each as JSON): the window of days
# shrinks (all -> 90 -> 60 -> 30 -> 14 -> 7 days) until it fits. The per-movement totals always cover
# the whole history, so every balance is still explained.
POSTINGS_BUDGET = 200_000
POSTING_WINDOWS = (90, 60, 30, 14, 7)

JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "/": "\\/", "\u2028": "\\u2028",
                "\u2029": "\\u2029"}
SUBACCOUNTS = [s.value for s in CLIENT_SUBACCOUNTS]
MOVEMENTS = [m.value for m in Movement]


def _text(series: pd.Series) -> list[str]:
    return series.astype(object).where(series.notna(), "").astype(str).tolist()


def _ints(series: pd.Series) -> list[int | None] | np.ndarray:
    if series.isna().any():  # nullable (e.g. utilisation without a limit): None -> null
        return [None if pd.isna(v) else int(v) for v in series.astype(object)]
    return series.astype(np.int64).to_numpy()  # astype refuses an infinite float; to_numpy would wrap it


def _dates(series: pd.Series) -> list[str | None]:
    dates = pd.to_datetime(series)
    text = dates.dt.strftime("%Y-%m-%d")
    return text.astype(object).where(dates.notna(), None).tolist()


CONVERT = {"client": _text, "text": _text, "status": _text, "money": _ints, "int": _ints, "ppm": _ints,
           "date": _dates}


def table(frame: pd.DataFrame, columns: list[tuple[str, str, str]]) -> dict[str, object]:
    """(source column, label, type) -> {"columns": [...], "data": {key: [values]}} (column arrays)."""
    return {
        "columns": [{"key": key, "label": label, "type": kind} for key, label, kind in columns],
        "data": {key: CONVERT[kind](frame[key]) for key, _label, kind in columns},
        "rows": len(frame),
    }


def payouts_table(result: EngineResult) -> dict[str, object]:
    out = table(result.payouts, [
        ("client_id", "Client", "client"), ("name", "Name", "text"), ("readiness", "Status", "status"),
        ("amount_cents", "Payable", "money"), ("reason_text", "Reasons", "text"),
        ("days_held", "Days held", "int"), ("last_payout_date", "Last payout", "date"),
        ("last_payout_cents", "Last payout amount", "money"),
        ("available_cents", "Available", "money"), ("carried_forward_cents", "Carried forward", "money"),
        ("net_settlement_cents", "Net settlement", "money"), ("fees_cents", "Fees", "money"),
        ("new_holds_cents", "New reserve holds", "money"), ("releases_cents", "Releases", "money"),
        ("withheld_cents", "Factoring withheld", "money"), ("min_payout_cents", "Minimum payout", "money"),
        ("payout_frequency", "Frequency", "text"), ("reasons", "Reason codes", "text"),
        ("iban_problem", "IBAN problem", "text"),
    ])
    out["filters"] = [{"label": label, "key": "readiness", "value": value.value, "mode": "equals"}
                      for label, value in (("Ready", Readiness.READY), ("Not due", Readiness.NOT_DUE),
                                           ("Blocked", Readiness.BLOCKED))] + [
        {"label": f"Reason: {REASON_WORDS[r]}", "key": "reasons", "value": r.value, "mode": "reason"}
        for r in BlockReason
    ]
    return out


def exposure_table(result: EngineResult) -> dict[str, object]:
    out = table(by_utilisation(result.exposure), [
        ("client_id", "Client", "client"), ("name", "Name", "text"), ("status", "Status", "status"),
        ("exposure_cents", "Exposure", "money"), ("credit_limit_cents", "Credit limit", "money"),
        ("utilization_ppm", "Utilisation", "ppm"),
        ("credit_risk_cents", "Credit risk", "money"), ("acquiring_risk_cents", "Acquiring risk", "money"),
        ("factoring_outstanding_cents", "Factoring outstanding", "money"),
        ("loan_outstanding_cents", "Loan outstanding", "money"),
        ("accrued_interest_cents", "Accrued interest", "money"),
        ("negative_balance_cents", "Negative balance", "money"),
        ("chargeback_risk_cents", "Chargeback risk", "money"),
        ("collateral_cents", "Reserve collateral", "money"),
    ])
    out["filters"] = _value_filters("status", LimitStatus)
    return out


def alerts_table(result: EngineResult) -> dict[str, object]:
    out = table(result.alerts, [
        ("client_id", "Client", "client"), ("name", "Name", "text"), ("status", "Status", "status"),
        ("reason", "Why", "text"), ("exposure_cents", "Exposure", "money"),
        ("credit_limit_cents", "Credit limit", "money"), ("utilization_ppm", "Utilisation", "ppm"),
    ])
    out["filters"] = _value_filters("status", LimitStatus)
    return out


def exceptions_table(result: EngineResult) -> dict[str, object]:
    return table(result.refused, [
        ("client_id", "Client", "text"), ("table", "Input table", "text"), ("source_row", "Row in file", "int"),
        ("reason", "Why it was refused", "text"),
    ])


def releases_table(result: EngineResult) -> dict[str, object]:
    return table(releases_per_day(result.reserve_releases), [
        ("release_date", "Release date", "date"), ("clients", "Clients", "int"), ("amount_cents", "Amount", "money"),
    ])


def _value_filters(key: str, values: type[StrEnum]) -> list[dict[str, str]]:
    """One filter button per value of a closed set, matching the column `key` exactly."""
    return [{"label": v.value, "key": key, "value": v.value, "mode": "equals"} for v in values]


def reserves_table(result: EngineResult) -> dict[str, object]:
    reserves = result.reserves
    money = ["held_cents", "released_cents", "balance_cents", "fixed_cents", "upcoming_release_cents"]
    # The engine lists every client for both reserve kinds; an all-zero row is a reserve the client lacks.
    frame = reserves[(reserves[money].to_numpy() != 0).any(axis=1)]
    names = result.payouts.set_index("client_id")["name"]
    frame = frame.assign(name=frame["client_id"].map(names))
    out = table(frame, [
        ("client_id", "Client", "client"), ("name", "Name", "text"), ("reserve", "Reserve", "status"),
        ("balance_cents", "Balance", "money"), ("held_cents", "Held to date", "money"),
        ("released_cents", "Released to date", "money"), ("fixed_cents", "Fixed part", "money"),
        ("deferred_cents", "Deferred by minimum", "money"),
        ("upcoming_release_cents", "Upcoming releases", "money"),
        ("next_release_date", "Next release", "date"),
    ])
    out["filters"] = _value_filters("reserve", ReserveKind)
    return out


def _offsets(client_index: np.ndarray, n_clients: int) -> np.ndarray:
    """Rows sorted by client: where each client's rows start (length n_clients + 1)."""
    return np.searchsorted(client_index, np.arange(n_clients + 1)).astype(np.int64)


def drilldown(result: EngineResult) -> dict[str, object]:
    grid, ledger = result.grid, result.ledger
    totals = ledger.drilldown()  # sorted by client already; re-sort by index to be sure of the offsets
    ci = grid.client_index(totals["client_id"])
    order = np.argsort(ci, kind="stable")
    ci = ci[order]
    totals = totals.iloc[order]
    balances = ledger.balances()
    return {
        "client": ci.astype(np.int64),
        "sub": pd.Categorical(totals["subaccount"], categories=SUBACCOUNTS).codes.astype(np.int64),
        "mov": pd.Categorical(totals["movement"], categories=MOVEMENTS).codes.astype(np.int64),
        "postings": totals["postings"].to_numpy(dtype=np.int64),
        "amount": totals["amount_cents"].to_numpy(dtype=np.int64),
        "start": _offsets(ci, grid.n_clients),
        "balances": {s: balances[f"{s}_cents"].to_numpy(dtype=np.int64) for s in SUBACCOUNTS},
    }


def client_legs(movement: Movement) -> list[tuple[Subaccount, int]]:
    credited, debited = LEGS[movement]
    return [(acc, sign) for acc, sign in ((credited, 1), (debited, -1)) if acc != Subaccount.EXTERNAL]


def posting_window(result: EngineResult, budget: int = POSTINGS_BUDGET) -> int:
    """The first day index whose postings go into the page (0 = all of them)."""
    per_day = np.zeros(result.grid.n_days, dtype=np.int64)
    for movement, matrix in result.ledger.amounts.items():
        per_day += np.count_nonzero(matrix, axis=0) * len(client_legs(movement))
    if per_day.sum() <= budget:
        return 0
    n_days = result.grid.n_days
    for days in POSTING_WINDOWS:
        if per_day[-days:].sum() <= budget:
            return n_days - days
    return max(n_days - POSTING_WINDOWS[-1], 0)  # still bounded: clients x 7 days x legs


def postings(result: EngineResult, first_day: int) -> dict[str, object]:
    """Client-side posting legs from `first_day` on, grouped by client (offsets) then date and movement."""
    parts: list[tuple[np.ndarray, ...]] = []
    for movement, matrix in result.ledger.amounts.items():
        rows, days = np.nonzero(matrix[:, first_day:])
        amounts = matrix[rows, days + first_day]
        for account, sign in client_legs(movement):
            size = len(rows)
            parts.append((rows, days + first_day, np.full(size, MOVEMENTS.index(movement.value)),
                          np.full(size, SUBACCOUNTS.index(account.value)), sign * amounts))
    if parts:
        client, day, mov, sub, amount = (np.concatenate(col) for col in zip(*parts, strict=True))
    else:
        client = day = mov = sub = amount = np.zeros(0, dtype=np.int64)
    order = np.lexsort((sub, mov, day, client))
    client = client[order]
    return {
        "day": day[order].astype(np.int64),
        "mov": mov[order].astype(np.int64),
        "sub": sub[order].astype(np.int64),
        "amount": amount[order].astype(np.int64),
        "start": _offsets(client, result.grid.n_clients),
    }


def projection(result: EngineResult) -> dict[str, list]:
    p = result.projection
    return {"month": _dates(p["month"]), "principal": _ints(p["principal_cents"]),
            "interest": _ints(p["interest_cents"]), "payment": _ints(p["payment_cents"]),
            "outstanding": _ints(p["outstanding_cents"])}


def payload(result: EngineResult, source: str, budget: int = POSTINGS_BUDGET,
            bank: dict[str, object] | None = None) -> dict[str, object]:
    grid = result.grid
    first_day = posting_window(result, budget)
    start = pd.Timestamp(grid.start)
    window_from = (start + pd.Timedelta(days=first_day)).date().isoformat()
    if first_day == 0:
        note = "All postings since the first data day are listed."
    else:
        note = (f"Postings listed from {window_from} (the last {grid.n_days - first_day} days) to keep the "
                f"page small; the totals per movement above cover the whole history since "
                f"{start.date().isoformat()}.")
    kpis = result.kpis.as_dict()
    return {
        "meta": {"as_of": result.as_of.isoformat(), "source": source_name(source), "version": __version__,
                 "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                 "day0": start.date().isoformat(), "postings_from": window_from, "postings_note": note},
        "kpis": [{"key": key, "label": label, "kind": kind, "value": kpis[key]}
                 for label, key, kind in KPI_ROWS],
        "clients": {"ids": _text(pd.Series(grid.client_ids)),
                    "names": _text(result.payouts.set_index("client_id")["name"].reindex(grid.client_ids))},
        "tables": {"payouts": payouts_table(result), "exposure": exposure_table(result),
                   "reserves": reserves_table(result), "alerts": alerts_table(result),
                   "exceptions": exceptions_table(result), "releases": releases_table(result)},
        "subaccounts": SUBACCOUNTS,
        "movements": MOVEMENTS,
        "drill": drilldown(result),
        "postings": postings(result, first_day),
        "projection": projection(result),
        # the store's bank feedback (workflow.bank.bank_feedback); the section stays hidden without it
        "bank": bank or {"statements": [], "rejected_returned": []},
    }


def to_script_json(data: object) -> str:
    """JSON safe inside a <script> element: no `</script>`, no `<!--`, no line separators JS chokes on.

    The text is what `json.dumps(data, ensure_ascii=False, separators=(",", ":"))` writes with numpy integer
    arrays as lists, byte for byte; those arrays (the drill-down and posting columns, ~2 million numbers at
    10,000 clients) are formatted by Arrow's integer-to-text kernel instead of one Python int at a time
    (~0.01 s instead of ~0.04 s per 434,000 numbers). Arrays may only be values of dicts, 1-D, of integers
    within int64 (`payload` makes no other kind); anything else is a TypeError or ArrowInvalid, not JSON.
    """
    if isinstance(data, np.ndarray):
        return _int_array_json(data)
    if isinstance(data, dict):
        return "{" + ",".join(f"{_plain_json(_key(k))}:{to_script_json(v)}" for k, v in data.items()) + "}"
    return _plain_json(data)


def _key(key: object) -> str:
    if not isinstance(key, str):  # json.dumps would turn 1 and "1" into the same key
        raise TypeError(f"dashboard data keys are text, not {type(key).__name__} {key!r}")
    return key


def _plain_json(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in JSON_ESCAPES.items():  # one C-speed replace per character (translate is per-char)
        text = text.replace(char, escaped)
    return text


def _int_array_json(values: np.ndarray) -> str:
    """`[1,-2,3]` for a 1-D integer array (digits, signs and commas need no escaping)."""
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(f"dashboard arrays are 1-D integers, not {values.ndim}-D {values.dtype}")
    if not len(values):
        return "[]"
    text = pc.cast(pa.array(values, type=pa.int64()), pa.string())  # uint64 past int64: ArrowInvalid
    one_list = pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text)
    return "[" + pc.binary_join(one_list, ",")[0].as_py() + "]"


def _asset(name: str) -> str:
    return resources.files("atlas_xl.outputs.dashboard").joinpath("web", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render(result: EngineResult, source: str, budget: int = POSTINGS_BUDGET,
           bank: dict[str, object] | None = None) -> str:
    css, js = _asset("dashboard.css"), _asset("dashboard.js")
    # Only the page's own style and script (by hash) may run; nothing may be fetched from anywhere.
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    page = _asset("dashboard.html")
    # Fixed markers in our own template; the data is inserted last so no marker can appear inside it.
    parts = (("/*CSP*/", csp), ("/*CSS*/", css), ("/*JS*/", js), ("/*TITLE*/", result.as_of.isoformat()))
    for marker, value in parts:
        page = page.replace(marker, value)
    return page.replace("/*DATA*/", to_script_json(payload(result, source, budget, bank)))


def write_dashboard(result: EngineResult, path: Path, source: str, bank: dict[str, object] | None = None) -> Path:
    """Write the dashboard to `path` atomically (temporary file beside it, then rename)."""
    check_page_path(path)
    return save_page(render(result, source, bank=bank), path)


def check_page_path(path: Path) -> None:
    if Path(path).is_dir():
        raise ArgumentError(f"--out {str(path)!r} is a folder; expected a file name such as dashboard.html")


def save_page(html: str, path: Path) -> Path:
    """Write a rendered page to `path` atomically (temporary file beside it, then rename)."""
    path = Path(path)
    check_page_path(path)
    return write_atomic(path, html.encode("utf-8"))
