"""One call that runs every engine for an as-of date: what the CLI, the report, the dashboard and Excel share."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from atlas_xl.domain.model import DATE_RANGE, FIRST_DAY, LAST_DAY, LimitStatus, Portfolio, Product, ReserveKind
from atlas_xl.engines import exposure as exposure_engine
from atlas_xl.engines import schedules
from atlas_xl.engines.grid import PRESENT, DayGrid, build_grid, dense, dense_columns, first_days, payout_days
from atlas_xl.engines.ledger import Ledger, Movement
from atlas_xl.engines.payouts import decide, executed_payouts, step_settlement
from atlas_xl.engines.reserves import (
    ReserveFlows,
    monthly_movements,
    reserve_summary,
    simulate_reserve,
    terms_arrays,
    upcoming_releases,
)
from atlas_xl.errors import DateError
from atlas_xl.settings import Settings


@dataclass(frozen=True)
class EngineResult:
    as_of: dt.date
    grid: DayGrid
    ledger: Ledger
    reserve_flows: dict[ReserveKind, ReserveFlows]
    payouts: pd.DataFrame  # one row per client: readiness and payable amount on the as-of date
    balances: pd.DataFrame  # subaccount balances after the as-of date's payouts
    reserves: pd.DataFrame  # per client and reserve kind
    reserve_releases: pd.DataFrame  # upcoming releases after the as-of date
    reserve_monthly: pd.DataFrame  # portfolio held / released per month
    exposure: pd.DataFrame
    alerts: pd.DataFrame
    concentration: dict[str, object]
    schedules: pd.DataFrame
    loan_positions: pd.DataFrame
    projection: pd.DataFrame
    refused: pd.DataFrame
    kpis: dict[str, object] = field(default_factory=dict)


# The engines keep every client's every day from the first settlement to the as-of date in memory, ~500
# bytes a client-day (the 10,000-client year of the benchmarks peaks at 1.7 GiB). A run that would need
# more than three quarters of the machine's memory (an as-of date typed as 2099 instead of 2026) is
# refused with what to change, instead of exhausting the machine. Where the memory size is unknown
# (Windows has no sysconf): 20,000,000 client-days, ~10 GiB.
BYTES_PER_CLIENT_DAY = 500


def _max_client_days() -> int:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 20_000_000
    return max(memory * 3 // 4 // BYTES_PER_CLIENT_DAY, 1_000_000)


MAX_CLIENT_DAYS = _max_client_days()  # ~35 million on the 23 GiB benchmark machine


def as_of_date(portfolio: Portfolio, as_of: dt.date | str | None) -> dt.date:
    if as_of is None:
        if portfolio.settlements.empty:
            raise DateError(
                "the settlements table is empty, so there is no as-of date; give one with --as-of"
            )
        return portfolio.last_date.date()
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            raise DateError(f"as-of date {as_of!r} is not a date; expected YYYY-MM-DD") from None
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if not FIRST_DAY <= as_of <= LAST_DAY:
        raise DateError(f"as-of date {as_of.isoformat()} is out of range; expected a date {DATE_RANGE}")
    if not portfolio.settlements.empty and as_of < (first := portfolio.first_date.date()):
        # the opening balances stand on the first data day: an earlier as-of date would show (and a payout
        # run pay) them on a day the data does not cover, and a later run would pay them again
        raise DateError(f"as-of date {as_of.isoformat()} is before the first settlement date in the data "
                        f"({first.isoformat()}); expected {first.isoformat()} or later")
    return as_of


def _check_size(grid: DayGrid, as_of: dt.date) -> None:
    client_days = grid.n_clients * grid.n_days
    if client_days > MAX_CLIENT_DAYS:
        start = str(grid.start.astype("datetime64[D]"))
        raise DateError(f"{grid.n_clients:,} clients x {grid.n_days:,} days ({start} to {as_of.isoformat()}) are "
                        f"{client_days:,} client-days; this machine's memory holds at most {MAX_CLIENT_DAYS:,} "
                        f"in one run: check the as-of date, or load fewer years of settlements")


def run_engines(
    portfolio: Portfolio, as_of: dt.date | str | None = None, settings: Settings | None = None
) -> EngineResult:
    settings = settings or Settings()
    as_of = as_of_date(portfolio, as_of)
    clients = portfolio.clients.reset_index(drop=True)
    settlements = portfolio.settlements
    grid = build_grid(clients["client_id"], settlements, np.datetime64(as_of, "D"))
    _check_size(grid, as_of)

    amounts = dense_columns(grid, settlements, ["sales_cents", "refunds_cents", "chargebacks_cents", "fees_cents"])
    sales, refunds = amounts["sales_cents"], amounts["refunds_cents"]
    chargebacks, fees = amounts["chargebacks_cents"], amounts["fees_cents"]
    first_day = first_days(amounts[PRESENT])
    flows = {
        kind: simulate_reserve(
            grid, sales, first_day, terms_arrays(grid, portfolio.reserve_terms, kind), kind
        )
        for kind in ReserveKind
    }
    rolling, partner = flows[ReserveKind.ROLLING], flows[ReserveKind.PARTNER]

    opening = np.zeros_like(sales)
    opening[:, 0] = clients["opening_balance_cents"].to_numpy(dtype=np.int64)
    factoring = portfolio.loans[portfolio.loans["product"] == Product.FACTORING.value]
    advances = dense(grid, factoring, "principal_cents", date_column="start_date", clip_before_start=True)
    net_flow = (
        opening
        + sales
        - refunds
        - chargebacks
        - fees
        - rolling.held
        - partner.held
        + rolling.released
        + partner.released
    )
    pay_days = payout_days(grid, clients["payout_frequency"].to_numpy(dtype=object))
    paid_in_runs, runs_from = executed_payouts(grid, portfolio.paid)
    state = step_settlement(grid, clients, net_flow, advances, pay_days, paid_in_runs, runs_from)

    all_schedules = schedules.portfolio_schedules(portfolio.loans)
    positions = schedules.loan_positions(all_schedules, as_of)
    recent = sales[:, max(grid.n_days - settings.recent_days, 0) :].sum(axis=1)
    exposure = exposure_engine.exposure_table(
        clients,
        factoring_outstanding=state.factoring_before,
        settlement_balance=state.balance_before,
        reserve_collateral=rolling.balance[:, -1] + partner.balance[:, -1],
        recent_sales=recent,
        loan_positions=positions,
        settings=settings,
    )
    breached = exposure["status"].to_numpy(dtype=object) == LimitStatus.BREACH.value
    last = grid.n_days - 1
    day_flows = {
        "net_settlement": sales[:, last] - refunds[:, last] - chargebacks[:, last],
        "fees": fees[:, last],
        "holds": rolling.held[:, last] + partner.held[:, last],
        "releases": rolling.released[:, last] + partner.released[:, last],
    }
    payouts = decide(grid, clients, state, pay_days, breached, day_flows, as_of)

    ledger = Ledger(
        grid,
        {
            Movement.OPENING_BALANCE: opening,
            Movement.SALE: sales,
            Movement.REFUND: refunds,
            Movement.CHARGEBACK: chargebacks,
            Movement.FEE: fees,
            Movement.RESERVE_HOLD: rolling.held,
            Movement.RESERVE_RELEASE: rolling.released,
            Movement.PARTNER_RESERVE_HOLD: partner.held,
            Movement.PARTNER_RESERVE_RELEASE: partner.released,
            Movement.FACTORING_ADVANCE: advances,
            Movement.FACTORING_WITHHOLD: state.withheld,
            Movement.PAYOUT: state.paid,
        },
    )
    balances = ledger.balances()
    reserves = pd.concat([reserve_summary(grid, f) for f in flows.values()], ignore_index=True)
    releases = pd.concat([upcoming_releases(grid, f) for f in flows.values()], ignore_index=True)
    releases = releases.sort_values(["release_date", "client_id", "reserve"], kind="stable").reset_index(
        drop=True
    )
    monthly = pd.concat([monthly_movements(grid, f) for f in flows.values()], ignore_index=True)
    alerts = exposure_engine.alerts(exposure, settings)
    concentration = exposure_engine.concentration(exposure)
    projection = schedules.projection(all_schedules, as_of)
    result = EngineResult(
        as_of=as_of,
        grid=grid,
        ledger=ledger,
        reserve_flows=flows,
        payouts=payouts,
        balances=balances,
        reserves=reserves,
        reserve_releases=releases,
        reserve_monthly=monthly,
        exposure=exposure,
        alerts=alerts,
        concentration=concentration,
        schedules=all_schedules,
        loan_positions=positions,
        projection=projection,
        refused=portfolio.refused,
    )
    result.kpis.update(kpis(result))
    return result


def kpis(result: EngineResult) -> dict[str, object]:
    """The headline figures (dashboard tiles, CLI summary, --json)."""
    payouts = result.payouts
    ready = payouts[payouts["ready"]]
    blocked = payouts[~payouts["ready"]]
    counts = result.concentration["counts"]
    return {
        "as_of": result.as_of.isoformat(),
        "clients": int(len(payouts)),
        "payouts_ready": int(len(ready)),
        "payouts_blocked": int(len(blocked)),
        "total_to_pay_cents": int(ready["amount_cents"].sum()),
        "held_back_cents": int(blocked["amount_cents"].clip(lower=0).sum()),
        "reserve_balance_cents": int(result.reserves["balance_cents"].sum()),
        "upcoming_releases_cents": int(result.reserve_releases["amount_cents"].sum()),
        "total_exposure_cents": int(result.concentration["total_exposure_cents"]),
        "top10_share_ppm": int(result.concentration["top_share_ppm"]),
        "alerts": int(len(result.alerts)),
        "limit_breaches": counts[LimitStatus.BREACH.value],
        "limit_warnings": counts[LimitStatus.WARNING.value],
        "loans_outstanding_cents": int(result.loan_positions["outstanding_cents"].sum())
        if not result.loan_positions.empty
        else 0,
        "refused_rows": int(len(result.refused)),
    }
