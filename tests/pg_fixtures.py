"""Fixtures for the store tests: a real PostgreSQL 15 server started on loopback, and fresh databases.

Import with `from tests.pg_fixtures import *`. Nothing is mocked. If the PostgreSQL binaries are missing
the fixture FAILS (the suite must not pass silently without the second backend).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from atlas_xl.store.database import Store, open_store

PG_BIN = Path(os.environ.get("ATLAS_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_PASSWORD = "s3cret-Pg-pw"  # the server trusts loopback; the password must still never be shown

__all__ = ["BACKENDS", "PgServer", "admin_users", "db_url", "make_payouts", "pg_server", "store", "PG_PASSWORD"]

BACKENDS = ["sqlite", "postgresql"]


@dataclass
class PgServer:
    host: str
    port: int
    user: str
    _counter: itertools.count

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL (with a password that trust auth ignores)."""
        name = f"atlas_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{self.user}:{PG_PASSWORD}@{self.host}:{self.port}/{name}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args)
    if os.geteuid() == 0:  # initdb refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not (initdb.exists() and pg_ctl.exists()):
        pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN} (initdb, pg_ctl); install Debian's "
                    "postgresql-15 package (.ci/run does) or set ATLAS_PG_BIN", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="atlas-pg-"))
    os.chmod(base, 0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = _free_port()
    done = _as_postgres(str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C.UTF-8")
    if done.returncode != 0:
        pytest.fail(f"initdb failed: {done.stderr.strip()[-800:]}", pytrace=False)
    options = f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c max_connections=200"
    done = _as_postgres(str(pg_ctl), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w",
                        "-t", "60", "start")
    if done.returncode != 0:
        log = (base / "server.log").read_text(errors="replace")[-1500:] if (base / "server.log").exists() else ""
        pytest.fail(f"pg_ctl start failed: {done.stderr.strip()} {log}", pytrace=False)
    try:
        yield PgServer("127.0.0.1", port, "postgres", itertools.count())
    finally:
        _as_postgres(str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop")
        time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty database URL on each backend (the SQLite file lives outside the test's tmp_path)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'atlas.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url, demo=True)  # a demo store: the tests name who acts (tests/test_identity.py: not)
    yield opened
    opened.dispose()


@pytest.fixture
def admin_users(store: Store) -> Store:
    """The store with one user per role: ada (admin), otto + olga (operations), fiona + felix + frida
    (finance), carl (credit), rita (risk)."""
    from atlas_xl.workflow.users import add_user

    add_user(store, None, "ada", "admin")
    for name, role in (("otto", "operations"), ("olga", "operations"), ("fiona", "finance"),
                       ("felix", "finance"), ("frida", "finance"), ("carl", "credit"), ("rita", "risk")):
        add_user(store, "ada", name, role)
    return store


# Real IBANs with valid check digits (public test/example accounts) so the SEPA writer accepts them.
IBANS = {
    "C001": ("DE89370400440532013000", "COBADEFFXXX"),
    "C002": ("FR1420041010050500013M02606", "PSSTFRPPLIL"),
    "C003": ("NL91ABNA0417164300", "ABNANL2A"),
    "C004": ("DE02120300000000202051", "BYLADEM1001"),
}


def make_payouts(amounts: dict[str, int], *, blocked: dict[str, str] | None = None) -> pd.DataFrame:
    """A compute_payouts-shaped frame: `amounts` ready clients (cents), `blocked` client -> reasons."""
    blocked = blocked or {}
    rows = []
    for client_id, cents in amounts.items():
        iban, bic = IBANS.get(client_id, IBANS["C001"])
        rows.append({"client_id": client_id, "name": f"Client {client_id} GmbH", "country": iban[:2],
                     "iban": iban, "bic": bic, "amount_cents": cents, "ready": True, "reasons": "",
                     "remittance": f"Payout {client_id}"})
    for client_id, reasons in blocked.items():
        rows.append({"client_id": client_id, "name": f"Blocked {client_id}", "country": "DE",
                     "iban": IBANS["C001"][0], "bic": None, "amount_cents": 0, "ready": False,
                     "reasons": reasons, "remittance": ""})
    frame = pd.DataFrame(rows)
    frame["amount_cents"] = frame["amount_cents"].astype("int64")
    return frame
