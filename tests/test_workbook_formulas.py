"""The operations workbook's ATLAS_* formulas evaluated by an independent formula engine (`formulas`), with
the ATLAS_* Python functions registered as its custom functions, against the headless report of
`atlas-xl run` on the same data.

`formulas` does not know Excel's structured references, so `Clients[#All]` etc. are first rewritten to the
A1 range that the workbook's own table definition gives (read from the file, not from our builder), and the
Schedules sheet (INDEX over table columns and dynamic-array spills, neither supported by `formulas`) is left
out. Everything else - the parsing of our formulas, named cells (AsOfDate, thresholds), range resolution,
the cell values passed (dates arrive as serial numbers, blanks as its EMPTY token) - is the engine's own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import formulas
import numpy as np
import openpyxl
import pytest
from schedula.utils.cst import EMPTY  # the blank-cell token of `formulas` (built on schedula)

from atlas_xl.cli.app import main
from atlas_xl.excel import ranges as xe
from atlas_xl.excel import udfs
from atlas_xl.excel.workbook import build_workbook_file, total_formula
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.settings import Settings

SHEETS = ("Payouts", "Reserves", "Exposure")


def _excel_value(value: Any) -> Any:
    """A `formulas` argument as Excel passes it to xlwings: a scalar for one cell, else a 2-D list; blank None."""
    array = np.asarray(getattr(value, "value", value), dtype=object)
    rows = [[None if v is EMPTY else v for v in row] for row in np.atleast_2d(array).tolist()]
    return rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows


def _registered(func: Any) -> Any:
    def call(*args: Any) -> Any:
        return func(*[_excel_value(a) for a in args])

    return call


def _a1(ref: str, sheet: str) -> str:
    start, end = ref.split(":")
    cols = [re.match(r"([A-Z]+)(\d+)", part).groups() for part in (start, end)]  # type: ignore[union-attr]
    return f"'{sheet}'!${cols[0][0]}${cols[0][1]}:${cols[1][0]}${cols[1][1]}"


def bounded(formula: str, rows: dict[str, int]) -> str:
    """`Sheet!$B:$B` -> `Sheet!$B$1:$B$<used rows>`: `formulas` expands a whole column to 1,048,576 cells
    (minutes per reference); the used rows hold every value Excel would count or sum."""
    return re.sub(r"(\w+)!\$([A-Z]+):\$([A-Z]+)",
                  lambda m: f"{m.group(1)}!${m.group(2)}$1:${m.group(3)}${rows[m.group(1)]}", formula)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, example_data_dir: Path) -> dict[str, list[list[Any]]]:
    folder = tmp_path_factory.mktemp("formulas")
    built = build_workbook_file(load_portfolio(example_data_dir), folder / "ops.xlsm", Settings())
    book = openpyxl.load_workbook(built)
    tables = {name: _a1(ws.tables[name].ref, ws.title) for ws in book for name in ws.tables}
    formula_count = 0
    for sheet in SHEETS:
        for row in book[sheet].iter_rows(min_row=2):
            for cell in row[1:]:
                assert isinstance(cell.value, str) and cell.value.startswith("=ATLAS_")
                cell.value = re.sub(r"(\w+)\[#All\]", lambda m: tables[m.group(1)], cell.value)
                formula_count += 1
    for r in range(4, 8):  # the Dashboard totals: whole columns, bounded to the rows the sheets use
        total = book["Dashboard"].cell(r, 5)
        assert total.value.startswith("=IF(COUNTIF(")
        total.value = bounded(total.value, {ws.title: ws.max_row for ws in book})
    del book["Schedules"]
    plain = folder / "ops_for_formulas.xlsx"
    book.save(plain)  # openpyxl keeps no cached results: every figure below is computed by `formulas`
    functions = formulas.get_functions()
    for name in udfs.UDF_NAMES:
        functions[name] = _registered(getattr(udfs, name))
    xe.CACHE.clear()
    solution = formulas.ExcelModel().loads(str(plain)).finish().calculate()
    # 280 formulas, two engine runs: the four tables (thresholds 0.8 / 1.0 = the settings), and the reserves
    assert xe.CACHE.misses == 2
    out: dict[str, list[list[Any]]] = {}
    for sheet in SHEETS:
        ws = book[sheet]
        grid = []
        for r in range(2, ws.max_row + 1):
            values = [ws.cell(r, 1).value]
            for c in range(2, ws.max_column + 1):
                key = f"'[{plain.name}]{sheet.upper()}'!{ws.cell(r, c).coordinate}"
                values.append(np.asarray(solution[key].value).ravel()[0])
            grid.append(values)
        out[sheet] = grid
    assert formula_count == sum(len(g) * (len(g[0]) - 1) for g in out.values()) == 40 * 7
    totals = []  # Dashboard E4:E7, the error-aware totals (COUNTIF / SUM, evaluated by `formulas`)
    for r in range(4, 8):
        key = f"'[{plain.name}]DASHBOARD'!E{r}"
        totals.append([book["Dashboard"].cell(r, 4).value, np.asarray(solution[key].value).ravel()[0]])
    out["Dashboard"] = totals
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, example_data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("report")
    assert main(["run", "--data", str(example_data_dir), "--out", str(out), "--no-dashboard"]) == 0
    book = openpyxl.load_workbook(next(out.glob("atlas-report-*.xlsx")), read_only=True)
    sheets = {}
    for sheet in SHEETS:
        rows = list(book[sheet].iter_rows(values_only=True))
        top = next(i for i, r in enumerate(rows) if r[0] == "Client")
        # the table rows, not the sheet's closing Total row
        sheets[sheet] = [dict(zip(rows[top], r, strict=False)) for r in rows[top + 1:] if r[0] != "Total"]
    return sheets


def test_payouts_equal_the_report(evaluated: dict, report: dict) -> None:
    want = {r["Client"]: r for r in report["Payouts"]}
    assert [row[0] for row in evaluated["Payouts"]] == list(want)
    for client, payable, readiness in evaluated["Payouts"]:
        assert payable == want[client]["Payable"], client
        expected = "READY" if want[client]["Ready"] == "yes" else want[client]["Reason codes"]
        assert readiness == expected, client
    assert sum(1 for row in evaluated["Payouts"] if row[2] == "READY") == 23


def test_reserves_equal_the_report(evaluated: dict, report: dict) -> None:
    want = {(r["Client"], r["Reserve"]): r["Balance"] for r in report["Reserves"]}
    for client, rolling, partner in evaluated["Reserves"]:
        assert (rolling, partner) == (want[(client, "rolling")], want[(client, "partner")]), client
    assert any(row[2] > 0 for row in evaluated["Reserves"])  # the partner reserve is exercised


def test_exposure_equals_the_report(evaluated: dict, report: dict) -> None:
    want = {r["Client"]: r for r in report["Exposure"]}
    for client, exposure, utilization, status in evaluated["Exposure"]:
        assert exposure == want[client]["Exposure"], client
        assert utilization == ("" if want[client]["Utilisation"] is None else want[client]["Utilisation"]), client
        assert status == want[client]["Status"], client
    assert {row[3] for row in evaluated["Exposure"]} == {"OK", "WARNING", "BREACH"}


def test_dashboard_totals_equal_the_sums_of_the_report(evaluated: dict, report: dict) -> None:
    cents = {  # each figure summed exactly in cents, then shown in euros (as the report's own rows)
        "Total payable (EUR)": sum(round(r["Payable"] * 100) for r in report["Payouts"]),
        "Total rolling reserve (EUR)": sum(round(r["Balance"] * 100) for r in report["Reserves"]
                                           if r["Reserve"] == "rolling"),
        "Total partner reserve (EUR)": sum(round(r["Balance"] * 100) for r in report["Reserves"]
                                           if r["Reserve"] == "partner"),
        "Total exposure (EUR)": sum(round(r["Exposure"] * 100) for r in report["Exposure"]),
    }
    assert [label for label, _ in evaluated["Dashboard"]] == list(cents)
    for label, value in evaluated["Dashboard"]:
        assert value == pytest.approx(cents[label] / 100, abs=0.001), label


def test_a_failing_cell_makes_the_total_an_error_not_a_smaller_sum(tmp_path: Path) -> None:
    """Excel shows a failing ATLAS_* function as its `#ATLAS! ...` text; SUM counts text as 0, so a plain total
    of 1.50 + (failed) + 2.25 shows 3.75, wrong without a sign. The workbook's total shows #N/A instead."""
    book = openpyxl.Workbook()
    payouts = book.active
    payouts.title = "Payouts"
    for r, value in enumerate(["Payable", 1.5, "#ATLAS! client_id 'C9' is not in the clients table", 2.25], 1):
        payouts.cell(r, 2).value = value
    dashboard = book.create_sheet("Dashboard")
    dashboard["A1"] = bounded(total_formula("Payouts", "B"), {"Payouts": 4})
    dashboard["A2"] = "=SUM(Payouts!$B$1:$B$4)"
    clean = book.create_sheet("Clean")  # the same column without the failure
    for r, value in enumerate(["Payable", 1.5, None, 2.25], 1):
        clean.cell(r, 2).value = value
    dashboard["A3"] = bounded(total_formula("Clean", "B"), {"Clean": 4})
    book.save(tmp_path / "totals.xlsx")
    solution = formulas.ExcelModel().loads(str(tmp_path / "totals.xlsx")).finish().calculate()

    def shown(ref: str) -> Any:
        return np.asarray(solution[f"'[totals.xlsx]DASHBOARD'!{ref}"].value).ravel()[0]

    assert str(shown("A1")) == "#N/A"
    assert shown("A2") == 3.75  # the plain SUM: 1.50 + 0 + 2.25, the failure silently dropped
    assert shown("A3") == 3.75  # 1.50 + 2.25 with no failure: the error-aware total is the SUM
