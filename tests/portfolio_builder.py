"""Build small engine-ready portfolios by hand (frames as the loader returns them, amounts in cents)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from atlas_xl.domain.model import Portfolio

VALID_IBANS = ["DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
               "AT611904300234573201", "BE68539007547034"]


def client(client_id: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "client_id": client_id, "name": f"Example {client_id}", "country": "DE",
        "iban": VALID_IBANS[0], "bic": "COBADEFFXXX", "status": "active", "kyc_status": "verified",
        "credit_limit_cents": 100_000_00, "payout_frequency": "daily", "min_payout_cents": 0,
        "factoring_withhold_rate_ppm": 0, "opening_balance_cents": 0,
    }
    row.update(overrides)
    return row


def daily_sales(client_id: str, start: dt.date, days: int, sales_cents: int, fees_cents: int = 0,
                refunds_cents: int = 0, chargebacks_cents: int = 0) -> list[dict[str, object]]:
    return [{"client_id": client_id, "value_date": pd.Timestamp(start + dt.timedelta(days=i)), "currency": "EUR",
             "sales_cents": sales_cents, "refunds_cents": refunds_cents, "chargebacks_cents": chargebacks_cents,
             "fees_cents": fees_cents} for i in range(days)]


def reserve(client_id: str, kind: str = "rolling", rate_ppm: int = 100_000, hold_days: int = 7,
            basis: str = "calendar", cap_cents: int = -1, fixed_cents: int = 0, min_cents: int = 0) -> dict:
    return {"client_id": client_id, "reserve": kind, "rate_ppm": rate_ppm, "hold_days": hold_days,
            "hold_basis": basis, "cap_cents": cap_cents, "fixed_amount_cents": fixed_cents,
            "min_balance_cents": min_cents}


def loan(loan_id: str, client_id: str, product: str, principal_cents: int, start: dt.date, *,
         rate_ppm: int = 60_000, periods: int = 12, method: str = "annuity", frequency: str = "monthly",
         day_count: str = "30/360") -> dict[str, object]:
    return {"loan_id": loan_id, "client_id": client_id, "product": product, "principal_cents": principal_cents,
            "annual_rate_ppm": rate_ppm, "start_date": pd.Timestamp(start), "periods": periods, "method": method,
            "frequency": frequency, "day_count": day_count}


def _frame(rows: Iterable[dict], columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=columns)
    for column, dtype in dtypes.items():
        frame[column] = frame[column].astype(dtype)
    frame["source_row"] = pd.Series(range(2, len(frame) + 2), dtype="int64")
    return frame


def portfolio(clients: list[dict], settlements: list[dict] = (), reserves: list[dict] = (),
              loans: list[dict] = ()) -> Portfolio:
    return Portfolio(
        clients=_frame(clients, list(client("x")), {"credit_limit_cents": "int64", "min_payout_cents": "int64",
                                                    "factoring_withhold_rate_ppm": "int64",
                                                    "opening_balance_cents": "int64"}),
        settlements=_frame(settlements, ["client_id", "value_date", "currency", "sales_cents", "refunds_cents",
                                         "chargebacks_cents", "fees_cents"],
                           {"value_date": "datetime64[ns]", "sales_cents": "int64", "refunds_cents": "int64",
                            "chargebacks_cents": "int64", "fees_cents": "int64"}),
        loans=_frame(loans, list(loan("x", "x", "term_loan", 1, dt.date(2026, 1, 1))),
                     {"principal_cents": "int64", "annual_rate_ppm": "int64", "start_date": "datetime64[ns]",
                      "periods": "int64"}),
        reserve_terms=_frame(reserves, list(reserve("x")),
                             {"rate_ppm": "int64", "hold_days": "int64", "cap_cents": "int64",
                              "fixed_amount_cents": "int64", "min_balance_cents": "int64"}),
    )


MON = dt.date(2026, 3, 30)  # Easter 2026: Good Friday 04-03 and Easter Monday 04-06 are TARGET2 closing days


def easter_portfolio(**client_overrides: object) -> Portfolio:
    """One client C1 over Easter 2026: 10 days of 1,000.00 sales and 10.00 fees from MON, a 10 % rolling
    reserve held 7 calendar days, a 500.00 factoring advance repaid by withholding 50 % of each payout."""
    return portfolio(
        [client("C1", factoring_withhold_rate_ppm=500_000, **client_overrides)],
        daily_sales("C1", MON, 10, 1000_00, fees_cents=10_00),
        [reserve("C1", rate_ppm=100_000, hold_days=7, basis="calendar")],
        [loan("F1", "C1", "factoring", 500_00, MON, periods=3)],
    )
