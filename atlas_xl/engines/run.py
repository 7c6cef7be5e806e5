"""One call that runs every engine for an as-of date: what the CLI, the report, the dashboard and Excel share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from atlas_xl.domain.model import (
    DATE_RANGE,
    FIRST_DAY,
    LAST_DAY,
    LimitStatus,
    Movement,
    Portfolio,
    Product,
    ReserveKind,
)
from atlas_xl.engines import exposure as exposure_engine
from atlas_xl.engines import schedules
from atlas_xl.engines.exposure import Concentration
from atlas_xl.engines.grid import PRESENT, DayGrid, build_grid, dense, dense_columns, first_days, payout_days
from atlas_xl.engines.ledger import Ledger
from atlas_xl.engines.payouts import SWEEP_PPM, DayFlows, Readiness, decide, executed_payouts, step_settlement
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
class Kpis:
    """The headline figures of a run (dashboard tiles, the report's Dashboard sheet, the CLI summary, --json).

    Amounts are integer cents, counts are whole numbers; every figure is on the as-of date.
    """

    as_of: dt.date
    clients: int  # clients in the portfolio (one payout row each)
    payouts_ready: int  # clients paid on the as-of date
    payouts_blocked: int  # clients held back on the as-of date (any reason but an off-cycle day alone)
    payouts_not_due: int  # clients whose only reason is NOT_PAYOUT_DAY (paid on their next payout day)
    total_to_pay_cents: int  # sum of the ready clients' payable amounts
    held_back_cents: int  # sum of the blocked clients' positive payable amounts (carried forward)
    not_due_cents: int  # sum of the not-due clients' payable amounts (paid on their next payout day)
    reserve_balance_cents: int  # rolling + partner reserve balances after the as-of date
    upcoming_releases_cents: int  # reserve releases scheduled after the as-of date
    total_exposure_cents: int  # Concentration.total_exposure_cents
    top10_share_ppm: int  # Concentration.top_share_ppm: the ten largest exposures' share of the total
    alerts: int  # clients at WARNING or BREACH
    limit_breaches: int  # clients at BREACH
    limit_warnings: int  # clients at WARNING
    # outstanding principal of every loan before the as-of date's payouts, as the exposure table and the
    # ledger's factoring subaccount have it: factoring advances not yet withheld + term loans (schedules)
    loans_outstanding_cents: int
    refused_rows: int  # input rows the loader refused

    def as_dict(self) -> dict[str, str | int]:
        """The figures by name, as --json prints them and the report and dashboard look them up: the field
        names as keys, the as-of date as YYYY-MM-DD, every other value an int."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"as_of": self.as_of.isoformat()}


@dataclass(frozen=True)
class EngineResult:
    """Everything one run computes for its as-of date. Amounts are int64 cents, rates int64 ppm, dates
    datetime64[ns] in the frames; a client's row order is the clients table's."""

    as_of: dt.date
    grid: DayGrid  # the client x day grid every matrix is laid out on (day 0 .. the as-of date)
    ledger: Ledger  # the two-legged movements, [client, day] per movement type
    reserve_flows: dict[ReserveKind, ReserveFlows]  # daily holds / releases / balances per reserve kind
    # one row per client: its readiness and payable amount on the as-of date. Columns: client_id, name,
    # country, iban, bic, payout_frequency, carried_forward_cents, net_settlement_cents, fees_cents,
    # new_holds_cents, releases_cents, available_cents (the settlement balance before paying), withheld_cents
    # (factoring share, or the sweep over the limit), amount_cents (payable), min_payout_cents, ready (bool),
    # readiness (payouts.Readiness: READY / NOT DUE / BLOCKED), reasons ('; '-joined BlockReason values, ''
    # when ready), reason_text (the same in words), last_payout_date (NaT: never), last_payout_cents,
    # days_held (Int64, NA when paid today), iban_problem ('' or the reason), remittance
    payouts: pd.DataFrame
    # one row per client: subaccount balances after the as-of date's payouts, client's view. Columns:
    # client_id, settlement_cents, rolling_reserve_cents, partner_reserve_cents, factoring_cents, external_cents
    balances: pd.DataFrame
    # one row per client and reserve kind. Columns: client_id, reserve (ReserveKind), held_cents,
    # released_cents, balance_cents, fixed_cents, deferred_cents, upcoming_release_cents, next_release_date
    reserves: pd.DataFrame
    # one row per client, reserve kind and release day after the as-of date, by date, client, reserve.
    # Columns: client_id, reserve, release_date, amount_cents
    reserve_releases: pd.DataFrame
    # one row per reserve kind and month, portfolio totals. Columns: month, reserve, held_cents,
    # released_cents, balance_cents (at the month's last day)
    reserve_monthly: pd.DataFrame
    # one row per client: credit exposure before the as-of date's payout. Columns: client_id, name,
    # credit_limit_cents, factoring_outstanding_cents, loan_outstanding_cents, accrued_interest_cents,
    # negative_balance_cents, chargeback_risk_cents, collateral_cents, credit_risk_cents (the first three
    # components), acquiring_risk_cents (the last two), gross_exposure_cents, exposure_cents,
    # utilization_ppm (Int64, NA without a limit), status (LimitStatus)
    exposure: pd.DataFrame
    # one row per client at WARNING or BREACH, breaches first, larger exposure first. Columns:
    # exposure.ALERT_COLUMNS (client_id, name, status, reason, exposure_cents, credit_limit_cents,
    # utilization_ppm, the five exposure components, collateral_cents)
    alerts: pd.DataFrame
    concentration: Concentration  # portfolio totals and the largest exposures
    # one row per loan and period. Columns: loan_id, client_id, product, then schedules.SCHEDULE_COLUMNS
    # (period, due_date, opening_cents, interest_cents, principal_cents, payment_cents, closing_cents,
    # period_start)
    schedules: pd.DataFrame
    # one row per loan at the end of the as-of date. Columns: loan_id, client_id, product, outstanding_cents,
    # accrued_interest_cents, paid_off, next_due_date, next_payment_cents
    loan_positions: pd.DataFrame
    # one row per calendar month from the as-of month to the last due date. Columns: month, principal_cents,
    # interest_cents, payment_cents (due in the month), outstanding_cents (after the month)
    projection: pd.DataFrame
    # one row per input row the loader refused. Columns: table, source_row, client_id, reason
    refused: pd.DataFrame
    kpis: Kpis  # the headline figures


# The engines keep every client's every day from the first settlement to the as-of date in memory, ~500
# bytes a client-day (the 10,000-client year of the benchmarks peaks at 1.7 GiB). A run that would need
# more than three quarters of the machine's memory (an as-of date typed as 2099 instead of 2026) is
# refused with what to change, instead of exhausting the machine. The memory size comes in with the
# settings (`Settings.memory_bytes`, read outside the engines); where it is unknown: 20,000,000
# client-days, ~10 GiB. Never fewer than 1,000,000 client-days.
BYTES_PER_CLIENT_DAY = 500
MIN_CLIENT_DAYS = 1_000_000
UNKNOWN_MEMORY_CLIENT_DAYS = 20_000_000


def client_day_limit(memory_bytes: int | None) -> int:
    """The most client-days one run may hold on a machine of `memory_bytes` (~35 million at 23 GiB)."""
    if memory_bytes is None:
        return UNKNOWN_MEMORY_CLIENT_DAYS
    return max(memory_bytes * 3 // 4 // BYTES_PER_CLIENT_DAY, MIN_CLIENT_DAYS)


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


def _check_size(grid: DayGrid, as_of: dt.date, limit: int) -> None:
    client_days = grid.n_clients * grid.n_days
    if client_days > limit:
        start = str(grid.start.astype("datetime64[D]"))
        raise DateError(f"{grid.n_clients:,} clients x {grid.n_days:,} days ({start} to {as_of.isoformat()}) are "
                        f"{client_days:,} client-days; this machine's memory holds at most {limit:,} "
                        f"in one run: check the as-of date, or load fewer years of settlements")


def run_engines(
    portfolio: Portfolio, as_of: dt.date | str | None = None, settings: Settings | None = None
) -> EngineResult:
    settings = settings or Settings()
    as_of = as_of_date(portfolio, as_of)
    clients = portfolio.clients.reset_index(drop=True)
    settlements = portfolio.settlements
    grid = build_grid(clients["client_id"], settlements, np.datetime64(as_of, "D"))
    _check_size(grid, as_of, client_day_limit(settings.memory_bytes))

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
        has_credit=clients["client_id"].isin(portfolio.loans["client_id"]).to_numpy(dtype=bool),
    )
    breached = exposure["status"].to_numpy(dtype=object) == LimitStatus.BREACH.value
    last = grid.n_days - 1
    day_flows = DayFlows(
        net_settlement=sales[:, last] - refunds[:, last] - chargebacks[:, last],
        fees=fees[:, last],
        holds=rolling.held[:, last] + partner.held[:, last],
        releases=rolling.released[:, last] + partner.released[:, last],
    )
    payouts = decide(grid, clients, state, pay_days, breached, day_flows, as_of, SWEEP_PPM)

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
    return EngineResult(
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
        kpis=kpis(as_of, payouts, reserves, releases, alerts, concentration, exposure, portfolio.refused),
    )


def kpis(as_of: dt.date, payouts: pd.DataFrame, reserves: pd.DataFrame, releases: pd.DataFrame,
         alerts: pd.DataFrame, concentration: Concentration, exposure: pd.DataFrame,
         refused: pd.DataFrame) -> Kpis:
    """The headline figures from the run's tables (see `Kpis` for each)."""
    readiness = payouts["readiness"]
    ready = payouts[readiness == Readiness.READY.value]
    blocked = payouts[readiness == Readiness.BLOCKED.value]
    not_due = payouts[readiness == Readiness.NOT_DUE.value]
    return Kpis(
        as_of=as_of,
        clients=len(payouts),
        payouts_ready=len(ready),
        payouts_blocked=len(blocked),
        payouts_not_due=len(not_due),
        total_to_pay_cents=int(ready["amount_cents"].sum()),
        held_back_cents=int(blocked["amount_cents"].clip(lower=0).sum()),
        not_due_cents=int(not_due["amount_cents"].clip(lower=0).sum()),
        reserve_balance_cents=int(reserves["balance_cents"].sum()),
        upcoming_releases_cents=int(releases["amount_cents"].sum()),
        total_exposure_cents=concentration.total_exposure_cents,
        top10_share_ppm=concentration.top_share_ppm,
        alerts=len(alerts),
        limit_breaches=concentration.counts[LimitStatus.BREACH],
        limit_warnings=concentration.counts[LimitStatus.WARNING],
        loans_outstanding_cents=int(exposure["factoring_outstanding_cents"].sum()
                                    + exposure["loan_outstanding_cents"].sum()),
        refused_rows=len(refused),
    )


def compute_payouts(
    portfolio: Portfolio, payout_date: dt.date, settings: Settings | None = None
) -> pd.DataFrame:
    """The payout of every client on `payout_date` (one row per client: `EngineResult.payouts`).

    The payout date must be a day the settlements cover: a run for a later day would pay without that day's
    settlements, and as later runs take the day as paid by the rules, they would never be paid. (It runs
    every engine, as readiness depends on reserves, exposure and loans: it lives here, beside `run_engines`.)
    """
    if portfolio.settlements.empty:
        raise DateError("the settlements table is empty: there is nothing to pay out; load the settlements first")
    last = portfolio.last_date.date()
    if payout_date > last:
        raise DateError(f"payout date {payout_date.isoformat()} is after the last settlement date in the data "
                        f"({last.isoformat()}): that day's settlements are not loaded yet; load them, or "
                        f"choose {last.isoformat()} or earlier")
    return run_engines(portfolio, payout_date, settings).payouts
