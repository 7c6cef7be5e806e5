"""The HTML dashboard file without a browser: safe inline data, no outside address, bounded postings."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_xl.cli.app import main
from atlas_xl.engines.run import run_engines
from atlas_xl.errors import ArgumentError
from atlas_xl.examples.portfolio import HOSTILE_NAMES
from atlas_xl.outputs.dashboard import render as dash
from tests.portfolio_builder import client, daily_sales, portfolio, reserve

DAY0 = dt.date(2026, 3, 2)  # Monday
URL = re.compile(r"https?:/", re.IGNORECASE)  # an address: the scheme and its slashes


def hostile_portfolio():
    clients = [client(f"H{i}", name=name) for i, name in enumerate(HOSTILE_NAMES)]
    sales = [row for i in range(len(HOSTILE_NAMES)) for row in daily_sales(f"H{i}", DAY0, 3, 10_000)]
    return portfolio(clients, sales)


def ten_day_portfolio():
    """One client: 10 days of 100.00 sales and 1.00 fees, daily payouts, 10 % rolling reserve held 2 days."""
    return portfolio([client("C1")], daily_sales("C1", DAY0, 10, 10_000, fees_cents=100),
                     [reserve("C1", rate_ppm=100_000, hold_days=2)])


def script_bodies(html: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)


def page_data(result, budget: int = dash.POSTINGS_BUDGET) -> dict:
    """The data as the page's script reads it: the payload through the inline JSON and back."""
    return json.loads(dash.to_script_json(dash.payload(result, "test", budget)))


def as_lists(value: object) -> object:
    """The payload with its numpy integer columns as plain lists: what json.dumps is given in the reference."""
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    return value.tolist() if isinstance(value, np.ndarray) else value


def reference_script_json(data: object) -> str:
    """json.dumps, then the escapes one by one: the encoding to_script_json must reproduce byte for byte."""
    text = json.dumps(as_lists(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in dash.JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


@given(st.lists(st.integers(-(2**63), 2**63 - 1)), st.sampled_from([np.int64, np.int32, np.uint8]))
def test_integer_columns_are_written_exactly_as_json_dumps_writes_them(numbers: list[int], dtype) -> None:
    info = np.iinfo(dtype)
    values = np.array([min(max(n, info.min), info.max) for n in numbers], dtype=dtype)
    data = {"a": values, "b": {"c": values[::-1], "d": ["</script>", None, 1.5]}, "e": values.tolist()}
    assert dash.to_script_json(data) == reference_script_json(data)


def test_the_whole_payload_is_encoded_as_json_dumps_encodes_it() -> None:
    result = run_engines(hostile_portfolio())
    data = dash.payload(result, "test")
    assert isinstance(data["postings"]["amount"], np.ndarray)  # the fast path is taken
    assert dash.to_script_json(data) == reference_script_json(data)


def test_arrays_that_are_not_integer_columns_are_refused() -> None:
    with pytest.raises(TypeError, match="1-D integers"):
        dash.to_script_json({"a": np.array([1.5])})
    with pytest.raises(TypeError, match="keys are text"):
        dash.to_script_json({1: "one"})


@given(st.text())
def test_inline_json_round_trips_and_cannot_close_the_script(text: str) -> None:
    encoded = dash.to_script_json({"name": text})
    assert json.loads(encoded) == {"name": text}
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in encoded
    assert "//" not in encoded  # '/' is written as '\/': no "http://" can appear, whatever the data


def test_hostile_names_stay_inside_the_data_element(tmp_path: Path) -> None:
    html = dash.write_dashboard(run_engines(hostile_portfolio()), tmp_path / "d.html", "test").read_text()
    # Exactly our two script elements (data + app): `</script>` inside a name did not end one early.
    assert html.count("<script") == 2 and html.count("</script>") == 2
    data = json.loads(script_bodies(html)[0])
    names = data["tables"]["payouts"]["data"]["name"]
    assert sorted(names) == sorted(HOSTILE_NAMES)  # every name kept exactly as typed
    outside = html
    for spec in data["tables"].values():  # the exposure table lists them in another order (by utilisation)
        if "name" in spec["data"]:
            outside = outside.replace(dash.to_script_json(spec["data"]["name"]), "")
    assert "onerror" not in outside  # only inside the JSON strings


def test_no_outside_address_anywhere_even_with_urls_in_names(tmp_path: Path) -> None:
    # HOSTILE_NAMES holds '=HYPERLINK("http://x","click")': the '/' escape keeps even data URL-free.
    html = dash.write_dashboard(run_engines(hostile_portfolio()), tmp_path / "d.html", "test").read_text()
    assert URL.search(html) is None
    # Outside the inert JSON: no attribute that loads anything; the only links are in-page anchors.
    markup = html.replace(script_bodies(html)[0], "")
    assert re.findall(r"\b(?:src|srcset|action|xlink:href)\s*=", markup, flags=re.I) == []
    anchors = {"#alerts", "#payouts", "#exposure", "#reserves", "#releases", "#projection", "#exceptions"}
    assert set(re.findall(r'\bhref="([^"]*)"', markup)) <= anchors


def test_example_dashboard_has_no_outside_address(tmp_path: Path, example_data_dir: Path) -> None:
    assert main(["dashboard", "--data", str(example_data_dir), "--out", str(tmp_path / "d.html")]) == 0
    assert URL.search((tmp_path / "d.html").read_text()) is None


def test_content_security_policy_allows_only_the_page_s_own_script_and_style(tmp_path: Path) -> None:
    html = dash.write_dashboard(run_engines(ten_day_portfolio()), tmp_path / "d.html", "test").read_text()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1]
    assert csp.startswith("default-src 'none';")
    app_js = script_bodies(html)[1]
    css = re.search(r"<style>(.*?)</style>", html, flags=re.S)[1]
    for body, directive in ((app_js, "script-src"), (css, "style-src")):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}';" in csp


def test_kpis_and_tables_carry_the_engine_figures() -> None:
    result = run_engines(ten_day_portfolio())
    data = page_data(result)
    assert {k["key"]: k["value"] for k in data["kpis"]} == {k: result.kpis.as_dict()[k] for k in
                                                             {k["key"] for k in data["kpis"]}}
    payouts = data["tables"]["payouts"]["data"]
    # As-of 2026-03-11 (Wednesday, a payout day). Each day: 100.00 sale - 1.00 fee - 10.00 held = 89.00;
    # the 10.00 held two days earlier (2026-03-09) is released today: 89.00 + 10.00 = 99.00 payable.
    assert payouts["amount_cents"] == [9_900]
    assert payouts["readiness"] == ["READY"]
    reserves = data["tables"]["reserves"]["data"]
    # Only the rolling reserve row (the partner row is all zeros). Held 10 x 10.00; released on days 3..10
    # (day d releases day d-2's hold): 8 x 10.00 = 80.00; balance 20.00.
    assert reserves["reserve"] == ["rolling"]
    assert (reserves["held_cents"], reserves["released_cents"], reserves["balance_cents"]) == (
        [10_000], [8_000], [2_000])


def client_side_postings(result, client_id: str, first_day: int) -> list[tuple[str, str, str, int]]:
    """Independent reference: Ledger.postings (every leg), minus the external side, within the window."""
    frame = result.ledger.postings([client_id])
    frame = frame[(frame["subaccount"] != "external")
                  & (frame["date"] >= str(result.grid.start + first_day))]
    columns = (frame["date"], frame["movement"], frame["subaccount"], frame["amount_cents"])
    return sorted((d.date().isoformat(), m, s, int(a)) for d, m, s, a in zip(*columns, strict=True))


def page_postings(data: dict, ci: int) -> list[tuple[str, str, str, int]]:
    p, start = data["postings"], dt.date.fromisoformat(data["meta"]["day0"])
    rows = range(p["start"][ci], p["start"][ci + 1])
    return sorted(((start + dt.timedelta(days=p["day"][i])).isoformat(), data["movements"][p["mov"][i]],
                   data["subaccounts"][p["sub"][i]], p["amount"][i]) for i in rows)


def test_small_portfolio_lists_every_posting() -> None:
    result = run_engines(ten_day_portfolio())
    data = page_data(result)
    assert dash.posting_window(result) == 0
    assert "All postings" in data["meta"]["postings_note"]
    assert page_postings(data, 0) == client_side_postings(result, "C1", 0)


def test_large_portfolio_keeps_only_the_last_days_and_says_so() -> None:
    result = run_engines(ten_day_portfolio())
    # Per day the client has sale, fee, hold (2 legs), payout (+ release, 2 legs, from day 3): a budget of
    # 20 legs cannot hold 90/60/30/14 days, and falls back to the last 7 of the 10 days (days 3..9).
    data = page_data(result, budget=20)
    assert dash.posting_window(result, budget=20) == 3
    assert "from 2026-03-05 (the last 7 days)" in data["meta"]["postings_note"]
    assert page_postings(data, 0) == client_side_postings(result, "C1", 3)
    assert min(data["postings"]["day"]) == 3


def test_drilldown_totals_explain_every_balance() -> None:
    result = run_engines(hostile_portfolio())
    drill = page_data(result)["drill"]
    for ci in range(result.grid.n_clients):
        rows = range(drill["start"][ci], drill["start"][ci + 1])
        for s, sub in enumerate(dash.SUBACCOUNTS):
            total = sum(drill["amount"][i] for i in rows if drill["sub"][i] == s)
            assert total == drill["balances"][sub][ci]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "d.html"
    target.write_text("previous")
    monkeypatch.setattr(dash, "payload", lambda *a, **k: {"bad": float("nan")})  # json refuses NaN
    with pytest.raises(ValueError):
        dash.write_dashboard(run_engines(ten_day_portfolio()), target, "test")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.html"]


def test_out_naming_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="is a folder; expected a file name"):
        dash.write_dashboard(run_engines(ten_day_portfolio()), tmp_path, "test")
    assert main(["dashboard", "--out", str(tmp_path)]) == 2


def test_run_writes_the_dashboard_beside_the_report(tmp_path: Path, example_data_dir: Path) -> None:
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path), "--json"]) == 0
    assert (tmp_path / "dashboard.html").stat().st_size > 10_000


def test_an_infinite_figure_is_refused_not_wrapped_into_a_number() -> None:
    # a float column reaching the page must hold whole numbers; an infinity is an error, never -2**63
    assert dash._ints(pd.Series([1.0, 2.0])).tolist() == [1, 2]
    with pytest.raises(ValueError):
        dash._ints(pd.Series([1.0, np.inf]))


def test_example_page_lists_alerts_exceptions_not_due_and_releases_per_day(example_data_dir: Path) -> None:
    from atlas_xl.inputs.portfolio import load_portfolio

    result = run_engines(load_portfolio(example_data_dir))
    data = dash.payload(result, str(example_data_dir.resolve()))
    assert data["meta"]["source"] == "example_data"  # the file name, never the server's path
    alerts = data["tables"]["alerts"]["data"]
    assert alerts["client_id"] == ["C00006", "C00025", "C00007", "C00040"]  # breaches first, larger first
    assert alerts["reason"][0] == "exposure EUR 244,547.86 is 244.5 % of limit EUR 100,000.00 (threshold 100 %)"
    exceptions = data["tables"]["exceptions"]["data"]
    assert exceptions["client_id"] == ["C00010"] and exceptions["source_row"] == [13402]
    assert exceptions["reason"][0].endswith("value date 2026-10-24, sales 1,250.00 USD")
    payouts = data["tables"]["payouts"]["data"]
    readiness = dict(zip(payouts["client_id"], payouts["readiness"], strict=True))
    assert sum(v == "NOT DUE" for v in readiness.values()) == 11 and readiness["C00009"] == "NOT DUE"
    assert {f["label"] for f in data["tables"]["payouts"]["filters"]} >= {"Ready", "Not due", "Blocked",
                                                                        "Reason: KYC pending"}
    utilisation = [u for u in data["tables"]["exposure"]["data"]["utilization_ppm"] if u is not None]
    assert utilisation[:4] == [2_445_479, 1_680_927, 931_568, 896_645]
    assert utilisation == sorted(utilisation, reverse=True)
    releases = data["tables"]["releases"]["data"]
    assert int(np.sum(releases["amount_cents"])) == result.kpis.upcoming_releases_cents == 95_718_01
    assert releases["release_date"][0] == "2026-11-24" and releases["amount_cents"][0] == 2_498_54
    kpis = {k["key"]: k["value"] for k in data["kpis"]}
    assert (kpis["payouts_not_due"], kpis["not_due_cents"]) == (11, 269_229_01)
