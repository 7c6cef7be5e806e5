"""One exception root, `AtlasError`, with a few kinds of failure under it and the specific errors under the kinds.

The kind says what went wrong for the person running Atlas, and decides the `atlas-xl` exit status (EXIT_CODES,
below: the one table; nothing parses a message to choose one):

    BadInput         2   the data, an argument or a setting is wrong: LoadError, AmountError, RateError, DateError,
                         ArgumentError, IbanError, UnsafeInputError, ConfigError
    NotFound         2   a run, user or client named that does not exist
    RefusedByRule    1   a business rule forbids it in the present state: WorkflowError, SepaError
    PermissionDenied 3   the acting user may not do this
    OutputError      73  an output file or folder cannot be written (sysexits EX_CANTCREAT)
    StoreError       70  the database failed (one line: no SQL text, no client data)

Every error carries structured fields beside its message: `what` (the thing that was wrong, e.g. "--as-of"),
`value` (what was given) and `expected` (the accepted form). A message that quotes a value quotes it through
`quote`, which cuts it to a readable length (a 2 MB client name would otherwise make a 2 MB message).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

QUOTE_LIMIT = 80  # characters of a quoted value shown in a message


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` as a message shows it: repr() of text, cut to `limit` characters with the full length noted.

    quote("abc") == "'abc'"; quote("x" * 2_000_000, limit=3) == "'xxx…' (2,000,000 characters)";
    quote(12) == "12". A cut never splits an escape: the text is cut first and then repr()'d.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        cut = repr(value[:limit])
        return f"{cut[:-1]}…{cut[-1]} ({len(value):,} characters)"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


# a password where it stands: in a URL (scheme://user:PASSWORD@host) or a libpq setting (password=PASSWORD)
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")
_PASSWORD_SETTING = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)


def hide_passwords(text: str) -> str:
    """`text` with every password replaced by *** where it stands, in a URL or a password=... setting, and
    nothing else touched: with the password `p`, "port 1 failed" stays "port 1 failed"."""
    return _PASSWORD_SETTING.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***\3", text))


def cut(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` unquoted, cut to `limit` characters with the full length noted (for a message's free text)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


_UNSET = object()  # `value` not given (None is a value a message may need to quote)


class AtlasError(ValueError):
    """Root of every error Atlas Settlement raises on purpose (shown to users without a traceback).

    AtlasError("free text") keeps its message as given. With `what` and `value` the message is composed:
    ArgumentError("is not a date", what="--as-of", value="2026-13-01", expected="YYYY-MM-DD") reads
    "--as-of '2026-13-01' is not a date; expected YYYY-MM-DD" (the value cut by `quote`).
    """

    def __init__(self, message: str = "", *, what: str | None = None, value: object = _UNSET,
                 expected: str | None = None) -> None:
        self.what = what
        self.value = None if value is _UNSET else value
        self.expected = expected
        if what is not None or value is not _UNSET:
            subject = " ".join(part for part in (what, None if value is _UNSET else quote(value)) if part)
            message = f"{subject} {message or 'is not valid'}"
            if expected:
                message += f"; expected {expected}"
        elif expected and message:
            message += f"; expected {expected}"
        self.message = message
        super().__init__(message)


# ------------------------------------------------------------------------------------------------ the kinds


class BadInput(AtlasError):
    """The input data, an argument or a setting is wrong; the message says where and what was expected."""


class NotFound(AtlasError):
    """A run, a user or a client that does not exist."""


class RefusedByRule(AtlasError):
    """A business rule refuses the action in the present state (the input itself is well formed)."""


class PermissionDenied(AtlasError):
    """The acting user may not do this."""


class OutputError(AtlasError):
    """An output file or folder that cannot be written (path, permission, disk full)."""


class StoreError(AtlasError):
    """The database failed; the message is one line with no SQL text and no client data."""


# ------------------------------------------------------------------------------------------------ bad input


class AmountError(BadInput):
    """An amount that is not an exact number of cents."""


class RateError(BadInput):
    """A rate that is not a fraction with at most 6 decimals."""


class DateError(BadInput):
    """A date that cannot be read."""


class ArgumentError(BadInput):
    """A bad argument to an engine or worksheet function."""


class IbanError(BadInput):
    """An IBAN or BIC that fails its checks."""


class ConfigError(BadInput):
    """A bad setting (database URL, debtor account, thresholds)."""


class UnsafeInputError(BadInput):
    """An input file that is refused before parsing (entity expansion, zip bomb, path escape)."""


# ------------------------------------------------------------------------------------------------ refused


class WorkflowError(RefusedByRule):
    """A payout-run action that the run's state does not allow."""


class SepaError(RefusedByRule):
    """A payment that cannot go into a SEPA credit transfer file."""


# ------------------------------------------------------------------------------------------------ exit codes

EXIT_OK = 0
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE: a bug, or the database failing under us
EXIT_CANT_CREATE = 73  # sysexits.h EX_CANTCREAT

# The one table from error kind to `atlas-xl` exit status; the first kind the error is an instance of wins.
EXIT_CODES: tuple[tuple[type[AtlasError], int], ...] = (
    (RefusedByRule, 1),
    (BadInput, 2),
    (NotFound, 2),
    (PermissionDenied, 3),
    (StoreError, EXIT_INTERNAL),
    (OutputError, EXIT_CANT_CREATE),
)
EXIT_UNKINDED = 1  # an AtlasError raised without a kind: refused, as before the kinds existed


def exit_code_for(error: AtlasError) -> int:
    """The exit status of `atlas-xl` when `error` stops a command (EXIT_CODES)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_UNKINDED


# ------------------------------------------------------------------------------------------------ load problems


@dataclass(frozen=True)
class Problem:
    """One validation problem, located as the user sees it in their file."""

    file: str
    sheet: str | None
    row: int | None  # the row number as shown in Excel / a text editor (header is row 1)
    column: str | None
    value: object
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.sheet:
            where.append(f"sheet {self.sheet}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        value = "" if self.value is None else f" (value {quote(self.value)})"
        return f"{', '.join(where)}: {self.message}{value}"


class LoadError(BadInput):
    """Input data failed validation; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} problem(s) in the input data:"]
        lines += [f"  - {p}" for p in self.problems[:200]]
        if len(self.problems) > 200:
            lines.append(f"  ... and {len(self.problems) - 200} more")
        super().__init__("\n".join(lines))
