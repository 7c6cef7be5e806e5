"""The settlement worksheet functions (ATLAS_RESERVE, _RESERVE_RELEASES, _PAYOUT, _READINESS, _EXPOSURE,
_UTILIZATION, _LIMIT_STATUS) with Excel-shaped inputs, compared with hand-computed figures and with
run_engines over the same data loaded from CSV files (the path of `atlas-xl run`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas_xl.domain.model import Portfolio
from atlas_xl.engines.run import EngineResult, run_engines
from atlas_xl.examples.portfolio import generate_portfolio, write_csv
from atlas_xl.excel import ranges as xe
from atlas_xl.excel import udfs
from atlas_xl.excel.args import date_to_serial
from atlas_xl.excel.workbook import raw_tables
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.settings import Settings

CLIENTS_HEADER = ["client_id", "name", "country", "iban", "bic", "status", "kyc_status", "credit_limit",
                  "payout_frequency", "min_payout", "factoring_withhold_rate", "opening_balance"]
SETTLEMENTS_HEADER = ["client_id", "value_date", "currency", "sales", "refunds", "chargebacks", "fees"]
LOANS_HEADER = ["loan_id", "client_id", "product", "principal", "annual_rate", "start_date", "periods",
                "method", "frequency", "day_count"]
TERMS_HEADER = ["client_id", "reserve", "rate", "hold_days", "hold_basis", "cap", "fixed_amount", "min_balance"]
JAN2, JAN3 = dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3)  # Tuesday and Wednesday, TARGET2 open


def small() -> dict[str, list[list[object]]]:
    """Two daily clients over two days. C1 holds a 10 % rolling reserve for 30 calendar days; C2 has none."""
    return {
        "clients": [CLIENTS_HEADER,
                    ["C1", "Bakery One", "DE", "DE89370400440532013000", "COBADEFFXXX", "active", "verified",
                     10000.0, "daily", 0.0, 0.0, 0.0],
                    ["C2", "Florist Two", "DE", "DE89370400440532013000", None, "active", "verified",
                     1000.0, "daily", 0.0, 0.0, 0.0]],
        "settlements": [SETTLEMENTS_HEADER,
                        ["C1", JAN2, "EUR", 1000.0, 0.0, 0.0, 0.0], ["C1", JAN3, "EUR", 500.0, 0.0, 0.0, 0.0],
                        ["C2", JAN2, "EUR", 1000.0, 0.0, 0.0, 0.0], ["C2", JAN3, "EUR", 1000.0, 0.0, 0.0, 0.0]],
        "loans": [LOANS_HEADER],
        "reserve_terms": [TERMS_HEADER, ["C1", "rolling", 0.1, 30.0, "calendar", None, 0.0, 0.0]],
    }


def four(t: dict[str, list[list[object]]]) -> tuple[object, ...]:
    return t["clients"], t["settlements"], t["loans"], t["reserve_terms"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    xe.CACHE.clear()


# ---------------------------------------------------------------------------------------------- by hand
def test_reserve_hand_computed() -> None:
    t = small()
    # held 10 % of gross sales each day: 1000.00 x 0.1 = 100.00 on Jan 2, 500.00 x 0.1 = 50.00 on Jan 3
    assert udfs.ATLAS_RESERVE("C1", JAN3, t["settlements"], t["reserve_terms"]) == 150.0
    assert udfs.ATLAS_RESERVE("C1", JAN2, t["settlements"], t["reserve_terms"]) == 100.0
    assert udfs.ATLAS_RESERVE("C1", JAN3, t["settlements"], t["reserve_terms"], "partner") == 0.0
    assert udfs.ATLAS_RESERVE("C2", JAN3, t["settlements"], t["reserve_terms"]) == 0.0  # no terms: none


def test_reserve_releases_hand_computed() -> None:
    t = small()
    # Jan 2 + 30 days = Thu 1 Feb 2024 (open) -> 100.00; Jan 3 + 30 = Fri 2 Feb -> 50.00
    assert udfs.ATLAS_RESERVE_RELEASES("C1", JAN3, t["settlements"], t["reserve_terms"]) == [
        ["Release date", "Reserve", "Amount"],
        [dt.datetime(2024, 2, 1), "rolling", 100.0],
        [dt.datetime(2024, 2, 2), "rolling", 50.0],
    ]
    assert udfs.ATLAS_RESERVE_RELEASES("C2", JAN3, t["settlements"], t["reserve_terms"]) == [
        ["Release date", "Reserve", "Amount"]]


def test_payout_and_readiness_hand_computed() -> None:
    t = small()
    # daily payouts: Jan 2's balance is paid on Jan 2, so Jan 3 pays that day's net settlement
    # C1: 500.00 sales - 50.00 reserve hold = 450.00; C2: 1000.00 (no reserve)
    assert udfs.ATLAS_PAYOUT([["C1"], ["C2"]], JAN3, *four(t)) == [[450.0], [1000.0]]
    assert udfs.ATLAS_READINESS("C1", JAN3, *four(t)) == "READY"
    t["clients"][1][6] = "pending"
    assert udfs.ATLAS_READINESS([["C1"], ["C2"]], JAN3, *four(t)) == [["KYC_PENDING"], ["READY"]]
    t["clients"][1][5] = "blocked"
    assert udfs.ATLAS_READINESS("C1", JAN3, *four(t)) == "BLOCKED; KYC_PENDING"
    # blocked throughout: Jan 2's 900.00 (1000.00 - 100.00 hold) was not paid either, so it is carried:
    # 900.00 + 450.00 = 1350.00 payable, held back while blocked
    assert udfs.ATLAS_PAYOUT("C1", JAN3, *four(t)) == 1350.0


def test_exposure_utilization_status_hand_computed() -> None:
    t = small()
    # C2: chargeback risk 2 % x recent gross sales (1000.00 + 1000.00) = 40.00, no collateral -> 40.00
    #     of a 1000.00 limit = 0.04
    # C1: risk 2 % x 1500.00 = 30.00, minus reserve collateral 150.00 -> floored at 0.00
    assert udfs.ATLAS_EXPOSURE([["C1"], ["C2"]], JAN3, *four(t)) == [[0.0], [40.0]]
    assert udfs.ATLAS_UTILIZATION("C2", JAN3, *four(t)) == 0.04
    assert udfs.ATLAS_LIMIT_STATUS("C2", JAN3, *four(t)) == "OK"  # 0.04 < 0.8
    assert udfs.ATLAS_LIMIT_STATUS("C2", JAN3, *four(t), 0.03) == "WARNING"  # 0.04 >= 0.03
    assert udfs.ATLAS_LIMIT_STATUS("C2", JAN3, *four(t), "3%", "4%") == "BREACH"  # at the threshold
    t["clients"][2][7] = 0.0  # no credit limit, utilisation blank; C2 has no loan: its 40.00 of acquiring
    assert udfs.ATLAS_UTILIZATION("C2", JAN3, *four(t)) == ""  # risk alone is no breach (issue 20)
    assert udfs.ATLAS_LIMIT_STATUS("C2", JAN3, *four(t)) == "OK"
    assert "LIMIT_BREACHED" not in udfs.ATLAS_READINESS("C2", JAN3, *four(t))


# ---------------------------------------------------------------------------------------------- Excel shapes
def excel_shaped(t: dict[str, list[list[object]]]) -> dict[str, list[list[object]]]:
    """The same tables as a user may hold them: headers in title case, serial dates, text numbers,
    percent rates, ids typed as numbers elsewhere, blank rows at the end of a range."""
    out = {name: [list(r) for r in rows] for name, rows in t.items()}
    for rows in out.values():
        rows[0] = [h.replace("_", " ").title() for h in rows[0]]
        width = len(rows[0])
        rows.extend([[None] * width, [""] * width])
    for row in out["settlements"][1:-2]:
        row[1] = float(date_to_serial(row[1].date()))
        row[3] = f"{row[3]:,.2f}"  # "1,000.00"
    for row in out["reserve_terms"][1:-2]:
        row[2] = f"{row[2] * 100:g}%"  # "10%"
        row[3] = str(int(row[3]))  # "30"
    return out


def test_excel_shaped_tables_give_the_same_figures() -> None:
    t, x = small(), excel_shaped(small())
    assert x["settlements"][1][1] == 45293.0 and x["settlements"][1][3] == "1,000.00"
    assert x["reserve_terms"][1][2] == "10%"
    for func in (udfs.ATLAS_PAYOUT, udfs.ATLAS_READINESS, udfs.ATLAS_EXPOSURE, udfs.ATLAS_UTILIZATION,
                 udfs.ATLAS_LIMIT_STATUS):
        assert func([["C1"], ["C2"]], 45294.0, *four(x)) == func([["C1"], ["C2"]], JAN3, *four(t)), func
    assert udfs.ATLAS_RESERVE("C1", "2024-01-03", x["settlements"], x["reserve_terms"]) == 150.0
    assert udfs.ATLAS_RESERVE_RELEASES("C1", 45294.0, x["settlements"], x["reserve_terms"]) == \
        udfs.ATLAS_RESERVE_RELEASES("C1", JAN3, t["settlements"], t["reserve_terms"])


def test_cell_range_row_and_blank_ids() -> None:
    t = small()
    assert udfs.ATLAS_PAYOUT("C2", JAN3, *four(t)) == 1000.0  # a single cell -> a value
    assert udfs.ATLAS_PAYOUT([["C2"]], JAN3, *four(t)) == 1000.0  # a 1x1 range -> a value
    assert udfs.ATLAS_PAYOUT([["C1", "C2"]], JAN3, *four(t)) == [[450.0, 1000.0]]  # a row -> a row
    # a column running past the data: blanks answer blank, an unknown id answers its own message
    assert udfs.ATLAS_PAYOUT([["C2"], [None], ["C9"], [""]], JAN3, *four(t)) == [
        [1000.0], [""], ["#ATLAS! client_id 'C9' is not in the clients table"], [""]]
    numeric = small()
    for name in ("clients", "settlements"):
        for row in numeric[name][1:]:
            row[0] = {"C1": 1001.0, "C2": 1002.0}[row[0]]  # ids typed as numbers arrive as floats
    numeric["reserve_terms"][1][0] = 1001.0
    assert udfs.ATLAS_PAYOUT([[1001.0], ["1002"]], JAN3, *four(numeric)) == [[450.0], [1000.0]]


def test_non_eur_rows_are_left_out_as_in_the_report() -> None:
    t = small()
    t["settlements"].append(["C2", JAN3, "USD", 999.0, 0.0, 0.0, 0.0])
    assert udfs.ATLAS_PAYOUT("C2", JAN3, *four(t)) == 1000.0
    assert udfs.ATLAS_EXPOSURE("C2", JAN3, *four(t)) == 40.0


# ---------------------------------------------------------------------------------------------- vs engine
@pytest.fixture(scope="module")
def example() -> tuple[Portfolio, dict[str, list[list[object]]], EngineResult]:
    portfolio = load_portfolio(Path(__file__).resolve().parent.parent / "example_data")
    return portfolio, raw_tables(portfolio), run_engines(portfolio, None, Settings())


def _column(cells: object) -> list[object]:
    assert isinstance(cells, list)
    return [row[0] for row in cells]


def test_every_function_equals_the_engine_on_the_example_data(example: tuple) -> None:
    portfolio, t, result = example
    day = dt.datetime.combine(result.as_of, dt.time())
    ids = [[c] for c in portfolio.clients["client_id"]]
    payouts, exposure = result.payouts, result.exposure
    assert _column(udfs.ATLAS_PAYOUT(ids, day, *four(t))) == (payouts["amount_cents"] / 100).tolist()
    ready = np.where(payouts["ready"], "READY", payouts["reasons"]).tolist()
    assert _column(udfs.ATLAS_READINESS(ids, day, *four(t))) == ready
    assert _column(udfs.ATLAS_EXPOSURE(ids, day, *four(t))) == (exposure["exposure_cents"] / 100).tolist()
    util = [("" if pd.isna(v) else int(v) / 1_000_000) for v in exposure["utilization_ppm"]]
    assert _column(udfs.ATLAS_UTILIZATION(ids, day, *four(t))) == util
    assert _column(udfs.ATLAS_LIMIT_STATUS(ids, day, *four(t))) == exposure["status"].tolist()
    assert set(exposure["status"]) == {"OK", "WARNING", "BREACH"}  # the example data has every status
    for kind in ("rolling", "partner"):
        want = result.reserves[result.reserves["reserve"] == kind].set_index("client_id")["balance_cents"]
        got = _column(udfs.ATLAS_RESERVE(ids, day, t["settlements"], t["reserve_terms"], kind))
        assert got == (want.reindex(portfolio.clients["client_id"]) / 100).tolist()
    releases = result.reserve_releases
    for client in releases["client_id"].unique()[:5]:
        mine = releases[releases["client_id"] == client]
        cells = udfs.ATLAS_RESERVE_RELEASES(client, day, t["settlements"], t["reserve_terms"])
        assert cells[1:] == [[pd.Timestamp(d).to_pydatetime(), k, a / 100] for d, k, a in
                             zip(mine["release_date"], mine["reserve"], mine["amount_cents"], strict=True)]


def test_limit_status_thresholds_equal_the_engine_with_those_settings(example: tuple) -> None:
    portfolio, t, _ = example
    day = portfolio.last_date.to_pydatetime()
    engine = run_engines(portfolio, None, Settings().with_thresholds("0.05", "0.2")).exposure
    ids = [[c] for c in portfolio.clients["client_id"]]
    assert _column(udfs.ATLAS_LIMIT_STATUS(ids, day, *four(t), 0.05, "20%")) == engine["status"].tolist()


def test_a_column_of_formulas_runs_the_engine_once(example: tuple) -> None:
    portfolio, t, result = example
    day = dt.datetime.combine(result.as_of, dt.time())
    cells = [udfs.ATLAS_PAYOUT(c, day, *four(t)) for c in portfolio.clients["client_id"]]  # cell by cell
    assert cells == (result.payouts["amount_cents"] / 100).tolist()
    assert xe.CACHE.misses == 1
    udfs.ATLAS_EXPOSURE("C00001", 46349.0, *four(t))  # same data, same date as a serial: same run
    assert xe.CACHE.misses == 1
    changed = [list(r) for r in t["settlements"]]
    changed[1][3] = changed[1][3] + 1.0
    udfs.ATLAS_PAYOUT("C00001", day, t["clients"], changed, t["loans"], t["reserve_terms"])
    assert xe.CACHE.misses == 2  # a changed cell is new data: recomputed


def test_a_100000_row_id_column_is_one_engine_call(example: tuple) -> None:
    portfolio, t, result = example
    day = dt.datetime.combine(result.as_of, dt.time())
    ids = portfolio.clients["client_id"].to_numpy(dtype=object)
    column = ids[np.arange(100_000) % len(ids)]
    cells = udfs.ATLAS_PAYOUT([[c] for c in column], day, *four(t))
    want = result.payouts.set_index("client_id")["amount_cents"].reindex(column) / 100
    assert len(cells) == 100_000 and _column(cells) == want.tolist()
    assert xe.CACHE.misses == 1


def test_a_100000_row_settlements_table_equals_the_csv_path(tmp_path: Path) -> None:
    write_csv(generate_portfolio(clients=274, days=365, seed=3), tmp_path)  # 274 x 365 = 100,010 rows
    portfolio = load_portfolio(tmp_path)
    assert len(portfolio.settlements) >= 100_000
    result = run_engines(portfolio, None, Settings())
    t = raw_tables(portfolio)
    for row in t["settlements"][1:]:
        row[1] = float(date_to_serial(row[1].date()))  # an unformatted date column: serial numbers
    day = float(date_to_serial(result.as_of))
    ids = [[c] for c in portfolio.clients["client_id"]]
    want = result.reserves[result.reserves["reserve"] == "rolling"].set_index("client_id")["balance_cents"]
    got = udfs.ATLAS_RESERVE(ids, day, t["settlements"], t["reserve_terms"])
    assert _column(got) == (want.reindex(portfolio.clients["client_id"]) / 100).tolist()
    assert _column(udfs.ATLAS_PAYOUT(ids, day, *four(t))) == (result.payouts["amount_cents"] / 100).tolist()


# ---------------------------------------------------------------------------------------------- bad args
@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t["reserve_terms"][1].__setitem__(3, -1.0),
     "#ATLAS! Excel, sheet reserve_terms, row 2, column hold_days: must be at least 0"),
    (lambda t: t["settlements"][2].__setitem__(3, 12.345),
     "#ATLAS! Excel, sheet settlements, row 3, column sales: "),
    (lambda t: t["settlements"][1].__setitem__(1, 60.0),
     "#ATLAS! settlements.value_date row 2 serial 60 is 1900-02-29, which does not exist"),
    (lambda t: t["settlements"][1].__setitem__(0, "C7"),
     "#ATLAS! Excel, sheet settlements, row 2, column client_id: unknown client id"),
    (lambda t: t.__setitem__("settlements", t["settlements"][1:]),
     "#ATLAS! settlements first row (C1, "),
    (lambda t: t["settlements"][1].__setitem__(3, "1.000,00"),
     "#ATLAS! Excel, sheet settlements, row 2, column sales: "),
])
def test_bad_tables_give_a_readable_message(change: object, message: str) -> None:
    t = small()
    change(t)  # type: ignore[operator]
    got = udfs.ATLAS_PAYOUT("C1", JAN3, *four(t))
    assert isinstance(got, str) and got.startswith(message), got
    assert "\n" not in got and len(got) <= 255


@pytest.mark.parametrize(("call", "message"), [
    (lambda t: udfs.ATLAS_PAYOUT("C1", None, *four(t)), "#ATLAS! payout_date is blank; expected a date"),
    (lambda t: udfs.ATLAS_EXPOSURE("C1", [[JAN2], [JAN3]], *four(t)), "#ATLAS! as_of must be a single cell"),
    (lambda t: udfs.ATLAS_PAYOUT(None, JAN3, *four(t)), "#ATLAS! client_id is blank"),
    (lambda t: udfs.ATLAS_PAYOUT("C9", JAN3, *four(t)), "#ATLAS! client_id 'C9' is not in the clients table"),
    (lambda t: udfs.ATLAS_RESERVE("C1", JAN3, t["settlements"], t["reserve_terms"], "weekly"),
     "#ATLAS! reserve 'weekly' is not one of rolling, partner"),
    (lambda t: udfs.ATLAS_LIMIT_STATUS("C1", JAN3, *four(t), 0.9, 0.5), "#ATLAS! warning threshold 0.9000 must"),
    (lambda t: udfs.ATLAS_LIMIT_STATUS("C1", JAN3, *four(t), "lots"), "#ATLAS! warning 'lots' is not a number"),
    (lambda t: udfs.ATLAS_RESERVE_RELEASES("C9", JAN3, t["settlements"], t["reserve_terms"]),
     "#ATLAS! client_id 'C9' is not in the settlements / reserve_terms tables"),
    (lambda t: udfs.ATLAS_PAYOUT("C1", JAN3, t["clients"], [], t["loans"], t["reserve_terms"]),
     "#ATLAS! settlements is empty"),
])
def test_bad_arguments_give_a_readable_message(call: object, message: str) -> None:
    got = call(small())  # type: ignore[operator]
    assert isinstance(got, str) and got.startswith(message), got


def test_lru_is_bounded() -> None:
    t = small()
    for day in range(xe.CACHE_SIZE + 3):
        udfs.ATLAS_PAYOUT("C1", 45294.0 + day, *four(t))
    assert len(xe.CACHE.items) == xe.CACHE_SIZE and xe.CACHE.misses == xe.CACHE_SIZE + 3


def test_a_cell_holding_half_a_utf16_pair_is_located_not_an_internal_error() -> None:
    # Excel strings are UTF-16 and may hold an unpaired surrogate, which no UTF-8 text can carry; before,
    # the cell came back as "#ATLAS! internal error: UnicodeEncodeError"
    t = small()
    t["clients"][1][1] = "Bad \ud800 name"
    assert udfs.ATLAS_READINESS("C1", JAN3, *four(t)) == (
        "#ATLAS! Excel, sheet clients, row 2, column name: contains the unpaired surrogate U+D800, which is not "
        "text; retype the cell (value 'Bad <U+D800> name')")
    t = small()
    t["settlements"][1][0] = "C\udc01"
    assert udfs.ATLAS_PAYOUT("C1", JAN3, *four(t)).startswith(
        "#ATLAS! Excel, sheet settlements, row 2, column client_id: contains the unpaired surrogate U+DC01")
