"""The `atlas-xl` program itself: exit codes by kind of error, --version, help screens, --db before or after the
command, and a start-up that imports neither pandas nor SQLAlchemy."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from atlas_xl import __version__
from atlas_xl.cli.app import app, main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def store_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A SQLite demo store (--user names who acts) with an admin (ada) and an operations user (otto)."""
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    assert main(["store", "init", "--demo", "--db", url]) == 0
    assert main(["users", "add", "ada", "--role", "admin", "--db", url]) == 0
    assert main(["users", "add", "otto", "--role", "operations", "--db", url, "--user", "ada"]) == 0
    capsys.readouterr()
    return url


# ------------------------------------------------------------------------------------------------ exit codes


def test_bad_input_exits_2_with_the_value_and_the_expected_form(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "example-data", "--out", str(tmp_path), "--end", "2026-02-30")
    assert code == 2 and out == ""
    assert err == "error: --end '2026-02-30' is not a date; expected YYYY-MM-DD such as 2026-11-23\n"
    assert list(tmp_path.iterdir()) == []


def test_a_two_megabyte_argument_gives_a_one_line_message(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "example-data", "--out", str(tmp_path), "--end", "9" * 2_000_000)
    assert code == 2
    assert err == "error: --end '" + "9" * 80 + "…' (2,000,000 characters) is not a date; expected YYYY-MM-DD " \
                  "such as 2026-11-23\n"


def test_refused_by_a_rule_exits_1(store_db: str, capsys) -> None:
    code, _, err = _run(capsys, "users", "add", "otto", "--role", "risk", "--db", store_db, "--user", "ada")
    assert code == 1 and "user 'otto' already exists" in err and "Traceback" not in err


def test_permission_denied_exits_3(store_db: str, capsys) -> None:
    code, _, err = _run(capsys, "users", "add", "eve", "--role", "admin", "--db", store_db, "--user", "otto")
    assert code == 3 and "may not manage users" in err


def test_a_run_that_does_not_exist_exits_2(store_db: str, capsys) -> None:
    code, _, err = _run(capsys, "payouts", "show", "R999", "--db", store_db, "--user", "ada")
    assert code == 2 and "no payout run R999" in err


def test_an_output_that_cannot_be_written_exits_73(tmp_path: Path, example_data_dir: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, err = _run(capsys, "dashboard", "--data", str(example_data_dir), "--no-store",
                        "--out", str(tmp_path / "afile" / "dashboard.html"))
    assert code == 73 and "Traceback" not in err
    assert "cannot create the output folder" in err and "afile" in err and "a file has that name" in err


def test_a_database_failure_exits_70_in_one_line_without_sql(store_db: str, capsys) -> None:
    # the store is opened (its schema is at the head revision) but a table has gone: the query fails in SQLite
    with sqlite3.connect(store_db.removeprefix("sqlite:///")) as connection:
        connection.execute("DROP TABLE users")
    code, out, err = _run(capsys, "users", "list", "--db", store_db, "--user", "ada")
    assert code == 70 and out == ""
    assert err == "error: the database failed: OperationalError: no such table: users (set ATLAS_DEBUG=1 for " \
                  "details)\n"


def test_a_usage_error_exits_2(capsys) -> None:
    code, _, err = _run(capsys, "run", "--no-such-option")
    assert code == 2 and "No such option" in err


# ------------------------------------------------------------------------------------------------ version, help


def test_version_option_and_command(capsys) -> None:
    assert _run(capsys, "--version") == (0, f"{__version__}\n", "")
    assert _run(capsys, "version") == (0, f"{__version__}\n", "")


def test_version_imports_neither_pandas_nor_sqlalchemy() -> None:
    probe = ("import sys; from atlas_xl.cli.app import entry\n"
             "try:\n    entry(['--version'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('pandas', 'pyarrow', 'sqlalchemy', 'openpyxl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == [__version__, "[]"]


def _command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():  # a group's subcommands
        paths += _command_paths(sub, (*path, name))
    return paths


def test_every_help_screen_is_clean(capsys) -> None:
    paths = _command_paths(get_command(app))
    assert ("payouts", "execute") in paths and ("credit", "limit") in paths and ("example-data",) in paths
    assert len(paths) >= 25
    for path in paths:
        code, out, err = _run(capsys, *path, "--help")
        assert code == 0 and err == "", path
        assert "<bool>" not in out, path  # a flag takes no value; typer's rich panel showed "<bool>"
        assert "Show this message and exit." in out, path


# ------------------------------------------------------------------------------------------------ --db


BAD = "mysql://u:secret@h/db"  # refused before any connection: proves which URL the command used


def test_db_before_the_command(tmp_path: Path, example_data_dir: Path, capsys) -> None:
    out = tmp_path / "d.html"
    code, _, err = _run(capsys, "--db", BAD, "dashboard", "--data", str(example_data_dir), "--out", str(out))
    assert code == 2 and "unsupported database 'mysql://u:***@h/db'" in err and not out.exists()


def test_db_after_the_command(tmp_path: Path, example_data_dir: Path, capsys) -> None:
    out = tmp_path / "d.html"
    code, _, err = _run(capsys, "dashboard", "--data", str(example_data_dir), "--out", str(out), "--db", BAD)
    assert code == 2 and "unsupported database 'mysql://u:***@h/db'" in err and not out.exists()


def test_db_after_the_command_wins_over_db_before(tmp_path: Path, example_data_dir: Path, store_db: str,
                                                  capsys) -> None:
    out = tmp_path / "d.html"
    code, text, err = _run(capsys, "--db", BAD, "dashboard", "--data", str(example_data_dir), "--out", str(out),
                           "--db", store_db)
    assert (code, err) == (0, "") and out.is_file() and "written to" in text


def test_db_before_the_command_wins_over_the_environment(tmp_path: Path, example_data_dir: Path, store_db: str,
                                                         monkeypatch, capsys) -> None:
    monkeypatch.setenv("ATLAS_DB_URL", store_db)  # a good store in the environment ...
    out = tmp_path / "d.html"
    code, _, err = _run(capsys, "--db", BAD, "dashboard", "--data", str(example_data_dir), "--out", str(out))
    assert code == 2 and "mysql://u:***@h/db" in err  # ... but the --db typed on the command line is used
    monkeypatch.setenv("ATLAS_DB_URL", BAD)
    code, _, err = _run(capsys, "--db", store_db, "dashboard", "--data", str(example_data_dir), "--out", str(out))
    assert (code, err) == (0, "") and out.is_file()


def test_db_before_a_store_command_is_the_store_used(store_db: str, tmp_path: Path, capsys) -> None:
    """`atlas-xl --db URL users list` lists the users of URL, not of ATLAS_DB_URL's store (the default in tests)."""
    code, out, _ = _run(capsys, "--db", store_db, "users", "list", "--user", "ada", "--json")
    assert code == 0 and '"otto"' in out and '"ada"' in out
