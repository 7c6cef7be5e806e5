"""IBAN / BIC checks through schwifty: one reason text per account, or None when it is valid."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException


@lru_cache(maxsize=65536)
def iban_problem(iban: object) -> str | None:
    if iban is None or (isinstance(iban, float) and iban != iban) or not str(iban).strip():
        return "IBAN is missing"
    try:
        IBAN(str(iban), validate_bban=True)
    except SchwiftyException as error:
        return f"IBAN {str(iban)!r} is invalid: {error}"
    return None


@lru_cache(maxsize=65536)
def bic_problem(bic: object) -> str | None:
    if bic is None or (isinstance(bic, float) and bic != bic) or not str(bic).strip():
        return None  # optional for SEPA payments inside the EEA
    try:
        BIC(str(bic))
    except SchwiftyException as error:
        return f"BIC {str(bic)!r} is invalid: {error}"
    return None


def iban_problems(ibans: pd.Series | np.ndarray) -> np.ndarray:
    """Per account: the problem text or '' (one schwifty check per distinct IBAN, cached)."""
    values = pd.Series(np.asarray(ibans, dtype=object))
    unique = values.drop_duplicates()
    problems = {value: (iban_problem(value) or "") for value in unique}
    return values.map(problems).to_numpy(dtype=object)
