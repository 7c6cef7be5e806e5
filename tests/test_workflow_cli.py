"""`atlas-xl users|payouts|audit` end to end through atlas_xl.cli.app.main, on the bundled example data,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from atlas_xl.cli.app import main
from atlas_xl.outputs.sepa.pain001 import PainVersion, validate_pain001
from atlas_xl.store.database import open_store
from tests.pg_fixtures import *  # noqa: F403


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = _run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)  # exactly one JSON object on stdout


@pytest.fixture
def cli_db(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    for argv in (["store", "init", "--demo"],  # a demo store: --user names who acts (tests/test_identity.py: not)
                 ["users", "add", "ada", "--role", "admin"],
                 ["users", "add", "otto", "--role", "operations", "--user", "ada"],
                 ["users", "add", "fiona", "--role", "finance", "--user", "ada"],
                 ["users", "add", "felix", "--role", "finance", "--user", "ada"],
                 ["users", "add", "rita", "--role", "risk", "--user", "ada"]):
        assert main([*argv, "--db", db_url]) == 0
    capsys.readouterr()
    return db_url


def test_users_commands(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    listed = _json(capsys, "users", "list", "--db", cli_db, "--user", "ada")
    assert [(u["name"], u["role"]) for u in listed["users"]] == [
        ("ada", "admin"), ("felix", "finance"), ("fiona", "finance"), ("otto", "operations"), ("rita", "risk")]
    code, _, err = _run(capsys, "users", "add", "eve", "--role", "admin", "--db", cli_db, "--user", "otto")
    assert code == 3 and "may not manage users" in err and "Traceback" not in err
    gone = _json(capsys, "users", "deactivate", "rita", "--db", cli_db, "--user", "ada")
    assert gone["deactivated"] == {"name": "rita", "role": "risk", "active": False}
    code, _, err = _run(capsys, "payouts", "list", "--db", cli_db, "--user", "rita")
    assert code == 3 and "deactivated" in err
    code, _, err = _run(capsys, "users", "add", "x", "--role", "boss", "--db", cli_db, "--user", "ada")
    assert code == 2 and "'boss' is not a role" in err


def test_acting_user_from_environment(cli_db: str, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_USER", "ada")
    monkeypatch.setenv("ATLAS_DB_URL", cli_db)
    assert len(_json(capsys, "users", "list")["users"]) == 5
    monkeypatch.delenv("ATLAS_USER")
    code, _, err = _run(capsys, "users", "list")
    assert code == 3 and "no acting user" in err


def test_payout_lifecycle_on_example_data(cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          example_data_dir: Path) -> None:
    db = ["--db", cli_db]
    proposed = _json(capsys, "payouts", "propose", "--data", str(example_data_dir), *db, "--user", "otto")
    ref, total = proposed["ref"], proposed["total_cents"]
    assert proposed["status"] == "proposed" and proposed["payout_count"] > 0 and total > 0
    shown = _json(capsys, "payouts", "show", ref, *db, "--user", "rita")
    assert sum(p["amount_cents"] for p in shown["payouts"]) == total  # the run's total is its payouts' sum
    assert len(shown["excluded"]) == proposed["excluded_count"]
    assert all(e["reasons"] for e in shown["excluded"])

    code, _, err = _run(capsys, "payouts", "approve", ref, *db, "--user", "otto")
    assert code == 3 and "may not approve" in err
    for approver in ("fiona", "felix")[: proposed["approvals_required"]]:
        approved = _json(capsys, "payouts", "approve", ref, *db, "--user", approver)
    assert approved["status"] == "approved"

    out = tmp_path / "bank"
    executed = _json(capsys, "payouts", "execute", ref, "--out", str(out), *db, "--user", "fiona")
    xml = Path(executed["xml_path"])
    assert xml.parent == out.resolve() and xml.name == f"DEMO-payout-run-{ref}.xml"
    validate_pain001(xml.read_bytes(), PainVersion.V09)  # the SEPA engineer's XSD check, independently
    review = load_workbook(executed["reviewer_path"], read_only=True)
    assert "Transfers" in review.sheetnames
    again = _json(capsys, "payouts", "execute", ref, "--out", str(out), *db, "--user", "felix")
    assert again["already_executed"] is True and again["sha256"] == executed["sha256"]

    client = shown["payouts"][0]["client_id"]
    marked = _json(capsys, "payouts", "mark", ref, "--status", "returned", "--payout", client, "--reason", "AC04",
                   *db, "--user", "fiona")
    assert {p["client_id"]: p["status"] for p in marked["payouts"]}[client] == "returned"
    settled = _json(capsys, "payouts", "mark", ref, "--status", "settled", *db, "--user", "fiona")
    assert settled["status"] == "settled"

    listed = _json(capsys, "payouts", "list", *db, "--user", "rita")
    assert [(r["ref"], r["status"]) for r in listed["runs"]] == [(ref, "settled")]
    by_run = _json(capsys, "audit", "show", "--run", ref, *db, "--user", "rita")
    actions = [e["action"] for e in by_run["entries"]]
    assert actions[0] == "propose" and "refused" in actions and actions[-1] == "mark_settled"
    assert [e["action"] for e in _json(capsys, "audit", "show", "--client", client, *db, "--user", "rita")
            ["entries"]] == ["mark_returned"]
    assert {e["actor"] for e in _json(capsys, "audit", "show", "--by", "felix", *db, "--user", "rita")
            ["entries"]} <= {"felix (demo)"}  # a demo store marks its actors
    code, out_text, _ = _run(capsys, "audit", "verify", *db, "--user", "rita")
    assert code == 0 and "chain intact" in out_text


def test_execute_version_03_and_bad_version(cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = ["--db", cli_db]
    proposed = _json(capsys, "payouts", "propose", *db, "--user", "otto")
    ref = proposed["ref"]
    for approver in ("fiona", "felix")[: proposed["approvals_required"]]:
        _json(capsys, "payouts", "approve", ref, *db, "--user", approver)
    code, _, err = _run(capsys, "payouts", "execute", ref, "--out", str(tmp_path), "--version", "02", *db,
                        "--user", "fiona")
    assert code == 2 and "'02' is not supported" in err
    done = _json(capsys, "payouts", "execute", ref, "--out", str(tmp_path), "--version", "03", *db, "--user", "fiona")
    validate_pain001(Path(done["xml_path"]).read_bytes(), PainVersion.V03)


def test_audit_verify_exit_1_names_the_edited_entry(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(cli_db)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
    store.dispose()
    code, out, _ = _run(capsys, "audit", "verify", "--db", cli_db, "--user", "ada")
    assert code == 1 and "entry 3 was edited" in out
    result = _json_any(capsys, "audit", "verify", "--db", cli_db, "--user", "ada")
    assert result == {"ok": False, "entries": 5, "first_bad_seq": 3, "demo": True,
                      "problem": "entry 3 was edited: its hash does not match"}


def _json_any(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    main([*args, "--json"])
    return json.loads(capsys.readouterr().out)


def test_unknown_run_and_path_like_run_ids(cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "payouts", "show", "R99", "--db", cli_db, "--user", "rita")
    assert code == 2 and "no payout run R99" in err
    code, _, err = _run(capsys, "payouts", "execute", "../../x", "--out", str(tmp_path), "--db", cli_db,
                        "--user", "fiona")
    assert code == 2 and "is not a payout run id" in err
    assert not list(tmp_path.iterdir())


def test_a_payout_date_outside_the_settlement_data_is_refused(cli_db: str, example_data_dir: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Before the first data day the opening balances would be paid, and paid again by a later run; after the
    # last one the day's settlements are not loaded yet and would never be paid. Nothing is proposed.
    from atlas_xl.inputs.portfolio import load_portfolio

    portfolio = load_portfolio(example_data_dir)
    first, last = portfolio.first_date.date(), portfolio.last_date.date()
    db = ("--db", cli_db)
    before = (first - dt.timedelta(days=1)).isoformat()
    code, _, err = _run(capsys, "payouts", "propose", "--data", str(example_data_dir), "--date", before, *db,
                        "--user", "otto")
    assert code == 2 and f"is before the first settlement date in the data ({first.isoformat()})" in err
    after = (last + dt.timedelta(days=1)).isoformat()
    code, _, err = _run(capsys, "payouts", "propose", "--data", str(example_data_dir), "--date", after, *db,
                        "--user", "otto")
    assert code == 2 and f"after the last settlement date in the data ({last.isoformat()})" in err
    assert "Traceback" not in err
    assert _json(capsys, "payouts", "list", *db, "--user", "otto")["runs"] == []
    code, _, err = _run(capsys, "run", "--data", str(example_data_dir), "--as-of", before, "--no-store",
                        "--out", str(tmp_path / "never"))
    assert code == 2 and "before the first settlement date" in err
    assert not (tmp_path / "never").exists()


def test_a_reviewer_list_the_disk_refuses_says_the_run_is_paid_and_how_to_get_the_list(
        cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, example_data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The payment file is written and the run recorded as executed; then the disk is full for the reviewer
    # list. The user learns that the run is paid (not an internal error) and that executing again writes it.
    import errno

    from atlas_xl.workflow import execution as workflow

    db = ["--db", cli_db]
    proposed = _json(capsys, "payouts", "propose", "--data", str(example_data_dir), *db, "--user", "otto")
    ref = proposed["ref"]
    for approver in ("fiona", "felix")[: proposed["approvals_required"]]:
        _json(capsys, "payouts", "approve", ref, *db, "--user", approver)
    write_reviewer = workflow._write_reviewer

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "bank" / "x.xlsx"))

    monkeypatch.setattr(workflow, "_write_reviewer", disk_full)
    out = tmp_path / "bank"
    code, _, err = _run(capsys, "payouts", "execute", ref, "--out", str(out), *db, "--user", "fiona")
    assert code == 73 and "Traceback" not in err
    assert f"run {ref} is executed and its payment file" in err and "No space left on device" in err
    assert "run the same execute command again" in err
    assert _json(capsys, "payouts", "show", ref, *db, "--user", "rita")["status"] == "executed"
    monkeypatch.setattr(workflow, "_write_reviewer", write_reviewer)
    again = _json(capsys, "payouts", "execute", ref, "--out", str(out), *db, "--user", "fiona")
    assert again["already_executed"] is True
    assert "Transfers" in load_workbook(again["reviewer_path"], read_only=True).sheetnames


def test_a_payout_day_without_an_executed_run_is_paid_with_the_next_run(
        cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, example_data_dir: Path) -> None:
    # Runs are executed for Thu 2026-11-19; Fri 11-20 is proposed but never executed (say the bank was
    # unreachable); then Mon 11-23 is proposed. Before, the engine took Friday as paid by its rules, and
    # Friday's money was never paid. Now, for a daily client without factoring withholding, Monday's payout
    # is exactly what Friday's and Monday's would have been: the engine's payables of both days, summed.
    from atlas_xl.engines.run import run_engines
    from atlas_xl.inputs.portfolio import load_portfolio

    db = ["--db", cli_db]
    data = ["--data", str(example_data_dir)]

    def propose(day: str) -> dict:
        return _json(capsys, "payouts", "propose", *data, "--date", day, *db, "--user", "otto")

    def execute(run: dict) -> None:
        for approver in ("fiona", "felix")[: run["approvals_required"]]:
            _json(capsys, "payouts", "approve", run["ref"], *db, "--user", approver)
        _json(capsys, "payouts", "execute", run["ref"], "--out", str(tmp_path / "bank"), *db, "--user", "fiona")

    execute(propose("2026-11-19"))
    propose("2026-11-20")  # left proposed: nothing leaves
    monday = _json(capsys, "payouts", "show", propose("2026-11-23")["ref"], *db, "--user", "rita")
    proposed = {p["client_id"]: p["amount_cents"] for p in monday["payouts"]}

    portfolio = load_portfolio(example_data_dir)
    friday = run_engines(portfolio, "2026-11-20").payouts.set_index("client_id")
    rules_monday = run_engines(portfolio, "2026-11-23").payouts.set_index("client_id")
    clients = portfolio.clients.set_index("client_id")
    plain = [c for c in proposed if clients.loc[c, "payout_frequency"] == "daily"
             and clients.loc[c, "factoring_withhold_rate_ppm"] == 0 and friday.loc[c, "ready"]
             and rules_monday.loc[c, "ready"]]
    assert len(plain) >= 3
    for c in plain:
        assert proposed[c] == friday.loc[c, "amount_cents"] + rules_monday.loc[c, "amount_cents"], c

    # data that starts after the first run (here: from Fri 11-20): only its own days are read from the store,
    # plus one payout of the earliest run before it, which dates the start of the runs (every data day is
    # then taken from the runs)
    from dataclasses import replace

    from atlas_xl.engines.grid import build_grid
    from atlas_xl.engines.payouts import executed_payouts
    from atlas_xl.workflow.history import apply_overrides

    later = portfolio.settlements[portfolio.settlements["value_date"] >= "2026-11-20"]
    read = apply_overrides(open_store(cli_db), replace(portfolio, settlements=later)).paid
    assert (read["payout_date"] < "2026-11-20").sum() == 1 and read["payout_date"].min() == pd.Timestamp("2026-11-19")
    assert (read["payout_date"] >= "2026-11-20").sum() == 0  # Friday's run was never executed
    grid = build_grid(portfolio.clients["client_id"], later, np.datetime64("2026-11-23"))
    assert executed_payouts(grid, read)[1] == 0

    # the daily report reads the same executed runs: its Monday payable is the run's
    assert main(["run", *data, "--as-of", "2026-11-23", "--out", str(tmp_path / "report"), "--no-dashboard",
                 *db]) == 0
    (report,) = (tmp_path / "report").glob("*.xlsx")
    ws = load_workbook(report, read_only=True)["Payouts"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[1]
    payable = {r[0]: r[header.index("Payable")] for r in rows[2:]}
    assert {c: round(payable[c] * 100) for c in plain} == {c: proposed[c] for c in plain}


def test_a_returned_payout_is_owed_again_and_paid_with_the_next_run(
        cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, example_data_dir: Path) -> None:
    # Thursday 2026-11-19's run is executed; the bank returns one client's payout (AC04). That money is back
    # with us, so Friday's run pays it again with Friday's own amount (a daily client without withholding).
    from atlas_xl.engines.run import run_engines
    from atlas_xl.inputs.portfolio import load_portfolio

    db = ["--db", cli_db]
    data = ["--data", str(example_data_dir)]
    thursday = _json(capsys, "payouts", "propose", *data, "--date", "2026-11-19", *db, "--user", "otto")
    for approver in ("fiona", "felix")[: thursday["approvals_required"]]:
        _json(capsys, "payouts", "approve", thursday["ref"], *db, "--user", approver)
    _json(capsys, "payouts", "execute", thursday["ref"], "--out", str(tmp_path), *db, "--user", "fiona")
    shown = _json(capsys, "payouts", "show", thursday["ref"], *db, "--user", "rita")
    portfolio = load_portfolio(example_data_dir)
    clients = portfolio.clients.set_index("client_id")
    friday_rules = run_engines(portfolio, "2026-11-20").payouts.set_index("client_id")
    returned = next(p for p in shown["payouts"] if clients.loc[p["client_id"], "payout_frequency"] == "daily"
                    and clients.loc[p["client_id"], "factoring_withhold_rate_ppm"] == 0
                    and friday_rules.loc[p["client_id"], "ready"])
    client = returned["client_id"]
    _json(capsys, "payouts", "mark", thursday["ref"], "--status", "returned", "--payout", client, "--reason", "AC04",
          *db, "--user", "fiona")
    # a manual mark is owed again only once a second person confirms it (workflow.bank.confirm_mark)
    code, _, err = _run(capsys, "bank", "confirm-mark", thursday["ref"], "--payout", client, *db, "--user", "fiona")
    assert code == 1 and "a second person must confirm" in err
    _json(capsys, "bank", "confirm-mark", thursday["ref"], "--payout", client, *db, "--user", "felix")
    friday = _json(capsys, "payouts", "show",
                   _json(capsys, "payouts", "propose", *data, "--date", "2026-11-20", *db, "--user", "otto")["ref"],
                   *db, "--user", "rita")
    amounts = {p["client_id"]: p["amount_cents"] for p in friday["payouts"]}
    assert amounts[client] == friday_rules.loc[client, "amount_cents"] + returned["amount_cents"]
    others = [p["client_id"] for p in shown["payouts"] if p["client_id"] != client and p["client_id"] in amounts]
    assert all(amounts[c] == friday_rules.loc[c, "amount_cents"] for c in others)
