"""Who may do what: the one permission table of the payout workflow (roles are stored with the users).

Rules that depend on the run rather than the role (the proposer never approves their own run, large runs
need two distinct approvers, a payout to changed bank details needs two) live in atlas_xl.workflow.runs beside
the state they look at; the policy's four eyes (its proposer never approves it) in atlas_xl.workflow.policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from atlas_xl.errors import ArgumentError, PermissionDenied


class Role(StrEnum):
    OPERATIONS = "operations"  # settlement operations
    RISK = "risk"  # risk analyst
    FINANCE = "finance"  # finance controller
    CREDIT = "credit"  # credit manager
    ADMIN = "admin"  # administrator


class Action(StrEnum):
    PROPOSE = "propose"
    APPROVE = "approve"
    EXECUTE = "execute"
    DELIVER = "deliver"  # deliver an executed run's stored file (again) into a folder
    CANCEL = "cancel"
    MARK = "mark"  # settled / returned / rejected
    READ = "read"  # list and show runs, show and verify the audit trail
    CHANGE_CREDIT_LIMIT = "change_credit_limit"
    CHANGE_RESERVE_TERMS = "change_reserve_terms"
    MANAGE_USERS = "manage_users"
    CLOSE_DAY = "close_day"  # book a day's postings (the daily close)
    CORRECT_LEDGER = "correct_ledger"  # post corrections of booked days whose inputs changed
    EXPORT_JOURNAL = "export_journal"
    LOCK_PERIOD = "lock_period"
    IMPORT_BANK_FILE = "import_bank_file"  # pain.002 / camt.054 / camt.053 from the bank
    CONFIRM_BANK_DETAILS = "confirm_bank_details"  # release a client the bank's answer held back (two people)
    PROPOSE_POLICY = "propose_policy"  # a payment policy change (dual approval, debtor account, thresholds)
    APPROVE_POLICY = "approve_policy"  # puts a proposed policy in force; never by its proposer


_ALL = frozenset(Role)

PERMISSIONS: Mapping[Action, frozenset[Role]] = MappingProxyType({
    Action.PROPOSE: frozenset({Role.OPERATIONS}),
    Action.APPROVE: frozenset({Role.FINANCE}),
    Action.EXECUTE: frozenset({Role.FINANCE}),
    Action.DELIVER: frozenset({Role.FINANCE, Role.ADMIN}),
    # the team that proposes may withdraw its proposal; finance may stop a run it will not pay
    Action.CANCEL: frozenset({Role.OPERATIONS, Role.FINANCE}),
    Action.MARK: frozenset({Role.FINANCE}),
    Action.READ: _ALL,
    Action.CHANGE_CREDIT_LIMIT: frozenset({Role.CREDIT}),
    Action.CHANGE_RESERVE_TERMS: frozenset({Role.CREDIT}),
    Action.MANAGE_USERS: frozenset({Role.ADMIN}),
    Action.CLOSE_DAY: frozenset({Role.OPERATIONS, Role.FINANCE}),
    Action.CORRECT_LEDGER: frozenset({Role.FINANCE}),
    Action.EXPORT_JOURNAL: frozenset({Role.FINANCE}),
    Action.LOCK_PERIOD: frozenset({Role.FINANCE}),
    Action.IMPORT_BANK_FILE: frozenset({Role.OPERATIONS, Role.FINANCE, Role.ADMIN}),
    Action.CONFIRM_BANK_DETAILS: frozenset({Role.OPERATIONS, Role.FINANCE}),
    # payment controls: set by an admin, in force only once a second admin approves (workflow.policies)
    Action.PROPOSE_POLICY: frozenset({Role.ADMIN}),
    Action.APPROVE_POLICY: frozenset({Role.ADMIN}),
})


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ArgumentError(
            f"{text!r} is not a role; expected one of {', '.join(r.value for r in Role)}"
        ) from None


def allowed(role: Role | str, action: Action) -> bool:
    return Role(role) in PERMISSIONS[action]


def require(user_name: str, role: Role | str, action: Action) -> None:
    """Raise PermissionDenied (one line) unless `role` may perform `action`."""
    if not allowed(role, action):
        roles = ", ".join(sorted(r.value for r in PERMISSIONS[action]))
        raise PermissionDenied(
            f"user {user_name!r} (role {Role(role).value}) may not {action.value.replace('_', ' ')}; "
            f"allowed roles: {roles}"
        )
