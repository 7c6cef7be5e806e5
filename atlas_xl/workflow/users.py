"""Users of the store and their roles: add, list, deactivate (admins; the first user of a store bootstraps)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atlas_xl.errors import ArgumentError, PermissionDenied, WorkflowError
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import User
from atlas_xl.workflow.common import authorise, perform, utc_now
from atlas_xl.workflow.permissions import Action, Role, parse_role
from atlas_xl.workflow.results import UserInfo

_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def add_user(store: Store, actor: str | None, name: str, role: Role | str) -> UserInfo:
    """Add a user. On an empty store the first user must be an admin and needs no acting user."""
    role = parse_role(str(role))
    name = name.strip() if isinstance(name, str) else ""
    if not _USER_NAME.match(name):
        raise ArgumentError(f"{name[:70]!r} is not a user name; expected 1-64 of A-Z a-z 0-9 _ . @ -")

    def work(session: Session) -> UserInfo:
        count = session.execute(select(func.count()).select_from(User)).scalar_one()
        if count == 0:
            if role is not Role.ADMIN:
                raise PermissionDenied(f"the store has no users yet; the first user must be an admin, not {role}")
            by = name
        else:
            by = authorise(session, actor, Action.MANAGE_USERS).name
            if session.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
                raise WorkflowError(f"user {name!r} already exists; expected a new name")
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
    def work(session: Session) -> UserInfo:
        admin = authorise(session, actor, Action.MANAGE_USERS)
        user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            raise ArgumentError(f"unknown user {name[:64]!r}; expected a name from `atlas-xl users list`")
        if not user.active:
            raise WorkflowError(f"user {name!r} is already deactivated")
        if user.name == admin.name:
            raise WorkflowError(f"user {name!r} cannot deactivate themselves; another admin must do it")
        before = UserInfo(user.name, user.role, True)
        user.active = False
        after = UserInfo(user.name, user.role, False)
        audit.append(session, actor=admin.name, action="user_deactivate", entity="user", entity_id=name,
                     before=before.to_dict(), after=after.to_dict())
        return after

    return perform(store, actor, Action.MANAGE_USERS, "user", name, work)
