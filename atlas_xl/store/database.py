"""The payout store: opening a database (SQLite file or PostgreSQL), its sessions, and migrating it.

The schema is owned by the Alembic migrations in ``atlas_xl/store/migrations``; the ORM tables are in
``atlas_xl.store.models`` (they mirror the head revision; a test compares them). ``open_store(url)`` always
runs ``upgrade head`` first, so an existing database upgrades in place and a missing SQLite file is created
on first use.

Concurrency: every transaction on SQLite starts with ``BEGIN IMMEDIATE`` (one writer at a time, others
wait up to the busy timeout) and every writing transaction on PostgreSQL first locks the single
``audit_head`` row (``write_lock``), so writers are serialised on both backends and the audit chain can
never fork. Database URL passwords are masked in everything this module says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError as SAArgumentError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from atlas_xl.errors import ConfigError, hide_passwords
from atlas_xl.store.models import AuditHead

SQLITE_BUSY_TIMEOUT_S = 60


# ---------------------------------------------------------------------------------------------- URLs

_PASSWORD_IN_TEXT = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")


def mask_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ***, also for text that is not a valid URL."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SAArgumentError, ValueError):
        return _PASSWORD_IN_TEXT.sub(r"\1***\3", url)


def scrub(text: str) -> str:
    """Remove passwords from a driver's message where they stand (in a URL, a password=... setting), nothing else:
    replacing the password's text everywhere turned "port 1 failed" into "***ort 1 failed" for the password p."""
    return hide_passwords(text)


def default_url() -> str:
    """--db is not given: ATLAS_DB_URL, else a SQLite file in the user's data folder."""
    env = os.environ.get("ATLAS_DB_URL", "").strip()
    if env:
        return env
    import platformdirs

    return f"sqlite:///{Path(platformdirs.user_data_dir('atlas-xl')) / 'atlas.db'}"


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (SAArgumentError, ValueError):
        raise ConfigError(
            f"{mask_url(url)!r} is not a database URL; expected e.g. sqlite:///path/atlas.db or "
            "postgresql+psycopg://user:password@host:5432/atlas"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {mask_url(parsed)!r}; expected a sqlite:/// or postgresql+psycopg:// URL"
        )
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            f"{mask_url(parsed)!r} is not a database file; expected sqlite:///path/atlas.db "
            "(an in-memory database would lose every run)"
        )
    return parsed


# ---------------------------------------------------------------------------------------------- store


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]
    url: URL

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def write_lock(session: Session) -> None:
    """Serialise writers: PostgreSQL locks the audit head row; SQLite already holds BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # take transaction control from the sqlite3 module so that we can BEGIN IMMEDIATE
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(connection: object | None = None):  # type: ignore[no-untyped-def]
    """Alembic configuration pointing at the migrations shipped inside the package (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    location = str(Path(__file__).resolve().parent / "migrations")
    config.set_main_option("script_location", location.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# the newest file in atlas_xl/store/migrations/versions (a test checks that it is Alembic's head)
HEAD_REVISION = "0004_policies"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` in one transaction (PostgreSQL: under an advisory lock).

    A database already at the head revision (every run but the first after an upgrade) is left without
    loading Alembic, which would cost every `atlas-xl` command ~0.2 s of imports and script parsing."""
    if revision == "head" and _revisions(engine) == [HEAD_REVISION]:
        return
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def _revisions(engine: Engine) -> list[str]:
    """The revision(s) Alembic recorded in the database; [] for a database it never migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return []
        return list(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def open_store(url: str | None = None, *, upgrade: bool = True) -> Store:
    """Open the store at `url`, else ATLAS_DB_URL, else the default file; create / upgrade its schema."""
    raw = url if url else default_url()
    parsed = _parse_url(raw)
    try:
        engine = _make_engine(parsed)
        if upgrade:
            migrate(engine)
    except SQLAlchemyError as error:
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0:1]
        detail = scrub(first_line[0] if first_line else type(error).__name__)
        raise ConfigError(
            f"cannot open the database {mask_url(parsed)}: {detail}; expected a reachable database "
            "(check --db / ATLAS_DB_URL)"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot open the database {mask_url(parsed)}: {error.strerror}") from None
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), url=parsed)
