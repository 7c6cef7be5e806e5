"""A fictitious example portfolio: four raw tables exactly as they are written to files.

Deterministic for a seed (numpy Generator). Settlements (one row per client per calendar day) are
generated vectorised as int64 cents; every amount is formatted from integer cents (2 decimals, ROUND_HALF_UP
via atlas_xl.domain.money.apply_rate where a rate is applied), never from a float. The random draws that shape
the fictitious volumes are floats, but each is turned into whole cents once, before any arithmetic.

The bundled set (40 clients, 365 days, seed 7, end 2026-11-23) holds the documented cases at fixed client
ids (see CASES and example_data/README.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from atlas_xl.domain.model import EXCEL_MAX_ROWS, TABLES
from atlas_xl.domain.money import apply_rate
from atlas_xl.domain.schemas import SCHEMAS
from atlas_xl.errors import ArgumentError
from atlas_xl.outputs.files import replacing
from atlas_xl.outputs.xlsafe import FORMULA_TRIGGER_CLASS

END_DATE = dt.date(2026, 11, 23)

COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "AT", "BE", "FI", "IE", "PT")
LEGAL_FORM = {"DE": "GmbH", "FR": "SARL", "NL": "B.V.", "ES": "S.L.", "IT": "S.r.l.", "AT": "GmbH",
              "BE": "BV", "FI": "Oy", "IE": "Ltd", "PT": "Lda"}
# (bank code, branch code) of real banks, so schwifty derives the BIC from its registry
BANKS = {
    "DE": (("37040044", ""), ("50010517", "")),
    "FR": (("30004", "00001"),),
    "NL": (("ABNA", ""), ("INGB", "")),
    "ES": (("0049", "0001"), ("2100", "0001")),
    "IT": (("03069", "01600"),),
    "AT": (("20111", ""),),
    "BE": (("001", ""), ("310", "")),
    "FI": (("100", ""),),
    "IE": (("AIBK", "931152"),),
    "PT": (("0035", "0001"), ("0033", "0000")),
}
TRADES = ("Bakery", "Bike Shop", "Bookstore", "Florist", "Hardware", "Pharmacy", "Toy Store", "Tailor",
          "Wine Bar", "Coffee Roasters", "Garden Centre", "Optician", "Pet Supplies", "Stationery")

# Fixed client numbers of the documented cases (client_id = client_code(number)).
CASES = {
    "baseline_daily": 1,
    "blocked": 2,
    "kyc_pending": 3,
    "invalid_iban": 4,
    "negative_opening_balance": 5,
    "over_credit_limit": 6,
    "near_credit_limit": 7,
    "reserve_release_on_target2_holiday": 8,
    "term_loan_paid_off": 9,
    "usd_settlement_row": 10,
}
HOSTILE_NAMES = (
    '=HYPERLINK("http://x","click")', "@SUM(1+1)", "+1-1", "-2+3", "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>', "</script><script>alert(2)</script>", "Zoë & Søn <Ltd> #1",
    "Ünïcødé Straße Ærø", "\tTab Leading Name", "\rCR Leading Name", "../../etc/passwd",
)
HOSTILE_FROM = 21  # hostile names replace the names of clients 21, 22, ... (not the documented cases)
# Term loans of every method x frequency x day count at clients 11-16; factoring advances at 17-18.
TERM_LOANS = {
    11: ("annuity", "monthly", "30/360", 24, 50_000_00, 75_000),
    12: ("linear", "monthly", "ACT/360", 12, 30_000_00, 90_000),
    13: ("bullet", "monthly", "ACT/365F", 12, 25_000_00, 65_000),
    14: ("annuity", "weekly", "ACT/365F", 52, 10_000_00, 120_000),
    15: ("linear", "weekly", "30/360", 26, 8_000_00, 100_000),
    16: ("bullet", "weekly", "ACT/360", 20, 5_000_00, 110_000),
}


def client_code(number: int, clients: int = 40) -> str:
    """Client number 1 -> 'C00001' (at least 5 digits so the case ids are the same for every size)."""
    return f"C{number:0{max(5, len(str(clients)))}d}"


def generate_portfolio(clients: int = 40, days: int = 365, seed: int = 7, end_date: dt.date = END_DATE,
                       hostile: bool = False) -> dict[str, pd.DataFrame]:
    """The four raw tables (amounts and rates as text, dates ISO text, counts as int64)."""
    if clients < 1 or days < 1:
        raise ArgumentError(f"clients={clients}, days={days}; expected at least 1 client and 1 day")
    if clients > 1_000_000 or days > 3660:
        raise ArgumentError(f"clients={clients}, days={days}; expected at most 1,000,000 clients, 3660 days")
    rng = np.random.default_rng(seed)
    start = end_date - dt.timedelta(days=days - 1)
    numbers = np.arange(1, clients + 1)
    ids = np.array([client_code(int(n), clients) for n in numbers], dtype=object)
    profile = _client_profile(rng, numbers)
    tables = {
        "clients": _clients(rng, numbers, ids, profile, hostile),
        "settlements": _settlements(rng, numbers, ids, profile, start, days, end_date),
        "loans": _loans(rng, numbers, ids, start, end_date),
        "reserve_terms": _reserve_terms(rng, numbers, ids),
    }
    return tables


# ---------------------------------------------------------------------------------------------- clients
def _client_profile(rng: np.random.Generator, numbers: np.ndarray) -> dict[str, np.ndarray]:
    n = numbers.size
    daily_sales = np.round(rng.lognormal(np.log(1_500), 0.6, n) * 100).astype(np.int64)  # cents per day
    daily_sales[numbers == CASES["negative_opening_balance"]] = 30_00  # low volume: stays negative
    daily_sales[numbers == CASES["near_credit_limit"]] = 300_00
    return {"daily_sales": daily_sales, "fee_ppm": rng.integers(9_000, 25_001, n)}


def _clients(rng: np.random.Generator, numbers: np.ndarray, ids: np.ndarray, profile: dict,
             hostile: bool) -> pd.DataFrame:
    n = numbers.size
    country = np.array([COUNTRIES[(k - 1) % len(COUNTRIES)] for k in numbers], dtype=object)
    trade = rng.integers(0, len(TRADES), n)
    names = np.array([f"Example {TRADES[t]} {k:03d} {LEGAL_FORM[c]}" for k, t, c in zip(numbers, trade, country,
                                                                                         strict=True)],
                     dtype=object)
    if hostile:
        for offset, text in enumerate(HOSTILE_NAMES):
            if HOSTILE_FROM + offset <= n:
                names[HOSTILE_FROM + offset - 1] = text
    ibans, bics = _accounts(rng, country)
    frequency = np.array(["daily", "weekly", "monthly"], dtype=object)[(numbers - 1) % 3]
    status = np.full(n, "active", dtype=object)
    kyc = np.full(n, "verified", dtype=object)
    credit_limit = rng.choice(np.array([50_000_00, 100_000_00, 250_000_00, 500_000_00]), n)
    min_payout = rng.choice(np.array([0, 50_00, 100_00, 250_00]), n)
    withhold_ppm = np.zeros(n, dtype=np.int64)
    opening = rng.integers(0, 5_000_00, n)

    def at(case: str) -> np.ndarray:
        return numbers == CASES[case]

    frequency[at("baseline_daily") | at("reserve_release_on_target2_holiday")] = "daily"
    status[at("blocked")] = "blocked"
    kyc[at("kyc_pending")] = "pending"
    ibans[at("invalid_iban")] = [_break_check_digits(i) for i in ibans[at("invalid_iban")]]
    opening[at("negative_opening_balance")] = -50_000_00
    credit_limit[at("over_credit_limit") | at("near_credit_limit")] = 100_000_00
    factoring = np.isin(numbers, [CASES["over_credit_limit"], CASES["near_credit_limit"], 17, 18]) | (
        (numbers > 24) & (numbers % 7 == 0))
    withhold_ppm[factoring] = rng.choice(np.array([100_000, 150_000, 200_000, 250_000]), int(factoring.sum()))
    withhold_ppm[at("near_credit_limit")] = 100_000
    return pd.DataFrame({
        "client_id": ids,
        "name": names,
        "country": country,
        "iban": ibans,
        "bic": bics,
        "status": status,
        "kyc_status": kyc,
        "credit_limit": _cents_text(credit_limit),
        "payout_frequency": frequency,
        "min_payout": _cents_text(min_payout),
        "factoring_withhold_rate": _rate_text(withhold_ppm),
        "opening_balance": _cents_text(opening),
    }).astype("str")


def _accounts(rng: np.random.Generator, country: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valid IBANs (national check digits included) at real banks, BIC from schwifty's bank registry."""
    from schwifty import IBAN

    ibans = np.empty(country.size, dtype=object)
    bics = np.empty(country.size, dtype=object)
    for i, code in enumerate(country):
        bank_code, branch = BANKS[code][int(rng.integers(0, len(BANKS[code])))]
        while True:  # some national schemes reject an account number: draw again (deterministic)
            account = str(int(rng.integers(10_000, 9_999_999)))
            try:
                iban = IBAN.generate(code, bank_code=bank_code, account_code=account, branch_code=branch)
                iban.validate(validate_bban=True)
            except ValueError:
                continue
            break
        ibans[i] = str(iban)
        bics[i] = str(iban.bic) if iban.bic else ""
    return ibans, bics


def _break_check_digits(iban: str) -> str:
    """The same IBAN with wrong check digits (each account has exactly one valid pair in 02..98)."""
    digits = int(iban[2:4])
    wrong = (digits - 2 + 1) % 97 + 2
    return f"{iban[:2]}{wrong:02d}{iban[4:]}"


# ---------------------------------------------------------------------------------------------- settlements
def _settlements(rng: np.random.Generator, numbers: np.ndarray, ids: np.ndarray, profile: dict,
                 start: dt.date, days: int, end_date: dt.date) -> pd.DataFrame:
    n_clients = numbers.size
    dates = np.arange(np.datetime64(start, "D"), np.datetime64(end_date, "D") + 1)
    day_index = np.repeat(np.arange(days), n_clients)  # date-major: one block of all clients per day
    client_index = np.tile(np.arange(n_clients), days)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday -> Monday = 0
    weekday_ppm = np.array([900_000, 950_000, 1_000_000, 1_050_000, 1_300_000, 1_450_000, 550_000])
    rows = day_index.size
    noise_ppm = np.round(rng.lognormal(0.0, 0.25, rows) * 1_000_000).astype(np.int64)
    base = profile["daily_sales"][client_index]
    sales = apply_rate(apply_rate(base, weekday_ppm[weekday[day_index]]), noise_ppm)
    refunds = apply_rate(sales, rng.integers(0, 30_001, rows))
    chargeback_hit = rng.random(rows) < 0.01
    chargebacks = np.where(chargeback_hit, apply_rate(sales, rng.integers(50_000, 300_001, rows)), 0)
    fees = apply_rate(sales, profile["fee_ppm"][client_index])
    date_text = pa.array(np.datetime_as_string(dates, unit="D").astype(object), pa.string())
    id_text = pa.array(ids.astype(object), pa.string())
    table = pa.table({
        "client_id": id_text.take(pa.array(client_index)),
        "value_date": date_text.take(pa.array(day_index)),
        "currency": pa.repeat(pa.scalar("EUR"), rows),
        "sales": _cents_arrow(sales),
        "refunds": _cents_arrow(refunds),
        "chargebacks": _cents_arrow(chargebacks),
        "fees": _cents_arrow(fees),
    })
    usd_case = CASES["usd_settlement_row"]
    if usd_case <= n_clients:
        # the same client also settled a USD sale 30 days before the end: refused by the non-EUR rule
        usd_day = max(days - 31, 0)
        usd = pa.table({
            "client_id": [str(ids[usd_case - 1])], "value_date": [date_text[usd_day].as_py()],
            "currency": ["USD"], "sales": ["1250.00"], "refunds": ["0.00"], "chargebacks": ["0.00"],
            "fees": ["18.75"],
        })
        at = (usd_day + 1) * n_clients  # right after that day's block
        table = pa.concat_tables([table.slice(0, at), usd, table.slice(at)])
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)


# ---------------------------------------------------------------------------------------------- loans
def _loans(rng: np.random.Generator, numbers: np.ndarray, ids: np.ndarray, start: dt.date,
           end_date: dt.date) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    per_client: dict[str, int] = {}
    count = numbers.size

    def add(number: int, product: str, principal: int, rate_ppm: int, begin: dt.date, periods: int,
            method: str, frequency: str, day_count: str) -> None:
        if number <= count:
            client = str(ids[number - 1])
            per_client[client] = per_client.get(client, 0) + 1
            rows.append({"loan_id": f"L-{client}-{per_client[client]}", "client_id": client,
                         "product": product, "principal": principal, "annual_rate": rate_ppm,
                         "start_date": max(begin, start), "periods": periods,
                         "method": method, "frequency": frequency, "day_count": day_count})

    # over the limit: a 250,000 advance against a 100,000 limit
    add(CASES["over_credit_limit"], "factoring", 250_000_00, 80_000, end_date - dt.timedelta(days=60), 1,
        "bullet", "monthly", "ACT/360")
    # near the limit: 90,000 advanced 10 days before the end, ~0.1 x small payouts withheld since -> ~90 %
    add(CASES["near_credit_limit"], "factoring", 90_000_00, 60_000, end_date - dt.timedelta(days=10), 1,
        "bullet", "monthly", "ACT/360")
    # a six-month annuity that starts a week into the data and is repaid long before the end
    add(CASES["term_loan_paid_off"], "term_loan", 20_000_00, 70_000, start + dt.timedelta(days=7), 6,
        "annuity", "monthly", "30/360")
    for number, (method, frequency, day_count, periods, principal, rate) in TERM_LOANS.items():
        add(number, "term_loan", principal, rate, start + dt.timedelta(days=14 + number), periods, method,
            frequency, day_count)
    add(17, "factoring", 40_000_00, 90_000, start + dt.timedelta(days=45), 1, "bullet", "monthly", "ACT/365F")
    add(18, "factoring", 15_000_00, 85_000, start + dt.timedelta(days=120), 1, "bullet", "monthly", "30/360")
    # larger portfolios: every 7th client from 25 on has a factoring advance, every 5th a term loan
    extra = numbers[(numbers > 24) & ((numbers % 7 == 0) | (numbers % 5 == 0))]
    offsets = rng.integers(0, max((end_date - start).days, 1), extra.size)
    principals = rng.integers(50, 1_000, extra.size) * 100_00
    methods = np.array(["annuity", "linear", "bullet"])[rng.integers(0, 3, extra.size)]
    day_counts = np.array(["30/360", "ACT/360", "ACT/365F"])[rng.integers(0, 3, extra.size)]
    for k, number in enumerate(extra):
        begin = start + dt.timedelta(days=int(offsets[k]))
        if number % 7 == 0:
            add(int(number), "factoring", int(principals[k]), 80_000, begin, 1, "bullet", "monthly",
                str(day_counts[k]))
        if number % 5 == 0:
            weekly = number % 2 == 0
            add(int(number), "term_loan", int(principals[k]), 95_000, begin, 26 if weekly else 12,
                str(methods[k]), "weekly" if weekly else "monthly", str(day_counts[k]))
    frame = pd.DataFrame(rows, columns=list(SCHEMAS["loans"].column_names))
    frame["principal"] = _cents_text(frame["principal"].to_numpy(dtype=np.int64))
    frame["annual_rate"] = _rate_text(frame["annual_rate"].to_numpy(dtype=np.int64))
    frame["start_date"] = [d.isoformat() for d in frame["start_date"]]
    frame["periods"] = frame["periods"].astype("int64")
    return _text_columns(frame)


# ---------------------------------------------------------------------------------------------- reserves
def _reserve_terms(rng: np.random.Generator, numbers: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    rows: list[tuple] = []
    count = numbers.size
    blank = None

    def add(number: int, reserve: str, rate_ppm: int, hold: int, basis: str, cap: int | None, fixed: int,
            minimum: int) -> None:
        if number <= count:
            rows.append((ids[number - 1], reserve, rate_ppm, hold, basis, cap, fixed, minimum))

    # 10 % held 7 calendar days: sales of 2026-03-27 release on Good Friday 2026-04-03, of 2026-03-30 on
    # Easter Monday 2026-04-06, of 2025-12-18/19 on Christmas 2025-12-25/26 (all TARGET2 closing days)
    add(CASES["reserve_release_on_target2_holiday"], "rolling", 100_000, 7, "calendar", 20_000_00, 0, 0)
    add(1, "rolling", 50_000, 30, "banking", blank, 0, 0)
    add(19, "partner", 20_000, 10, "banking", blank, 5_000_00, 2_000_00)  # fixed amount + min balance
    add(19, "rolling", 50_000, 60, "calendar", 15_000_00, 0, 0)
    add(20, "rolling", 80_000, 5, "banking", 3_000_00, 0, 0)  # small cap, reached quickly
    add(20, "partner", 25_000, 90, "calendar", blank, 1_000_00, 500_00)
    fixed = {1, 5, 8, 19, 20}
    others = numbers[~np.isin(numbers, list(fixed))]
    rolling = rng.random(others.size) < 0.6
    partner = rng.random(others.size) < 0.25
    holds = rng.choice(np.array([7, 14, 30, 60, 90]), others.size)
    bases = np.array(["calendar", "banking"])[rng.integers(0, 2, others.size)]
    rates = rng.choice(np.array([20_000, 50_000, 100_000]), others.size)
    caps = rng.choice(np.array([-1, 10_000_00, 50_000_00]), others.size)
    for k, number in enumerate(others):
        cap = None if caps[k] < 0 else int(caps[k])
        if rolling[k]:
            add(int(number), "rolling", int(rates[k]), int(holds[k]), str(bases[k]), cap, 0, 0)
        if partner[k]:
            add(int(number), "partner", 20_000, 60, "calendar", None, 1_000_00, 0)
    columns = list(SCHEMAS["reserve_terms"].column_names)
    frame = pd.DataFrame(rows, columns=columns).sort_values(["client_id", "reserve"], kind="stable")
    frame["rate"] = _rate_text(frame["rate"].to_numpy(dtype=np.int64))
    cap_cents = frame["cap"].to_numpy(dtype=float)  # NaN marks "no cap"; whole cents, exact in float64
    frame["cap"] = np.where(np.isnan(cap_cents), "", _cents_text(np.nan_to_num(cap_cents).astype(np.int64)))
    frame["fixed_amount"] = _cents_text(frame["fixed_amount"].to_numpy(dtype=np.int64))
    frame["min_balance"] = _cents_text(frame["min_balance"].to_numpy(dtype=np.int64))
    frame["hold_days"] = frame["hold_days"].astype("int64")
    return _text_columns(frame.reset_index(drop=True))


# ---------------------------------------------------------------------------------------------- formatting
def _cents_text(cents: np.ndarray) -> list[str]:
    """int64 cents -> '1234.56' / '-0.05' text (small tables)."""
    return _cents_arrow(cents).to_pylist()


def _cents_arrow(cents: np.ndarray) -> pa.Array:
    """int64 cents -> '1234.56' / '-0.05' text, vectorised with pyarrow string kernels."""
    cents = np.asarray(cents, dtype=np.int64)
    absolute = np.abs(cents)
    whole = pc.cast(pa.array(absolute // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(absolute % 100), pa.string()), width=2, padding="0")
    text = pc.binary_join_element_wise(whole, frac, ".")
    return pc.if_else(pa.array(cents < 0), pc.binary_join_element_wise("-", text, ""), text)


def _rate_text(ppm: np.ndarray) -> np.ndarray:
    """int64 ppm -> the shortest exact fraction text: 100000 -> '0.1', 12500 -> '0.0125'."""
    return np.array([format(Decimal(int(p)).scaleb(-6).normalize(), "f") for p in ppm], dtype=object)


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != np.int64:
            out[column] = out[column].astype("str")
    return out


# ---------------------------------------------------------------------------------------------- writers
def guard_formula_text(table: str, data: pa.Table) -> pa.Table:
    """Free-text columns: a value Excel would evaluate (=, +, -, @, tab, CR first) gets one leading
    apostrophe, so the CSV opened in a spreadsheet shows it as text; the loader removes it again."""
    for spec in SCHEMAS[table].columns:
        if spec.kind == "text" and spec.name in data.column_names:
            i = data.column_names.index(spec.name)
            guarded = pc.replace_substring_regex(data.column(i), f"^({FORMULA_TRIGGER_CLASS})", r"'\1")
            data = data.set_column(i, spec.name, guarded)
    return data


def write_csv(tables: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write <table>.csv (UTF-8, header row) for the four tables; each file appears whole or not at all."""
    out = Path(out_dir)
    with contextlib.ExitStack() as staged:  # every file renamed into place only once all are written
        for table in TABLES:
            data = guard_formula_text(table, pa.Table.from_pandas(tables[table], preserve_index=False))
            needs_quotes = any(
                (pa.types.is_string(data.schema.field(i).type) or pa.types.is_large_string(data.schema.field(i).type))
                and pc.any(pc.match_substring_regex(data.column(i), r'[,"\r\n]')).as_py()
                for i in range(data.num_columns))
            temp = staged.enter_context(replacing(out / f"{table}.csv"))
            pacsv.write_csv(data, str(temp), pacsv.WriteOptions(
                quoting_style="needed" if needs_quotes else "none", include_header=True))
    return [out / f"{table}.csv" for table in TABLES]


def write_xlsx(tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """One sheet per table: amounts and rates as numbers, dates as dates, every text via xlsafe."""
    from openpyxl import Workbook

    from atlas_xl.outputs.xlsafe import safe_cell

    path = Path(path)
    for table in TABLES:
        if len(tables[table]) + 1 > EXCEL_MAX_ROWS:
            raise ArgumentError(f"{table} has {len(tables[table]):,} rows; a sheet holds at most "
                                f"{EXCEL_MAX_ROWS - 1:,} data rows: write CSV only (--no-xlsx) or fewer clients/days")
    workbook = Workbook(write_only=True)
    for table in TABLES:
        sheet = workbook.create_sheet(table)
        spec = SCHEMAS[table]
        sheet.append([safe_cell(sheet, name) for name in spec.column_names])
        columns = [_cells(tables[table][c.name], c.kind) for c in spec.columns]
        for row in zip(*columns, strict=True):
            sheet.append([safe_cell(sheet, value) for value in row])
    with replacing(path) as temp:
        workbook.save(temp)
    return path


def _cells(series: pd.Series, kind: str) -> list[object]:
    values = series.tolist()
    if kind in ("amount", "rate"):
        # shortest-repr floats: 1234.56 is stored as the double that prints as 1234.56 and reloads exactly
        return [float(v) if v not in ("", None) else None for v in values]
    if kind == "date":
        return [dt.date.fromisoformat(v) for v in values]
    if kind == "int":
        return [int(v) for v in values]
    return [str(v) for v in values]
