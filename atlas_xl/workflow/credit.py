"""Credit managers' overrides: a client's credit limit and reserve terms, stored, audited and used by every
later run (atlas_xl.workflow.history.apply_overrides puts them into the portfolio)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from atlas_xl.domain.model import MAX_AMOUNT_CENTS, HoldBasis, ReserveKind
from atlas_xl.domain.money import format_eur
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.errors import ArgumentError
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import CreditLimitOverride, ReserveTermOverride
from atlas_xl.workflow.common import authorise, check_client_id, perform, utc_now
from atlas_xl.workflow.permissions import Action
from atlas_xl.workflow.results import CreditLimitChange, ReserveTermsChange

RESERVE_TERM_FIELDS = ("rate_ppm", "hold_days", "hold_basis", "cap_cents", "fixed_amount_cents",
                       "min_balance_cents")


def change_credit_limit(store: Store, user: str | None, client_id: str, credit_limit_cents: int) -> CreditLimitChange:
    """Set a client's credit limit (integer cents >= 0), replacing the limit in the data from now on."""
    client_id = check_client_id(client_id)
    if (isinstance(credit_limit_cents, bool) or not isinstance(credit_limit_cents, int)
            or not 0 <= credit_limit_cents <= MAX_AMOUNT_CENTS):
        raise ArgumentError(f"credit limit {credit_limit_cents!r} cents is not valid; expected integer cents "
                            f"0 to {MAX_AMOUNT_CENTS} ({format_eur(MAX_AMOUNT_CENTS)}), as in the data")

    def work(session: Session) -> CreditLimitChange:
        actor = authorise(session, user, Action.CHANGE_CREDIT_LIMIT)
        row = session.get(CreditLimitOverride, client_id)
        change = CreditLimitChange(client_id, None if row is None else int(row.credit_limit_cents),
                                   credit_limit_cents)
        if row is None:
            row = CreditLimitOverride(client_id=client_id, credit_limit_cents=credit_limit_cents,
                                      changed_by=actor.name, changed_at=utc_now())
            session.add(row)
        else:
            row.credit_limit_cents, row.changed_by, row.changed_at = credit_limit_cents, actor.name, utc_now()
        data = change.to_dict()
        audit.append(session, actor=actor.name, action="change_credit_limit", entity="client",
                     entity_id=client_id, client_id=client_id, before=data["before"], after=data["after"])
        return change

    return perform(store, user, Action.CHANGE_CREDIT_LIMIT, "client", client_id, work, client_id=client_id)


def _term_maxima() -> dict[str, int]:
    """The largest value of each numeric reserve term: the loader's limit for the same column (its declared
    maximum, else the largest amount the data may hold)."""
    return {col.loaded_name: MAX_AMOUNT_CENTS if col.max_value is None else int(col.max_value)
            for col in SCHEMAS["reserve_terms"].columns if col.loaded_name in RESERVE_TERM_FIELDS
            and col.kind in ("amount", "rate", "int")}


TERM_MAXIMUM = _term_maxima()


def change_reserve_terms(store: Store, user: str | None, client_id: str, reserve: str,
                         **terms: int | str | None) -> ReserveTermsChange:
    """Set reserve terms of a client's rolling / partner reserve; unnamed terms keep their current value.

    rate_ppm 0..1_000_000, hold_days >= 0, hold_basis calendar|banking, cap_cents (-1 = no cap) and
    fixed_amount_cents / min_balance_cents >= 0, all integers (cents / ppm as in docs/data_model.md).
    """
    client_id = check_client_id(client_id)
    if reserve not in {k.value for k in ReserveKind}:
        raise ArgumentError(f"{reserve!r} is not a reserve; expected rolling or partner")
    unknown = set(terms) - set(RESERVE_TERM_FIELDS)
    if unknown:
        raise ArgumentError(f"unknown reserve term(s) {', '.join(sorted(unknown))}; "
                            f"expected {', '.join(RESERVE_TERM_FIELDS)}")
    for name, value in terms.items():
        if value is None:
            continue
        if name == "hold_basis":
            if value not in {b.value for b in HoldBasis}:
                raise ArgumentError(f"hold_basis {value!r} is not valid; expected calendar or banking")
            continue
        low = -1 if name == "cap_cents" else 0
        high = TERM_MAXIMUM[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ArgumentError(f"{name} {value!r} is not valid; expected an integer from {low} to {high}, "
                                f"as in the data")
    if not any(v is not None for v in terms.values()):
        raise ArgumentError("no reserve term given; expected at least one of " + ", ".join(RESERVE_TERM_FIELDS))

    def work(session: Session) -> ReserveTermsChange:
        actor = authorise(session, user, Action.CHANGE_RESERVE_TERMS)
        row = session.get(ReserveTermOverride, (client_id, reserve))
        before = None if row is None else {f: getattr(row, f) for f in RESERVE_TERM_FIELDS}
        if row is None:
            row = ReserveTermOverride(client_id=client_id, reserve=reserve, changed_by=actor.name, changed_at=utc_now())
            session.add(row)
        for name, value in terms.items():
            if value is not None:
                setattr(row, name, value)
        row.changed_by, row.changed_at = actor.name, utc_now()
        after = {f: getattr(row, f) for f in RESERVE_TERM_FIELDS}
        audit.append(session, actor=actor.name, action="change_reserve_terms", entity="client",
                     entity_id=f"{client_id}/{reserve}", client_id=client_id, before=before,
                     after={**after, "reserve": reserve})
        return ReserveTermsChange(client_id, reserve, before, after)

    return perform(store, user, Action.CHANGE_RESERVE_TERMS, "client", client_id, work, client_id=client_id)
