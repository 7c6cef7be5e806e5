"""Credit managers change limits and reserve terms; the daily run and the payout run use the stored values."""

from __future__ import annotations

import json

import openpyxl
import pytest

from atlas_xl.cli.app import main


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    monkeypatch.setenv("ATLAS_DB_URL", url)
    assert main(["store", "init", "--demo"]) == 0  # a demo store: --user names who acts
    assert main(["users", "add", "ada", "--role", "admin", "--user", "ada"]) == 0
    assert main(["users", "add", "cora", "--role", "credit", "--user", "ada"]) == 0
    assert main(["users", "add", "rick", "--role", "risk", "--user", "ada"]) == 0
    return url


def exposure_row(report, client_id: str) -> dict[str, object]:
    ws = openpyxl.load_workbook(report, read_only=True)["Exposure"]
    rows = list(ws.iter_rows(values_only=True))  # a note above the header row
    return next(dict(zip(rows[1], r, strict=True)) for r in rows[2:] if r[0] == client_id)


def test_a_raised_limit_clears_the_breach_in_the_daily_run(store_url, tmp_path, example_data_dir, capsys):
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path / "before"), "--no-dashboard"]) == 0
    (before,) = (tmp_path / "before").glob("*.xlsx")
    assert exposure_row(before, "C00006")["Status"] == "BREACH"
    exposure = exposure_row(before, "C00006")["Exposure"]

    # the credit manager raises C00006's limit to 10 x its exposure: utilisation 10 % -> OK
    new_limit = f"{exposure * 10:.2f}"
    assert main(["credit", "limit", "C00006", new_limit, "--user", "cora", "--json"]) == 0
    changed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert changed["after"] == {"credit_limit_cents": round(exposure * 1000)}

    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path / "after"), "--no-dashboard"]) == 0
    (after,) = (tmp_path / "after").glob("*.xlsx")
    row = exposure_row(after, "C00006")
    assert row["Credit limit"] == pytest.approx(exposure * 10) and row["Status"] == "OK"
    # --no-store shows the data's own limit again
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path / "raw"), "--no-dashboard",
                 "--no-store"]) == 0
    (raw,) = (tmp_path / "raw").glob("*.xlsx")
    assert exposure_row(raw, "C00006")["Status"] == "BREACH"


def test_reserve_terms_change_is_audited_and_risk_may_not_change(store_url, capsys):
    assert main(["credit", "reserve", "C00001", "--reserve", "rolling", "--rate", "0.05", "--cap", "none",
                 "--user", "cora"]) == 0
    assert main(["credit", "limit", "C00001", "1000.00", "--user", "rick"]) == 3
    assert "may not" in capsys.readouterr().err
    assert main(["audit", "show", "--client", "C00001", "--user", "ada", "--json"]) == 0
    text = capsys.readouterr().out
    assert "change_reserve_terms" in text and '"rate_ppm": 50000' in text and "refused" in text


def test_a_bad_amount_is_a_clear_error(store_url, capsys):
    assert main(["credit", "limit", "C00001", "12.345", "--user", "cora"]) == 2
    assert "more than 2 decimals" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [
    # 100 quintillion euros: SQLite's INTEGER overflowed (exit 70) before the check
    (["limit", "C00001", "99999999999999999999"], "expected integer cents 0 to 999999999999"),
    (["limit", "C00001", "10000000000.00"], "expected integer cents 0 to 999999999999"),  # 1 cent over the data's
    # ~274 million years of holds: accepted before, and every later run then needed 5 TiB (MemoryError)
    (["reserve", "C00001", "--hold-days", "99999999999"], "hold_days 99999999999 is not valid; expected an "
                                                           "integer from 0 to 10000"),
    (["reserve", "C00001", "--hold-days", "10001"], "expected an integer from 0 to 10000"),
    (["reserve", "C00001", "--cap", "10000000000"], "cap_cents 1000000000000 is not valid"),
])
def test_values_beyond_what_the_data_may_hold_are_refused(store_url, capsys, argv, expected) -> None:
    assert main(["credit", *argv, "--user", "cora"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert main(["credit", "limit", "C00001", "9999999999.99", "--user", "cora"]) == 0  # the largest is taken
    assert main(["credit", "reserve", "C00001", "--hold-days", "10000", "--user", "cora"]) == 0
