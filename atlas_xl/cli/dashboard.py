"""`atlas-xl dashboard`: write the self-contained HTML dashboard alone (no report workbook)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atlas_xl.cli.common import AsOfOption, BreachOption, DataOption, DbOpt, StoreOption, WarningOption, resolve_db
from atlas_xl.cli.run import load_stored_portfolio, stored_bank_feedback
from atlas_xl.errors import ArgumentError
from atlas_xl.inputs.environment import load_settings
from atlas_xl.inputs.example_data import example_data_dir


def dashboard(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write, e.g. dashboard.html.")],
    data: DataOption = None,
    as_of: AsOfOption = None,
    warning: WarningOption = None,
    breach: BreachOption = None,
    db: DbOpt = None,
    store: StoreOption = True,
) -> None:
    """Write the HTML dashboard (KPIs, payouts, exposure, reserves, projection, drill-down) to one file."""
    # lazy: pandas, pyarrow and openpyxl would cost every atlas-xl start-up ~1.5 s (atlas_xl.cli.common)
    from atlas_xl.engines.run import run_engines
    from atlas_xl.outputs.dashboard.render import write_dashboard

    out = Path(out).expanduser()
    if out.is_dir():  # checked before the (possibly long) computation
        raise ArgumentError("is a folder", what="--out", value=str(out), expected="a file name such as dashboard.html")
    db = resolve_db(db)
    settings = load_settings().with_thresholds(warning, breach)
    data_path = data or example_data_dir()
    result = run_engines(load_stored_portfolio(data_path, db, store), as_of, settings)
    written = write_dashboard(result, out, str(data_path), stored_bank_feedback(db, store))
    typer.echo(f"Dashboard as of {result.as_of.isoformat()} written to {written}")
