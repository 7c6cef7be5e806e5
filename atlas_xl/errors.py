"""One exception root with flat, specific subclasses; messages quote the bad value and the expected form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AtlasError(ValueError):
    """Root of every error Atlas Settlement raises on purpose (shown to users without a traceback)."""


class AmountError(AtlasError):
    """An amount that is not an exact number of cents."""


class RateError(AtlasError):
    """A rate that is not a fraction with at most 6 decimals."""


class DateError(AtlasError):
    """A date that cannot be read."""


class ArgumentError(AtlasError):
    """A bad argument to an engine or worksheet function."""


class IbanError(AtlasError):
    """An IBAN or BIC that fails its checks."""


class ConfigError(AtlasError):
    """A bad setting (database URL, debtor account, thresholds)."""


class PermissionDenied(AtlasError):
    """The acting user may not do this."""


class WorkflowError(AtlasError):
    """A payout-run action that the run's state does not allow."""


class SepaError(AtlasError):
    """A payment that cannot go into a SEPA credit transfer file."""


class OutputError(AtlasError):
    """An output file or folder that cannot be written (path, permission, disk full)."""


class UnsafeInputError(AtlasError):
    """An input file that is refused before parsing (entity expansion, zip bomb, path escape)."""


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
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{', '.join(where)}: {self.message}{value}"


class LoadError(AtlasError):
    """Input data failed validation; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} problem(s) in the input data:"]
        lines += [f"  - {p}" for p in self.problems[:200]]
        if len(self.problems) > 200:
            lines.append(f"  ... and {len(self.problems) - 200} more")
        super().__init__("\n".join(lines))
