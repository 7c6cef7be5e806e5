"""The example portfolio generator: deterministic, the documented cases at their client ids, valid IBANs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from schwifty import BIC, IBAN

from atlas_xl.cli.app import main
from atlas_xl.domain.calendar import closing_reason, is_banking_date
from atlas_xl.domain.model import TABLES
from atlas_xl.errors import OutputError
from atlas_xl.examples import portfolio as generator
from atlas_xl.examples.portfolio import (
    HOSTILE_NAMES,
    _cents_text,
    _rate_text,
    generate_portfolio,
    write_csv,
    write_xlsx,
)
from atlas_xl.inputs.portfolio import load_portfolio


@pytest.fixture(scope="module")
def bundled() -> dict[str, pd.DataFrame]:
    return generate_portfolio()  # the bundled parameters: 40 clients, 365 days, seed 7, end 2026-11-23


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, bundled):
    folder = tmp_path_factory.mktemp("bundled")
    write_csv(bundled, folder)
    return load_portfolio(folder)


def client(bundled, client_id: str) -> pd.Series:
    rows = bundled["clients"][bundled["clients"]["client_id"] == client_id]
    assert len(rows) == 1, client_id
    return rows.iloc[0]


def test_same_seed_same_tables_other_seed_other_tables(bundled):
    again = generate_portfolio()
    for table in TABLES:
        pd.testing.assert_frame_equal(bundled[table], again[table])
    other = generate_portfolio(seed=8)
    assert not other["settlements"]["sales"].equals(bundled["settlements"]["sales"])


def test_bundled_files_are_the_generator_output(example_data_dir, tmp_path, bundled):
    # the committed example_data/*.csv must be what `atlas-xl example-data` writes today
    write_csv(bundled, tmp_path)
    for table in TABLES:
        assert (tmp_path / f"{table}.csv").read_bytes() == (example_data_dir / f"{table}.csv").read_bytes(), table
    total = sum(p.stat().st_size for p in example_data_dir.iterdir())
    assert total < 3 * 1024 * 1024


def test_shape_one_row_per_client_per_day_plus_the_usd_row(bundled):
    settlements = bundled["settlements"]
    assert len(bundled["clients"]) == 40
    assert len(settlements) == 40 * 365 + 1
    assert settlements["value_date"].min() == "2025-11-24"  # 2026-11-23 minus 364 days
    assert settlements["value_date"].max() == "2026-11-23"
    eur = settlements[settlements["currency"] == "EUR"]
    assert not eur.duplicated(["client_id", "value_date"]).any()
    assert eur.groupby("client_id").size().eq(365).all()


def test_amounts_are_text_with_two_decimals_and_dates_iso(bundled):
    for column in ("sales", "refunds", "chargebacks", "fees"):
        assert bundled["settlements"][column].str.fullmatch(r"\d+\.\d{2}").all(), column
    assert bundled["clients"]["opening_balance"].str.fullmatch(r"-?\d+\.\d{2}").all()
    assert bundled["settlements"]["value_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert bundled["loans"]["periods"].dtype == np.int64


def test_blocked_kyc_and_invalid_iban_cases(bundled):
    assert client(bundled, "C00002")["status"] == "blocked"
    assert client(bundled, "C00003")["kyc_status"] == "pending"
    bad = client(bundled, "C00004")["iban"]
    assert not IBAN(bad, allow_invalid=True).is_valid
    # only the check digits are wrong: ISO 7064 mod 97-10 recomputed by hand gives a valid IBAN
    digits = "".join(str(int(ch, 36)) for ch in bad[4:] + bad[:2] + "00")
    fixed = f"{bad[:2]}{98 - int(digits) % 97:02d}{bad[4:]}"
    assert fixed != bad
    IBAN(fixed).validate(validate_bban=True)
    assert bundled["clients"]["status"].eq("blocked").sum() == 1
    assert bundled["clients"]["kyc_status"].eq("pending").sum() == 1


def test_every_other_iban_and_bic_is_valid_and_countries_are_sepa(bundled):
    clients = bundled["clients"]
    for row in clients.itertuples():
        if row.client_id == "C00004":
            continue
        iban = IBAN(row.iban)  # raises on any invalid check digit or BBAN
        iban.validate(validate_bban=True)
        assert iban.country_code == row.country
        assert BIC(row.bic).country_code == row.country
    assert set(clients["country"]) == {"DE", "FR", "NL", "ES", "IT", "AT", "BE", "FI", "IE", "PT"}


def test_negative_opening_balance_stays_negative(loaded):
    opening = loaded.clients.set_index("client_id").loc["C00005", "opening_balance_cents"]
    assert opening == -5_000_000  # -50,000.00 EUR
    rows = loaded.settlements[loaded.settlements["client_id"] == "C00005"]
    net = int((rows["sales_cents"] - rows["refunds_cents"] - rows["chargebacks_cents"] - rows["fees_cents"]).sum())
    assert 0 < net < 5_000_000  # the whole year's net does not cover the opening debt
    assert not loaded.reserve_terms["client_id"].eq("C00005").any()


def test_over_and_near_credit_limit(loaded):
    clients = loaded.clients.set_index("client_id")
    loans = loaded.loans.set_index("client_id")
    assert loans.loc["C00006", "product"] == "factoring"
    assert loans.loc["C00006", "principal_cents"] == 25_000_000 > clients.loc["C00006", "credit_limit_cents"]
    # 90,000.00 / 100,000.00 = 90 %; ten days of ~10 % withholding on ~300 EUR/day barely move it
    assert loans.loc["C00007", "principal_cents"] * 100 // clients.loc["C00007", "credit_limit_cents"] == 90
    assert loans.loc["C00007", "start_date"] == pd.Timestamp("2026-11-13")


def test_calendar_reserve_releases_fall_on_target2_closing_days(loaded):
    terms = loaded.reserve_terms
    row = terms[(terms["client_id"] == "C00008") & (terms["reserve"] == "rolling")].iloc[0]
    assert (row["hold_days"], row["hold_basis"], row["rate_ppm"]) == (7, "calendar", 100_000)
    days = loaded.settlements.loc[loaded.settlements["client_id"] == "C00008", "value_date"]
    releases = {d.date() for d in days + pd.Timedelta(days=7)}
    for holiday in (dt.date(2025, 12, 25), dt.date(2026, 4, 3), dt.date(2026, 4, 6)):
        assert holiday in releases
        assert not is_banking_date(holiday), closing_reason(holiday)


def test_term_loan_paid_off_before_the_end(loaded):
    loan = loaded.loans[loaded.loans["client_id"] == "C00009"].iloc[0]
    assert (loan["product"], loan["method"], loan["frequency"], loan["periods"]) == ("term_loan", "annuity",
                                                                                    "monthly", 6)
    last_due = loan["start_date"] + pd.DateOffset(months=6)  # 2025-12-01 + 6 months = 2026-06-01
    assert last_due == pd.Timestamp("2026-06-01") < loaded.last_date


def test_usd_row_is_refused(loaded, bundled):
    usd = bundled["settlements"][bundled["settlements"]["currency"] != "EUR"]
    assert usd[["client_id", "currency"]].values.tolist() == [["C00010", "USD"]]
    assert loaded.refused["client_id"].tolist() == ["C00010"]
    assert "USD" in loaded.refused["reason"].iloc[0]


def test_every_product_method_frequency_and_reserve_variant_occurs(loaded):
    clients, loans, terms = loaded.clients, loaded.loans, loaded.reserve_terms
    assert set(clients["payout_frequency"]) == {"daily", "weekly", "monthly"}
    assert (clients["min_payout_cents"] > 0).any() and (clients["min_payout_cents"] == 0).any()
    term = loans[loans["product"] == "term_loan"]
    combos = set(zip(term["method"], term["frequency"], strict=True))
    assert combos >= {(m, f) for m in ("annuity", "linear", "bullet") for f in ("monthly", "weekly")}
    assert set(loans["day_count"]) == {"30/360", "ACT/360", "ACT/365F"}
    assert (loans["product"] == "factoring").sum() >= 4
    assert set(terms["reserve"]) == {"rolling", "partner"}
    assert set(terms["hold_basis"]) == {"calendar", "banking"}
    assert (terms["cap_cents"] == -1).any() and (terms["cap_cents"] > 0).any()
    assert (terms["fixed_amount_cents"] > 0).any() and (terms["min_balance_cents"] > 0).any()
    partner19 = terms[(terms["client_id"] == "C00019") & (terms["reserve"] == "partner")].iloc[0]
    assert (partner19["fixed_amount_cents"], partner19["min_balance_cents"]) == (500_000, 200_000)


def test_names_are_fictitious_unless_hostile(bundled, tmp_path):
    assert bundled["clients"]["name"].str.fullmatch(r"Example [A-Za-z ]+ \d{3} [A-Za-z.]+").all()
    hostile = generate_portfolio(hostile=True)
    names = hostile["clients"]["name"].tolist()
    assert names[20:32] == list(HOSTILE_NAMES)  # clients C00021..C00032
    write_csv(hostile, tmp_path)
    write_xlsx(hostile, tmp_path / "portfolio.xlsx")
    # the exact hostile text survives both file formats
    assert load_portfolio(tmp_path).clients["name"].tolist() == names
    assert load_portfolio(tmp_path / "portfolio.xlsx").clients["name"].tolist() == names


@given(st.integers(min_value=-(10**13), max_value=10**13))
def test_cents_text_is_exact(cents):
    (text,) = _cents_text(np.array([cents]))
    assert Decimal(text) * 100 == cents
    assert len(text.split(".")[1]) == 2


@given(st.integers(min_value=0, max_value=1_000_000))
def test_rate_text_is_exact(ppm):
    (text,) = _rate_text(np.array([ppm]))
    assert Decimal(text) * 1_000_000 == ppm


def test_write_csv_is_atomic(tmp_path, monkeypatch, bundled):
    (tmp_path / "clients.csv").write_text("old\n")
    calls = []
    real = generator.pacsv.write_csv

    def failing(data, path, options):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(data, path, options)

    monkeypatch.setattr(generator.pacsv, "write_csv", failing)
    with pytest.raises(OutputError, match=r"cannot write .*loans\.csv.*disk full"):
        write_csv(bundled, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv"]  # no temp file left behind
    assert (tmp_path / "clients.csv").read_text() == "old\n"  # the old file is untouched


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tmp_path, monkeypatch, bundled):
    monkeypatch.setattr(generator, "EXCEL_MAX_ROWS", 1000)
    with pytest.raises(generator.ArgumentError, match="--no-xlsx"):
        write_xlsx(bundled, tmp_path / "p.xlsx")
    assert not list(tmp_path.iterdir())


def test_cli_example_data(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["example-data", "--clients", "12", "--days", "20", "--seed", "3", "--out", str(out)]) == 0
    bank = ["bank_camt053.xml", "bank_camt054.xml", "bank_pain002.xml"]  # the bank's side of the first run
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.csv" for t in TABLES] + ["portfolio.xlsx", *bank])
    portfolio = load_portfolio(out / "portfolio.xlsx")
    assert len(portfolio.clients) == 12 and len(portfolio.settlements) == 12 * 20
    assert portfolio.last_date == pd.Timestamp("2026-11-23")


def test_cli_example_data_refuses_a_set_too_big_for_excel_before_writing(tmp_path, capsys):
    out = tmp_path / "big"
    assert main(["example-data", "--clients", "10000", "--days", "365", "--out", str(out)]) == 2
    assert "--no-xlsx" in capsys.readouterr().err
    assert not out.exists()


def test_cli_example_data_bad_end_date(tmp_path, capsys):
    assert main(["example-data", "--end", "2026-02-30", "--out", str(tmp_path / "x")]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_large_portfolio_shape_and_wide_client_ids():
    # timing lives in benchmarks/; this checks the vectorised path end to end on a larger set
    tables = generate_portfolio(clients=2000, days=30, end_date=dt.date(2026, 1, 31))
    settlements = tables["settlements"]
    assert len(settlements) == 2000 * 30 + 1
    assert settlements["client_id"].iloc[1999] == "C02000"
    assert settlements["value_date"].iloc[0] == "2026-01-02"
