"""Per-client account checks for payout readiness: the same rules the SEPA writer enforces (`epc`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from atlas_xl.epc import bic_compact, epc_name, iban_compact
from atlas_xl.errors import IbanError


@lru_cache(maxsize=65536)
def iban_problem(iban: object) -> str | None:
    """None for an IBAN a SEPA file accepts (check digits, country format, SEPA zone), else the reason."""
    if iban is None or (isinstance(iban, float) and iban != iban) or not str(iban).strip():
        return "IBAN is missing"
    try:
        iban_compact(str(iban), "client")
    except IbanError as error:
        return str(error).removeprefix("client: ")
    return None


def iban_problems(ibans: pd.Series | np.ndarray) -> np.ndarray:
    """Per account: the problem text or '' (one check per distinct IBAN, cached)."""
    values = pd.Series(np.asarray(ibans, dtype=object))
    problems = {value: (iban_problem(value) or "") for value in values.drop_duplicates()}
    return values.map(problems).to_numpy(dtype=object)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or not str(value).strip()


@lru_cache(maxsize=65536)
def bic_problem(bic: object) -> str | None:
    """None for a blank BIC (it is optional) or one the SEPA writer accepts, else the reason."""
    if _blank(bic):
        return None
    try:
        bic_compact(str(bic), "client")
    except IbanError as error:
        return str(error).removeprefix("client: ")
    return None


@lru_cache(maxsize=65536)
def name_problem(name: object) -> str | None:
    """None when the name keeps at least one character in the SEPA (EPC) set, as the writer needs."""
    if _blank(name) or not epc_name(str(name)):
        return f"name {name!r} has no character of the SEPA (EPC) character set"
    return None


def problems_of(values: pd.Series | np.ndarray, check) -> np.ndarray:
    """Per value: True where `check` finds a problem (one check per distinct value, cached)."""
    series = pd.Series(np.asarray(values, dtype=object))
    found = {value: check(value) is not None for value in series.drop_duplicates()}
    return series.map(found).to_numpy(dtype=bool)
