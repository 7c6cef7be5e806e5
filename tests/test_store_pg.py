"""The store itself: migrations, database-level constraints, URL handling and password masking,
on SQLite and on the PostgreSQL server the tests start (pg_fixtures)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from atlas_xl.errors import ConfigError, WorkflowError
from atlas_xl.store.database import HEAD_REVISION, Store, alembic_config, mask_url, open_store
from atlas_xl.store.models import Base
from atlas_xl.workflow.common import os_account
from atlas_xl.workflow.execution import execute_run
from atlas_xl.workflow.runs import approve_run, propose_run, show_run
from atlas_xl.workflow.users import add_user
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import PG_PASSWORD, PgServer, make_payouts

DAY = date(2024, 3, 28)


def test_models_match_the_migrations(store: Store) -> None:
    """The ORM models and `upgrade head` describe the same schema (no drift between them)."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD_REVISION


def test_upgrade_from_the_first_migration_keeps_data(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    now = datetime(2024, 3, 27, 9, 0, tzinfo=UTC)
    # an upgraded store is a normal one: the person acting is this process's OS account / PostgreSQL login
    me = make_url(db_url).username if db_url.startswith("postgresql") else os_account()
    with engine.begin() as conn:
        assert "file_sha256" not in {c["name"] for c in inspect(conn).get_columns("payout_runs")}
        conn.execute(text("INSERT INTO users (name, role, active, created_at, created_by) VALUES "
                          "('ada', 'admin', :t, :now, 'ada'), (:me, 'operations', :t, :now, 'ada'), "
                          "('fiona', 'finance', :t, :now, 'ada')"), {"t": True, "now": now, "me": me})
        conn.execute(text(
            "INSERT INTO payout_runs (payout_date, status, total_cents, payout_count, excluded_count, "
            "approvals_required, snapshot_sha256, debtor_name, debtor_iban, debtor_bic, source, proposed_by, "
            "proposed_at) VALUES (:d, 'executed', 1234, 1, 0, 1, 'x', 'Atlas', 'DE89370400440532013000', "
            "'COBADEFFXXX', 'old', 'otto', :now)"), {"d": DAY, "now": now})
        conn.execute(text("INSERT INTO run_payouts (run_id, client_id, name, country, iban, bic, amount_cents, "
                          "remittance, end_to_end_id, status) VALUES (1, 'C001', 'Old GmbH', 'DE', "
                          "'DE89370400440532013000', NULL, 1234, 'r', 'R1-C001', 'paid')"))
        conn.execute(text("INSERT INTO paid_payouts (client_id, payout_date, run_id) VALUES ('C001', :d, 1)"),
                     {"d": DAY})
    engine.dispose()

    store = open_store(db_url)  # upgrades to head
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD_REVISION
        row = conn.execute(text("SELECT total_cents, file_sha256, pain_version FROM payout_runs")).one()
        assert tuple(row) == (1234, None, None)
        assert conn.execute(text("SELECT status_reason FROM run_payouts")).scalar_one() is None
    # the upgraded store works: the old execution still blocks paying C001 again for that date
    assert not store.demo
    detail = show_run(store, "R1", None)
    assert detail.payouts[0].amount_cents == 1234
    new = propose_run(store, make_payouts({"C001": 500, "C002": 700}), DAY, None).run
    assert [p.client_id for p in show_run(store, new.ref, None).payouts] == ["C002"]
    # the 0002 tables exist
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM credit_limit_overrides")).scalar_one() == 0
    store.dispose()


def test_paid_payouts_constraint_refuses_a_direct_insert(store: Store) -> None:
    """Not only the code: the database itself refuses a second payment of a client for a payout date."""
    add_user(store, None, "ada", "admin")
    add_user(store, "ada", "otto", "operations")
    run = propose_run(store, make_payouts({"C001": 100}), DAY, "otto").run
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO paid_payouts (client_id, payout_date, run_id) VALUES ('C001', :d, :r)"),
                     {"d": DAY, "r": run.run_id})
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(text("INSERT INTO paid_payouts (client_id, payout_date, run_id) VALUES ('C001', :d, :r)"),
                     {"d": DAY, "r": run.run_id})
    with store.engine.begin() as conn:  # another date is a different payout
        conn.execute(text("INSERT INTO paid_payouts (client_id, payout_date, run_id) VALUES ('C001', :d, :r)"),
                     {"d": date(2024, 3, 27), "r": run.run_id})


def test_execution_refused_by_the_constraint_pays_nothing(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """If the code's own exclusion were bypassed, the constraint still stops the run and no file remains."""
    add_user(store, None, "ada", "admin")
    add_user(store, "ada", "otto", "operations")
    add_user(store, "ada", "fiona", "finance")
    run = propose_run(store, make_payouts({"C001": 100, "C002": 200}), DAY, "otto").run
    approve_run(store, run.ref, "fiona")
    with store.engine.begin() as conn:  # C002 paid for DAY by some other way into the database
        conn.execute(text("INSERT INTO paid_payouts (client_id, payout_date, run_id) VALUES ('C002', :d, :r)"),
                     {"d": DAY, "r": run.run_id})
    with pytest.raises(WorkflowError, match="already paid for its payout date"):
        execute_run(store, run.ref, "fiona", tmp_path / "out")
    assert show_run(store, run.ref, "fiona").summary.status == "approved"
    assert not list((tmp_path / "out").glob("*.xml"))


def test_approval_unique_per_user_in_the_database(store: Store) -> None:
    add_user(store, None, "ada", "admin")
    add_user(store, "ada", "otto", "operations")
    run = propose_run(store, make_payouts({"C001": 100}), DAY, "otto").run
    insert = text("INSERT INTO run_approvals (run_id, user_name, approved_at) VALUES (:r, 'fiona', :t)")
    with store.engine.begin() as conn:
        conn.execute(insert, {"r": run.run_id, "t": datetime.now(UTC)})
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert, {"r": run.run_id, "t": datetime.now(UTC)})


def test_default_location_is_created_on_first_use(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ATLAS_DB_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    store = open_store(None)
    assert store.url.database == str(tmp_path / "xdg" / "atlas-xl" / "atlas.db")
    assert (tmp_path / "xdg" / "atlas-xl" / "atlas.db").is_file()
    store.dispose()
    monkeypatch.setenv("ATLAS_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert open_store().url.database == str(tmp_path / "env.db")


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "not a url", "sqlite://", "sqlite:///:memory:"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="expected"):
        open_store(url)


def test_password_is_masked_everywhere(pg_server: PgServer, capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    from atlas_xl.cli.app import main

    caplog.set_level(logging.DEBUG)
    url = pg_server.create_database()
    assert PG_PASSWORD in url  # the password is really in the URL we hand over
    assert PG_PASSWORD not in mask_url(url) and "***" in mask_url(url)
    assert main(["store", "init", "--demo", "--db", url]) == 0  # --user names who acts
    assert main(["users", "add", "ada", "--role", "admin", "--db", url, "--json"]) == 0
    assert main(["users", "add", "otto", "--role", "operations", "--db", url, "--user", "ada"]) == 0
    assert main(["users", "add", "x", "--role", "admin", "--db", url, "--user", "otto"]) == 3
    assert main(["audit", "show", "--db", url, "--user", "ada", "--json"]) == 0
    assert main(["audit", "verify", "--db", url, "--user", "ada"]) == 0
    # an unreachable server with a password: the error names the masked URL, never the password
    bad = f"postgresql+psycopg://atlas:{PG_PASSWORD}@127.0.0.1:1/atlas"
    assert main(["users", "list", "--db", bad, "--user", "ada"]) == 2
    with pytest.raises(ConfigError) as info:
        open_store(bad)
    assert PG_PASSWORD not in str(info.value) and "atlas:***@127.0.0.1:1" in str(info.value)
    out = capsys.readouterr()
    assert "postgres:***@" in out.out and "atlas:***@127.0.0.1:1" in out.err
    assert PG_PASSWORD not in out.out + out.err + caplog.text
    store = open_store(url)
    with store.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")).all())
    assert "ada" in dump and PG_PASSWORD not in dump
    assert PG_PASSWORD not in repr(store) and PG_PASSWORD not in store.display_url
    store.dispose()


def test_missing_postgres_binaries_fail_not_skip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "ATLAS_PG_BIN": str(tmp_path / "no-such-postgres")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_store_pg.py::test_password_is_masked_everywhere"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "PostgreSQL server binaries not found" in done.stdout and "skipped" not in done.stdout
