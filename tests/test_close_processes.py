"""The close against real processes, on SQLite and PostgreSQL: a `close --through` killed with SIGKILL has
booked each day fully or not at all (and the next close finishes the job); two closes started together book
every day exactly once between them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from atlas_xl.store.database import open_store
from atlas_xl.store.models import BookedDay, LedgerPosting
from atlas_xl.workflow.close import PAUSE_ENV
from atlas_xl.workflow.users import add_user
from tests.conftest import REPO
from tests.pg_fixtures import *  # noqa: F403

LAST = "2024-03-31"
DAYS = 30  # 2024-03-02 .. 2024-03-31


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("close_data")
    done = subprocess.run([sys.executable, "-m", "atlas_xl", "example-data", "--out", str(folder), "--clients",
                           "100", "--days", str(DAYS), "--end", LAST, "--no-xlsx"], capture_output=True, text=True,
                          cwd=REPO, env=_env(), timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return folder


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _close(db: str, data: Path, *extra: str, pause_at: str | None = None) -> subprocess.Popen[str]:
    env = _env() | ({PAUSE_ENV: pause_at} if pause_at else {})
    return subprocess.Popen([sys.executable, "-m", "atlas_xl", "close", "--data", str(data), "--db", db, "--user",
                             "otto", "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=env)


def _consistent(db: str) -> int:
    """Every booked day holds exactly the postings it recorded, and no posting stands on an unbooked day."""
    store = open_store(db)
    try:
        with store.transaction() as session:
            booked = dict(session.execute(select(BookedDay.day, BookedDay.postings)).all())
            counts = dict(session.execute(select(LedgerPosting.day, func.count()).group_by(LedgerPosting.day)).all())
    finally:
        store.dispose()
    assert {d: n for d, n in counts.items()} == {d: n for d, n in booked.items() if n}
    return len(booked)


@pytest.fixture
def users(db_url: str) -> str:
    store = open_store(db_url, demo=True)  # a demo store: the tests name who acts
    add_user(store, None, "ada", "admin")
    add_user(store, "ada", "otto", "operations")
    store.dispose()
    return db_url


def test_a_killed_close_books_each_day_fully_or_not_at_all(users, data):
    db = users
    # the close stops inside the transaction of its 5th day (2024-03-06), that day's postings written but not
    # committed, and is killed there with SIGKILL
    process = _close(db, data, "--through", LAST, pause_at="2024-03-06")
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("paused in 2024-03-06"), line + process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert _consistent(db) == 4  # 03-02 .. 03-05 booked in full; nothing of 03-06
    finish = _close(db, data, "--through", LAST)
    out, err = finish.communicate(timeout=300)
    assert finish.returncode == 0, err
    assert _consistent(db) == DAYS
    verify = _close(db, data, "--verify")
    out, err = verify.communicate(timeout=300)
    assert verify.returncode == 0 and '"differences": []' in out, err


def test_two_concurrent_closes_book_every_day_once(users, data):
    db = users
    first, second = _close(db, data, "--through", LAST), _close(db, data, "--through", LAST)
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    import json

    booked = [json.loads(out)["booked"] for out, _ in results]
    assert sorted(booked[0] + booked[1]) == sorted({*booked[0], *booked[1]})  # no day booked by both
    assert len(booked[0]) + len(booked[1]) == DAYS
    assert _consistent(db) == DAYS
