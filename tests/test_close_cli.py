"""`atlas-xl close` as a user runs it: messages and exit statuses (0 booked / already booked, 1 refused or
changed, 3 not permitted), on the tiny portfolio of tests/test_close.py (SQLite)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from atlas_xl.cli.app import main
from tests.test_close import TINY


@pytest.fixture
def env(tmp_path: Path) -> tuple[str, Path]:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    assert main(["store", "init", "--demo", "--db", db]) == 0  # a demo store: --user names who acts
    assert main(["users", "add", "ada", "--role", "admin", "--user", "ada", "--db", db]) == 0
    assert main(["users", "add", "otto", "--role", "operations", "--user", "ada", "--db", db]) == 0
    assert main(["users", "add", "fi", "--role", "finance", "--user", "ada", "--db", db]) == 0
    assert main(["users", "add", "carl", "--role", "credit", "--user", "ada", "--db", db]) == 0
    return db, data


def run(capsys, env, *argv: str, user: str = "otto") -> tuple[int, str, str]:
    db, data = env
    capsys.readouterr()
    code = main(["close", *argv, "--data", str(data), "--db", db, "--user", user])
    out, err = capsys.readouterr()
    return code, out, err


def test_close_cli_books_is_a_no_op_again_and_refuses_a_gap(capsys, env):
    assert run(capsys, env, "--date", "2024-03-04")[:2] == (0, "booked 1 day(s) 2024-03-04 to 2024-03-04: "
                                                              "6 posting(s)\n")
    assert run(capsys, env, "--date", "2024-03-04")[:2] == (0, "2024-03-04 already booked\n")
    code, _, err = run(capsys, env, "--date", "2024-03-06")
    assert code == 1 and "2024-03-05 is not booked yet; days are closed in order" in err and "Traceback" not in err
    assert run(capsys, env, "--through", "2024-03-06")[:2] == (0, "booked 2 day(s) 2024-03-05 to 2024-03-06: "
                                                                  "13 posting(s)\n")
    assert run(capsys, env, "--verify")[:2] == (0, "verified: every booked day agrees with the rules "
                                                   "(0 differences)\n")
    code, _, err = run(capsys, env, "--date", "2024-03-04", user="carl")
    assert code == 3 and "may not close day" in err
    code, _, err = run(capsys, env, "--date", "2024-03-04", "--verify")
    assert code == 2 and "exactly one of" in err


def test_close_cli_lists_changed_rows_and_finance_corrects_them(capsys, env):
    db, data = env
    assert run(capsys, env, "--through", "2024-03-05")[0] == 0
    # a settlement row changes after its day was booked: C1's day-1 sales, 100.00 -> 120.00
    path = data / "settlements.csv"
    path.write_text(path.read_text().replace("C1,2024-03-04,EUR,100.00", "C1,2024-03-04,EUR,120.00"))
    code, out, _ = run(capsys, env, "--date", "2024-03-06")
    assert code == 1
    assert out.startswith("2024-03-04: settlement rows changed since it was booked\n1 booked day(s) changed")
    code, out, _ = run(capsys, env, "--verify")
    # by today's rows C1's day 1: sale 12000 - fee 200 - hold 1200 - payout 10600 = 0 on settlement (as
    # booked: 10000 - 200 - 1000 - 8800 = 0), rolling reserve 1200 against 1000 booked
    assert code == 1 and "2024-03-04 C1                   rolling_reserve  booked EUR 10.00 rules EUR 12.00" in out
    code, out, _ = run(capsys, env, "--correct", "acquirer resent day 1", user="fi")
    assert code == 0 and "corrected 2 booked day(s) from 2024-03-04" in out and "on 2024-03-06" in out
    assert run(capsys, env, "--verify")[0] == 0
    assert run(capsys, env, "--date", "2024-03-06")[0] == 0
