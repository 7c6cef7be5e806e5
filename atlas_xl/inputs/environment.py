"""What the process's environment says: the ATLAS_* settings and the machine's memory.

Read here, in the inputs layer, so that the engines (which take a `Settings`) touch no OS interface.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache

from atlas_xl.domain.money import to_cents
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



def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    settings = Settings(memory_bytes=machine_memory_bytes())
    if "ATLAS_DUAL_APPROVAL_EUR" in env:
        settings = replace(settings, dual_approval_cents=to_cents(env["ATLAS_DUAL_APPROVAL_EUR"]))
    # a debtor variable set but empty keeps the default
    settings = replace(settings, debtor_name=env.get("ATLAS_DEBTOR_NAME") or settings.debtor_name,
                       debtor_iban=env.get("ATLAS_DEBTOR_IBAN") or settings.debtor_iban,
                       debtor_bic=env.get("ATLAS_DEBTOR_BIC") or settings.debtor_bic)
    return settings.with_thresholds(env.get("ATLAS_WARNING_THRESHOLD"), env.get("ATLAS_BREACH_THRESHOLD"))
