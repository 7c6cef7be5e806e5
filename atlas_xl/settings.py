"""Settings with defaults, overridable from the environment (ATLAS_*) or the CLI; one frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from atlas_xl.domain.money import rate_to_ppm, to_cents
from atlas_xl.errors import ConfigError


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
    overrides: dict[str, object] = {}
    if "ATLAS_DUAL_APPROVAL_EUR" in env:
        overrides["dual_approval_cents"] = to_cents(env["ATLAS_DUAL_APPROVAL_EUR"])
    for field_name, var in (("debtor_name", "ATLAS_DEBTOR_NAME"), ("debtor_iban", "ATLAS_DEBTOR_IBAN"),
                            ("debtor_bic", "ATLAS_DEBTOR_BIC")):
        if env.get(var):
            overrides[field_name] = env[var]
    settings = replace(settings, **overrides)
    return settings.with_thresholds(env.get("ATLAS_WARNING_THRESHOLD"), env.get("ATLAS_BREACH_THRESHOLD"))
