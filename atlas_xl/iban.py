"""Per-client account checks for payout readiness: the same rules the SEPA writer enforces (`epc`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from atlas_xl.epc import iban_compact
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
