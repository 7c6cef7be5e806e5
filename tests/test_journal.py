"""The journal export of the booked ledger, checked against a journal made by hand for the tiny portfolio of
tests/test_close.py (C1: sale 10000, fee 200, rolling hold 1000, payout 8800 a day; C2: sale 5000, fee 100 a
day, paid 14700 on day 3), mapped through the bundled chart of accounts:
  sale         Dr 1100 scheme receivables   Cr 2100 merchant settlement
  fee          Dr 2100                      Cr 4000 fee income
  reserve_hold Dr 2100                      Cr 2200 rolling reserve
  payout       Dr 2100                      Cr 1000 bank
Also: the opening-balances table (booked with the first close), period locks and the CLI.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil

import openpyxl
import pytest

from atlas_xl.cli.app import main
from atlas_xl.errors import ArgumentError, LoadError, PermissionDenied, RefusedByRule
from atlas_xl.inputs.example_data import example_data_dir
from atlas_xl.inputs.ledger_tables import check_opening, load_table
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.workflow import close as closing
from tests.pg_fixtures import *  # noqa: F403
from tests.test_close import D1, D2, D3, TINY

MAPPING = load_table(example_data_dir() / "chart_of_accounts.csv", "chart_of_accounts")


def _day(day: str, first: int, payout: int) -> list[tuple]:
    # entries of one day in (kind) order; fees 200 + 100 = 300, sales 10000 + 5000 = 15000
    return [(first, day, "fee", "2100", 300, 0), (first, day, "fee", "4000", 0, 300),
            (first + 1, day, "payout", "2100", payout, 0), (first + 1, day, "payout", "1000", 0, payout),
            (first + 2, day, "reserve_hold", "2100", 1000, 0), (first + 2, day, "reserve_hold", "2200", 0, 1000),
            (first + 3, day, "sale", "1100", 15000, 0), (first + 3, day, "sale", "2100", 0, 15000)]


# day 3 pays C1 8800 + C2 14700 = 23500
HAND_JOURNAL = _day("2024-03-04", 1, 8800) + _day("2024-03-05", 5, 8800) + _day("2024-03-06", 9, 23500)


@pytest.fixture
def booked_store(admin_users):
    closing.close(admin_users, "otto", load_portfolio(TINY), through=D3)
    return admin_users


def test_journal_is_the_hand_made_journal_balanced_per_entry_and_in_total(booked_store):
    result = closing.export_journal(booked_store, "fiona", D1, D3, MAPPING)
    lines = result.lines
    got = [(int(r.entry), str(r.day)[:10], r.kind, r.account, int(r.debit_cents), int(r.credit_cents))
           for r in lines.itertuples()]
    assert got == HAND_JOURNAL
    per_entry = lines.groupby("entry")[["debit_cents", "credit_cents"]].sum()
    assert (per_entry["debit_cents"] == per_entry["credit_cents"]).all()
    # total: 3 x (300 + 1000 + 15000) + 8800 + 8800 + 23500 = 48900 + 41100 = 90000
    assert lines["debit_cents"].sum() == lines["credit_cents"].sum() == 90000
    assert result.export_id == "J1" and not result.already_exported
    # client money at each day's end: day 1 C1 reserve 1000 + C2 carried 4900 = 5900; day 2 2000 + 9800 =
    # 11800; day 3 3000 + 0 (C2 paid). Fees earned 300 a day, cumulative.
    guard = result.safeguarding
    assert guard["client_money_cents"].tolist() == [5900, 11800, 3000]
    assert guard["fees_earned_cents"].tolist() == [300, 600, 900]
    assert guard["merchants_owe_cents"].tolist() == [0, 0, 0]
    again = closing.export_journal(booked_store, "fiona", D1, D3, MAPPING)
    assert again.export_id == "J1" and again.already_exported and again.lines.equals(lines)


def test_journal_by_client_has_one_balanced_entry_per_client_day_and_kind(booked_store):
    lines = closing.export_journal(booked_store, "fiona", D3, D3, MAPPING, by_client=True).lines
    # day 3: C1 fee, payout, reserve_hold, sale; C2 fee, payout, sale -> 7 entries of two lines
    assert lines["entry"].nunique() == 7 and len(lines) == 14
    c2_payout = lines[(lines["client_id"] == "C2") & (lines["kind"] == "payout")]
    assert c2_payout[["account", "debit_cents", "credit_cents"]].values.tolist() == [["2100", 14700, 0],
                                                                                    ["1000", 0, 14700]]


def test_journal_refusals_and_period_lock(booked_store):
    store = booked_store
    with pytest.raises(PermissionDenied):
        closing.export_journal(store, "otto", D1, D3, MAPPING)
    with pytest.raises(RefusedByRule, match="not booked in full"):
        closing.export_journal(store, "fiona", D1, dt.date(2024, 3, 7), MAPPING)
    with pytest.raises(ArgumentError, match="no row for payout/external"):
        closing.export_journal(store, "fiona", D1, D3, MAPPING[MAPPING["kind"] != "payout"])
    with pytest.raises(RefusedByRule, match="not booked yet"):
        closing.lock_period(store, "fiona", dt.date(2024, 3, 7))
    with pytest.raises(PermissionDenied):
        closing.lock_period(store, "otto", D2)
    assert closing.lock_period(store, "fiona", D2) == D2
    assert closing.export_journal(store, "fiona", D1, D2, MAPPING).locked_through == D2


def test_journal_cli_writes_csv_and_xlsx_with_the_export_id_and_period(tmp_path):
    db = f"sqlite:///{tmp_path / 'j.db'}"
    for argv in (["store", "init", "--demo"], ["users", "add", "ada", "--role", "admin", "--user", "ada"],
                 ["users", "add", "fi", "--role", "finance", "--user",
                 "ada"], ["close", "--through", "2024-03-06", "--data", str(TINY), "--user", "fi"]):
        assert main([*argv, "--db", db]) == 0
    out = tmp_path / "out"
    args = ["journal", "--from", "2024-03-04", "--to", "2024-03-06", "--out", str(out), "--db", db, "--user", "fi"]
    assert main(args) == 0
    with (out / "journal-J1-2024-03-04-2024-03-06.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(HAND_JOURNAL) and rows[0]["export_id"] == "J1"
    assert (rows[0]["account"], rows[0]["debit"], rows[0]["credit"]) == ("2100", "3.00", "0.00")
    assert sum(int(r["debit_cents"]) for r in rows) == sum(int(r["credit_cents"]) for r in rows) == 90000
    assert (out / "safeguarding-J1-2024-03-04-2024-03-06.csv").is_file()
    assert main([*args, "--format", "xlsx"]) == 0  # the same entries: J1 again
    sheet = openpyxl.load_workbook(out / "journal-J1-2024-03-04-2024-03-06.xlsx")["Journal"]
    assert sheet.max_row == len(HAND_JOURNAL) + 1 and sheet["A2"].value == "J1"
    assert main(["journal", "lock", "--through", "2024-03-05", "--db", db, "--user", "fi"]) == 0


def test_opening_balances_are_booked_with_the_first_close(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    (data / "opening_balances.csv").write_text(
        "client_id,cut_over_date,item,amount,release_date\n"
        "C1,2024-03-03,rolling_reserve,300.00,2024-03-10\n"
        "C1,2024-03-03,rolling_reserve,200.00,2024-03-20\n"
        "C2,2024-03-03,settlement,-20.00,2024-03-03\n"
        "C1,2024-03-03,factoring_advance,300.00,2024-03-03\n")
    db = f"sqlite:///{tmp_path / 'o.db'}"
    assert main(["store", "init", "--demo", "--db", db]) == 0  # a demo store: --user names who acts
    assert main(["users", "add", "ada", "--role", "admin", "--user", "ada", "--db", db]) == 0
    assert main(["users", "add", "fi", "--role", "finance", "--user", "ada", "--db", db]) == 0
    assert main(["close", "--date", "2024-03-04", "--data", str(data), "--user", "fi", "--db", db]) == 0
    from atlas_xl.store.database import open_store

    store = open_store(db)
    with store.transaction() as session:
        frame = closing.read_postings(session, D1, D1)
    opening = frame[frame["kind"].str.startswith("opening_")]
    # the two C1 holds add up: 300.00 + 200.00 = 50000; C2 owes 20.00; C1's advance outstanding 30000
    assert sorted((r.client_id, r.kind, r.subaccount, r.counter_subaccount, int(r.amount_cents))
                  for r in opening.itertuples()) == [
        ("C1", "opening_factoring_advance", "external", "factoring", 30000),
        ("C1", "opening_rolling_reserve", "rolling_reserve", "external", 50000),
        ("C2", "opening_settlement", "settlement", "external", -2000)]
    # the opening entry in the journal: C2's negative balance swaps the sides (Dr 2100, Cr 3900)
    lines = closing.export_journal(store, "fi", D1, D1, MAPPING).lines
    entry = lines[lines["kind"] == "opening_settlement"]
    assert entry[["account", "debit_cents", "credit_cents"]].values.tolist() == [["2100", 2000, 0],
                                                                                ["3900", 0, 2000]]
    assert closing.verify(store, "fi", load_portfolio(data)).empty  # the opening entry is not derived
    # the second close books no opening entry again
    assert main(["close", "--date", "2024-03-05", "--data", str(data), "--user", "fi", "--db", db]) == 0
    with store.transaction() as session:
        assert not closing.read_postings(session, D2, D2)["kind"].str.startswith("opening_").any()


def test_opening_balances_problems_are_located(tmp_path):
    path = tmp_path / "opening_balances.csv"
    path.write_text("client_id,cut_over_date,item,amount,release_date\n"
                    "C1,2024-03-03,cash,1.00,2024-03-03\n")
    with pytest.raises(LoadError, match=r"opening_balances.csv, row 2, column item.*'cash'"):
        load_table(path, "opening_balances")
    path.write_text("client_id,cut_over_date,item,amount,release_date\n"
                    "C9,2024-03-03,settlement,1.00,2024-03-03\n"
                    "C1,2024-03-04,rolling_reserve,-1.00,2024-03-09\n")
    frame = load_table(path, "opening_balances")
    portfolio = load_portfolio(TINY)
    with pytest.raises(LoadError) as error:
        check_opening(frame, {"C1", "C2"}, portfolio.first_date, path)
    text = str(error.value)
    assert "row 2, column client_id" in text and "unknown client" in text
    assert "row 3, column cut_over_date" in text and "before the first day the close books (2024-03-04)" in text
    assert "row 3, column amount" in text and "only a settlement balance may be negative" in text
    assert "more than one cut-over date" in text
