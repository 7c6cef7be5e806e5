"""The bank's feedback in the books: import pain.002 / camt.054 / camt.053 files, move each payout along its
state machine, make rejected and returned payouts owed again, hold back clients by the reason policy, match
statements, and the last known balance of the paying account (the funding check before execution).

Rules:
- A file is read and validated first (inputs.bank_files: schema, size, DOCTYPE); a file that fails, or that
  references a run or payout Atlas does not know, is refused with a located message and nothing is recorded.
- Each file is recorded once, by its MsgId and its SHA-256: importing it again changes nothing and says so; a
  different file reusing a MsgId is refused.
- Payout states (domain.bank.BankPayoutState): executed -> accepted | rejected (pain.002) -> booked (debit in a
  camt.054 / camt.053) -> returned (a return credit). A status that does not move a payout forward (an older
  file imported late) is recorded as an event with applied = false; the final state does not depend on the
  order the files are imported in.
- Owed again (workflow.history reads table owed_again): only a pain.002 rejection, a return matched by its
  EndToEndId, or a manual mark (`payouts mark ... returned|rejected`) confirmed by a second person.
- Reason policy (domain.bank.REASON_POLICY): the reject / return reason code puts the client on hold:
  BANK_DETAILS_REJECTED (until the data holds a new IBAN, entered by one person and confirmed by another),
  COMPLIANCE_HOLD or MANUAL_REVIEW (released by one person and confirmed by another).
Every change is audited with the SHA-256 of the file it came from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from atlas_xl.domain.bank import (
    AccountReport,
    BankPayoutState,
    BankReportFile,
    CreditDebit,
    StatusOutcome,
    StatusReport,
    moves_forward,
    reason_action,
    reason_block,
    status_outcome,
)
from atlas_xl.domain.model import PAID_RUN_STATUSES, PayoutStatus, Portfolio
from atlas_xl.engines.bank_matching import (
    ExpectedPayout,
    ExpectedRepayment,
    ExpectedSettlement,
    MatchResult,
    acquirer_credits,
    due_repayments,
    match_statement,
)
from atlas_xl.engines.schedules import portfolio_schedules
from atlas_xl.errors import ArgumentError, WorkflowError
from atlas_xl.inputs.bank_files import BankFileError, XmlProblem, read_bank_file
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import (
    AuditEntry,
    BankMessage,
    BankPayoutEvent,
    BankPayoutStatus,
    ClientBankHold,
    OwedAgain,
    PayoutRun,
    RunPayout,
)
from atlas_xl.workflow.common import authorise, check_client_id, get_run, parse_run_ref, perform, utc_now
from atlas_xl.workflow.permissions import Action

_RUN_MSG_ID = re.compile(r"^ATLAS-([0-9]{8})-R([0-9]{1,9})$")  # execution.render_run_file's message id
_ATLAS_E2E = re.compile(r"^R([0-9]{1,9})-")  # runs.propose_run's EndToEndId


def _iban(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "").upper()


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PayoutChange:
    run_id: int
    client_id: str
    end_to_end_id: str
    state: str
    reason_code: str | None
    applied: bool
    line: int


@dataclass(frozen=True)
class ImportResult:
    file: str
    kind: str
    message_id: str
    file_sha256: str
    already_imported: bool
    changes: tuple[PayoutChange, ...] = ()
    holds: tuple[tuple[str, str], ...] = ()  # (client_id, readiness reason) put on hold by this file
    reconciliation: dict[str, Any] | None = None  # camt.053: the matching result

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": [list(h) for h in self.holds]}

    def line(self) -> str:
        if self.already_imported:
            return (f"{self.file}: {self.kind} {self.message_id} was already imported "
                    f"(sha256 {self.file_sha256[:12]}...); nothing changed")
        applied = [c for c in self.changes if c.applied]
        parts = [f"{self.file}: imported {self.kind} {self.message_id} (sha256 {self.file_sha256[:12]}...): "
                 f"{len(applied)} payout status change(s), {len(self.changes) - len(applied)} status(es) recorded "
                 "only (not a step forward for the payout)"]
        parts += [f"  {c.end_to_end_id} {c.state}{' ' + c.reason_code if c.reason_code else ''}" for c in applied
                  if c.state in (BankPayoutState.REJECTED, BankPayoutState.RETURNED)]
        parts += [f"  client {client} on hold: {reason}" for client, reason in self.holds]
        if self.reconciliation is not None:
            rec = self.reconciliation
            bal = rec["balance"]
            parts.append(f"  statement: {rec['matched_count']} matched, {len(rec['exceptions'])} exception(s); "
                         f"balance check {'OK' if bal['ok'] else 'DIFFERS by ' + str(bal['difference_cents'])}")
        return "\n".join(parts)


@dataclass(frozen=True)
class PayoutBankStatus:
    client_id: str
    end_to_end_id: str
    state: str | None  # None: no answer from the bank yet
    reason_code: str | None
    reason_text: str | None
    owed_again: bool


@dataclass(frozen=True)
class HoldInfo:
    client_id: str
    reason: str
    reason_code: str | None
    rejected_iban: str
    since: str
    entered_by: str | None
    new_iban: str | None
    confirmed_by: str | None
    released: bool


@dataclass(frozen=True)
class AvailableBalance:
    cents: int
    on: date | None
    message_id: str


@dataclass
class _Event:
    payout: RunPayout
    state: BankPayoutState
    reason_code: str | None
    reason_text: str | None
    bank_date: date | None
    line: int


@dataclass
class _Plan:
    events: list[_Event] = field(default_factory=list)
    account_iban: str | None = None
    closing_cents: int | None = None
    closing_on: date | None = None
    reconciliation: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------- import


def import_bank_files(store: Store, user: str | None, paths: Sequence[str | Path], *,
                      portfolio: Portfolio | None = None) -> list[ImportResult]:
    """Import each file in turn (each in its own transaction; a refused file raises and stops the import,
    the files before it stay imported). ``portfolio`` gives the expected acquirer credits and repayments for
    a camt.053's matching (without it only payouts are expected)."""
    if not paths:
        raise ArgumentError("no bank file given; expected one or more pain.002 / camt.054 / camt.053 files")
    return [import_bank_file(store, user, path, portfolio=portfolio) for path in paths]


def import_bank_file(store: Store, user: str | None, path: str | Path, *,
                     portfolio: Portfolio | None = None) -> ImportResult:
    name = str(path)
    message = read_bank_file(path)  # located BankFileError / UnsafeInputError: nothing recorded
    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    kind = "pain.002" if isinstance(message, StatusReport) else message.kind.value

    def work(session: Session) -> ImportResult:
        actor = authorise(session, user, Action.IMPORT_BANK_FILE)
        same = session.execute(select(BankMessage).where(BankMessage.file_sha256 == sha)).scalar_one_or_none()
        if same is not None:
            return ImportResult(name, same.kind, same.message_id, sha, already_imported=True)
        reused = session.execute(select(BankMessage).where(
            BankMessage.kind == kind, BankMessage.message_id == message.message_id)).scalar_one_or_none()
        if reused is not None:
            raise BankFileError([XmlProblem(name, None, "GrpHdr/MsgId", message.message_id,
                                            f"this MsgId was already imported from another file "
                                            f"({reused.file_name}, sha256 {reused.file_sha256[:12]}...) that "
                                            "differs from this one; refused")])
        if isinstance(message, StatusReport):
            plan = _plan_status_report(session, name, message)
        else:
            plan = _plan_account_reports(session, name, message, portfolio)
        stamp = utc_now()
        record = BankMessage(kind=kind, version=message.version, message_id=message.message_id, file_sha256=sha,
                             file_name=name[-1000:], created_at=message.created_at, imported_by=actor.name,
                             imported_at=stamp, account_iban=plan.account_iban, closing_cents=plan.closing_cents,
                             closing_on=plan.closing_on,
                             result_json=None if plan.reconciliation is None else
                             audit.canonical_json(plan.reconciliation))
        session.add(record)
        session.flush()
        changes, holds = _apply(session, actor.name, record, sha, plan.events)
        audit.append(session, actor=actor.name, action="bank_import", entity="bank_file", entity_id=sha,
                     before=None, after={"kind": kind, "message_id": message.message_id, "file": name,
                                         "file_sha256": sha, "payout_changes": sum(c.applied for c in changes),
                                         "recorded_only": sum(not c.applied for c in changes),
                                         "closing_cents": plan.closing_cents})
        return ImportResult(name, kind, message.message_id, sha, False, tuple(changes), tuple(holds),
                            plan.reconciliation)

    return perform(store, user, Action.IMPORT_BANK_FILE, "bank_file", sha, work)


def _refuse(name: str, line: int | None, path: str, value: object, message: str) -> BankFileError:
    return BankFileError([XmlProblem(name, line, path, value, message)])


def _plan_status_report(session: Session, name: str, report: StatusReport) -> _Plan:
    match = _RUN_MSG_ID.match(report.original_msg_id)
    run = None if match is None else session.get(PayoutRun, int(match.group(2)))
    if run is None or f"{run.payout_date:%Y%m%d}" != match.group(1):  # type: ignore[union-attr]
        raise _refuse(name, None, "OrgnlGrpInfAndSts/OrgnlMsgId", report.original_msg_id,
                      "references no payout run of this store; expected the MsgId of an executed run's pain.001 "
                      "(ATLAS-YYYYMMDD-R<n>)")
    if run.status not in PAID_RUN_STATUSES:
        raise _refuse(name, None, "OrgnlGrpInfAndSts/OrgnlMsgId", report.original_msg_id,
                      f"references run R{run.id}, which is {run.status}; only an executed run has gone to the bank")
    payouts = {p.end_to_end_id: p for p in session.execute(
        select(RunPayout).where(RunPayout.run_id == run.id)).scalars()}
    pmt_status = {p.original_pmt_inf_id: p for p in report.payment_infos}
    plan = _Plan()
    for tx in report.transactions:
        payout = payouts.get(tx.end_to_end_id or "")
        if payout is None:
            raise _refuse(name, tx.line, "TxInfAndSts/OrgnlEndToEndId", tx.end_to_end_id,
                          f"is not a payout of run R{run.id}")
        status = tx.status
        reason_code, reason_text = tx.reason_code, tx.reason_text
        if status is None:  # only the payment information (or group) level carries the status
            info = pmt_status.get(tx.original_pmt_inf_id)
            status = (info.status if info else None) or report.group_status
            reasons = (info.reasons if info else ()) or report.group_reasons
            if reasons:
                reason_code, reason_text = reasons[0].code, reasons[0].text
        state = _status_state(status)
        if state is not None:
            plan.events.append(_Event(payout, state, reason_code, reason_text, report.created_at.date(), tx.line))
    if not report.transactions:  # a group-level answer for the whole file
        state = _status_state(report.group_status)
        reason = report.group_reasons[0] if report.group_reasons else None
        if state is not None:
            plan.events += [_Event(p, state, reason.code if reason else None, reason.text if reason else None,
                                   report.created_at.date(), 1) for p in payouts.values()]
    return plan


def _status_state(status: Any) -> BankPayoutState | None:
    if status is None:
        return None
    outcome = status_outcome(status)
    return {StatusOutcome.ACCEPTED: BankPayoutState.ACCEPTED,
            StatusOutcome.REJECTED: BankPayoutState.REJECTED}.get(outcome)


def _plan_account_reports(session: Session, name: str, message: BankReportFile,
                          portfolio: Portfolio | None) -> _Plan:
    e2e_ids = {e.end_to_end_id for r in message.reports for e in r.entries if e.end_to_end_id}
    payouts = _executed_payouts(session, e2e_ids)
    plan = _Plan()
    for report in message.reports:
        for entry in report.entries:
            e2e = entry.end_to_end_id
            if not entry.booked or not e2e:
                continue
            payout = payouts.get(e2e)
            if payout is None:
                if _ATLAS_E2E.match(e2e) and message.kind.value == "camt.054":
                    raise _refuse(name, entry.line, "Ntry/NtryDtls/TxDtls/Refs/EndToEndId", e2e,
                                  "names no payout of an executed run of this store")
                continue
            if entry.credit_debit is CreditDebit.DEBIT and not entry.reversal:
                plan.events.append(_Event(payout, BankPayoutState.BOOKED, None, None, entry.booking_date,
                                          entry.line))
            elif entry.credit_debit is CreditDebit.CREDIT and entry.is_return:
                texts = [d.return_text for d in entry.details if d.return_text]
                plan.events.append(_Event(payout, BankPayoutState.RETURNED, entry.return_reason,
                                          " ".join(texts) or None, entry.booking_date, entry.line))
        if message.kind.value == "camt.053":
            plan.account_iban = _iban(report.account_iban) or None
            closing = report.closing
            if closing is not None and (plan.closing_on is None or (closing.on or date.min) >= plan.closing_on):
                plan.closing_cents, plan.closing_on = closing.amount_cents, closing.on
            plan.reconciliation = reconcile(session, report, portfolio)
        elif plan.account_iban is None:
            plan.account_iban = _iban(report.account_iban) or None
    return plan


def _executed_payouts(session: Session, e2e_ids: set[str]) -> dict[str, RunPayout]:
    if not e2e_ids:
        return {}
    rows = session.execute(select(RunPayout).join(PayoutRun, PayoutRun.id == RunPayout.run_id).where(
        RunPayout.end_to_end_id.in_(sorted(e2e_ids)), PayoutRun.status.in_(PAID_RUN_STATUSES))).scalars()
    return {r.end_to_end_id: r for r in rows}


def _apply(session: Session, actor: str, record: BankMessage, sha: str,
           events: list[_Event]) -> tuple[list[PayoutChange], list[tuple[str, str]]]:
    changes: list[PayoutChange] = []
    holds: list[tuple[str, str]] = []
    for event in events:
        payout = event.payout
        current = session.get(BankPayoutStatus, payout.id)
        before_state = None if current is None else BankPayoutState(current.state)
        applied = moves_forward(before_state, event.state)
        session.add(BankPayoutEvent(bank_message_id=record.id, run_payout_id=payout.id, state=event.state.value,
                                    reason_code=event.reason_code, reason_text=(event.reason_text or None) and
                                    event.reason_text[:500], bank_date=event.bank_date, line=event.line,
                                    applied=applied))
        changes.append(PayoutChange(payout.run_id, payout.client_id, payout.end_to_end_id, event.state.value,
                                    event.reason_code, applied, event.line))
        if not applied:
            continue
        if current is None:
            current = BankPayoutStatus(run_payout_id=payout.id, state=event.state.value,
                                       bank_message_id=record.id)
            session.add(current)
        current.state, current.bank_message_id = event.state.value, record.id
        current.reason_code, current.reason_text = event.reason_code, (event.reason_text or None) and \
            event.reason_text[:500]
        after: dict[str, Any] = {"bank_state": event.state.value, "reason_code": event.reason_code,
                                 "file_sha256": sha, "message_id": record.message_id, "line": event.line}
        if event.state in (BankPayoutState.REJECTED, BankPayoutState.RETURNED):
            status = PayoutStatus.REJECTED if event.state is BankPayoutState.REJECTED else PayoutStatus.RETURNED
            reason = " ".join(x for x in (event.reason_code, event.reason_text) if x) or None
            payout.status, payout.status_reason = status.value, reason and reason[:200]
            if session.get(OwedAgain, payout.id) is None:
                session.add(OwedAgain(run_payout_id=payout.id, source="bank", reason=reason and reason[:200],
                                      confirmed_by=actor, confirmed_at=utc_now()))
            block = reason_block(reason_action(event.reason_code))
            session.add(ClientBankHold(client_id=payout.client_id, reason=block, reason_code=event.reason_code,
                                       rejected_iban=payout.iban, run_payout_id=payout.id, since=utc_now()))
            holds.append((payout.client_id, block))
            after.update({"owed_again": True, "client_hold": block})
        session.flush()
        audit.append(session, actor=actor, action="bank_status", entity="payout", entity_id=payout.end_to_end_id,
                     run_id=payout.run_id, client_id=payout.client_id,
                     before={"bank_state": None if before_state is None else before_state.value}, after=after)
    return changes, holds


# ---------------------------------------------------------------------------------------------- matching


def expected_for_statement(session: Session, report: AccountReport, portfolio: Portfolio | None,
                           ) -> tuple[list[ExpectedPayout], list[ExpectedSettlement], list[ExpectedRepayment],
                                      date, date]:
    """What Atlas expects on one statement: the executed payouts requested for its period (or named on it),
    the acquirer's credit per settlement date (net of refunds, chargebacks and fees, all clients) and the
    term-loan instalments due in its period. The period runs from the opening balance's date (else the first
    booking) to the closing balance's date (else the last booking)."""
    days = [d for d in (e.booking_date or e.value_date for e in report.entries) if d is not None]
    opening, closing = report.opening, report.closing
    start = (opening.on if opening and opening.on else None) or (min(days) if days else date.today())
    end = (closing.on if closing and closing.on else None) or (max(days) if days else start)
    named = {e.end_to_end_id for e in report.entries if e.end_to_end_id}
    iban = _iban(report.account_iban)
    rows = session.execute(
        select(RunPayout, PayoutRun.requested_execution_date, PayoutRun.payout_date, PayoutRun.debtor_iban)
        .join(PayoutRun, PayoutRun.id == RunPayout.run_id).where(PayoutRun.status.in_(PAID_RUN_STATUSES))).all()
    payouts = []
    for payout, requested, payout_date, debtor in rows:
        on = requested or payout_date
        state = session.get(BankPayoutStatus, payout.id)
        if state is not None and state.state == BankPayoutState.REJECTED:
            continue  # never left the account
        if payout.end_to_end_id in named or (start <= on <= end and (not iban or _iban(debtor) == iban)):
            payouts.append(ExpectedPayout(payout.end_to_end_id, int(payout.amount_cents), on, payout.client_id))
    settlements: list[ExpectedSettlement] = []
    repayments: list[ExpectedRepayment] = []
    if portfolio is not None:
        settlements = acquirer_credits(portfolio.settlements, start, end)
        repayments = due_repayments(portfolio_schedules(portfolio.loans), start, end) if len(portfolio.loans) else []
    return payouts, settlements, repayments, start, end


def reconcile(session: Session, report: AccountReport, portfolio: Portfolio | None) -> dict[str, Any]:
    payouts, settlements, repayments, start, end = expected_for_statement(session, report, portfolio)
    result = match_statement(report, payouts=payouts, settlements=settlements, repayments=repayments, as_of=end)
    return reconciliation_record(report, result, start, end)


def _reference(item: object) -> str:
    if isinstance(item, ExpectedPayout):
        return f"payout {item.end_to_end_id}"
    if isinstance(item, ExpectedRepayment):
        return f"repayment {item.client_reference}"
    if isinstance(item, ExpectedSettlement):
        return f"settlement credit {item.reference}"
    if item is None:
        return ""
    line = getattr(item, "line", None)
    return f"entry on line {line}"


def reconciliation_record(report: AccountReport, result: MatchResult, start: date, end: date) -> dict[str, Any]:
    """The matching result as plain JSON values (stored with the camt.053; read by the report and dashboard)."""
    bal = result.balance
    return {
        "statement_id": report.report_id, "account_iban": report.account_iban, "from": start.isoformat(),
        "to": end.isoformat(), "matched_count": len(result.matched),
        "matched_cents": sum(m.entry.amount_cents for m in result.matched),
        "matched": [{"reference": _reference(m.expected), "amount_cents": m.entry.amount_cents,
                     "line": m.entry.line} for m in result.matched],
        "returns": [{"end_to_end_id": r.payout.end_to_end_id, "amount_cents": r.entry.amount_cents,
                     "reason_code": r.reason_code, "line": r.entry.line} for r in result.returns],
        "exceptions": [{"kind": x.kind.value, "amount_cents": x.amount_cents, "age_days": x.age_days,
                        "reference": _reference(x.expected) if x.expected is not None else _reference(x.entry),
                        "candidate": _reference(x.candidate), "message": x.message} for x in result.exceptions],
        "not_yet_due": len(result.not_yet_due),
        "balance": {"opening_cents": bal.opening_cents, "entries_cents": bal.entries_cents,
                    "closing_cents": bal.closing_cents, "difference_cents": bal.difference_cents, "ok": bal.ok},
    }


# ---------------------------------------------------------------------------------------------- reads


def available_balance(session: Session, iban: str) -> AvailableBalance | None:
    """The paying account's last known balance: the closing balance of the latest imported camt.053 for it."""
    row = session.execute(select(BankMessage).where(
        BankMessage.kind == "camt.053", BankMessage.account_iban == _iban(iban),
        BankMessage.closing_cents.is_not(None)).order_by(
        BankMessage.closing_on.desc(), BankMessage.id.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        return None
    return AvailableBalance(int(row.closing_cents or 0), row.closing_on, row.message_id)


def funding_check(session: Session, run: PayoutRun) -> str:
    """Refuse (WorkflowError, with the figures) a run whose total exceeds the debtor account's last known
    balance; else say what the run was compared with (or that no statement was imported yet)."""
    known = available_balance(session, run.debtor_iban)
    total = int(run.total_cents)
    if known is None:
        return (f"funding check: no camt.053 statement imported for {run.debtor_iban} yet; the run's total "
                f"{total / 100:,.2f} EUR was not compared with a balance")
    if known.cents < total:
        raise WorkflowError(
            f"run R{run.id} pays {total / 100:,.2f} EUR but the account {run.debtor_iban} had "
            f"{known.cents / 100:,.2f} EUR on {known.on} (statement {known.message_id}): short by "
            f"{(total - known.cents) / 100:,.2f} EUR; nothing was paid: fund the account and import its "
            "statement, then execute again")
    return (f"funding check: total {total / 100:,.2f} EUR within the balance {known.cents / 100:,.2f} EUR on "
            f"{known.on} (statement {known.message_id})")


def payout_bank_statuses(session: Session, run_id: int) -> dict[str, PayoutBankStatus]:
    rows = session.execute(
        select(RunPayout, BankPayoutStatus, OwedAgain.run_payout_id)
        .outerjoin(BankPayoutStatus, BankPayoutStatus.run_payout_id == RunPayout.id)
        .outerjoin(OwedAgain, OwedAgain.run_payout_id == RunPayout.id)
        .where(RunPayout.run_id == run_id).order_by(RunPayout.client_id)).all()
    return {p.client_id: PayoutBankStatus(p.client_id, p.end_to_end_id, s.state if s else None,
                                          s.reason_code if s else None, s.reason_text if s else None,
                                          owed is not None) for p, s, owed in rows}


def bank_statuses(store: Store, user: str | None, run_ref: str | int) -> dict[str, PayoutBankStatus]:
    run_id = parse_run_ref(run_ref)

    def work(session: Session) -> dict[str, PayoutBankStatus]:
        authorise(session, user, Action.READ)
        get_run(session, run_id)
        return payout_bank_statuses(session, run_id)

    return perform(store, user, Action.READ, "run", f"R{run_id}", work, run_id=run_id, write=False)


def active_holds(session: Session, ibans: dict[str, str] | None = None) -> dict[str, list[str]]:
    """client_id -> the readiness reasons the bank's answers hold it back with. A released BANK_DETAILS_REJECTED
    hold counts again when ``ibans`` (the data's client IBANs) no longer holds the confirmed IBAN."""
    out: dict[str, list[str]] = {}
    for hold in session.execute(select(ClientBankHold).order_by(ClientBankHold.id)).scalars():
        active = hold.released_at is None
        if not active and hold.reason == "BANK_DETAILS_REJECTED" and ibans is not None:
            active = _iban(ibans.get(hold.client_id)) != _iban(hold.confirmed_iban)
        if active and hold.reason not in out.get(hold.client_id, []):
            out.setdefault(hold.client_id, []).append(hold.reason)
    return out


def list_holds(store: Store, user: str | None) -> list[HoldInfo]:
    def work(session: Session) -> list[HoldInfo]:
        authorise(session, user, Action.READ)
        return [HoldInfo(h.client_id, h.reason, h.reason_code, h.rejected_iban, h.since.isoformat()[:19],
                         h.entered_by, h.new_iban, h.confirmed_by, h.released_at is not None)
                for h in session.execute(select(ClientBankHold).order_by(ClientBankHold.id)).scalars()]

    return perform(store, user, Action.READ, "client", "*", work, write=False)


def statement_results(session: Session) -> list[dict[str, Any]]:
    """Every imported camt.053's stored matching result, oldest first."""
    rows = session.execute(select(BankMessage).where(BankMessage.kind == "camt.053", BankMessage.result_json
                                                     .is_not(None)).order_by(BankMessage.id)).scalars()
    return [{"message_id": r.message_id, "file_sha256": r.file_sha256, **json.loads(r.result_json or "{}")}
            for r in rows]


def rejected_and_returned(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(RunPayout, BankPayoutStatus).join(BankPayoutStatus, BankPayoutStatus.run_payout_id == RunPayout.id)
        .where(BankPayoutStatus.state.in_((BankPayoutState.REJECTED.value, BankPayoutState.RETURNED.value)))
        .order_by(RunPayout.run_id, RunPayout.client_id)).all()
    return [{"run": f"R{p.run_id}", "client_id": p.client_id, "end_to_end_id": p.end_to_end_id,
             "amount_cents": int(p.amount_cents), "state": s.state, "reason_code": s.reason_code,
             "action": reason_block(reason_action(s.reason_code))} for p, s in rows]


def bank_feedback(store: Store) -> dict[str, Any]:
    """For the report and the dashboard: the statements' matching results and the rejected / returned payouts
    (empty lists for a store without bank files)."""
    with store.transaction() as session:
        return {"statements": statement_results(session), "rejected_returned": rejected_and_returned(session)}


# ---------------------------------------------------------------------------------------------- two people


def confirm_details(store: Store, user: str | None, client_id: str, data_iban: str | None) -> list[HoldInfo]:
    """Release the client's holds, two people: the first call records who checked the new bank details (for
    BANK_DETAILS_REJECTED: the data's IBAN, which must differ from the rejected one), a second call by another
    user confirms the same IBAN and releases the hold."""
    client = check_client_id(client_id)

    def work(session: Session) -> list[HoldInfo]:
        actor = authorise(session, user, Action.CONFIRM_BANK_DETAILS)
        holds = session.execute(select(ClientBankHold).where(ClientBankHold.client_id == client,
                                                             ClientBankHold.released_at.is_(None))
                                .order_by(ClientBankHold.id).with_for_update()).scalars().all()
        if not holds:
            raise WorkflowError(f"client {client!r} is not held back by a bank answer; nothing to confirm")
        new = _iban(data_iban)
        out = []
        for hold in holds:
            if hold.reason == "BANK_DETAILS_REJECTED":
                if not new:
                    raise ArgumentError(f"client {client!r} is not in the data; its new IBAN cannot be checked")
                if new == _iban(hold.rejected_iban):
                    raise WorkflowError(f"client {client!r} still has the IBAN the bank rejected ({hold.rejected_iban}"
                                        f", {hold.reason_code}); enter new bank details in the data first")
            before = {"entered_by": hold.entered_by, "new_iban": hold.new_iban, "released": False}
            if hold.entered_by is None or (hold.reason == "BANK_DETAILS_REJECTED" and _iban(hold.new_iban) != new):
                hold.entered_by, hold.new_iban = actor.name, new or None
                step = "entered"
            elif hold.entered_by == actor.name:
                raise WorkflowError(f"{actor.name} already checked client {client!r}'s details; a second person "
                                    "must confirm them")
            else:
                hold.confirmed_by, hold.confirmed_iban, hold.released_at = actor.name, new or None, utc_now()
                step = "confirmed"
            audit.append(session, actor=actor.name, action="confirm_details", entity="client", entity_id=client,
                         client_id=client, before=before,
                         after={"step": step, "reason": hold.reason, "new_iban": hold.new_iban,
                                "released": hold.released_at is not None})
            out.append(HoldInfo(hold.client_id, hold.reason, hold.reason_code, hold.rejected_iban,
                                hold.since.isoformat()[:19], hold.entered_by, hold.new_iban, hold.confirmed_by,
                                hold.released_at is not None))
        session.flush()
        return out

    return perform(store, user, Action.CONFIRM_BANK_DETAILS, "client", client, work, client_id=client)


def confirm_mark(store: Store, user: str | None, run_ref: str | int, client_id: str) -> PayoutBankStatus:
    """A second person confirms a manual `payouts mark ... returned|rejected`: only then is it owed again."""
    run_id = parse_run_ref(run_ref)
    client = check_client_id(client_id)

    def work(session: Session) -> PayoutBankStatus:
        actor = authorise(session, user, Action.MARK)
        payout = session.execute(select(RunPayout).where(RunPayout.run_id == run_id,
                                                         RunPayout.client_id == client)).scalar_one_or_none()
        if payout is None:
            raise ArgumentError(f"run R{run_id} has no payout for client {client!r}")
        if payout.status not in (PayoutStatus.RETURNED, PayoutStatus.REJECTED):
            raise WorkflowError(f"payout {client!r} of run R{run_id} is {payout.status}; only a payout marked "
                                "returned or rejected can be confirmed")
        if session.get(OwedAgain, payout.id) is not None:
            raise WorkflowError(f"payout {client!r} of run R{run_id} is already owed again")
        marked_by = session.execute(select(AuditEntry.actor).where(
            AuditEntry.action.in_(("mark_returned", "mark_rejected")), AuditEntry.entity_id == payout.end_to_end_id,
            AuditEntry.run_id == run_id).order_by(AuditEntry.seq.desc()).limit(1)).scalar()
        if marked_by is not None and marked_by.removesuffix(audit.DEMO_MARK) == actor.name:  # a demo store's mark
            raise WorkflowError(f"{actor.name} marked payout {client!r} of run R{run_id} {payout.status}; a "
                                "second person must confirm it")
        session.add(OwedAgain(run_payout_id=payout.id, source="manual", reason=payout.status_reason,
                              confirmed_by=actor.name, confirmed_at=utc_now()))
        audit.append(session, actor=actor.name, action="confirm_mark", entity="payout",
                     entity_id=payout.end_to_end_id, run_id=run_id, client_id=client,
                     before={"status": payout.status, "marked_by": marked_by}, after={"owed_again": True})
        session.flush()
        return payout_bank_statuses(session, run_id)[client]

    return perform(store, user, Action.MARK, "run", f"R{run_id}", work, run_id=run_id, client_id=client)


def data_ibans(portfolio: Portfolio) -> dict[str, str]:
    clients = portfolio.clients
    return dict(zip(clients["client_id"].astype(str), clients["iban"].astype(str), strict=True))

