"""Payout runs before and after execution: propose (snapshot the ready payouts), approve (four eyes),
cancel, mark settled / returned / rejected, list and show.

Lifecycle of a run: proposed -> approved -> executed (atlas_xl.workflow.execution) -> settled; or cancelled /
superseded before execution. Every function checks the acting user against the permission table; every
change is audited in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from atlas_xl.domain import accounts
from atlas_xl.domain.model import OPEN_RUN_STATUSES, PAID_RUN_STATUSES, PayoutStatus, RunStatus
from atlas_xl.engines.run import compute_payouts
from atlas_xl.errors import ArgumentError, PermissionDenied, WorkflowError
from atlas_xl.inputs.environment import payment_requests
from atlas_xl.inputs.example_data import example_data_dir
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.settings import Settings
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import PaidPayout, PayoutRun, RunApproval, RunExclusion, RunPayout
from atlas_xl.workflow.common import (
    CLIENT_ID,
    authorise,
    get_run,
    parse_date,
    parse_run_ref,
    perform,
    run_detail,
    run_state,
    run_summary,
    utc_now,
)
from atlas_xl.workflow.history import basis_change, with_store_history
from atlas_xl.workflow.permissions import Action
from atlas_xl.workflow.policies import (
    apply_policy,
    payment_settings,
    policy_in_force,
    policy_record,
    require_policy_of,
)
from atlas_xl.workflow.results import ProposeResult, RunDetail, RunSummary

PAYOUT_COLUMNS = ("client_id", "name", "country", "iban", "bic", "amount_cents", "ready", "reasons", "remittance")
SNAPSHOT_FIELDS = ("client_id", "name", "country", "iban", "bic", "amount_cents", "remittance")


# ---------------------------------------------------------------------------------------------- propose


def snapshot_digest(rows: Sequence[dict[str, Any]], policy: Mapping[str, Any] | None = None) -> str:
    """SHA-256 over every field of the payouts that goes into the payment file, in client order, and the
    payment policy the run was proposed under (`policies.policy_record`; None: a run from before policies)."""
    canon: Any = [[row[k] for k in SNAPSHOT_FIELDS] for row in sorted(rows, key=lambda r: r["client_id"])]
    if policy is not None:
        canon = {"payouts": canon, "policy": dict(policy)}
    return hashlib.sha256(audit.canonical_json(canon).encode("utf-8")).hexdigest()


def _account_key(iban: object, bic: object, name: object) -> tuple[str, str, str]:
    """Bank details as compared for a change: IBAN and BIC without spaces, upper case; the name trimmed."""
    def squeeze(value: object) -> str:
        return "" if value is None else "".join(str(value).split()).upper()
    return squeeze(iban), squeeze(bic), "" if name is None else " ".join(str(name).split())


def last_paid_accounts(session: Session) -> dict[str, tuple[str, str, str]]:
    """Per client, the bank details of its last executed payout (the newest executed run that paid it)."""
    last = (select(RunPayout.client_id, func.max(RunPayout.run_id).label("run_id"))
            .join(PayoutRun, PayoutRun.id == RunPayout.run_id)
            .where(PayoutRun.status.in_(PAID_RUN_STATUSES)).group_by(RunPayout.client_id).subquery())
    rows = session.execute(select(RunPayout.client_id, RunPayout.iban, RunPayout.bic, RunPayout.name).join(
        last, (RunPayout.client_id == last.c.client_id) & (RunPayout.run_id == last.c.run_id))).all()
    return {client: _account_key(iban, bic, name) for client, iban, bic, name in rows}


def _refuse_impossible(chosen: pd.DataFrame, payout_date: date) -> None:
    """A payout the SEPA file could never carry (IBAN, BIC or name) is refused at propose, so that no approved
    run can fail at execution: readiness blocks these already; this is the last line before the snapshot."""
    for column, check in (("iban", accounts.iban_problem), ("bic", accounts.bic_problem),
                          ("name", accounts.name_problem)):
        problems = accounts.problems_of(chosen[column], check)
        bad = [i for i, text in enumerate(problems) if text]
        if bad:
            row = chosen.iloc[bad[0]]
            raise WorkflowError(f"client {row['client_id']!r} is ready for {payout_date.isoformat()} but its "
                                f"{column} {str(row[column])[:60]!r} cannot be paid ({problems[bad[0]]}); nothing "
                                f"was proposed: correct the client's bank details ({len(bad)} payout(s) affected)")


def _clean_frame(payouts: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PAYOUT_COLUMNS if c not in payouts.columns]
    if missing:
        raise ArgumentError(f"payouts frame lacks column(s) {', '.join(missing)}; expected {', '.join(PAYOUT_COLUMNS)}")
    frame = payouts.loc[:, list(PAYOUT_COLUMNS)].copy()
    for column in ("client_id", "name", "country", "iban", "reasons", "remittance"):
        frame[column] = frame[column].fillna("").astype(str)
    bic = frame["bic"].astype(object)
    frame["bic"] = bic.where(bic.notna() & (bic.astype(str).str.strip() != ""), None)
    if not pd.api.types.is_integer_dtype(frame["amount_cents"]):
        raise ArgumentError(f"amount_cents has dtype {frame['amount_cents'].dtype}; expected int64 cents")
    frame["ready"] = frame["ready"].astype(bool)
    bad_ids = frame.loc[~frame["client_id"].str.match(CLIENT_ID.pattern), "client_id"]
    if len(bad_ids):
        raise ArgumentError(f"client_id {bad_ids.iloc[0][:40]!r} is not valid; expected 1-20 of A-Z a-z 0-9 _ -")
    dupes = frame.loc[frame["client_id"].duplicated(), "client_id"]
    if len(dupes):
        raise ArgumentError(f"client_id {dupes.iloc[0]!r} appears twice in the payouts; expected one row per client")
    not_positive = frame.loc[frame["ready"] & (frame["amount_cents"] <= 0), "client_id"]
    if len(not_positive):
        raise ArgumentError(f"client {not_positive.iloc[0]!r} is ready with an amount <= 0; expected a positive amount")
    return frame
def propose_run(store: Store, payouts: pd.DataFrame, payout_date: date | str, user: str | None, *,
                settings: Settings | None = None, source: str = "", basis: int | None = None) -> ProposeResult:
    """Snapshot the ready payouts of `payouts` (compute_payouts' frame) as a new run for `payout_date`.

    Open (proposed / approved) runs for the same date are superseded. Clients already paid for that date in
    an executed run are left out with reason ALREADY_PAID.
    """
    payout_date = parse_date(payout_date)
    requests = payment_requests()  # ATLAS_* may only be stricter than the policy; ATLAS_DEBTOR_* is refused
    frame = _clean_frame(payouts)

    def work(session: Session) -> ProposeResult:
        actor = authorise(session, user, Action.PROPOSE)
        policy = policy_in_force(session)
        applied = apply_policy(policy, settings, requests)
        record = policy_record(policy, applied)
        moved = None if basis is None else basis_change(session, basis)  # under the write lock
        if moved is not None:
            what = f"run {moved.entity_id} was executed" if moved.action == "execute" else \
                f"{moved.action.replace('_', ' ')} of {moved.entity_id} was recorded"
            raise WorkflowError(f"{what} while these payouts were computed, so they do not count it; nothing "
                                f"was proposed: propose {payout_date.isoformat()} again")
        latest = session.execute(select(func.max(PayoutRun.payout_date)).where(
            PayoutRun.status.in_(PAID_RUN_STATUSES))).scalar()
        if latest is not None and latest > payout_date:  # its days up to `latest` were paid by that run
            raise WorkflowError(f"a run for {latest.isoformat()} is already executed; a run for "
                                f"{payout_date.isoformat()} would pay the days up to it again. Runs go forward "
                                f"in time: propose {latest.isoformat()} or later")
        paid = session.execute(
            select(PaidPayout.client_id, PaidPayout.run_id).where(PaidPayout.payout_date == payout_date)
        ).all()
        paid_run = {client: run for client, run in paid}
        already = frame["client_id"].map(paid_run)
        is_paid = already.notna()
        reasons = frame["reasons"].where(~is_paid, "ALREADY_PAID (run R" + already.astype("Int64").astype(str) + ")")
        take = frame["ready"] & ~is_paid
        chosen, left = frame.loc[take].sort_values("client_id"), frame.loc[~take].assign(reasons=reasons[~take])
        if chosen.empty:
            raise WorkflowError(f"no ready payout for {payout_date.isoformat()}; nothing to propose "
                                f"({len(left)} clients excluded)")
        _refuse_impossible(chosen, payout_date)
        known = last_paid_accounts(session)
        changed = [cid for cid, iban, bic, name in chosen[["client_id", "iban", "bic", "name"]].itertuples(
            index=False) if cid in known and known[cid] != _account_key(iban, bic, name)]
        total = int(chosen["amount_cents"].sum())  # int64 sum: exact cents
        stamp = utc_now().replace(microsecond=0)  # the file's creation time: whole seconds, fixed at propose
        # two approvers for a total at the threshold, and for any payout to changed bank details (fraud path)
        two = total >= applied.dual_approval_cents or bool(changed)
        run = PayoutRun(
            payout_date=payout_date, status=RunStatus.PROPOSED, total_cents=total, payout_count=len(chosen),
            excluded_count=len(left), approvals_required=2 if two else 1,
            snapshot_sha256="", debtor_name=policy.debtor_name, debtor_iban=policy.debtor_iban,
            debtor_bic=policy.debtor_bic, source=source[:500], proposed_by=actor.name, proposed_at=stamp,
            policy_id=policy.id, policy_json=audit.canonical_json(record),
        )
        session.add(run)
        session.flush()
        records = chosen.assign(
            run_id=run.id, status=PayoutStatus.PENDING,
            end_to_end_id="R" + str(run.id) + "-" + chosen["client_id"],
            amount_cents=chosen["amount_cents"].astype("int64"),
            bank_details_changed=chosen["client_id"].isin(changed),
        ).drop(columns=["ready", "reasons"])
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in records.to_dict("records")]
        session.execute(insert(RunPayout), rows)
        if len(left):
            excl = left.loc[:, ["client_id", "name", "reasons"]].assign(run_id=run.id)
            session.execute(insert(RunExclusion), excl.to_dict("records"))
        run.snapshot_sha256 = snapshot_digest(rows, record)
        older = session.execute(
            select(PayoutRun).where(PayoutRun.payout_date == payout_date, PayoutRun.status.in_(OPEN_RUN_STATUSES),
                                    PayoutRun.id != run.id).with_for_update()
        ).scalars().all()
        for old in older:
            before = run_state(old)
            old.status, old.superseded_by = RunStatus.SUPERSEDED, run.id
            audit.append(session, actor=actor.name, action="supersede", entity="run", entity_id=f"R{old.id}",
                         run_id=old.id, before=before, after={**run_state(old), "superseded_by": f"R{run.id}"})
        audit.append(session, actor=actor.name, action="propose", entity="run", entity_id=f"R{run.id}",
                     run_id=run.id, before=None,
                     after={**run_state(run), "payout_date": payout_date, "excluded_count": len(left),
                            "approvals_required": run.approvals_required, "snapshot_sha256": run.snapshot_sha256,
                            "source": run.source, "policy": record, "bank_details_changed": sorted(changed)})
        session.flush()
        return ProposeResult(run_summary(session, run), tuple(o.id for o in older))

    return perform(store, user, Action.PROPOSE, "run", "new", work)


def find_open_run(store: Store, payouts: pd.DataFrame, payout_date: date | str, user: str | None, *,
                  settings: Settings | None = None) -> RunSummary | None:
    """The open (proposed or approved) run for `payout_date` that `propose_run` would create again from
    `payouts`: the same snapshot hash (every field of every payout that goes into the file: client, name,
    country, IBAN, BIC, amount, remittance) under the same payment policy (paying account, controls applied).
    None: propose a new run."""
    payout_date = parse_date(payout_date)
    requests = payment_requests()
    frame = _clean_frame(payouts)

    def work(session: Session) -> RunSummary | None:
        authorise(session, user, Action.READ)
        policy = policy_in_force(session)
        record = policy_record(policy, apply_policy(policy, settings, requests))
        paid = set(session.execute(select(PaidPayout.client_id).where(PaidPayout.payout_date == payout_date))
                   .scalars())
        chosen = frame.loc[frame["ready"] & ~frame["client_id"].isin(paid)]
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in chosen.loc[:, list(SNAPSHOT_FIELDS)].to_dict("records")]
        digest = snapshot_digest(rows, record)
        for run in session.execute(select(PayoutRun).where(
                PayoutRun.payout_date == payout_date, PayoutRun.status.in_(OPEN_RUN_STATUSES),
                PayoutRun.snapshot_sha256 == digest).order_by(PayoutRun.id.desc())).scalars():
            if run.policy_id == policy.id and (run.debtor_name, run.debtor_iban, run.debtor_bic) == (
                    policy.debtor_name, policy.debtor_iban, policy.debtor_bic):
                return run_summary(session, run)
        return None

    return perform(store, user, Action.READ, "run", "*", work, write=False)


def propose_from_data(store: Store, user: str | None, data_path: str | Path | None = None,
                      payout_date: date | str | None = None, settings: Settings | None = None) -> ProposeResult:
    """Load the portfolio, apply the credit managers' overrides, compute the payouts under the payment policy in
    force (made stricter by ATLAS_* or `settings`, never looser) and propose a run."""
    settings = payment_settings(store, settings)
    path = Path(data_path) if data_path else example_data_dir()
    portfolio, basis = with_store_history(store, load_portfolio(path))
    when = parse_date(payout_date) if payout_date else portfolio.last_date.date()
    frame = compute_payouts(portfolio, when, settings)
    return propose_run(store, frame, when, user, settings=settings, source=str(path), basis=basis)


# ---------------------------------------------------------------------------------------------- approve / cancel


def approve_run(store: Store, run_ref: str | int, user: str | None) -> RunSummary:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> RunSummary:
        actor = authorise(session, user, Action.APPROVE)
        run = get_run(session, run_id, lock=True)
        if run.status != RunStatus.PROPOSED:
            raise WorkflowError(f"run R{run_id} is {run.status}; only a proposed run can be approved")
        require_policy_of(session, run, "approved")
        if run.proposed_by == actor.name:
            raise PermissionDenied(f"user {actor.name!r} proposed run R{run_id} and may not approve it (four eyes)")
        approvers = session.execute(select(RunApproval.user_name).where(RunApproval.run_id == run_id)).scalars()
        if actor.name in set(approvers):
            raise PermissionDenied(f"user {actor.name!r} already approved run R{run_id}; "
                                   "a second approval must come from a different user")
        before = run_state(run)
        stamp = utc_now()
        session.add(RunApproval(run_id=run_id, user_name=actor.name, approved_at=stamp))
        session.flush()
        count = session.execute(
            select(func.count()).select_from(RunApproval).where(RunApproval.run_id == run_id)).scalar_one()
        if count >= run.approvals_required:
            run.status, run.approved_at = RunStatus.APPROVED, stamp
        audit.append(session, actor=actor.name, action="approve", entity="run", entity_id=f"R{run_id}",
                     run_id=run_id, before=before,
                     after={**run_state(run), "approvals": count, "approvals_required": run.approvals_required})
        return run_summary(session, run)

    return perform(store, user, Action.APPROVE, "run", f"R{run_id}", work, run_id=run_id)


def cancel_run(store: Store, run_ref: str | int, user: str | None) -> RunSummary:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> RunSummary:
        actor = authorise(session, user, Action.CANCEL)
        run = get_run(session, run_id, lock=True)
        if run.status not in OPEN_RUN_STATUSES:
            raise WorkflowError(f"run R{run_id} is {run.status}; only a proposed or approved run can be cancelled")
        before = run_state(run)
        run.status = RunStatus.CANCELLED
        audit.append(session, actor=actor.name, action="cancel", entity="run", entity_id=f"R{run_id}",
                     run_id=run_id, before=before, after=run_state(run))
        return run_summary(session, run)

    return perform(store, user, Action.CANCEL, "run", f"R{run_id}", work, run_id=run_id)


# ---------------------------------------------------------------------------------------------- mark


MARKABLE = (PayoutStatus.SETTLED, PayoutStatus.RETURNED, PayoutStatus.REJECTED)


def mark_run(store: Store, run_ref: str | int, user: str | None, status: PayoutStatus | str, *,
             payout: str | None = None, reason: str | None = None) -> RunDetail:
    """settled: the whole run (or one payout); returned / rejected: one payout (--payout CLIENT_ID)."""
    run_id = parse_run_ref(run_ref)
    text = str(status).strip().lower()
    if text not in MARKABLE:
        raise ArgumentError(f"{text!r} is not a status to mark; expected one of {', '.join(MARKABLE)}")
    marked = PayoutStatus(text)
    if marked != PayoutStatus.SETTLED and not payout:
        raise ArgumentError(f"marking {marked} needs the payout: --payout CLIENT_ID")

    def work(session: Session) -> RunDetail:
        actor = authorise(session, user, Action.MARK)
        run = get_run(session, run_id, lock=True)
        if run.status not in PAID_RUN_STATUSES:
            raise WorkflowError(f"run R{run_id} is {run.status}; only an executed run's payouts can be marked")
        if payout is None:
            if run.status == RunStatus.SETTLED:
                raise WorkflowError(f"run R{run_id} is already settled")
            before = run_state(run)
            run.status = RunStatus.SETTLED
            session.execute(update(RunPayout).where(RunPayout.run_id == run_id,
                                                    RunPayout.status == PayoutStatus.PAID)
                            .values(status=PayoutStatus.SETTLED))
            audit.append(session, actor=actor.name, action="mark_settled", entity="run", entity_id=f"R{run_id}",
                         run_id=run_id, before=before, after=run_state(run))
        else:
            row = session.execute(select(RunPayout).where(
                RunPayout.run_id == run_id, RunPayout.client_id == payout.strip())).scalar_one_or_none()
            if row is None:
                raise ArgumentError(f"run R{run_id} has no payout for client {payout[:40]!r}; "
                                    "expected a client id listed by `payouts show`")
            if row.status not in (PayoutStatus.PAID, PayoutStatus.SETTLED):
                raise WorkflowError(f"payout {row.client_id!r} of run R{run_id} is already {row.status}")
            if row.status == marked:
                raise WorkflowError(f"payout {row.client_id!r} of run R{run_id} is already {marked}")
            before = {"status": str(row.status), "amount_cents": int(row.amount_cents)}
            row.status, row.status_reason = marked.value, (reason or None) and reason[:200]
            audit.append(session, actor=actor.name, action=f"mark_{marked.value}", entity="payout",
                         entity_id=row.end_to_end_id, run_id=run_id, client_id=row.client_id, before=before,
                         after={"status": marked.value, "amount_cents": int(row.amount_cents), "reason": reason})
        session.flush()
        return run_detail(session, run)

    return perform(store, user, Action.MARK, "run", f"R{run_id}", work, run_id=run_id,
                   client_id=payout if payout and CLIENT_ID.match(payout) else None)


# ---------------------------------------------------------------------------------------------- read


def list_runs(store: Store, user: str | None, *, payout_date: date | str | None = None) -> list[RunSummary]:
    when = parse_date(payout_date) if payout_date else None

    def work(session: Session) -> list[RunSummary]:
        authorise(session, user, Action.READ)
        query = select(PayoutRun).order_by(PayoutRun.id)
        if when:
            query = query.where(PayoutRun.payout_date == when)
        return [run_summary(session, run) for run in session.execute(query).scalars()]

    return perform(store, user, Action.READ, "run", "*", work, write=False)


def show_run(store: Store, run_ref: str | int, user: str | None) -> RunDetail:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> RunDetail:
        authorise(session, user, Action.READ)
        run = get_run(session, run_id)
        detail = run_detail(session, run)
        flagged = set(session.execute(select(RunPayout.client_id).where(
            RunPayout.run_id == run_id, RunPayout.bank_details_changed.is_(True))).scalars())
        payouts = tuple(replace(p, bank_details_changed=p.client_id in flagged) for p in detail.payouts)
        return replace(detail, payouts=payouts)

    return perform(store, user, Action.READ, "run", f"R{run_id}", work, run_id=run_id, write=False)


