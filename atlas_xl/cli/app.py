"""`atlas-xl`: the headless front. Builds the Typer app, registers every command here, and runs it so that every
AtlasError is readable text, never a traceback.

Exit status (the kind of the error decides it: atlas_xl.errors.EXIT_CODES): 0 ok; 1 refused by a business rule
(workflow, SEPA); 2 bad input or arguments, or a run / user / client that does not exist; 3 permission denied;
73 an output that cannot be written (folder, permission, disk full); 70 a database failure or an internal error
(one line, details with ATLAS_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from atlas_xl import __version__
from atlas_xl.cli.bank import bank_app
from atlas_xl.cli.close import close
from atlas_xl.cli.common import ROOT_DB_KEY, ClickException, err_console, print_error, store_error_from
from atlas_xl.cli.credit import credit_app
from atlas_xl.cli.dashboard import dashboard
from atlas_xl.cli.data import example_data
from atlas_xl.cli.journal import journal_app
from atlas_xl.cli.memory import fewer_collections, keep_freed_memory, skip_exit_collections, skip_hugepage_advice
from atlas_xl.cli.payouts import audit_app, payouts_app, store_app, users_app
from atlas_xl.cli.policy import policy_app
from atlas_xl.cli.run import run
from atlas_xl.cli.workbook import workbook_app
from atlas_xl.errors import EXIT_CANT_CREATE, EXIT_INTERNAL, AtlasError, cut, exit_code_for
from atlas_xl.outputs.files import describe_os_error


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


def root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option(
        "--db", help="Database URL for the command that follows (a --db after the command wins); "
                     "else ATLAS_DB_URL, else the default SQLite file.")] = None,
    show_version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print the version and exit.")] = False,
) -> None:
    """Options that stand before the command: `atlas-xl --db URL payouts list`."""
    if db is not None:
        ctx.meta[ROOT_DB_KEY] = db  # ctx.meta is shared with the subcommand's context: common.resolve_db reads it


def version() -> None:
    """Print the Atlas Settlement version."""
    typer.echo(__version__)


# rich_markup_mode=None: click's plain help. typer's rich help panel prints every option's type column, "<bool>"
# for a flag that takes no value (typer 0.29 rich_utils._print_options_panel), where the plain formatter skips
# the type of a flag (TyperOption.get_help_record). Sub-apps inherit the mode.
app = typer.Typer(
    help="Atlas Settlement: settlement and payout operations (reserves, payouts, exposure, schedules).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.callback()(root)
app.command()(version)
app.command()(run)
app.command()(dashboard)
app.command("example-data")(example_data)
app.add_typer(store_app, name="store")
app.add_typer(users_app, name="users")
app.add_typer(payouts_app, name="payouts")
app.add_typer(audit_app, name="audit")
app.add_typer(workbook_app, name="workbook")
app.add_typer(credit_app, name="credit")
app.command()(close)
app.add_typer(journal_app, name="journal")
app.add_typer(bank_app, name="bank")
app.add_typer(policy_app, name="policy")


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # before any data is loaded (atlas_xl.cli.memory says why)
    skip_hugepage_advice()
    try:
        result = app(args=argv, standalone_mode=False)
    except AtlasError as error:
        print_error(str(error))
        return exit_code_for(error)
    except OSError as error:  # an output the system would not let us write (a read error is a LoadError)
        print_error(f"cannot write the output: {describe_os_error(error)}")
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
        failure = store_error_from(error)
        if failure is not None:
            print_error(str(failure))
            return exit_code_for(failure)
        first_line = (str(error).strip().splitlines() or [""])[0]
        err_console.print(f"internal error: {type(error).__name__}: {cut(first_line, 200)} "
                          "(set ATLAS_DEBUG=1 for details)", markup=False, highlight=False)
        return EXIT_INTERNAL
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
