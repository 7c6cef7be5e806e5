"""Settings with defaults, overridable from the environment (ATLAS_*) or the CLI; one frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache

from atlas_xl.domain.money import rate_to_ppm, to_cents
from atlas_xl.errors import ConfigError


@lru_cache(maxsize=1)
def machine_memory_bytes() -> int | None:
    """The machine's physical memory in bytes, None where it cannot be read (Windows has no sysconf).

    Read here, outside the engines (which touch no OS interface): `Settings.memory_bytes` carries it to
    `engines.run`, which refuses a run whose client-days would not fit (see `engines.run.client_day_limit`).
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class Settings:
    # credit limits: utilisation at or above these shares of the limit is WARNING / BREACH
    warning_ppm: int = 800_000
    breach_ppm: int = 1_000_000
    # exposure: share of the last `recent_days` gross sales counted as chargeback risk
    chargeback_risk_ppm: int = 20_000
    recent_days: int = 90
    # payout runs whose total reaches this need two distinct approvers
    dual_approval_cents: int = 100_000_00
    # the account payouts are sent from (fictitious demo account; set ATLAS_DEBTOR_* in production)
    debtor_name: str = "Atlas Settlement Demo GmbH"
    debtor_iban: str = "DE89370400440532013000"
    debtor_bic: str = "COBADEFFXXX"
    # the memory one engine run may plan with (bytes; None: unknown): the machine's physical memory
    memory_bytes: int | None = field(default_factory=machine_memory_bytes)

    def with_thresholds(self, warning: object | None = None, breach: object | None = None) -> Settings:
        new = self
        if warning is not None:
            new = replace(new, warning_ppm=rate_to_ppm(warning))
        if breach is not None:
            new = replace(new, breach_ppm=rate_to_ppm(breach))
        if not 0 < new.warning_ppm <= new.breach_ppm:
            raise ConfigError(
                f"warning threshold {new.warning_ppm / 1e6:.4f} must be > 0 and <= breach threshold "
                f"{new.breach_ppm / 1e6:.4f}; expected e.g. --warning 0.8 --breach 1.0"
            )
        return new


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    settings = Settings()
    if "ATLAS_DUAL_APPROVAL_EUR" in env:
        settings = replace(settings, dual_approval_cents=to_cents(env["ATLAS_DUAL_APPROVAL_EUR"]))
    # a debtor variable set but empty keeps the default
    settings = replace(settings, debtor_name=env.get("ATLAS_DEBTOR_NAME") or settings.debtor_name,
                       debtor_iban=env.get("ATLAS_DEBTOR_IBAN") or settings.debtor_iban,
                       debtor_bic=env.get("ATLAS_DEBTOR_BIC") or settings.debtor_bic)
    return settings.with_thresholds(env.get("ATLAS_WARNING_THRESHOLD"), env.get("ATLAS_BREACH_THRESHOLD"))
