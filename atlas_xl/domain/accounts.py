"""Per-client account checks for payout readiness: the same rules the SEPA writer enforces (it takes
`iban_compact` from here). An IBAN must pass its ISO 13616 check digits, its country's format, the SEPA zone
(`epc_text`) and the national check digits inside its BBAN (schwifty's validate_bban: BE, ES, FR, IT, ... and
the German banks' own check methods): BE65001983341924 has the right IBAN check digits but wrong Belgian ones."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd
from schwifty import IBAN
from schwifty.exceptions import NationalChecksumNotVerified, SchwiftyException

from atlas_xl.domain import epc_text
from atlas_xl.domain.epc_text import bic_compact, epc_name
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


def iban_compact(value: str, who: str) -> str:
    """The IBAN's compact form when a SEPA file may carry it (epc_text.iban_compact's checks and the national
    check digits); else IbanError naming `who`."""
    compact = epc_text.iban_compact(value, who)
    problem = national_digits_problem(compact)
    if problem is not None:
        raise IbanError(f"{who}: IBAN {value!r} is invalid ({problem}); expected e.g. DE89370400440532013000")
    return compact


@lru_cache(maxsize=65536)
def national_digits_problem(compact: str) -> str | None:
    """schwifty's complaint about the national check digits of an otherwise valid IBAN, else None. Where a
    country declares national digits but schwifty has no algorithm for them, they pass unchecked (silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NationalChecksumNotVerified)
        try:
            IBAN(compact, validate_bban=True)
        except SchwiftyException as error:
            return str(error)
    return None


@lru_cache(maxsize=65536)
def iban_problem(iban: object) -> str | None:
    """None for an IBAN a SEPA file accepts (check digits, national digits, format, SEPA zone), else why not."""
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
