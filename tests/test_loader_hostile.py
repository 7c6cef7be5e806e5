"""Hostile or odd input the loader must refuse with a located problem (never load it to fail later in a report,
never end in an internal error): characters no spreadsheet cell can hold, classic Mac OS line breaks, loan
terms beyond the schedules engine, negative whole numbers, an unterminated quote, a formula cell without its
saved value, a country code that is not ISO 3166-1."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.domain.schemas import SCHEMAS, markdown_table
from atlas_xl.engines import schedules
from atlas_xl.errors import LoadError, Problem
from atlas_xl.excel import ranges as xe
from atlas_xl.inputs.portfolio import load_portfolio, portfolio_from_tables, table_from_frame
from tests.test_loader import GOOD, only, problems_of, raw_tables, with_row, write_folder

CLIENT_A1 = GOOD["clients"][1]  # A1,Example Bakery 001 GmbH,DE,DE89370400440532013000,COBADEFFXXX,active,...
UNWRITABLE_MESSAGE = ("contains the control character U+{:04X}, which a spreadsheet cell cannot hold; "
                      "expected printable text")


def control(code: int) -> str:
    return UNWRITABLE_MESSAGE.format(code)


def located(problem: Problem) -> tuple:
    return problem.file, problem.sheet, problem.row, problem.column, problem.value, problem.message


# ---------------------------------------------------------------------------------------------- unwritable text
@pytest.mark.parametrize(("table", "row", "old", "new", "column", "value", "message"), [
    # names (text): a bell, an escape, a NUL byte, the non-characters U+FFFE / U+FFFF
    ("clients", 2, "Example Bakery", "Ex\x07ample Bakery", "name", "Ex<U+0007>ample Bakery 001 GmbH", control(7)),
    ("clients", 2, "Example Bakery", "Example\x1bBakery", "name", "Example<U+001B>Bakery 001 GmbH", control(0x1B)),
    ("clients", 2, "Example Bakery", "Ex\x00ample Bakery", "name", "Ex<U+0000>ample Bakery 001 GmbH", control(0)),
    ("clients", 2, "Example Bakery", "Example\ufffeBakery", "name", "Example<U+FFFE>Bakery 001 GmbH",
     "contains the non-character U+FFFE, which a spreadsheet cell cannot hold; expected printable text"),
    ("clients", 2, "Example Bakery", "Example Bakery\uffff", "name", "Example Bakery<U+FFFF> 001 GmbH",
     "contains the non-character U+FFFF, which a spreadsheet cell cannot hold; expected printable text"),
    # IBAN and BIC go into the reviewer list and the SEPA file
    ("clients", 2, "DE89370400440532013000", "DE89370400440532013000\x07", "iban", "DE89370400440532013000<U+0007>",
     control(7)),
    ("clients", 2, "COBADEFFXXX", "COBA\x0cDEFFXXX", "bic", "COBA<U+000C>DEFFXXX", control(0x0C)),
    # ids, codes and enums: the control character is the problem, not also "not a valid id" or the like
    ("clients", 2, ",DE,", ",D\x01E,", "country", "D<U+0001>E", control(1)),
    ("clients", 2, ",active,", ",active\x1f,", "status", "active<U+001F>", control(0x1F)),
    ("loans", 2, "L1,", "L\x071,", "loan_id", "L<U+0007>1", control(7)),
    ("settlements", 3, "A1,", "A\x001,", "client_id", "A<U+0000>1", control(0)),
    ("settlements", 3, ",EUR,", ",EU\x0bR,", "currency", "EU<U+000B>R", control(0x0B)),
    ("reserve_terms", 3, ",partner,", ",partner\x08,", "reserve", "partner<U+0008>", control(8)),
    # a cell of nothing but a vertical tab (blank once trimmed): this problem, not "required"
    ("clients", 2, "COBADEFFXXX", "\x0b", "bic", "<U+000B>", control(0x0B)),
], ids=["name-bell", "name-escape", "name-nul", "name-fffe", "name-ffff", "iban", "bic", "country", "status",
        "loan_id", "client_id", "currency", "reserve", "only-a-control"])
def test_a_character_no_cell_can_hold_is_a_located_problem(tmp_path, table, row, old, new, column, value, message):
    line = GOOD[table][row - 1]
    assert old in line
    problem = only(problems_of(write_folder(tmp_path, **{table: with_row(table, row, line.replace(old, new, 1))})))
    assert located(problem) == (f"{table}.csv", None, row, column, value, message)


def test_each_character_gets_its_own_problem_and_the_text_is_shown_safely(tmp_path):
    clients = [GOOD["clients"][0], CLIENT_A1.replace("Bakery", "Ba\x1bkery\x07"),
               GOOD["clients"][2].replace("Florist", "Flo\x07rist")]
    problems = problems_of(write_folder(tmp_path, clients=clients))
    # grouped by character (U+0007 before U+001B), the first one of each cell decides its group
    assert [(p.row, p.value, p.message) for p in problems] == [
        (3, "Example Flo<U+0007>rist 002 SARL", control(7)),
        (2, "Example Ba<U+001B>kery<U+0007> 001 GmbH", control(0x1B)),
    ]
    assert "(value 'Example Ba<U+001B>kery<U+0007> 001 GmbH')" in str(LoadError(problems))


def test_a_control_character_in_a_number_cell_is_shown_safely(tmp_path):
    lines = with_row("settlements", 2, "A1,2026-03-02,EUR,12\x00.50,10.00,0.00,18.52")
    problem = only(problems_of(write_folder(tmp_path, settlements=lines)))
    assert (problem.row, problem.column, problem.value) == (2, "sales", "12<U+0000>.50")
    assert problem.message.startswith("not a number")


def test_tabs_carriage_returns_and_quoted_line_breaks_stay_accepted(tmp_path):
    clients = [GOOD["clients"][0], CLIENT_A1.replace("Example Bakery 001 GmbH", "\tTab Leading Name"),
               GOOD["clients"][2].replace("Example Florist 002 SARL", '"Two\nLines\rand\r\na CR"')]
    names = load_portfolio(write_folder(tmp_path, clients=clients)).clients["name"].tolist()
    assert names == ["\tTab Leading Name", "Two\nLines\rand\r\na CR"]


def test_workbook_cells_and_excel_ranges_follow_the_same_rule():
    tables = raw_tables()
    tables["clients"].loc[1, "name"] = "Bad\x02Name"
    with pytest.raises(LoadError) as caught:
        portfolio_from_tables(tables, source="Book1.xlsx")
    assert [located(p) for p in caught.value.problems] == [
        ("Book1.xlsx", "clients", 3, "name", "Bad<U+0002>Name", control(2))]
    # an Excel range (ids and codes arrive dictionary-coded): each distinct value is checked once
    header = list(SCHEMAS["settlements"].column_names)
    day = dt.datetime(2026, 11, 2)
    rows = [header, ["C1", day, "EUR", 1.0, 0.0, 0.0, 0.0], ["C\x1e1", day, "EUR", 2.0, 0.0, 0.0, 0.0],
            ["C\x1e1", day + dt.timedelta(days=1), "EUR", 3.0, 0.0, 0.0, 0.0]]
    with pytest.raises(LoadError) as caught:
        table_from_frame(xe.raw_table(rows, "settlements"), "settlements", "Book1.xlsx")
    assert [(p.row, p.column, p.value, p.message) for p in caught.value.problems] == [
        (3, "client_id", "C<U+001E>1", control(0x1E)), (4, "client_id", "C<U+001E>1", control(0x1E))]


# ---------------------------------------------------------------------------------------------- CSV form
def test_classic_mac_line_breaks_are_a_located_problem(tmp_path):
    settlements = "\r".join(GOOD["settlements"]).encode() + b"\r"
    problem = only(problems_of(write_folder(tmp_path, settlements=settlements)))
    assert located(problem) == ("settlements.csv", None, None, None, None,
                                "line breaks are carriage returns only (classic Mac OS); "
                                "save it as 'CSV UTF-8 (comma delimited)'")


def test_a_header_csv_cannot_read_is_a_located_problem(tmp_path):
    header = "x" * 200_000 + "," + GOOD["loans"][0]  # a field beyond Python's csv field size limit
    problem = only(problems_of(write_folder(tmp_path, loans=[header, *GOOD["loans"][1:]])))
    assert (problem.file, problem.row, problem.value) == ("loans.csv", 1, "x" * 80 + "...")
    assert problem.message.startswith("header row cannot be read as CSV (field larger than field limit (131072)); "
                                      "expected the header loan_id,client_id,")


def test_an_unterminated_quote_is_named_and_its_text_cut(tmp_path):
    row2 = CLIENT_A1.replace("Example Bakery", '"Example Bakery')  # the quote is never closed
    clients = [GOOD["clients"][0], row2, GOOD["clients"][2]]
    problems = problems_of(write_folder(tmp_path, clients=clients))
    rest = "\n".join(clients[1:]) + "\n"  # the field runs to the end of the file
    assert len(rest) > 200
    assert located(problems[0]) == ("clients.csv", None, 2, None, rest[:80] + "...",
                                    "row has 2 field(s), expected 12 (a quote opened on this line is never closed)")
    assert all(len(str(p)) < 300 for p in problems)


# ---------------------------------------------------------------------------------------------- whole numbers
@pytest.mark.parametrize(("table", "row", "line", "column", "value", "message"), [
    ("reserve_terms", 2, "A1,rolling,0.1,-1,calendar,,0,0", "hold_days", "-1",
     "must be at least 0; expected a whole number such as 12"),
    ("loans", 3, "L2,B2,term_loan,10000,0.0725,2026-02-01,-12,annuity,weekly,30/360", "periods", "-12",
     "must be at least 1; expected a whole number such as 12"),
    # the schedules engine takes at most schedules.MAX_PERIODS periods; it used to refuse more unlocated
    ("loans", 3, "L2,B2,term_loan,10000,0.0725,2026-02-01,1201,annuity,weekly,30/360", "periods", "1201",
     "must be at most 1200; expected a whole number such as 12"),
    ("loans", 3, "L2,B2,term_loan,10000,0.0725,2026-02-01,10000,annuity,weekly,30/360", "periods", "10000",
     "must be at most 1200; expected a whole number such as 12"),
], ids=["hold_days-negative", "periods-negative", "periods-1201", "periods-10000"])
def test_whole_numbers_out_of_range_get_the_range_message(tmp_path, table, row, line, column, value, message):
    problem = only(problems_of(write_folder(tmp_path, **{table: with_row(table, row, line)})))
    assert located(problem) == (f"{table}.csv", None, row, column, value, message)


def test_typed_negative_whole_number_gets_the_range_message_too():
    tables = raw_tables()
    tables["reserve_terms"].loc[1, "hold_days"] = -1
    tables["loans"].loc[0, "periods"] = 1201.0
    with pytest.raises(LoadError) as caught:
        portfolio_from_tables(tables, source="Book1.xlsx")
    assert [(p.sheet, p.row, p.column, p.value, p.message) for p in caught.value.problems] == [
        ("loans", 2, "periods", "1201", "must be at most 1200; expected a whole number such as 12"),
        ("reserve_terms", 3, "hold_days", "-1", "must be at least 0; expected a whole number such as 12")]


def test_the_loaders_period_limit_is_the_engines(tmp_path):
    assert SCHEMAS["loans"].column("periods").max_value == schedules.MAX_PERIODS == 1200
    assert "| periods | int | required; 1..1200 |" in markdown_table("loans")
    loans = with_row("loans", 3, "L2,B2,term_loan,10000,0.0725,2026-02-01,1200,annuity,monthly,30/360")
    assert load_portfolio(write_folder(tmp_path, loans=loans)).loans["periods"].tolist() == [1, 1200]
    # "-0" is the whole number 0, as the typed cell -0.0 is
    terms = with_row("reserve_terms", 2, "A1,rolling,0.1,-0,calendar,,0,0")
    assert load_portfolio(write_folder(tmp_path, reserve_terms=terms)).reserve_terms["hold_days"].tolist() == [0, 10]


# ---------------------------------------------------------------------------------------------- workbooks
def workbook_with(path: Path, **cells: str) -> Path:
    """GOOD as an .xlsx (typed cells), with some cells ("sheet!A1" -> value) set, e.g. to a formula."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for table, frame in raw_tables().items():
        sheet = workbook.create_sheet(table)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append(list(row))
    for where, value in cells.items():
        table, cell = where.split("!")
        workbook[table][cell] = value
    workbook.save(path)
    return path


def test_a_formula_without_a_saved_value_is_named_as_such(tmp_path):
    # openpyxl (like any program but Excel) saves a formula without its value: data_only reads it as blank
    path = workbook_with(tmp_path / "f.xlsx", **{"settlements!D3": "=1+2", "clients!B2": '=HYPERLINK("x","y")'})
    problems = problems_of(path)
    message = "formula without a saved value; open the file in Excel and save it, or enter the value"
    assert [located(p) for p in problems] == [
        ("f.xlsx", "clients", 2, "name", '=HYPERLINK("x","y")', message),
        ("f.xlsx", "settlements", 3, "sales", "=1+2", message)]


def test_a_blank_required_workbook_cell_is_still_required(tmp_path):
    path = workbook_with(tmp_path / "b.xlsx", **{"settlements!D3": None})
    problem = only(problems_of(path))
    assert (problem.sheet, problem.row, problem.column, problem.value) == ("settlements", 3, "sales", "")
    assert problem.message.startswith("required;")


# ---------------------------------------------------------------------------------------------- countries
def test_a_country_code_must_be_iso_3166(tmp_path):
    clients = with_row("clients", 3, GOOD["clients"][2].replace(",FR,", ",QQ,"))
    problem = only(problems_of(write_folder(tmp_path, clients=clients)))
    assert located(problem) == ("clients.csv", None, 3, "country", "QQ", "no such country code (ISO 3166-1); "
                                "expected an ISO 3166 alpha-2 country code such as DE")
    lower = with_row("clients", 3, GOOD["clients"][2].replace(",FR,", ",fr,"))
    assert load_portfolio(write_folder(tmp_path, clients=lower)).clients["country"].tolist() == ["DE", "FR"]

