"""Report sheets that would be too long are totalled (and say so), with totals kept to the cent."""

from __future__ import annotations

import pandas as pd

from atlas_xl.outputs.report import layout as report


def test_small_release_lists_stay_daily():
    releases = pd.DataFrame({"client_id": ["A"], "reserve": ["rolling"],
                             "release_date": pd.to_datetime(["2026-12-01"]), "amount_cents": [123]})
    out, note = report.releases_for_sheet(releases)
    assert out.equals(releases) and "totalled" not in note


def test_long_release_lists_are_totalled_per_month(monkeypatch):
    monkeypatch.setattr(report, "RELEASE_DETAIL_LIMIT", 2)
    releases = pd.DataFrame({
        "client_id": ["A", "A", "A", "B"], "reserve": ["rolling"] * 4,
        "release_date": pd.to_datetime(["2026-12-01", "2026-12-15", "2027-01-04", "2026-12-02"]),
        "amount_cents": [100, 250, 7, 1],
    })
    out, note = report.releases_for_sheet(releases)
    # A: December 1.00 + 2.50 = 3.50, January 0.07; B: December 0.01; 4 daily rows -> 3 monthly rows
    assert out[["release_date", "client_id", "amount_cents"]].astype({"release_date": str}).values.tolist() == [
        ["2026-12-01", "A", 350], ["2026-12-01", "B", 1], ["2027-01-01", "A", 7]]
    assert out["amount_cents"].sum() == releases["amount_cents"].sum()
    assert "4 daily rows" in note and "per client, reserve and month" in note
