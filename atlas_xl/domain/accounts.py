"""Per-client account checks for payout readiness: the same rules the SEPA writer enforces (`epc`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd

from atlas_xl.domain.epc_text import bic_compact, epc_name, iban_compact
from atlas_xl.errors import IbanError


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or not str(value).strip()


def _refusal(compact: Callable[[str, str], str], value: object) -> str | None:
    """Why the SEPA writer's check `compact` refuses the value (its message without the party), else None."""
    try:
        compact(str(value), "client")
    except IbanError as error:
        return str(error).removeprefix("client: ")
    return None


@lru_cache(maxsize=65536)
def iban_problem(iban: object) -> str | None:
    """None for an IBAN a SEPA file accepts (check digits, country format, SEPA zone), else the reason."""
    return "IBAN is missing" if _blank(iban) else _refusal(iban_compact, iban)


@lru_cache(maxsize=65536)
def bic_problem(bic: object) -> str | None:
    """None for a blank BIC (it is optional) or one the SEPA writer accepts, else the reason."""
    return None if _blank(bic) else _refusal(bic_compact, bic)


@lru_cache(maxsize=65536)
def name_problem(name: object) -> str | None:
    """None when the name keeps at least one character in the SEPA (EPC) set, as the writer needs."""
    if _blank(name) or not epc_name(str(name)):
        return f"name {name!r} has no character of the SEPA (EPC) character set"
    return None


def problems_of(values: pd.Series | np.ndarray, check: Callable[[object], str | None]) -> np.ndarray:
    """Per value: the problem text `check` finds, or '' (one check per distinct value)."""
    series = pd.Series(np.asarray(values, dtype=object))
    found = {value: (check(value) or "") for value in series.drop_duplicates()}
    return series.map(found).to_numpy(dtype=object)


def iban_problems(ibans: pd.Series | np.ndarray) -> np.ndarray:
    """Per account: the IBAN's problem text or ''."""
    return problems_of(ibans, iban_problem)
