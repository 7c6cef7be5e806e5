"""What the store adds to a portfolio before any computation: the payouts that left in executed runs
(`Portfolio.paid`) and the credit managers' overrides (apply_overrides)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from atlas_xl.domain.model import PAID_RUN_STATUSES, Portfolio
from atlas_xl.store.database import Store
from atlas_xl.store.models import (
    AuditEntry,
    CreditLimitOverride,
    OwedAgain,
    PayoutRun,
    ReserveTermOverride,
    RunPayout,
)
from atlas_xl.workflow.bank import active_holds, data_ibans
from atlas_xl.workflow.credit import RESERVE_TERM_FIELDS

# every audited change to what a proposal computes from: the payouts that left, the bank's returns and
# rejections (owed again) and reason holds, a confirmed manual mark, released holds, the credit managers'
# limits and reserve terms
PAYOUT_INPUT_ACTIONS = ("execute", "mark_returned", "mark_rejected", "change_credit_limit",
                        "change_reserve_terms", "bank_status", "confirm_mark", "confirm_details")


def payout_basis(session: Session) -> int:
    """The high-water mark of the store's payout inputs: the audit sequence number of the last change to
    them (0: none yet). A proposal records it when it reads and is refused if it moved before it writes."""
    return int(session.execute(select(func.max(AuditEntry.seq)).where(
        AuditEntry.action.in_(PAYOUT_INPUT_ACTIONS))).scalar() or 0)


def basis_change(session: Session, basis: int) -> AuditEntry | None:
    """The first change to the payout inputs after `basis`, else None."""
    return session.execute(select(AuditEntry).where(AuditEntry.action.in_(PAYOUT_INPUT_ACTIONS),
                                                     AuditEntry.seq > basis)
                           .order_by(AuditEntry.seq).limit(1)).scalar_one_or_none()


def executed_payouts(session: Session, since: date) -> pd.DataFrame:
    """Payouts in executed (or settled) runs dated `since` or later, as Portfolio.paid holds them, plus one
    payout of the earliest run before `since`: it dates the start of the runs (the engine then takes every
    day of the data from them) and lies off the grid itself.

    A year of daily runs at 10,000 clients is ~2.5 M payouts: the database joins each date's payouts into
    one text ("C1:1250,C2:990"; ids hold no ',' or ':'), which Arrow splits, instead of one Python row
    per payout (~1.6 s per million rows on SQLite).
    """
    # a payout did not stay paid only on a pain.002 rejection, a matched return, or a manual mark confirmed by a
    # second person (table owed_again, workflow.bank): its amount is owed again (the next run pays it). A mark
    # by one person alone (status returned / rejected, no owed_again row) still counts as paid.
    executed = PayoutRun.status.in_(PAID_RUN_STATUSES) & ~exists().where(OwedAgain.run_payout_id == RunPayout.id)
    pair = RunPayout.client_id + literal(":") + cast(RunPayout.amount_cents, String)
    joined = (func.string_agg(pair, literal(",")) if session.get_bind().dialect.name == "postgresql"
              else func.group_concat(pair, literal(",")))
    per_date = session.execute(
        select(PayoutRun.payout_date, joined).join(PayoutRun, PayoutRun.id == RunPayout.run_id)
        .where(executed, PayoutRun.payout_date >= since).group_by(PayoutRun.payout_date)).all()
    earliest = session.execute(
        select(PayoutRun.payout_date, pair).join(PayoutRun, PayoutRun.id == RunPayout.run_id)
        .where(executed, PayoutRun.payout_date < since)
        .order_by(PayoutRun.payout_date, RunPayout.id).limit(1)).first()
    rows = [tuple(r) for r in per_date] + ([tuple(earliest)] if earliest is not None else [])
    if not rows:
        return pd.DataFrame({"client_id": pd.Series(dtype=str), "payout_date": pd.Series(dtype="datetime64[ns]"),
                             "amount_cents": pd.Series(dtype="int64")})
    lists = pc.split_pattern(pa.array([text for _, text in rows], pa.string()), ",")
    pairs = pc.split_pattern(pc.list_flatten(lists), ":")
    return pd.DataFrame({
        "client_id": pd.array(pc.list_element(pairs, 0), dtype="str"),
        "payout_date": np.repeat(pd.to_datetime([day for day, _ in rows]).to_numpy(dtype="datetime64[ns]"),
                                 pc.list_value_length(lists).to_numpy()),
        "amount_cents": pc.cast(pc.list_element(pairs, 1), pa.int64()).to_numpy(),
    })


def apply_overrides(store: Store, portfolio: Portfolio) -> Portfolio:
    """The portfolio with the store's overrides and executed payouts (see `with_store_history`)."""
    return with_store_history(store, portfolio)[0]


def with_store_history(store: Store, portfolio: Portfolio) -> tuple[Portfolio, int]:
    """The portfolio with the stored credit limits and reserve terms in place of the data's values, the
    payouts that left in executed runs (`Portfolio.paid`: the engine takes those days from them), and the
    bank's reason holds as a `bank_hold` column of the clients (BANK_DETAILS_REJECTED, COMPLIANCE_HOLD,
    MANUAL_REVIEW joined by ';'; only when a client is held).

    An override for a client or reserve that the data does not have is ignored (no row is invented).
    Also returns the payout basis, read FIRST (a change committed while the rest is read moves it, so a
    proposal from these figures is refused rather than paying from a view that misses that change).
    """
    with store.transaction() as session:
        basis = payout_basis(session)
        limits = session.execute(select(CreditLimitOverride.client_id, CreditLimitOverride.credit_limit_cents)).all()
        terms = session.execute(select(ReserveTermOverride)).scalars().all()
        term_rows = [{"client_id": t.client_id, "reserve": t.reserve, **{f: getattr(t, f) for f in
                      RESERVE_TERM_FIELDS}} for t in terms]
        since = portfolio.first_date.date() if len(portfolio.settlements) else date.min
        paid = executed_payouts(session, since)
        holds = active_holds(session, data_ibans(portfolio))
    clients = portfolio.clients
    if holds:  # the bank's reason holds as a readiness reason (engines.payouts reads `bank_hold`)
        clients = clients.assign(bank_hold=clients["client_id"].map({c: ";".join(r) for c, r in holds.items()})
                                 .fillna("").astype(object))
    if limits and "credit_limit_cents" in clients.columns:
        mapping = {c: int(v) for c, v in limits}
        clients = clients.assign(credit_limit_cents=clients["client_id"].map(mapping)
                                 .fillna(clients["credit_limit_cents"]).astype("int64"))
    reserves = portfolio.reserve_terms
    if term_rows and len(reserves):
        over = pd.DataFrame(term_rows).set_index(["client_id", "reserve"])
        keyed = reserves.set_index(["client_id", "reserve"])
        for column in RESERVE_TERM_FIELDS:
            if column in keyed.columns:
                new = over[column].reindex(keyed.index)
                keyed[column] = new.where(new.notna(), keyed[column]).astype(keyed[column].dtype)
        reserves = keyed.reset_index()[list(reserves.columns)]
    return replace(portfolio, clients=clients, reserve_terms=reserves, paid=paid), basis
