"""The HTML dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, network blocked.

A missing /usr/bin/chromium FAILS these tests (install it: apt-get install chromium; .ci/run does).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from atlas_xl.cli.app import main
from atlas_xl.domain.money import format_eur
from atlas_xl.engines.run import run_engines
from atlas_xl.examples.portfolio import generate_portfolio, write_csv
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.outputs.dashboard.render import write_dashboard

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
           "</script><script>alert(2)</script>")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); "
                    "the dashboard browser tests need it")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@dataclass
class Session:
    page: Page
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def open_page(browser: Browser, html: Path) -> Session:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, java_script_enabled=True)
    page = context.new_page()
    session = Session(page)

    def route(r: Route) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:  # no network: anything else is recorded and refused
            session.outside_requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and session.console_errors.append(m.text))
    page.on("pageerror", lambda e: session.console_errors.append(str(e)))
    page.on("dialog", lambda d: (session.dialogs.append(d.message), d.dismiss()))
    page.goto(html.as_uri())
    page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
    return session


@pytest.fixture(scope="module")
def run_output(tmp_path_factory: pytest.TempPathFactory, example_data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["run", "--data", str(example_data_dir), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def report(run_output: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(next(run_output.glob("atlas-report-*.xlsx")))


@pytest.fixture()
def session(browser: Browser, run_output: Path) -> Iterator[Session]:
    s = open_page(browser, run_output / "dashboard.html")
    yield s
    assert s.outside_requests == [], "the page tried to reach the network"
    assert s.console_errors == []
    assert s.dialogs == []
    s.page.context.close()


def shown(value: object, number_format: str) -> str:
    """How the page must show a KPI value read back from the report workbook."""
    if isinstance(value, str):
        return value
    if number_format == "#,##0.00":  # money, exact: the workbook holds euros with at most 2 decimals
        return format_eur(int(Decimal(repr(value)) * 100))
    if number_format == "0.0%":
        tenths = (Decimal(repr(value)) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return f"{tenths / 10:,.1f}%"
    return f"{int(value):,}"


def table_column(page: Page, table: str, column: int) -> list[str]:
    return page.eval_on_selector_all(f"[data-table={table}] tbody tr",
                                     f"rows => rows.map(r => r.cells[{column}].textContent)")


def cents(text: str) -> int:
    return int(Decimal(text.replace("EUR ", "").replace(",", "")) * 100)


def test_kpi_tiles_show_the_report_figures(session: Session, report: openpyxl.Workbook,
                                           tmp_path: Path) -> None:
    ws = report["Dashboard"]
    expected = {ws.cell(r, 1).value: shown(ws.cell(r, 2).value, ws.cell(r, 2).number_format)
                for r in range(4, ws.max_row + 1) if ws.cell(r, 1).value and ws.cell(r, 2).value is not None}
    tiles = session.page.eval_on_selector_all(
        "#kpis .tile",
        "ts => ts.map(t => [t.querySelector('.label').textContent, t.querySelector('.value').textContent])")
    assert len(expected) == 17
    assert dict(tiles) == expected
    shot = tmp_path / "dashboard.png"
    session.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sorting_by_any_column(session: Session, report: openpyxl.Workbook) -> None:
    page = session.page
    payable = page.locator("[data-table=payouts] th", has_text=re.compile("^Payable$"))
    payable.click()
    ascending = [cents(t) for t in table_column(page, "payouts", 3)]
    assert ascending == sorted(ascending) and len(ascending) == 40
    payable.click()
    descending = [cents(t) for t in table_column(page, "payouts", 3)]
    assert descending == sorted(ascending, reverse=True)
    assert payable.get_attribute("aria-sort") == "descending"
    # The largest payable equals the report's largest (Payouts sheet: header on row 2, a Total row last).
    sheet = report["Payouts"]
    column = [c.value for c in sheet[2]].index("Payable") + 1
    payable_cents = [int(Decimal(repr(sheet.cell(r, column).value)) * 100) for r in range(3, sheet.max_row)]
    assert descending[0] == max(payable_cents)
    page.locator("[data-table=exposure] th", has_text=re.compile("^Name$")).click()
    names = table_column(page, "exposure", 1)
    assert names == sorted(names, key=str.lower)


def test_status_filter_and_highlight(session: Session, report: openpyxl.Workbook) -> None:
    page = session.page
    dashboard = report["Dashboard"]
    kpi = {dashboard.cell(r, 1).value: dashboard.cell(r, 2).value for r in range(4, dashboard.max_row + 1)}
    page.select_option("[data-table=payouts] select.filter", label="Blocked")
    assert set(table_column(page, "payouts", 2)) == {"BLOCKED"}
    assert len(table_column(page, "payouts", 2)) == kpi["Payouts blocked"]
    page.select_option("[data-table=payouts] select.filter", label="Reason: KYC pending")
    reasons = table_column(page, "payouts", 4)  # the reasons in words
    assert reasons and all("KYC pending" in r for r in reasons)
    assert "C00003" in table_column(page, "payouts", 0)  # the documented KYC-pending client
    page.select_option("[data-table=exposure] select.filter", label="BREACH")
    rows = page.locator("[data-table=exposure] tbody tr")
    assert rows.count() == kpi["Limit breaches"]
    for i in range(rows.count()):
        assert rows.nth(i).get_attribute("class") == "row-BREACH"
        badge = rows.nth(i).locator("span.st")
        assert badge.text_content() == "BREACH"
        # highlighted: the badge's computed background is the BREACH colour (#f8cbad)
        assert badge.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(248, 203, 173)"
    page.select_option("[data-table=exposure] select.filter", label="WARNING")
    assert rows.count() == kpi["Limit warnings"]
    assert page.locator("[data-table=exposure] tbody span.st").first.evaluate(
        "b => getComputedStyle(b).backgroundColor") == "rgb(255, 230, 153)"


def test_not_due_has_its_own_status_and_colour(session: Session, report: openpyxl.Workbook) -> None:
    page = session.page
    dashboard = report["Dashboard"]
    kpi = {dashboard.cell(r, 1).value: dashboard.cell(r, 2).value for r in range(4, dashboard.max_row + 1)}
    page.select_option("[data-table=payouts] select.filter", label="Not due")
    assert set(table_column(page, "payouts", 2)) == {"NOT DUE"}
    clients = table_column(page, "payouts", 0)
    assert len(clients) == kpi["Payouts not due (off-cycle)"] == 11 and "C00009" in clients
    assert set(table_column(page, "payouts", 4)) == {"not a payout day"}
    # 11 off-cycle clients, EUR 269,229.01 between them; not counted as blocked (6)
    assert sum(cents(t) for t in table_column(page, "payouts", 3)) == 269_229_01
    badge = page.locator("[data-table=payouts] tbody span.st").first
    assert badge.is_visible()
    assert badge.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(229, 231, 235)"  # grey, not red
    tile = page.locator("#kpis .tile[data-key=payouts_blocked] .value")
    assert tile.text_content() == "6"


def test_alerts_and_exceptions_are_listed(session: Session, report: openpyxl.Workbook) -> None:
    page = session.page
    assert page.is_visible("#alerts [data-table=alerts] table")
    alerts = rows_of(page, "[data-table=alerts]")
    # the report's Alerts sheet, row for row: breaches first (C00006, C00025), then warnings
    sheet = report["Alerts"]
    expected = [sheet.cell(r, 1).value for r in range(2, sheet.max_row + 1)]
    assert [r[0] for r in alerts] == expected == ["C00006", "C00025", "C00007", "C00040"]
    assert alerts[0][2] == "BREACH" and "244.5 %" in alerts[0][3]
    assert page.is_visible("#exceptions [data-table=exceptions] table")
    exceptions = rows_of(page, "[data-table=exceptions]")
    assert exceptions == [["C00010", "settlements", "13,402",
                           "currency USD is not EUR: only EUR settlements are processed (no FX conversion); "
                           "value date 2026-10-24, sales 1,250.00 USD"]]
    days = rows_of(page, "[data-table=releases]")
    assert days[0] == ["2026-11-24", "29", "EUR 2,498.54"]
    assert "/" not in page.text_content("#meta").split("data: ")[1].split(" \u00b7")[0]


def test_search_by_client(session: Session) -> None:
    page = session.page
    page.fill("[data-table=payouts] input.search", "C00007")
    assert table_column(page, "payouts", 0) == ["C00007"]
    page.fill("[data-table=payouts] input.search", "toy store")  # names, case-insensitive
    names = table_column(page, "payouts", 1)
    assert names and all("toy store" in n.lower() for n in names)
    assert page.text_content("[data-table=payouts] .count") == f"{len(names)} of 40 rows"
    page.fill("[data-table=payouts] input.search", "no such client")
    assert table_column(page, "payouts", 0) == []


def test_client_drilldown(session: Session, report: openpyxl.Workbook) -> None:
    page = session.page
    assert page.is_hidden("#drill")
    page.fill("[data-table=payouts] input.search", "C00008")
    page.click("[data-table=payouts] button.client")
    assert page.is_visible("#drill")
    assert page.text_content("#drill-title").startswith("C00008")
    # Balances equal the report's Balances sheet (header on row 2: client, settlement, rolling, partner,
    # factoring)
    sheet = report["Balances"]
    row = next(r for r in range(3, sheet.max_row + 1) if sheet.cell(r, 1).value == "C00008")
    expected = [format_eur(int(Decimal(repr(sheet.cell(row, c).value)) * 100)) for c in range(2, 6)]
    assert [r[1] for r in rows_of(page, "#drill-balances")] == expected
    # Totals per movement equal the report's Client drill-down sheet for that client.
    sheet = report["Client drill-down"]
    wanted = sorted((sheet.cell(r, 2).value, sheet.cell(r, 3).value, f"{sheet.cell(r, 4).value:,}",
                     format_eur(int(Decimal(repr(sheet.cell(r, 5).value)) * 100)))
                    for r in range(3, sheet.max_row + 1) if sheet.cell(r, 1).value == "C00008")
    assert sorted(tuple(r) for r in rows_of(page, "#drill-totals")) == wanted
    postings = rows_of(page, "#drill-postings")
    assert postings and postings[0][0] == "2026-11-23"  # newest first, ISO dates
    assert "postings" in page.text_content("#drill-postings-note").lower()
    page.keyboard.press("Escape")
    assert page.is_hidden("#drill")


def rows_of(page: Page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"{selector} tbody tr",
                                     "rows => rows.map(r => Array.from(r.cells, c => c.textContent))")


def test_hostile_names_show_as_text_and_run_nothing(browser: Browser, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_csv(generate_portfolio(clients=40, days=30, hostile=True), data)
    out = tmp_path / "out"
    assert main(["run", "--data", str(data), "--out", str(out)]) == 0
    s = open_page(browser, out / "dashboard.html")
    page = s.page
    names = set(table_column(page, "payouts", 1))
    for name in HOSTILE:
        assert name in names  # shown exactly as typed, as text
    assert page.locator("img").count() == 0  # no injected element
    assert page.locator("script").count() == 2  # the data element and the page's own script
    page.fill("[data-table=payouts] input.search", "script")
    page.click("[data-table=payouts] button.client >> nth=0")
    assert "<script>" in page.text_content("#drill-title")
    page.screenshot(path=str(tmp_path / "hostile.png"))
    assert s.dialogs == [] and s.console_errors == [] and s.outside_requests == []
    s.page.context.close()


@pytest.mark.slow
def test_ten_thousand_clients_sort_and_filter_without_freezing(browser: Browser, tmp_path: Path) -> None:
    write_csv(generate_portfolio(clients=10_000, days=30), tmp_path / "data")
    result = run_engines(load_portfolio(tmp_path / "data"))
    html = write_dashboard(result, tmp_path / "big.html", "10k")
    start = time.perf_counter()
    s = open_page(browser, html)
    load_seconds = time.perf_counter() - start
    page = s.page
    assert page.text_content("[data-table=payouts] .count") == "10,000 of 10,000 rows"
    assert page.locator("[data-table=payouts] tbody tr").count() == 200  # one page rendered, not 10,000 rows
    timings = page.evaluate("""() => {
        const t = (f) => { const s = performance.now(); f(); return performance.now() - s; };
        const th = document.querySelector('[data-table=payouts] th[data-key=name]');
        const sel = document.querySelector('[data-table=exposure] select.filter');
        const q = document.querySelector('[data-table=payouts] input.search');
        return {
          sort: t(() => th.click()),
          filter: t(() => { sel.selectedIndex = 1; sel.dispatchEvent(new Event('change')); }),
          search: t(() => { q.value = 'c0999'; q.dispatchEvent(new Event('input')); }),
        };
    }""")
    assert max(timings.values()) < 1000, timings  # milliseconds: no multi-second freeze
    assert load_seconds < 15
    assert table_column(page, "payouts", 0)[0].startswith("C0999")
    page.click("[data-table=payouts] button.client >> nth=0")
    assert page.is_visible("#drill")
    assert s.console_errors == [] and s.outside_requests == []
    s.page.context.close()
