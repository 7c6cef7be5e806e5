"""`atlas-xl run`: the headless daily job (load, compute, write the report and the dashboard).

The engines, loader, writers and store are imported inside the functions that use them: at the top they would
put pandas, pyarrow, openpyxl and SQLAlchemy into every `atlas-xl` start-up (measured in atlas_xl.cli.common).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from atlas_xl.cli.common import AsOfOption, BreachOption, DataOption, DbOpt, StoreOption, WarningOption, resolve_db
from atlas_xl.domain.money import format_eur
from atlas_xl.inputs.environment import load_settings
from atlas_xl.inputs.example_data import example_data_dir
from atlas_xl.outputs.files import safe_output_dir

if TYPE_CHECKING:
    from atlas_xl.domain.model import Portfolio
    from atlas_xl.engines.run import EngineResult


def load_stored_portfolio(data_path: Path, db: str | None, use_store: bool) -> Portfolio:
    """The portfolio file, with the store's credit limits and reserve terms in place when `use_store`."""
    from atlas_xl.inputs.portfolio import load_portfolio  # lazy: start-up (module docstring)

    portfolio = load_portfolio(data_path)
    if not use_store:
        return portfolio
    from atlas_xl.store.database import open_store  # lazy: start-up (module docstring)
    from atlas_xl.workflow.history import apply_overrides

    return apply_overrides(open_store(db), portfolio)


def summary_table(result: EngineResult, outputs: dict[str, str]) -> Table:
    k = result.kpis
    table = Table(title=f"Atlas Settlement - as of {k.as_of}", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("Clients", f"{k.clients:,}")
    table.add_row("Payouts ready / not due / blocked",
                  f"{k.payouts_ready:,} / {k.payouts_not_due:,} / {k.payouts_blocked:,}")
    table.add_row("Total to pay", format_eur(k.total_to_pay_cents))
    table.add_row("Reserve balance", format_eur(k.reserve_balance_cents))
    table.add_row("Total exposure", format_eur(k.total_exposure_cents))
    table.add_row("Alerts (breach / warning)", f"{k.alerts} ({k.limit_breaches} / {k.limit_warnings})")
    table.add_row("Refused input rows", f"{k.refused_rows}")
    for name, path in outputs.items():
        table.add_row(name, path)
    return table


def run(
    data: DataOption = None,
    as_of: AsOfOption = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")] = Path("atlas-output"),
    warning: WarningOption = None,
    breach: BreachOption = None,
    dashboard: Annotated[bool, typer.Option(help="Also write dashboard.html beside the report.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object (for cron).")] = False,
    db: DbOpt = None,
    store: StoreOption = True,
) -> None:
    """Load portfolio data, compute every engine and write the operations report (and the HTML dashboard)."""
    from atlas_xl.engines.run import run_engines  # lazy: start-up (module docstring)

    db = resolve_db(db)
    settings = load_settings().with_thresholds(warning, breach)
    data_path = data or example_data_dir()
    console = Console(stderr=True, quiet=as_json)
    timings: dict[str, float] = {}
    outputs: dict[str, str] = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("Loading and validating data", total=3)
        start = time.perf_counter()
        portfolio = load_stored_portfolio(data_path, db, store)
        timings["load_seconds"] = time.perf_counter() - start
        progress.update(task, advance=1, description="Computing reserves, payouts, exposure, schedules")
        start = time.perf_counter()
        result = run_engines(portfolio, as_of, settings)
        timings["engine_seconds"] = time.perf_counter() - start
        progress.update(task, advance=1, description="Writing the report workbook and the HTML dashboard")
        start = time.perf_counter()
        out_dir = safe_output_dir(out)  # created only once there is something correct to write
        report_path = out_dir / f"atlas-report-{result.as_of.isoformat()}.xlsx"
        page = write_outputs(result, report_path, out_dir / "dashboard.html" if dashboard else None,
                             str(data_path), timings, stored_bank_feedback(db, store))
        outputs["Report"] = str(report_path)
        if page is not None:
            outputs["Dashboard"] = str(page)
        timings["outputs_seconds"] = time.perf_counter() - start
        progress.update(task, advance=1)
    if as_json:
        payload = {**result.kpis.as_dict(), "outputs": outputs, "timings": {k: round(v, 3) for k, v in timings.items()}}
        typer.echo(json.dumps(payload, sort_keys=True))
    else:
        Console().print(summary_table(result, outputs))


def stored_bank_feedback(db: str | None, use_store: bool) -> dict | None:
    """The store's bank feedback for the report's Reconciliation sheet (None without the store)."""
    if not use_store:
        return None
    from atlas_xl.store.database import open_store  # lazy: start-up (module docstring)
    from atlas_xl.workflow.bank import bank_feedback

    return bank_feedback(open_store(db))


def write_outputs(result: EngineResult, report_path: Path, page_path: Path | None, source: str,
                  timings: dict[str, float], bank: dict | None = None) -> Path | None:
    """The report workbook, and the dashboard page when `page_path` is given; the page is rendered on a
    second thread while the report is written (both spend much of their time in Arrow kernels and
    compression, which release the GIL). At 10,000 clients the page and the ledger's drill-down (0.27 s +
    0.14 s) are computed while the report (0.5 s) is written.

    The page file is written only after the report, as when one followed the other: a report that fails
    leaves no new dashboard beside the old report. Both only read `result`; the one thing they share that
    is computed on first use, the ledger's drill-down, is computed once under the ledger's lock.
    """
    from atlas_xl.outputs.dashboard.render import check_page_path, render, save_page  # lazy: start-up
    from atlas_xl.outputs.report.layout import write_report

    if page_path is not None:
        check_page_path(page_path)

    def timed_render() -> tuple[str, float]:
        start = time.perf_counter()
        return render(result, source, bank=bank), time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="atlas-dashboard") as pool:
        page = (page_path, pool.submit(timed_render)) if page_path is not None else None
        start = time.perf_counter()
        write_report(result, report_path, source, bank)
        timings["report_seconds"] = time.perf_counter() - start
        if page is None:
            return None
        path, rendering = page
        html, timings["dashboard_seconds"] = rendering.result()
    return save_page(html, path)
