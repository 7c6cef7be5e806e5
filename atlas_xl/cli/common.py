"""What every `atlas-xl` command module shares: the consoles, the common options, the database URL a command
uses (`resolve_db`) and how an error is printed. Command modules import this; only atlas_xl.cli.app imports them.

Start-up (why the command modules import the engines, loader, writers and store inside their commands): every
`atlas-xl` invocation imports atlas_xl.cli.app and so every command module, `atlas-xl version` and `--help`
included. Measured on the shared 2-core build machine (`python -X importtime`, wall time): typer + rich + numpy
take ~0.5 s; the engines (pandas, pyarrow) ~1.2 s more, the loader and report writer (openpyxl) ~1.8 s, the
workflow service (pandas + SQLAlchemy) ~2.6 s; `atlas-xl version` took 1.1 s as it is and 2.8-4 s with those
modules imported first. So they stay in the command bodies that use them, and `atlas-xl version` imports
neither pandas nor SQLAlchemy (tests/test_cli_app.py checks it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from atlas_xl.errors import StoreError, hide_passwords

try:  # typer >= 0.25 vendors click: its contexts and exceptions are typer._click's, not the click package's
    from typer._click.core import ParameterSource
    from typer._click.exceptions import ClickException
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.core import ParameterSource  # type: ignore[assignment]
    from click.exceptions import ClickException  # type: ignore[assignment]
    from click.globals import get_current_context  # type: ignore[no-redef]

__all__ = ["AsOfOption", "BreachOption", "ClickException", "DataOption", "DbOpt", "JsonOpt", "StoreOption",
           "UserOpt", "WarningOption", "emit", "err_console", "get_current_context", "print_error", "resolve_db",
           "store_error_from"]

err_console = Console(stderr=True)

ROOT_DB_KEY = "atlas_xl.root_db"  # ctx.meta key (shared by every context of one invocation) of `atlas-xl --db`

DbOpt = Annotated[str | None, typer.Option(
    "--db", envvar="ATLAS_DB_URL", show_envvar=True,
    help="Database URL (sqlite:///file.db or postgresql+psycopg://...); may also stand before the command: "
         "atlas-xl --db URL COMMAND.")]
UserOpt = Annotated[str | None, typer.Option(
    "--user", envvar="ATLAS_USER", show_envvar=True,
    help="Demo stores only: the user to act as. Elsewhere the acting user is your OS account (SQLite) or your "
         "PostgreSQL login, and --user is refused.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]

# the portfolio options of `run` and `dashboard`
DataOption = Annotated[Path | None, typer.Option("--data", help="Folder of CSV files or an .xlsx workbook "
                                                 "(default: the bundled example data).")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="As-of / payout date YYYY-MM-DD "
                                                "(default: the last date in the data).")]
WarningOption = Annotated[str | None, typer.Option(help="Utilisation share that raises a WARNING (default 0.8).")]
BreachOption = Annotated[str | None, typer.Option(help="Utilisation share that is a BREACH (default 1.0).")]
StoreOption = Annotated[bool, typer.Option(help="Apply the credit limits and reserve terms that credit managers "
                                                 "changed in the store (--no-store: the data's values only).")]


def resolve_db(db: str | None, ctx: typer.Context | None = None) -> str | None:
    """The database URL a command uses: its own --db when typed after the command, else the --db typed before it
    (`atlas-xl --db URL payouts list`), else its own --db from ATLAS_DB_URL, else None (the store's default).

    `ctx` defaults to the context of the command being run, so a command can pass its `db` parameter alone.
    """
    current = ctx if ctx is not None else get_current_context(silent=True)
    if current is None:
        return db
    root_db = current.meta.get(ROOT_DB_KEY)
    if root_db is None or current.get_parameter_source("db") is ParameterSource.COMMANDLINE:
        return db
    return root_db


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    """One JSON object on stdout for scripts (--json), else the human text."""
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str))
    else:
        typer.echo(text)


def print_error(message: str) -> None:
    """`error: ...` on stderr, the message printed as it is (no markup, no highlighting, no wrapping)."""
    err_console.print("[bold red]error:[/] ", end="", markup=True, highlight=False)
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def store_error_from(error: BaseException) -> StoreError | None:
    """A database failure as a StoreError of one line: the driver's first line, no SQL text, no parameters (the
    SQL and the bound client data follow on later lines of SQLAlchemy's message), passwords masked.
    None when `error` is not a database failure.

    SQLAlchemy is looked up in sys.modules, not imported: a command that never imported it cannot have failed in
    it, and `atlas-xl version` must not pay its ~0.1 s import.
    """
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.SQLAlchemyError):
        return None
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if isinstance(cause, exc.SQLAlchemyError):  # no driver error beneath: SQLAlchemy's own text, "[SQL: ..." cut off
        first = first.split("[SQL:", 1)[0].strip()
    first = hide_passwords(first)
    detail = f"{type(cause).__name__}: {first}" if first else type(cause).__name__
    return StoreError(f"the database failed: {detail} (set ATLAS_DEBUG=1 for details)")
