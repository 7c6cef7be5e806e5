"""`atlas-xl`: the headless front. Every command prints AtlasErrors as readable text, never a traceback.

Exit status: 0 ok; 1 refused by a business rule (workflow, SEPA); 2 bad input or arguments;
3 permission denied; 73 an output that cannot be written (folder, permission, disk full);
70 an internal error (reported in one line, details with ATLAS_DEBUG=1).
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from atlas_xl import __version__
from atlas_xl.cli.memory import fewer_collections, keep_freed_memory, skip_exit_collections, skip_hugepage_advice
from atlas_xl.cli.payouts import audit_app, payouts_app, users_app
from atlas_xl.cli.workbook import workbook_app
from atlas_xl.errors import (
    AmountError,
    ArgumentError,
    AtlasError,
    ConfigError,
    DateError,
    LoadError,
    OutputError,
    PermissionDenied,
    RateError,
    UnsafeInputError,
)
from atlas_xl.outputs.files import describe_os_error

app = typer.Typer(
    help="Atlas Settlement: settlement and payout operations (reserves, payouts, exposure, schedules).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(users_app, name="users")
app.add_typer(payouts_app, name="payouts")
app.add_typer(audit_app, name="audit")
app.add_typer(workbook_app, name="workbook")

try:  # typer >= 0.25 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException

err_console = Console(stderr=True)


EXIT_CANT_CREATE = 73  # sysexits.h EX_CANTCREAT, as 70 is its EX_SOFTWARE


def exit_code_for(error: AtlasError) -> int:
    if isinstance(error, PermissionDenied):
        return 3
    if isinstance(error, OutputError):
        return EXIT_CANT_CREATE
    if isinstance(error, LoadError | ArgumentError | AmountError | RateError | DateError | UnsafeInputError
                  | ConfigError):
        return 2
    return 1


@app.command()
def version() -> None:
    """Print the Atlas Settlement version."""
    typer.echo(__version__)


def _register_commands() -> typer.Typer:
    """Import the command modules (each owns its options) and return the app they registered on.

    That is `atlas_xl.cli.app.app`, also when this file runs as `__main__` (python -m atlas_xl.cli.app).
    """
    from atlas_xl.cli import app as cli  # noqa: F401
    from atlas_xl.cli import credit as cli_credit
    from atlas_xl.cli import dashboard as cli_dashboard  # noqa: F401 - registers its command
    from atlas_xl.cli import data as cli_data
    from atlas_xl.cli import run as cli_run  # noqa: F401 - registers its command

    if not any(command.name == "example-data" for command in cli.app.registered_commands):
        cli_data.register(cli.app)
        cli.app.add_typer(cli_credit.credit_app, name="credit")
    return cli.app


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # before any data is loaded (atlas_xl.cli.memory says why)
    skip_hugepage_advice()
    registered = _register_commands()
    try:
        result = registered(args=argv, standalone_mode=False)
    except AtlasError as error:
        err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
        return exit_code_for(error)
    except OSError as error:  # an output the system would not let us write (a read error is a LoadError)
        err_console.print(f"[bold red]error:[/] cannot write the output: {describe_os_error(error)}", markup=True,
                          highlight=False, soft_wrap=True)
        return EXIT_CANT_CREATE
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except SystemExit as done:  # click usage errors in standalone_mode=False still raise here
        return int(done.code or 0)
    except Exception as error:  # noqa: BLE001 - the user never sees a traceback
        if isinstance(error, ClickException):
            error.show()
            return 2
        if os.environ.get("ATLAS_DEBUG"):
            raise
        err_console.print(f"internal error: {type(error).__name__}: {error} (set ATLAS_DEBUG=1 for details)",
                          markup=False, highlight=False)
        return 70
    return result if isinstance(result, int) else 0


def entry(argv: list[str] | None = None) -> None:
    """The `atlas-xl` program (its console script, `python -m atlas_xl`): `main` with the settings for a
    process that ends when the command does. Tests call `main` itself, in a process that goes on."""
    fewer_collections()
    sys.unraisablehook = _one_line_unraisable
    code = main(argv)
    skip_exit_collections()
    sys.exit(code)


def _one_line_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """An error Python can only ignore (a file object closed by the garbage collector on a full disk) is one
    line on stderr, not the interpreter's traceback; the command's own error has already been reported."""
    if os.environ.get("ATLAS_DEBUG"):
        sys.__unraisablehook__(unraisable)
        return
    error = unraisable.exc_value
    err_console.print(f"note: ignored while cleaning up: {type(error).__name__}: {error}", markup=False,
                      highlight=False)


if __name__ == "__main__":
    entry()
