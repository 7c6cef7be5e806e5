"""What the process's environment says: the ATLAS_* settings and the machine's memory.

Read here, in the inputs layer, so that the engines (which take a `Settings`) touch no OS interface.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache

from atlas_xl.domain.money import rate_to_ppm, to_cents
from atlas_xl.errors import ConfigError
from atlas_xl.settings import Settings


@lru_cache(maxsize=1)
def machine_memory_bytes() -> int | None:
    """The machine's physical memory in bytes, None where it cannot be read (Windows has no sysconf).

    Read outside the engines (which touch no OS interface): `Settings.memory_bytes` carries it to
    `engines.run`, which refuses a run whose client-days would not fit (see `engines.run.client_day_limit`).
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


# the paying account is the store's payment policy (atlas_xl.workflow.policies): these are no longer read
DEBTOR_VARIABLES = ("ATLAS_DEBTOR_NAME", "ATLAS_DEBTOR_IBAN", "ATLAS_DEBTOR_BIC")
# payment controls a variable may make stricter (never looser) than the policy for one command
PAYMENT_VARIABLES = {"ATLAS_DUAL_APPROVAL_EUR": "dual_approval_cents", "ATLAS_WARNING_THRESHOLD": "warning_ppm",
                     "ATLAS_BREACH_THRESHOLD": "breach_ppm"}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """The engines' settings: ATLAS_DUAL_APPROVAL_EUR, ATLAS_WARNING_THRESHOLD, ATLAS_BREACH_THRESHOLD over the
    defaults. For payments these are only requests to be stricter than the store's policy (`payment_requests`);
    ATLAS_DEBTOR_* are not read (the paying account is the policy's)."""
    env = os.environ if environ is None else environ
    settings = Settings(memory_bytes=machine_memory_bytes())
    if "ATLAS_DUAL_APPROVAL_EUR" in env:
        settings = replace(settings, dual_approval_cents=to_cents(env["ATLAS_DUAL_APPROVAL_EUR"]))
    return settings.with_thresholds(env.get("ATLAS_WARNING_THRESHOLD"), env.get("ATLAS_BREACH_THRESHOLD"))


def payment_requests(environ: dict[str, str] | None = None) -> dict[str, tuple[str, int]]:
    """The payment controls the environment asks for, as {control: (variable, value)}: only the variables that
    are set (a control not asked for is the policy's). A set ATLAS_DEBTOR_* is refused: the paying account is
    chosen by the payment policy, never by the proposer's environment."""
    env = os.environ if environ is None else environ
    stray = [name for name in DEBTOR_VARIABLES if env.get(name, "").strip()]
    if stray:
        raise ConfigError(f"{', '.join(stray)} is set, but the paying account is the store's payment policy and "
                          "is no longer read from the environment: unset it; an admin changes the account with "
                          "`atlas-xl policy propose --debtor-iban IBAN --debtor-bic BIC --debtor-name NAME` and a "
                          "second admin approves it (`atlas-xl policy approve N`)")
    requests: dict[str, tuple[str, int]] = {}
    for name, control in PAYMENT_VARIABLES.items():
        text = env.get(name)
        if text is None or not text.strip():
            continue
        requests[control] = (name, to_cents(text) if control == "dual_approval_cents" else rate_to_ppm(text))
    return requests
