"""`atlas-xl bank ...` end to end through atlas_xl.cli.app.main on the bundled example data (SQLite and
PostgreSQL): propose, approve, execute, import the bank's pain.002 and camt.054, propose again."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from atlas_xl.cli.app import main
from atlas_xl.engines.run import run_engines
from atlas_xl.examples.bank_files import bank_side_files
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.settings import Settings
from tests.pg_fixtures import *  # noqa: F403

STAMP = dt.datetime(2026, 11, 20, 7, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Tx:
    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = _run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def cli_db(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    for argv in (["store", "init", "--demo"],  # a demo store: --user names who acts (tests/test_identity.py: not)
                 ["users", "add", "ada", "--role", "admin", "--user", "ada"],
                 ["users", "add", "otto", "--role", "operations", "--user", "ada"],
                 ["users", "add", "fiona", "--role", "finance", "--user", "ada"],
                 ["users", "add", "felix", "--role", "finance", "--user", "ada"],
                 ["users", "add", "rita", "--role", "risk", "--user", "ada"]):
        assert main([*argv, "--db", db_url]) == 0
    capsys.readouterr()
    return db_url


def test_walk_through_reject_return_and_propose_again(cli_db: str, capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path, example_data_dir: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(example_data_dir, data)
    (data / "portfolio.xlsx").unlink()  # the CSV files are the data (the test edits one IBAN)
    db = ["--db", cli_db]
    thursday = _json(capsys, "payouts", "propose", "--data", str(data), "--date", "2026-11-19", *db, "--user", "otto")
    for approver in ("fiona", "felix")[: thursday["approvals_required"]]:
        _json(capsys, "payouts", "approve", thursday["ref"], *db, "--user", approver)
    code, out, err = _run(capsys, "payouts", "execute", thursday["ref"], "--out", str(tmp_path / "out"), *db,
                          "--user", "fiona")
    assert code == 0, err
    assert "no camt.053 statement imported" in out  # the funding check says it had nothing to compare with
    shown = _json(capsys, "payouts", "show", thursday["ref"], *db, "--user", "rita")

    portfolio = load_portfolio(data)
    clients = portfolio.clients.set_index("client_id")
    friday_rules = run_engines(portfolio, "2026-11-20").payouts.set_index("client_id")
    plain = [p for p in shown["payouts"] if clients.loc[p["client_id"], "payout_frequency"] == "daily"
             and clients.loc[p["client_id"], "factoring_withhold_rate_ppm"] == 0
             and friday_rules.loc[p["client_id"], "ready"]]
    rejected, returned = plain[0], plain[1]
    transfers = [Tx(p["end_to_end_id"], p["amount_cents"], p["name"], p["iban"]) for p in shown["payouts"]]
    tag = f"ATLAS-20261119-{thursday['ref']}"  # execution.render_run_file's MsgId
    files = bank_side_files(
        transfers, original_msg_id=tag, pmt_inf_id=f"{tag}-P1",
        debtor_iban=Settings().debtor_iban, executed_on=dt.date.fromisoformat(shown["requested_execution_date"]),
        created_at=STAMP, opening_cents=10_000_000_00, rejected=rejected["end_to_end_id"],
        returned=returned["end_to_end_id"])
    (tmp_path / "pain002.xml").write_bytes(files.pain002)
    (tmp_path / "camt054.xml").write_bytes(files.camt054)

    code, _, err = _run(capsys, "bank", "import", str(tmp_path / "pain002.xml"), *db, "--user", "rita")
    assert code == 3 and "may not import bank file" in err  # risk may not import
    first = _json(capsys, "bank", "import", str(tmp_path / "pain002.xml"), *db, "--user", "otto")["imported"][0]
    assert not first["already_imported"] and first["holds"] == [[rejected["client_id"], "BANK_DETAILS_REJECTED"]]
    entries = _json(capsys, "audit", "show", *db, "--user", "rita")["count"]
    code, out, _ = _run(capsys, "bank", "import", str(tmp_path / "pain002.xml"), *db, "--user", "otto")
    assert code == 0 and "was already imported" in out and "nothing changed" in out
    assert _json(capsys, "audit", "show", *db, "--user", "rita")["count"] == entries
    _json(capsys, "bank", "import", str(tmp_path / "camt054.xml"), *db, "--user", "fiona")

    code, out, _ = _run(capsys, "payouts", "show", thursday["ref"], *db, "--user", "rita")
    assert "bank: rejected AC04 (owed again)" in next(x for x in out.splitlines() if rejected["client_id"] in x)
    assert "bank: returned AC01 (owed again)" in next(x for x in out.splitlines() if returned["client_id"] in x)
    shown = _json(capsys, "payouts", "show", thursday["ref"], *db, "--user", "rita")
    states = {p["client_id"]: (p["status"], p["bank_status"], p["bank_reason"]) for p in shown["payouts"]}
    assert states[rejected["client_id"]] == ("rejected", "rejected", "AC04")
    assert states[returned["client_id"]] == ("returned", "returned", "AC01")
    assert {s[1] for c, s in states.items() if c not in (rejected["client_id"], returned["client_id"])} == {"booked"}

    # the returned client gets new bank details (another valid IBAN of its country), checked by otto and
    # confirmed by fiona; the same person twice is refused
    country = clients.loc[returned["client_id"], "country"]
    new_iban = next(iban for cid, iban in clients.loc[clients["country"] == country, "iban"].items()
                    if cid not in (returned["client_id"], "C00004"))
    csv = pd.read_csv(data / "clients.csv", dtype=str, keep_default_na=False)
    csv.loc[csv["client_id"] == returned["client_id"], "iban"] = new_iban
    csv.to_csv(data / "clients.csv", index=False)
    code, _, err = _run(capsys, "bank", "confirm-details", rejected["client_id"], "--data", str(data), *db,
                        "--user", "otto")
    assert code == 1 and "still has the IBAN the bank rejected" in err
    _json(capsys, "bank", "confirm-details", returned["client_id"], "--data", str(data), *db, "--user", "otto")
    code, _, err = _run(capsys, "bank", "confirm-details", returned["client_id"], "--data", str(data), *db,
                        "--user", "otto")
    assert code == 1 and "a second person must confirm" in err
    done = _json(capsys, "bank", "confirm-details", returned["client_id"], "--data", str(data), *db, "--user", "fiona")
    assert [(h["released"], h["confirmed_by"]) for h in done["holds"]] == [(True, "fiona")]

    friday = _json(capsys, "payouts", "show", _json(capsys, "payouts", "propose", "--data", str(data), "--date",
                                                     "2026-11-20", *db, "--user", "otto")["ref"], *db, "--user", "rita")
    amounts = {p["client_id"]: p["amount_cents"] for p in friday["payouts"]}
    # paid again: Friday's own amount plus the returned Thursday payout
    assert amounts[returned["client_id"]] == friday_rules.loc[returned["client_id"], "amount_cents"] \
        + returned["amount_cents"]
    excluded = {e["client_id"]: e["reasons"] for e in friday["excluded"]}
    assert excluded[rejected["client_id"]] == "BANK_DETAILS_REJECTED"
    others = [p["client_id"] for p in plain[2:] if p["client_id"] in amounts]
    assert others and all(amounts[c] == friday_rules.loc[c, "amount_cents"] for c in others)


def test_the_bundled_bank_files_reconcile_end_to_end(tmp_path: Path, example_data_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # the README walk-through on a fresh SQLite store: the example's first run, then the bank's three files
    from openpyxl import load_workbook

    db = ["--db", f"sqlite:///{tmp_path / 'atlas.db'}"]
    assert main(["store", "init", "--demo", *db]) == 0  # the README walk-through uses a demo store
    for argv in (["users", "add", "ada", "--role", "admin"], ["users", "add", "otto", "--role", "operations"],
                 ["users", "add", "fiona", "--role", "finance"], ["users", "add", "felix", "--role", "finance"]):
        assert main([*argv, *db, "--user", "ada"]) == 0
    capsys.readouterr()
    run = _json(capsys, "payouts", "propose", *db, "--user", "otto")
    assert run["ref"] == "R1" and run["payout_date"] == "2026-11-23"
    for approver in ("fiona", "felix")[: run["approvals_required"]]:
        _json(capsys, "payouts", "approve", "R1", *db, "--user", approver)
    _json(capsys, "payouts", "execute", "R1", "--out", str(tmp_path / "out"), *db, "--user", "fiona")
    files = [str(example_data_dir / n) for n in ("bank_pain002.xml", "bank_camt054.xml", "bank_camt053.xml")]
    imported = _json(capsys, "bank", "import", *files, *db, "--user", "otto")["imported"]
    assert [sum(c["applied"] for c in i["changes"]) for i in imported] == [run["payout_count"]] * 2 + [0]
    statement = imported[2]["reconciliation"]
    assert statement["balance"]["difference_cents"] == 0
    # exactly the two planted exceptions: the unexpected credit and the missing last settlement date
    assert [(x["kind"], x["amount_cents"]) for x in statement["exceptions"]][0] == ("unmatched_entry", 1_234_56)
    assert [(x["kind"], x["reference"]) for x in statement["exceptions"]][1:] == [
        ("missing", "settlement credit ACQ-2026-11-23")]
    held = {h["client_id"]: h["reason"] for h in _json(capsys, "bank", "holds", *db, "--user", "otto")["holds"]}
    assert sorted(held.values()) == ["BANK_DETAILS_REJECTED", "BANK_DETAILS_REJECTED"]

    code, _, err = _run(capsys, "run", "--out", str(tmp_path / "report"), *db)
    assert code == 0, err
    book = load_workbook(tmp_path / "report" / "atlas-report-2026-11-23.xlsx", read_only=True)
    rows = list(book["Reconciliation"].iter_rows(values_only=True))
    sections = [r[0] for r in rows[2:]]
    assert sections == ["balance check", "matched", "exception: unmatched_entry", "exception: missing",
                        "payout rejected", "payout returned"]
    assert rows[2][3] == 0 and rows[4][3] == 1234.56  # the difference to the cent; the unexpected credit in EUR
    page = (tmp_path / "report" / "dashboard.html").read_text(encoding="utf-8")
    assert '"rejected_returned":[{' in page and "ACQ-2026-11-23" in page
