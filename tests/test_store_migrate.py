"""The store's migration step: Alembic's head is HEAD_REVISION, and a current database skips loading Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from atlas_xl.store.database import HEAD_REVISION, _make_engine, _parse_url, alembic_config, migrate, open_store


def test_head_revision_is_the_newest_migration() -> None:
    # a new migration file without HEAD_REVISION moved on would leave databases un-upgraded: this fails first
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_an_older_database_is_still_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(_make_engine(_parse_url(url)), "0001")
    store = open_store(url)
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD_REVISION
        assert "credit_limit_overrides" in {r[0] for r in connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table'"))}  # made by 0002


def test_a_current_database_opens_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    open_store(url)  # creates it: Alembic runs once
    probe = ("import sys; from atlas_xl.store.database import open_store; open_store(sys.argv[1]); "
             "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
