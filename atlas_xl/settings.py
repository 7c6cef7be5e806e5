"""Settings with defaults: one frozen object. Read from the environment (ATLAS_*) by
atlas_xl.inputs.environment.load_settings, so that the engines that take it touch no OS interface."""

from __future__ import annotations

from dataclasses import dataclass, replace

from atlas_xl.domain.money import rate_to_ppm
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
    # the memory one engine run may plan with (bytes; None: unknown): the machine's physical memory
    memory_bytes: int | None = None

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
