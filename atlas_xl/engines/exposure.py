"""Credit exposure per client, limit utilisation, OK / WARNING / BREACH, alerts and concentration.

exposure = factoring outstanding + term-loan outstanding + accrued interest + negative settlement balance
           + chargeback risk (chargeback_risk_rate x gross sales of the last `recent_days` days)
           - reserve collateral (rolling + partner reserve balances), floored at 0.
Every component is measured on the as-of date before that day's payout. Utilisation = exposure / limit
in ppm, rounded half up. Without a limit (zero) the utilisation is blank: a client with credit products
(any factoring advance or term loan) and any exposure is then a BREACH; a client without credit products
is not (its only exposure is the acquiring side, which no credit limit was set for).
Shown apart: credit risk (factoring + term loans + accrued interest) and acquiring risk (negative
settlement balance + chargeback risk), before collateral.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from atlas_xl.domain.model import LimitStatus, Product
from atlas_xl.domain.money import apply_rate, format_eur
from atlas_xl.settings import Settings

COMPONENTS = (
    "factoring_outstanding_cents",
    "loan_outstanding_cents",
    "accrued_interest_cents",
    "negative_balance_cents",
    "chargeback_risk_cents",
)
CREDIT_COMPONENTS = COMPONENTS[:3]  # factoring, term loans, accrued interest
ACQUIRING_COMPONENTS = COMPONENTS[3:]  # negative settlement balance, chargeback risk
ALERT_COLUMNS = ["client_id", "name", "status", "reason", "exposure_cents", "credit_limit_cents",
                 "utilization_ppm", *COMPONENTS, "collateral_cents"]


def per_client_loans(client_ids: np.ndarray, positions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Term-loan outstanding and accrued interest (all loans) summed per client, aligned to client_ids."""
    index = pd.Index(client_ids)
    if positions.empty:
        zeros = np.zeros(len(client_ids), dtype=np.int64)
        return zeros, zeros.copy()
    term = positions[positions["product"] == Product.TERM_LOAN.value]
    outstanding = term.groupby("client_id")["outstanding_cents"].sum().reindex(index, fill_value=0)
    accrued = positions.groupby("client_id")["accrued_interest_cents"].sum().reindex(index, fill_value=0)
    return outstanding.to_numpy(dtype=np.int64), accrued.to_numpy(dtype=np.int64)


def exposure_table(
    clients: pd.DataFrame,
    *,
    factoring_outstanding: np.ndarray,
    settlement_balance: np.ndarray,
    reserve_collateral: np.ndarray,
    recent_sales: np.ndarray,
    loan_positions: pd.DataFrame,
    settings: Settings,
    has_credit: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per client (see the module's rules); `has_credit`: per client, whether it has any credit
    product (None: every client is taken to have one)."""
    client_ids = clients["client_id"].to_numpy(dtype=object)
    loan_outstanding, accrued = per_client_loans(client_ids, loan_positions)
    frame = pd.DataFrame(
        {
            "client_id": client_ids,
            "name": clients["name"].to_numpy(dtype=object),
            "credit_limit_cents": clients["credit_limit_cents"].to_numpy(dtype=np.int64),
            "factoring_outstanding_cents": np.maximum(factoring_outstanding, 0),
            "loan_outstanding_cents": loan_outstanding,
            "accrued_interest_cents": accrued,
            "negative_balance_cents": np.maximum(-settlement_balance, 0),
            "chargeback_risk_cents": apply_rate(recent_sales, settings.chargeback_risk_ppm),
            "collateral_cents": reserve_collateral,
        }
    )
    gross = frame[list(COMPONENTS)].sum(axis=1).to_numpy(dtype=np.int64)
    frame["credit_risk_cents"] = frame[list(CREDIT_COMPONENTS)].sum(axis=1).to_numpy(dtype=np.int64)
    frame["acquiring_risk_cents"] = frame[list(ACQUIRING_COMPONENTS)].sum(axis=1).to_numpy(dtype=np.int64)
    frame["gross_exposure_cents"] = gross
    frame["exposure_cents"] = np.maximum(gross - reserve_collateral, 0)
    limit = frame["credit_limit_cents"].to_numpy(dtype=np.int64)
    exposure = frame["exposure_cents"].to_numpy(dtype=np.int64)
    safe_limit = np.where(limit > 0, limit, 1)
    utilization = _ratio_ppm(exposure, safe_limit)
    frame["utilization_ppm"] = pd.array(np.where(limit > 0, utilization, 0), dtype="Int64")
    frame.loc[limit <= 0, "utilization_ppm"] = pd.NA
    credit = np.ones(len(frame), dtype=bool) if has_credit is None else np.asarray(has_credit, dtype=bool)
    breach = np.where(limit > 0, utilization >= settings.breach_ppm, credit & (exposure > 0))
    warning = np.where(limit > 0, utilization >= settings.warning_ppm, False) & ~breach
    frame["status"] = np.where(
        breach, LimitStatus.BREACH.value, np.where(warning, LimitStatus.WARNING.value, LimitStatus.OK.value)
    )
    return frame


_MAX_PPM = np.iinfo(np.int64).max  # a share past 9.2e12 ppm (92 million x the limit) shows as this


def _ratio_ppm(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator in ppm, ROUND_HALF_UP (both sides >= 0, denominator > 0).

    As whole shares plus the rounded ppm of the rest: numerator x 1e6 would leave int64 from 92 billion
    euros of exposure on and wrap around without a word (a 100-billion exposure on a 100,000-euro limit
    read as 8,120,445 % instead of 100,354,166 %).
    """
    num = np.asarray(numerator, dtype=np.int64)
    den = np.asarray(denominator, dtype=np.int64)
    whole, rest = np.divmod(num, den)  # rest < den < 1e12 cents (10 digits of euros): rest x 2e6 fits
    fraction = (2 * rest * 1_000_000 + den) // (2 * den)  # 0 .. 1e6
    most = (_MAX_PPM - 1_000_000) // 1_000_000  # whole shares that still fit with their fraction
    fits = whole < most
    return np.where(fits, np.minimum(whole, most) * 1_000_000 + fraction, _MAX_PPM)


def alerts(exposure: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Clients at WARNING or BREACH with the reason and the figures behind it, worst first."""
    flagged = exposure[exposure["status"] != LimitStatus.OK.value].copy()
    if flagged.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)

    def describe(row: pd.Series) -> str:  # runs on flagged clients only (the few, not the portfolio)
        threshold = settings.breach_ppm if row["status"] == LimitStatus.BREACH.value else settings.warning_ppm
        if pd.isna(row["utilization_ppm"]):
            return f"exposure {format_eur(row['exposure_cents'])} against no credit limit"
        return (
            f"exposure {format_eur(row['exposure_cents'])} is {_percent(row['utilization_ppm'], '0.1')} % of "
            f"limit {format_eur(row['credit_limit_cents'])} (threshold {_percent(threshold, '1')} %)"
        )

    flagged["reason"] = flagged.apply(describe, axis=1)
    flagged["_rank"] = flagged["status"].map({LimitStatus.BREACH.value: 0, LimitStatus.WARNING.value: 1})
    flagged = flagged.sort_values(["_rank", "exposure_cents"], ascending=[True, False], kind="stable")
    return flagged[ALERT_COLUMNS].reset_index(drop=True)


def _percent(ppm: int, step: str) -> Decimal:
    return Decimal(int(ppm)).scaleb(-4).quantize(Decimal(step), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Concentration:
    """Portfolio exposure totals and how concentrated exposure is in the largest names (all on the as-of date,
    before that day's payouts)."""

    total_exposure_cents: int  # sum of every client's exposure (after collateral, floored at 0)
    total_limit_cents: int  # sum of every client's credit limit
    top_n: int  # how many of the largest names `largest` and the top figures cover (10)
    top_exposure_cents: int  # the exposure of the `top_n` largest names together
    top_share_ppm: int  # top_exposure / total_exposure in ppm, half up (0 when there is no exposure)
    # the `top_n` largest exposures, largest first (ties by client_id): one row per client with client_id,
    # name, exposure_cents, credit_limit_cents, status (OK / WARNING / BREACH)
    largest: pd.DataFrame
    counts: dict[LimitStatus, int]  # clients per limit status (every status present, 0 when none)


def concentration(exposure: pd.DataFrame, top: int = 10) -> Concentration:
    """Portfolio totals and how concentrated exposure is in the largest names."""
    total = int(exposure["exposure_cents"].sum())
    largest = exposure.sort_values(["exposure_cents", "client_id"], ascending=[False, True]).head(top)
    top_total = int(largest["exposure_cents"].sum())
    return Concentration(
        total_exposure_cents=total,
        total_limit_cents=int(exposure["credit_limit_cents"].sum()),
        top_n=top,
        top_exposure_cents=top_total,
        top_share_ppm=int(_ratio_ppm(np.array([top_total]), np.array([max(total, 1)]))[0]) if total else 0,
        largest=largest[
            ["client_id", "name", "exposure_cents", "credit_limit_cents", "status"]
        ].reset_index(drop=True),
        counts={s: int((exposure["status"] == s.value).sum()) for s in LimitStatus},
    )
