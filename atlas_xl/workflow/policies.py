"""Payment policies: the controls that decide who is paid, how much, from which account and with how many
approvals are a policy in the store, never a setting of whoever runs the command.

- The controls: the dual-approval threshold (a run whose total reaches it needs two approvers), the breach
  threshold that gates payouts, the warning threshold, and the paying (debtor) account's name, IBAN and BIC.
- A store starts with today's defaults as policy P1, written by its migration (revision 0004_policies) and
  recorded in the audit trail as the initial policy (action `policy_initial`) before the first change is
  proposed; until then each run's propose entry carries the policy it used in full.
- A change is proposed by an admin (`propose_policy`, validated when set: the debtor IBAN with its national
  check digits, the BIC, the name) and is in force only once a SECOND admin approves it (`approve_policy`; the
  proposer cannot). A proposal made while another version came into force is refused at approval (propose it
  again on top of the policy in force). Every step is audited with the policy before and after.
- An environment variable (ATLAS_DUAL_APPROVAL_EUR, ATLAS_BREACH_THRESHOLD, ATLAS_WARNING_THRESHOLD) or a
  Settings object passed to the API may make a control STRICTER for one command, never looser
  (`apply_policy`); ATLAS_DEBTOR_* is refused (atlas_xl.inputs.environment.payment_requests).
- Each run records the policy it was proposed under (`policy_record`, covered by its snapshot hash). Rule for a
  run proposed under an older policy: it can be neither approved nor executed; propose its date again
  (`require_policy_of`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atlas_xl.domain import accounts
from atlas_xl.domain.epc_text import bic_compact
from atlas_xl.domain.model import MAX_AMOUNT_CENTS
from atlas_xl.domain.money import format_eur
from atlas_xl.errors import ArgumentError, ConfigError, IbanError, PermissionDenied, StoreError, WorkflowError
from atlas_xl.inputs.environment import load_settings, payment_requests
from atlas_xl.settings import Settings
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import AuditEntry, PaymentPolicy, PayoutRun
from atlas_xl.workflow.common import authorise, perform, utc, utc_now
from atlas_xl.workflow.permissions import Action

INITIAL_ACTOR = "(initial policy)"
PROPOSED, IN_FORCE, REPLACED = "proposed", "in_force", "replaced"
_POLICY_REF = re.compile(r"^[Pp]?([0-9]{1,9})$")
PPM = 1_000_000
MAX_THRESHOLD_PPM = 10 * PPM  # 10.0 (1000 % of the limit): anything above is a typo, not a policy


@dataclass(frozen=True)
class PolicyValues:
    """The payment controls (integer cents and parts per million)."""

    dual_approval_cents: int
    warning_ppm: int
    breach_ppm: int
    debtor_name: str
    debtor_iban: str
    debtor_bic: str

    @classmethod
    def defaults(cls) -> PolicyValues:
        base = Settings()
        return cls(base.dual_approval_cents, base.warning_ppm, base.breach_ppm, base.debtor_name,
                   base.debtor_iban, base.debtor_bic)

    @classmethod
    def of(cls, row: PaymentPolicy) -> PolicyValues:
        return cls(int(row.dual_approval_cents), int(row.warning_ppm), int(row.breach_ppm), row.debtor_name,
                   row.debtor_iban, row.debtor_bic)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CONTROLS = tuple(f.name for f in fields(PolicyValues))
# the controls a value may only lower (a lower threshold is stricter)
THRESHOLDS = ("dual_approval_cents", "warning_ppm", "breach_ppm")
LABELS = {"dual_approval_cents": "dual approval from", "warning_ppm": "warning threshold",
          "breach_ppm": "breach threshold"}


@dataclass(frozen=True)
class PolicyInfo:
    """One version of the policy, as `policy show / list` print it."""

    policy_id: int
    ref: str
    status: str
    based_on: int | None
    values: PolicyValues
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "ref": self.ref, "status": self.status, "based_on": self.based_on,
                **self.values.to_dict(), "proposed_by": self.proposed_by,
                "proposed_at": self.proposed_at.isoformat(), "approved_by": self.approved_by,
                "approved_at": None if self.approved_at is None else self.approved_at.isoformat()}

    def line(self) -> str:
        v = self.values
        approved = f", approved by {self.approved_by}" if self.approved_by else ""
        return (f"{self.ref}  {self.status:<9}  dual approval from {format_eur(v.dual_approval_cents)}; "
                f"warning {v.warning_ppm / PPM:g}, breach {v.breach_ppm / PPM:g}; debtor {v.debtor_name} "
                f"{v.debtor_iban} {v.debtor_bic}; proposed by {self.proposed_by}{approved}")


def _info(row: PaymentPolicy) -> PolicyInfo:
    return PolicyInfo(int(row.id), f"P{row.id}", row.status, row.based_on, PolicyValues.of(row), row.proposed_by,
                      utc(row.proposed_at), row.approved_by, None if row.approved_at is None else utc(row.approved_at))


def parse_policy_ref(text: str | int) -> int:
    match = _POLICY_REF.match(str(text).strip())
    if not match or int(match.group(1)) < 1:
        raise ArgumentError(f"{str(text)[:60]!r} is not a policy id; expected e.g. P2 (see `atlas-xl policy list`)")
    return int(match.group(1))


# ---------------------------------------------------------------------------------------------- validation


def check_values(values: PolicyValues) -> PolicyValues:
    """The values with the debtor IBAN / BIC in compact form, or BadInput naming the control and the value."""
    dual = values.dual_approval_cents
    if isinstance(dual, bool) or not isinstance(dual, int) or not 0 < dual <= MAX_AMOUNT_CENTS:
        raise ArgumentError(f"dual-approval threshold {dual!r} cents is not valid; expected integer cents from 1 "
                            f"to {MAX_AMOUNT_CENTS} ({format_eur(MAX_AMOUNT_CENTS)})")
    for name in ("warning_ppm", "breach_ppm"):
        ppm = getattr(values, name)
        if isinstance(ppm, bool) or not isinstance(ppm, int) or not 0 < ppm <= MAX_THRESHOLD_PPM:
            raise ArgumentError(f"{name.removesuffix('_ppm')} threshold {ppm!r} ppm is not valid; expected a share "
                                f"of the credit limit above 0 and at most {MAX_THRESHOLD_PPM / PPM:g}, e.g. 1.0")
    if values.warning_ppm > values.breach_ppm:
        raise ArgumentError(f"warning threshold {values.warning_ppm / PPM:g} is above the breach threshold "
                            f"{values.breach_ppm / PPM:g}; expected warning <= breach, e.g. 0.8 and 1.0")
    name = str(values.debtor_name).strip()
    problem = accounts.name_problem(name)
    if problem or len(name) > 70:
        raise ArgumentError(f"debtor name {name[:80]!r} is not valid ({problem or 'more than 70 characters'}); "
                            "expected the account holder's name, e.g. 'Atlas Settlement GmbH'")
    try:
        iban = accounts.iban_compact(str(values.debtor_iban), "debtor account")
        bic = bic_compact(str(values.debtor_bic).strip(), "debtor account")
    except IbanError as error:
        raise ArgumentError(str(error)) from None
    if len(bic) not in (8, 11):
        raise ArgumentError(f"debtor BIC {values.debtor_bic!r} is not valid; expected 8 or 11 characters")
    return replace(values, debtor_name=name, debtor_iban=iban, debtor_bic=bic)


# ---------------------------------------------------------------------------------------------- in force


def policy_in_force(session: Session) -> PaymentPolicy:
    """The policy in force (revision 0004_policies writes P1, today's defaults, into every store)."""
    row = session.execute(select(PaymentPolicy).where(PaymentPolicy.status == IN_FORCE)).scalar_one_or_none()
    if row is None:
        raise StoreError("the store has no payment policy in force (table payment_policies); expected policy P1 "
                         "from the store's migration: restore the store from a backup")
    return row


def _audit_initial(session: Session) -> None:
    """Record P1 in the audit trail as the initial policy, once, before the first change is proposed (until then
    every run's propose entry carries the policy it used in full)."""
    if session.execute(select(AuditEntry.seq).where(AuditEntry.action == "policy_initial").limit(1)).first():
        return
    first = session.get(PaymentPolicy, 1)
    if first is not None:
        audit.append(session, actor=INITIAL_ACTOR, action="policy_initial", entity="policy", entity_id="P1",
                     before=None, after={"policy": "P1", **PolicyValues.of(first).to_dict(),
                                         "in_force_since": utc(first.approved_at or first.proposed_at)})


def apply_policy(policy: PaymentPolicy, settings: Settings | None = None,
                 requests: Mapping[str, tuple[str, int]] | None = None, *, base: Settings | None = None) -> Settings:
    """The settings a payment command uses: the policy's controls, made stricter where `requests` (environment
    variables: {control: (variable, value)}) or an explicitly passed `settings` ask for it; a request that
    would loosen a control is refused (ConfigError) naming the variable, the policy and the policy command.

    `settings` is the API's Settings object: its thresholds are requests (a value equal to the policy's changes
    nothing), and its debtor account must be the policy's. `base` (default: `settings`, else the defaults)
    gives the settings that are not payment controls (memory, chargeback risk)."""
    values = PolicyValues.of(policy)
    asked: dict[str, tuple[str, int]] = dict(requests or {})
    if settings is not None:
        for control in THRESHOLDS:
            given = int(getattr(settings, control))
            if given != getattr(values, control):
                asked.setdefault(control, (f"Settings.{control}", given))
        account = (settings.debtor_name, settings.debtor_iban, settings.debtor_bic)
        defaults = PolicyValues.defaults()
        if account not in ((values.debtor_name, values.debtor_iban, values.debtor_bic),
                           (defaults.debtor_name, defaults.debtor_iban, defaults.debtor_bic)):
            raise ConfigError(f"the paying account {settings.debtor_iban} is not policy P{policy.id}'s "
                              f"({values.debtor_iban}); the paying account is the store's payment policy: an admin "
                              "changes it with `atlas-xl policy propose --debtor-iban ...` and a second admin "
                              "approves it")
    chosen = values.to_dict()
    for control, (source, value) in asked.items():
        allowed = getattr(values, control)
        if value > allowed:
            shown = format_eur(value) if control == "dual_approval_cents" else f"{value / PPM:g}"
            limit = format_eur(allowed) if control == "dual_approval_cents" else f"{allowed / PPM:g}"
            option = {"dual_approval_cents": "--dual-approval-eur", "warning_ppm": "--warning",
                      "breach_ppm": "--breach"}[control]
            raise ConfigError(
                f"{source} {shown} would loosen payment policy P{policy.id} ({LABELS[control]} {limit}); a "
                f"setting may only make a payment control stricter for one command. An admin changes the policy "
                f"with `atlas-xl policy propose {option} ...`, in force once a second admin approves it")
        chosen[control] = value
    merged = replace(base or settings or load_settings({}), **chosen)
    if merged.warning_ppm > merged.breach_ppm:  # a stricter breach below the policy's warning: warn there too
        merged = replace(merged, warning_ppm=merged.breach_ppm)
    return merged


def payment_settings(store: Store, settings: Settings | None = None,
                     environ: dict[str, str] | None = None) -> Settings:
    """The settings to compute payouts with before proposing them: the policy in force, made stricter by the
    environment's ATLAS_* payment variables and by `settings` (refused if they would loosen it or name another
    debtor account)."""
    requests = payment_requests(environ)
    with store.transaction() as session:
        return apply_policy(policy_in_force(session), settings, requests, base=load_settings(environ))


def policy_record(policy: PaymentPolicy, applied: Settings) -> dict[str, Any]:
    """What a run stores (and its snapshot hash covers): the policy in force and the controls applied."""
    return {"policy": f"P{policy.id}", **PolicyValues.of(policy).to_dict(),
            "applied": {c: int(getattr(applied, c)) for c in THRESHOLDS}}


def run_policy(run: PayoutRun) -> dict[str, Any] | None:
    """The policy record stored with a run (None for a run proposed before policies)."""
    return None if run.policy_json is None else json.loads(run.policy_json)


def policy_text(record: Mapping[str, Any] | None) -> str:
    """A run's policy record in one line (reviewer list, `payouts show`)."""
    if record is None:
        return "none recorded (proposed before payment policies)"
    applied = record.get("applied", {})
    return (f"{record['policy']}: dual approval from {format_eur(applied.get('dual_approval_cents', 0))}, breach "
            f"{applied.get('breach_ppm', 0) / PPM:g}, warning {applied.get('warning_ppm', 0) / PPM:g}; paid from "
            f"{record['debtor_name']} {record['debtor_iban']} {record['debtor_bic']}")


def require_policy_of(session: Session, run: PayoutRun, doing: str) -> None:
    """Refuse to approve / execute a run proposed under another policy than the one in force (its approvals
    count, its paying account and its breach gate were decided by that policy): propose its date again."""
    policy = policy_in_force(session)
    if run.policy_id != policy.id:
        under = "before payment policies existed" if run.policy_id is None else f"under policy P{run.policy_id}"
        raise WorkflowError(f"run R{run.id} was proposed {under}, but policy P{policy.id} is in force now; it "
                            f"cannot be {doing}: propose {run.payout_date.isoformat()} again")


# ---------------------------------------------------------------------------------------------- change


def propose_policy(store: Store, user: str | None, **changes: int | str | None) -> PolicyInfo:
    """Propose a new version of the policy: the one in force with `changes` (controls of PolicyValues; None
    keeps the value). Validated now; in force only once a second admin approves it."""
    unknown = set(changes) - set(CONTROLS)
    if unknown:
        raise ArgumentError(f"unknown policy control(s) {', '.join(sorted(unknown))}; expected {', '.join(CONTROLS)}")
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        raise ArgumentError("no policy control given; expected at least one of --dual-approval-eur, --warning, "
                            "--breach, --debtor-name, --debtor-iban, --debtor-bic")

    def work(session: Session) -> PolicyInfo:
        actor = authorise(session, user, Action.PROPOSE_POLICY)
        current = policy_in_force(session)
        _audit_initial(session)
        before = PolicyValues.of(current)
        after = check_values(replace(before, **given))  # type: ignore[arg-type]
        if after == before:
            raise ArgumentError(f"the proposal changes nothing: policy P{current.id} already has these values")
        new_id = int(session.execute(select(func.max(PaymentPolicy.id))).scalar() or 0) + 1
        row = PaymentPolicy(id=new_id, status=PROPOSED, based_on=current.id, **after.to_dict(),
                            proposed_by=actor.name, proposed_at=utc_now())
        session.add(row)
        session.flush()
        audit.append(session, actor=actor.name, action="policy_propose", entity="policy", entity_id=f"P{new_id}",
                     before={"policy": f"P{current.id}", **before.to_dict()},
                     after={"policy": f"P{new_id}", "status": PROPOSED, **after.to_dict()})
        return _info(row)

    return perform(store, user, Action.PROPOSE_POLICY, "policy", "new", work)


def approve_policy(store: Store, user: str | None, policy_ref: str | int) -> PolicyInfo:
    """A second admin puts a proposed policy in force (the one in force until now is replaced)."""
    policy_id = parse_policy_ref(policy_ref)

    def work(session: Session) -> PolicyInfo:
        actor = authorise(session, user, Action.APPROVE_POLICY)
        row = session.get(PaymentPolicy, policy_id, with_for_update=True)
        if row is None:
            raise ArgumentError(f"no policy P{policy_id}; expected a policy id from `atlas-xl policy list`")
        if row.status != PROPOSED:
            raise WorkflowError(f"policy P{policy_id} is {row.status.replace('_', ' ')}; only a proposed policy "
                                "can be approved")
        if row.proposed_by == actor.name:
            raise PermissionDenied(f"user {actor.name!r} proposed policy P{policy_id} and may not approve it; "
                                   "a second admin must approve a policy change")
        current = policy_in_force(session)
        if row.based_on != current.id:
            raise WorkflowError(f"policy P{policy_id} was proposed as a change of P{row.based_on}, but P{current.id} "
                                f"is in force now; propose the change again on top of P{current.id}")
        before = PolicyValues.of(current)
        current.status = REPLACED
        session.flush()  # one row in force at any time
        row.status, row.approved_by, row.approved_at = IN_FORCE, actor.name, utc_now()
        session.flush()
        audit.append(session, actor=actor.name, action="policy_approve", entity="policy", entity_id=f"P{policy_id}",
                     before={"policy": f"P{current.id}", **before.to_dict()},
                     after={"policy": f"P{policy_id}", "status": IN_FORCE, "proposed_by": row.proposed_by,
                            **PolicyValues.of(row).to_dict()})
        return _info(row)

    return perform(store, user, Action.APPROVE_POLICY, "policy", f"P{policy_id}", work)


# ---------------------------------------------------------------------------------------------- read


def show_policy(store: Store, user: str | None) -> PolicyInfo:
    """The policy in force."""
    def work(session: Session) -> PolicyInfo:
        authorise(session, user, Action.READ)
        return _info(policy_in_force(session))

    return perform(store, user, Action.READ, "policy", "*", work, write=False)


def list_policies(store: Store, user: str | None) -> list[PolicyInfo]:
    """Every version: in force, replaced and proposed, oldest first."""
    def work(session: Session) -> list[PolicyInfo]:
        authorise(session, user, Action.READ)
        rows = session.execute(select(PaymentPolicy).order_by(PaymentPolicy.id)).scalars()
        return [_info(row) for row in rows]

    return perform(store, user, Action.READ, "policy", "*", work, write=False)
