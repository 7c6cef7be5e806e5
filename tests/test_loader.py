"""The validated loader: exact conversion, one LoadError listing every problem, unsafe workbooks refused."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_xl.domain.model import TABLES
from atlas_xl.domain.schemas import SCHEMAS, markdown_table
from atlas_xl.errors import LoadError, Problem, UnsafeInputError
from atlas_xl.inputs import validate
from atlas_xl.inputs.portfolio import load_portfolio, portfolio_from_tables
from tests.frame_schemas import frame_schema

# A minimal valid portfolio, as CSV text (row numbers as the user sees them: header = 1).
GOOD = {
    "clients": [
        "client_id,name,country,iban,bic,status,kyc_status,credit_limit,payout_frequency,min_payout,"
        "factoring_withhold_rate,opening_balance",
        "A1,Example Bakery 001 GmbH,DE,DE89370400440532013000,COBADEFFXXX,active,verified,100000.00,daily,"
        "50.00,0.15,-12.5",
        "B2,Example Florist 002 SARL,FR,FR7630004000010000001234558,BNPAFRPP,blocked,pending,0,weekly,0,0,0.00",
    ],
    "settlements": [
        "client_id,value_date,currency,sales,refunds,chargebacks,fees",
        "A1,2026-03-02,EUR,1234.56,10.00,0.00,18.52",
        "A1,2026-03-03,EUR,100.1,0,0,1.5",
        "B2,2026-03-02,EUR,0.01,0,0,0",
        "B2,2026-03-02,USD,500.00,0,0,7.50",
    ],
    "loans": [
        "loan_id,client_id,product,principal,annual_rate,start_date,periods,method,frequency,day_count",
        "L1,A1,factoring,25000.00,0.085,2026-01-15,1,bullet,monthly,ACT/360",
        "L2,B2,term_loan,10000,0.0725,2026-02-01,12,annuity,weekly,30/360",
    ],
    "reserve_terms": [
        "client_id,reserve,rate,hold_days,hold_basis,cap,fixed_amount,min_balance",
        "A1,rolling,0.1,7,calendar,,0,0",
        "A1,partner,0.025,10,banking,5000.00,1000.00,250.5",
    ],
}


def write_folder(folder: Path, **changes: list[str] | bytes | None) -> Path:
    """Write GOOD with some tables replaced (list of lines, raw bytes, or None to leave the file out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        content = changes.get(table, GOOD[table])
        if content is None:
            continue
        data = content if isinstance(content, bytes) else ("\n".join(content) + "\n").encode()
        (folder / f"{table}.csv").write_bytes(data)
    return folder


def with_row(table: str, row: int, text: str) -> list[str]:
    """GOOD[table] with the line at user row `row` (header = 1) replaced."""
    lines = list(GOOD[table])
    lines[row - 1] = text
    return lines


def problems_of(path: Path) -> tuple[Problem, ...]:
    with pytest.raises(LoadError) as caught:
        load_portfolio(path)
    return caught.value.problems


def only(problems: tuple[Problem, ...]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# ---------------------------------------------------------------------------------------------- good data
def test_good_folder_loads_exact_values(tmp_path):
    p = load_portfolio(write_folder(tmp_path))
    c = p.clients
    assert c["credit_limit_cents"].tolist() == [10_000_000, 0]  # 100000.00 EUR = 10,000,000 cents
    assert c["opening_balance_cents"].tolist() == [-1250, 0]  # "-12.5" -> -12.50 EUR
    assert c["factoring_withhold_rate_ppm"].tolist() == [150_000, 0]  # 0.15 = 150,000 ppm
    s = p.settlements
    assert s["sales_cents"].tolist() == [123_456, 10_010, 1]  # 1234.56 / 100.1 / 0.01
    assert s["fees_cents"].tolist() == [1852, 150, 0]
    assert s["source_row"].tolist() == [2, 3, 4]  # the USD row (5) is refused
    assert s["value_date"].tolist() == [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03"),
                                        pd.Timestamp("2026-03-02")]
    assert p.loans["annual_rate_ppm"].tolist() == [85_000, 72_500]
    assert p.loans["periods"].tolist() == [1, 12]
    r = p.reserve_terms
    assert r["cap_cents"].tolist() == [-1, 500_000]  # blank cap = no cap = -1
    assert r["min_balance_cents"].tolist() == [0, 25_050]
    assert p.sources[0] == ("clients", "clients.csv")


def test_loaded_frames_match_the_declared_pandera_schemas(example_data_dir):
    p = load_portfolio(example_data_dir)
    for table in TABLES:
        frame_schema(table).validate(getattr(p, table), lazy=True)
        assert tuple(getattr(p, table).columns) == SCHEMAS[table].loaded_columns
    assert p.settlements["value_date"].dtype == "datetime64[ns]"
    assert p.settlements["sales_cents"].dtype == np.int64


def test_example_data_csv_and_xlsx_give_identical_frames(example_data_dir):
    from_csv = load_portfolio(example_data_dir)
    from_xlsx = load_portfolio(example_data_dir / "portfolio.xlsx")
    for table in (*TABLES, "refused"):
        pd.testing.assert_frame_equal(getattr(from_csv, table), getattr(from_xlsx, table))
    assert from_xlsx.sources[1] == ("settlements", "portfolio.xlsx, sheet settlements")
    assert len(from_csv.settlements) == 40 * 365


def test_non_eur_row_is_refused_with_reason(tmp_path):
    p = load_portfolio(write_folder(tmp_path))
    assert p.refused.to_dict("records") == [{
        "table": "settlements", "source_row": 5, "client_id": "B2",
        "reason": "currency USD is not EUR: only EUR settlements are processed (no FX conversion); "
                  "value date 2026-03-02, sales 500.00 USD"}]
    assert "USD" not in set(p.settlements["currency"])


def test_utf8_bom_blank_lines_and_crlf_are_accepted(tmp_path):
    text = "\r\n".join(GOOD["settlements"][:3] + ["", *GOOD["settlements"][3:]]) + "\r\n"
    p = load_portfolio(write_folder(tmp_path, settlements=b"\xef\xbb\xbf" + text.encode()))
    assert p.settlements["source_row"].tolist() == [2, 3, 5]  # the blank line 4 is skipped but counted


# ---------------------------------------------------------------------------------------------- one per kind
def test_missing_column(tmp_path):
    lines = [line.rsplit(",", 1)[0] for line in GOOD["settlements"]]  # drop "fees"
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.file, problem.row, problem.column) == ("settlements.csv", 1, "fees")
    assert problem.message.startswith("missing column 'fees'")


def test_extra_column(tmp_path):
    lines = [GOOD["loans"][0] + ",note"] + [line + ",x" for line in GOOD["loans"][1:]]
    problem = only(problems_of(write_folder(tmp_path, loans=lines)))
    assert (problem.file, problem.row, problem.column, problem.value) == ("loans.csv", 1, "note", "note")
    assert "unexpected column" in problem.message


def test_bad_date(tmp_path):
    lines = with_row("settlements", 3, "A1,2026-02-30,EUR,100.1,0,0,1.5")  # no 30 February
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.file, problem.row, problem.column, problem.value) == ("settlements.csv", 3, "value_date",
                                                                          "2026-02-30")
    assert problem.message.startswith("not a valid date; expected a date YYYY-MM-DD")


def test_non_numeric_amount(tmp_path):
    lines = with_row("settlements", 2, "A1,2026-03-02,EUR,\"1,234.56\",10.00,0.00,18.52")
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.column, problem.value) == (2, "sales", "1,234.56")
    assert problem.message.startswith("not a number")


def test_amount_too_large(tmp_path):
    lines = with_row("settlements", 2, "A1,2026-03-02,EUR,10000000000.00,10.00,0.00,18.52")  # 10 billion
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.column, problem.value) == (2, "sales", "10000000000.00")
    assert problem.message.startswith("too large")


def test_amount_with_more_than_two_decimals(tmp_path):
    lines = with_row("settlements", 2, "A1,2026-03-02,EUR,1234.567,10.00,0.00,18.52")
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.column, problem.value) == (2, "sales", "1234.567")
    assert problem.message.startswith("more than 2 decimals")


@pytest.mark.parametrize(("line", "column", "value", "message"), [
    ("L2,B2,term_loan,10000,0.0725001,2026-02-01,12,annuity,weekly,30/360", "annual_rate", "0.0725001",
     "more than 6 decimals"),
    # the schedules compute cents x ppm x days in int64 up to 1,000,000,000.00 EUR a loan
    # (model.MAX_PRINCIPAL_CENTS); the loader used to let 10 digits through and the engine then refused
    # them without a file or row
    ("L2,B2,term_loan,1000000000.01,0.0725,2026-02-01,12,annuity,weekly,30/360", "principal", "1000000000.01",
     "must be at most 1000000000;"),
])
def test_a_bad_loan_cell_is_a_located_problem(tmp_path, line: str, column: str, value: str, message: str):
    problem = only(problems_of(write_folder(tmp_path, loans=with_row("loans", 3, line))))
    assert (problem.file, problem.row, problem.column, problem.value) == ("loans.csv", 3, column, value)
    assert problem.message.startswith(message)


def test_bad_enum(tmp_path):
    lines = with_row("loans", 2, "L1,A1,factoring,25000.00,0.085,2026-01-15,1,balloon,monthly,ACT/360")
    problem = only(problems_of(write_folder(tmp_path, loans=lines)))
    assert (problem.row, problem.column, problem.value) == (2, "method", "balloon")
    assert problem.message == "not an allowed value; expected one of annuity, linear, bullet"


def test_unknown_client_id(tmp_path):
    lines = with_row("reserve_terms", 3, "ZZ9,partner,0.025,10,banking,5000.00,1000.00,250.5")
    problem = only(problems_of(write_folder(tmp_path, reserve_terms=lines)))
    assert (problem.file, problem.row, problem.column, problem.value) == ("reserve_terms.csv", 3, "client_id",
                                                                          "ZZ9")
    assert problem.message.startswith("unknown client id")


def test_duplicate_key(tmp_path):
    lines = with_row("settlements", 3, "A1,2026-03-02,EUR,100.1,0,0,1.5")  # same client/date/currency as 2
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.column) == (3, "client_id")
    assert problem.value == "client_id=A1, value_date=2026-03-02, currency=EUR"
    assert problem.message == "duplicate key (client_id, value_date, currency); first on row 2"


def test_duplicate_key_after_trimming_and_case(tmp_path):
    # " A1" is the id A1 once trimmed and "eur" the currency EUR once upper-cased: the same key as row 2
    lines = with_row("settlements", 3, " A1,2026-03-02,eur,100.1,0,0,1.5")
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.message) == (3, "duplicate key (client_id, value_date, currency); first on row 2")


def test_duplicate_among_many_rows_is_found(tmp_path):
    # 3,000 distinct (client, day) keys, then row 3,002 repeats the key of row 1,502
    rows = [f"A1,{(dt.date(2020, 1, 1) + dt.timedelta(days=i)).isoformat()},EUR,1.00,0,0,0" for i in range(3000)]
    rows.append(rows[1500])
    lines = [GOOD["settlements"][0], *rows]
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.message) == (3002, "duplicate key (client_id, value_date, currency); "
                                                    "first on row 1502")


def test_negative_limit_and_amount(tmp_path):
    clients = with_row("clients", 3, "B2,Example Florist 002 SARL,FR,FR7630004000010000001234558,BNPAFRPP,"
                                     "blocked,pending,-1.00,weekly,0,0,0.00")
    settlements = with_row("settlements", 4, "B2,2026-03-02,EUR,0.01,-0.01,0,0")
    problems = problems_of(write_folder(tmp_path, clients=clients, settlements=settlements))
    assert [(p.file, p.row, p.column, p.value) for p in problems] == [
        ("clients.csv", 3, "credit_limit", "-1.00"), ("settlements.csv", 4, "refunds", "-0.01")]
    assert all(p.message.startswith("must be at least 0") for p in problems)


def test_principal_must_be_positive(tmp_path):
    lines = with_row("loans", 2, "L1,A1,factoring,0.00,0.085,2026-01-15,1,bullet,monthly,ACT/360")
    problem = only(problems_of(write_folder(tmp_path, loans=lines)))
    assert (problem.row, problem.column) == (2, "principal")
    assert problem.message.startswith("must be greater than 0")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \r\n", b"\xef\xbb\xbf \n\t\n"])
def test_empty_file(tmp_path, content):
    # nothing, a byte-order mark alone, or blank lines only (the header line is read on its own first)
    problem = only(problems_of(write_folder(tmp_path, loans=content)))
    assert (problem.file, problem.row) == ("loans.csv", None)
    assert problem.message.startswith("empty file; expected a header row loan_id,client_id")


def test_truncated_last_line(tmp_path):
    lines = GOOD["settlements"][:-1] + ["B2,2026-03-02,US"]  # cut off mid-row
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.file, problem.row, problem.value) == ("settlements.csv", 5, "B2,2026-03-02,US")
    assert problem.message == "row has 3 field(s), expected 7 (truncated line or stray comma)"


def test_no_header(tmp_path):
    problems = problems_of(write_folder(tmp_path, loans=GOOD["loans"][1:]))
    assert problems[-1].row == 1 and problems[-1].file == "loans.csv"
    assert problems[-1].message.startswith("header row missing or wrong; expected the header loan_id,")


def test_wrong_encoding(tmp_path):
    latin1 = ("\n".join(GOOD["clients"]).replace("Bakery", "Bäckerei") + "\n").encode("latin-1")
    problem = only(problems_of(write_folder(tmp_path, clients=latin1)))
    assert (problem.file, problem.row) == ("clients.csv", 2)
    assert "clients.csv is not UTF-8 text (byte 0xe4 on line 2)" in problem.message


def test_missing_file(tmp_path):
    problem = only(problems_of(write_folder(tmp_path, reserve_terms=None)))
    assert problem.file == "reserve_terms.csv"
    assert problem.message.startswith("file missing in")


def test_missing_sheet(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for table in ("clients", "settlements", "loans"):
        sheet = workbook.create_sheet(table)
        for line in GOOD[table]:
            sheet.append(line.split(","))
    workbook.save(tmp_path / "p.xlsx")
    problem = only(problems_of(tmp_path / "p.xlsx"))
    assert (problem.file, problem.sheet) == ("p.xlsx", "reserve_terms")
    assert problem.message.startswith("sheet/table 'reserve_terms' is missing")


def test_many_problems_at_once_are_all_listed(tmp_path):
    settlements = GOOD["settlements"][:2] + ["A1,2026-13-01,EUR,x,0,0,1.555", "ZZ,2026-03-02,EURO,1,2,3,4"]
    loans = with_row("loans", 3, "L2,B2,car_loan,10000,2,2026-02-01,0,annuity,daily,30/360")
    problems = problems_of(write_folder(tmp_path, settlements=settlements, loans=loans, clients=b""))
    where = {(p.file, p.row, p.column) for p in problems}
    assert where == {
        ("clients.csv", None, None),
        ("settlements.csv", 3, "value_date"), ("settlements.csv", 3, "sales"), ("settlements.csv", 3, "fees"),
        ("settlements.csv", 4, "currency"),
        ("loans.csv", 3, "product"), ("loans.csv", 3, "annual_rate"), ("loans.csv", 3, "periods"),
        ("loans.csv", 3, "frequency"),
    }  # (unknown ids are not checked while clients.csv itself cannot be read)
    message = str(LoadError(problems))
    assert message.startswith(f"{len(problems)} problem(s) in the input data:")


def test_problems_per_column_are_capped_with_a_count(tmp_path):
    rows = [f"A1,2026-04-{d:02d},EUR,1.00,0,0,0" for d in range(1, 31)] + ["A1,2026-04-31,EUR,1.00,0,0,0"]
    rows += [f"B2,2026-04-{d:02d},EUR,1.001,0,0,0" for d in range(1, 26)]  # 25 over-precise amounts
    problems = problems_of(write_folder(tmp_path, settlements=[GOOD["settlements"][0], *rows]))
    sales = [p for p in problems if p.column == "sales"]
    assert len(sales) == validate.MAX_LISTED + 1
    assert [p.row for p in sales[:3]] == [33, 34, 35]  # header + 31 April rows, then B2's
    assert sales[-1].row is None
    assert sales[-1].message.startswith("15 more row(s) with the same problem (25 in total)")
    dates = [p for p in problems if p.column == "value_date"]
    assert [(p.row, p.value) for p in dates] == [(32, "2026-04-31")]


def test_load_error_is_an_atlas_error_with_a_readable_message(tmp_path):
    lines = with_row("loans", 2, "L1,A1,factoring,25000.00,0.085,2026-01-15,1,balloon,monthly,ACT/360")
    with pytest.raises(LoadError) as caught:
        load_portfolio(write_folder(tmp_path, loans=lines))
    assert "loans.csv, row 2, column method: not an allowed value; expected one of annuity, linear, bullet " \
           "(value 'balloon')" in str(caught.value)


def test_not_a_folder_or_workbook(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    assert only(problems_of(tmp_path / "x.txt")).message.startswith("unsupported input")
    assert only(problems_of(tmp_path / "nope")).message.startswith("no such file or folder")


# ---------------------------------------------------------------------------------------------- Excel cells
def raw_tables() -> dict[str, pd.DataFrame]:
    """GOOD as an Excel range would deliver it: numbers as float/int, dates as datetime, blanks as None."""
    tables = {}
    for table in TABLES:
        spec = SCHEMAS[table]
        header, *rows = [line.split(",") for line in GOOD[table]]
        cells = []
        for row in rows:
            out = []
            for name, text in zip(header, row, strict=True):
                kind = spec.column(name).kind
                if text == "":
                    out.append(None)
                elif kind in ("amount", "rate"):
                    out.append(float(text))
                elif kind == "int":
                    out.append(int(text))
                elif kind == "date":
                    out.append(dt.datetime.fromisoformat(text))
                else:
                    out.append(text)
            cells.append(out)
        tables[table] = pd.DataFrame(cells, columns=header, dtype=object)
    return tables


def test_portfolio_from_excel_cells_equals_the_csv_load(tmp_path):
    from_cells = portfolio_from_tables(raw_tables(), source="Book1.xlsx")
    from_csv = load_portfolio(write_folder(tmp_path))
    for table in (*TABLES, "refused"):
        pd.testing.assert_frame_equal(getattr(from_cells, table), getattr(from_csv, table))
    assert from_cells.sources[0] == ("clients", "Book1.xlsx, sheet clients")


def test_a_frame_indexed_by_sheet_rows_reports_those_rows():
    tables = raw_tables()
    tables["loans"].index = pd.Index([7, 9])  # e.g. a range starting lower on the sheet, blank row 8 dropped
    tables["loans"].loc[9, "method"] = "balloon"
    with pytest.raises(LoadError) as caught:
        portfolio_from_tables(tables)
    assert [(p.sheet, p.row, p.column) for p in caught.value.problems] == [("loans", 9, "method")]


def test_schema_renders_the_docs_table():
    text = markdown_table("reserve_terms")
    assert text.splitlines()[0] == "## reserve_terms (key: client_id, reserve)"
    assert "| cap | amount | optional (blank = no cap, loaded as -1), >= 0 |" in text
    assert "| hold_basis | enum | required; `calendar`, `banking` |" in text


def test_excel_float_with_three_decimals_is_refused_not_rounded():
    tables = raw_tables()
    tables["settlements"].loc[1, "sales"] = 1.005  # repr '1.005': more than 2 decimals
    tables["loans"].loc[0, "annual_rate"] = 1e-07  # repr '1e-07' = 0.0000001: more than 6 decimals
    with pytest.raises(LoadError) as caught:
        portfolio_from_tables(tables, source="Book1")
    assert [(p.file, p.sheet, p.row, p.column, p.value) for p in caught.value.problems] == [
        ("Book1", "settlements", 3, "sales", "1.005"), ("Book1", "loans", 2, "annual_rate", "0.0000001")]


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(min_value=-(10**12) + 1, max_value=10**12 - 1), ppm=st.integers(min_value=0, max_value=10**6))
def test_excel_floats_convert_exactly_through_their_shortest_repr(cents, ppm):
    # any amount with <= 2 decimals (and rate with <= 6) typed into Excel comes back as the same integer
    tables = raw_tables()
    tables["clients"].loc[0, "opening_balance"] = cents / 100
    tables["clients"].loc[0, "factoring_withhold_rate"] = ppm / 1_000_000
    p = portfolio_from_tables(tables)
    assert p.clients.loc[0, "opening_balance_cents"] == cents
    assert p.clients.loc[0, "factoring_withhold_rate_ppm"] == ppm


# ---------------------------------------------------------------------------------------------- unsafe workbooks
def rewrite_member(source: Path, target: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename == member else zin.read(item.filename))
    return target


@pytest.fixture()
def small_xlsx(tmp_path) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for table, frame in raw_tables().items():
        sheet = workbook.create_sheet(table)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append(list(row))
    workbook.save(tmp_path / "good.xlsx")
    return tmp_path / "good.xlsx"


def test_small_xlsx_loads(small_xlsx, tmp_path):
    p = load_portfolio(small_xlsx)
    assert p.settlements["sales_cents"].tolist() == [123_456, 10_010, 1]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>"""


def test_billion_laughs_is_refused_quickly(small_xlsx, tmp_path):
    bad = rewrite_member(small_xlsx, tmp_path / "laughs.xlsx", "xl/worksheets/sheet1.xml", BILLION_LAUGHS)
    started = time.monotonic()
    with pytest.raises(UnsafeInputError, match=r"laughs\.xlsx: part xl/worksheets/sheet1\.xml declares a "
                                               r"DOCTYPE/ENTITY"):
        load_portfolio(bad)
    assert time.monotonic() - started < 5


def test_utf16_doctype_is_refused_too(small_xlsx, tmp_path):
    data = BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    bad = rewrite_member(small_xlsx, tmp_path / "u16.xlsx", "xl/workbook.xml", data.decode().encode("utf-16"))
    with pytest.raises(UnsafeInputError, match="DOCTYPE/ENTITY"):
        load_portfolio(bad)


def test_zip_bomb_member_is_refused_before_inflating(small_xlsx, tmp_path):
    bad = tmp_path / "bomb.xlsx"
    shutil.copy(small_xlsx, bad)
    with zipfile.ZipFile(bad, "a", zipfile.ZIP_DEFLATED) as archive, archive.open("xl/media/zeros.bin", "w") as member:
        chunk = bytes(1024 * 1024)  # 64 MiB of zeros deflate to ~64 KiB
        for _ in range(64):
            member.write(chunk)
    with pytest.raises(UnsafeInputError, match=r"bomb\.xlsx: part xl/media/zeros\.bin is compressed \d+:1"):
        load_portfolio(bad)


def test_multi_gigabyte_declared_member_is_refused(small_xlsx, tmp_path):
    # a small zip whose directory declares a 3 GiB member: refused from the directory alone
    bad = tmp_path / "huge.xlsx"
    data = bytearray(small_xlsx.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    # patch the central-directory record of sheet1.xml: uncompressed size at offset 24
    name = sheet.filename.encode()
    at = data.find(b"PK\x01\x02", 0)
    while at >= 0:
        name_len = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + name_len] == name:
            data[at + 24:at + 28] = (3 * 1024**3).to_bytes(4, "little")
            break
        at = data.find(b"PK\x01\x02", at + 4)
    assert at >= 0
    bad.write_bytes(bytes(data))
    with pytest.raises(UnsafeInputError, match=r"huge\.xlsx: would inflate to 3,2\d\d,\d{3},\d{3} bytes"):
        load_portfolio(bad)


def test_workbook_is_refused_without_defusedxml(small_xlsx, monkeypatch):
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(UnsafeInputError, match="defusedxml"):
        load_portfolio(small_xlsx)


def test_defusedxml_is_active():
    assert openpyxl.DEFUSEDXML is True


def test_not_a_zip_named_xlsx(tmp_path):
    (tmp_path / "fake.xlsx").write_text("client_id,name\n")
    problem = only(problems_of(tmp_path / "fake.xlsx"))
    assert problem.file == "fake.xlsx"
    assert problem.message.startswith("not a valid .xlsx workbook")


def test_corrupt_workbook_part_is_a_load_error(small_xlsx, tmp_path):
    bad = rewrite_member(small_xlsx, tmp_path / "broken.xlsx", "xl/workbook.xml", b"<workbook><unclosed>")
    problem = only(problems_of(bad))
    assert problem.file == "broken.xlsx"
    assert problem.message.startswith("cannot be read as a workbook")


def test_xlsx_blank_rows_are_skipped_but_counted(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for table, frame in raw_tables().items():
        sheet = workbook.create_sheet(table)
        sheet.append(list(frame.columns))
        for offset, row in enumerate(frame.itertuples(index=False)):  # data on rows 2, 4, 6, ...
            for column, value in enumerate(row, start=1):
                sheet.cell(row=2 + 2 * offset, column=column, value=value)
    workbook["loans"]["D4"] = "abc"  # principal of the second loan, on sheet row 4
    workbook.save(tmp_path / "gaps.xlsx")
    problem = only(problems_of(tmp_path / "gaps.xlsx"))
    assert (problem.file, problem.sheet, problem.row, problem.column, problem.value) == (
        "gaps.xlsx", "loans", 4, "principal", "abc")


def test_large_table_threads_report_the_same_problems_in_the_same_order(tmp_path, monkeypatch):
    # 250,000 settlement rows (above validate._THREADED_FROM) with bad cells in three columns: the threaded
    # conversion must list exactly the problems, in exactly the order, of the one-column-at-a-time path
    # (4 clients x 62,500 days from 1920: every date inside the supported range, every key distinct)
    n = 250_000
    days = pd.date_range("1920-01-01", periods=n // 4).strftime("%Y-%m-%d").to_numpy()
    frame = pd.DataFrame({"client_id": np.tile(["A1", "B2", "C3", "D4"], n // 4),
                          "value_date": np.repeat(days, 4), "currency": "EUR", "sales": "10.00",
                          "refunds": "0", "chargebacks": "0", "fees": "0.5"})
    frame.loc[[7, 123_456], "sales"] = ["1.234", "ten"]
    frame.loc[[99_999], "value_date"] = "2021-02-30"
    frame.loc[[200_000], "fees"] = "-1"
    clients = GOOD["clients"] + [GOOD["clients"][1].replace("A1,", f"{c},", 1) for c in ("C3", "D4")]
    write_folder(tmp_path, clients=clients)
    frame.to_csv(tmp_path / "settlements.csv", index=False)
    threaded = problems_of(tmp_path)
    monkeypatch.setattr(validate, "_THREADED_FROM", 10**12)
    assert problems_of(tmp_path) == threaded
    # by column, then by kind of problem (not a number before too many decimals), then by row
    assert [(p.row, p.column) for p in threaded] == [(100_001, "value_date"), (123_458, "sales"), (9, "sales"),
                                                     (200_002, "fees")]


def test_a_bad_byte_deep_in_a_file_is_located(tmp_path):
    # Arrow checks UTF-8 while it reads; the loader then names the line of the first bad byte (here line 4,
    # in the middle of a cell, on a row with the right number of fields)
    lines = [line.encode() for line in GOOD["settlements"]]
    lines[3] = lines[3].replace(b"EUR", b"E\xffR")
    problem = only(problems_of(write_folder(tmp_path, settlements=b"\n".join(lines) + b"\n")))
    assert (problem.file, problem.row, problem.value) == ("settlements.csv", 4, b"\xff")
    assert "settlements.csv is not UTF-8 text (byte 0xff on line 4)" in problem.message


def test_amounts_too_large_to_total_exactly_are_refused(tmp_path, monkeypatch):
    # every amount together must stay below validate.TOTAL_LIMIT_CENTS (2**62 cents) so that no engine total
    # wraps around. With the limit lowered to 200,000 cents (2,000 EUR) the GOOD tables exceed it; their
    # largest column is the clients' credit limits, 100,000.00 + 0 EUR = 10,000,000 cents
    monkeypatch.setattr(validate, "TOTAL_LIMIT_CENTS", 200_000)
    problem = only(problems_of(write_folder(tmp_path)))
    assert (problem.file, problem.row, problem.column) == ("clients.csv", None, "credit_limit")
    assert problem.message.startswith("the amounts of all tables add up to ")
    assert "(clients.credit_limit: 100,000 EUR); the engines total at most 2,000 EUR to the cent" in problem.message
    monkeypatch.setattr(validate, "TOTAL_LIMIT_CENTS", 2**62)
    assert load_portfolio(tmp_path).clients["credit_limit_cents"].tolist() == [10_000_000, 0]
