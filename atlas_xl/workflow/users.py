"""Users of the store and their roles: add, list, deactivate (admins; the first user of a store bootstraps).

A user is a name the store's identity maps to (atlas_xl.workflow.common): an operating-system account on SQLite,
an existing login role on PostgreSQL (the DBA creates the login; Atlas never sets a password), any name in a demo
store. Names are unique case-insensitively.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from atlas_xl.errors import ArgumentError, PermissionDenied, WorkflowError
from atlas_xl.store import audit
from atlas_xl.store.database import Store, is_demo
from atlas_xl.store.models import User
from atlas_xl.workflow.common import authorise, check_user_name, find_user, identity, identity_source, perform, utc_now
from atlas_xl.workflow.permissions import Action, Role, parse_role
from atlas_xl.workflow.results import UserInfo


def add_user(store: Store, actor: str | None, name: str, role: Role | str) -> UserInfo:
    """Add a user. On an empty store the first user must be an admin and needs no acting user; outside a demo
    store the first admin is the person running the command (their OS account / PostgreSQL login)."""
    role = parse_role(str(role))
    name = check_user_name(name)  # as given: a trailing newline is refused, not stripped

    def work(session: Session) -> UserInfo:
        count = session.execute(select(func.count()).select_from(User)).scalar_one()
        if count == 0:
            if role is not Role.ADMIN:
                raise PermissionDenied(f"the store has no users yet; the first user must be an admin, not {role}")
            if not is_demo(session):
                me = identity(session, actor)
                if me.lower() != name.lower():
                    raise PermissionDenied(f"the first admin of a store is the person setting it up: {me!r} "
                                           f"({identity_source(session)}), not {name!r}")
            by = name
        else:
            by = authorise(session, actor, Action.MANAGE_USERS).name
            existing = find_user(session, name)
            if existing is not None:
                raise WorkflowError(f"user {existing.name!r} already exists (names are compared ignoring case); "
                                    "expected a new name")
        if not is_demo(session) and session.get_bind().dialect.name == "postgresql":
            login = session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n AND rolcanlogin"),
                                    {"n": name}).first()
            if login is None:
                raise ArgumentError(f"no PostgreSQL login {name!r}; expected an existing login role (the DBA "
                                    f"creates it: CREATE ROLE \"{name}\" LOGIN ...; Atlas never sets passwords)")
        session.add(User(name=name, role=role.value, active=True, created_at=utc_now(), created_by=by))
        info = UserInfo(name, role.value, True)
        audit.append(session, actor=by, action="user_add", entity="user", entity_id=name, before=None,
                     after=info.to_dict())
        return info

    return perform(store, actor, Action.MANAGE_USERS, "user", name, work)


def list_users(store: Store, actor: str | None) -> list[UserInfo]:
    def work(session: Session) -> list[UserInfo]:
        authorise(session, actor, Action.MANAGE_USERS)
        users = session.execute(select(User).order_by(User.name)).scalars().all()
        return [UserInfo(u.name, u.role, bool(u.active)) for u in users]

    return perform(store, actor, Action.MANAGE_USERS, "user", "*", work, write=False)


def deactivate_user(store: Store, actor: str | None, name: str) -> UserInfo:
    name = check_user_name(name)

    def work(session: Session) -> UserInfo:
        admin = authorise(session, actor, Action.MANAGE_USERS)
        user = find_user(session, name)
        if user is None:
            raise ArgumentError(f"unknown user {name!r}; expected a name from `atlas-xl users list`")
        if not user.active:
            raise WorkflowError(f"user {name!r} is already deactivated")
        if user.name.lower() == admin.name.lower():
            raise WorkflowError(f"user {name!r} cannot deactivate themselves; another admin must do it")
        before = UserInfo(user.name, user.role, True)
        user.active = False
        after = UserInfo(user.name, user.role, False)
        audit.append(session, actor=admin.name, action="user_deactivate", entity="user", entity_id=user.name,
                     before=before.to_dict(), after=after.to_dict())
        return after

    return perform(store, actor, Action.MANAGE_USERS, "user", name, work)
