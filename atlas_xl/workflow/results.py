"""Typed results of the payout workflow: what the CLI prints (and --json emits) and the Excel macros show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from atlas_xl.domain.model import PayoutStatus, RunStatus
from atlas_xl.domain.money import format_eur


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    ref: str
    payout_date: date
    status: RunStatus
    total_cents: int
    payout_count: int
    excluded_count: int
    approvals: tuple[str, ...]
    approvals_required: int
    proposed_by: str
    executed_by: str | None
    file_name: str | None
    file_sha256: str | None
    pain_version: str | None
    superseded_by: int | None
    snapshot_sha256: str = ""
    requested_execution_date: date | None = None  # fixed when the run is first executed
    delivered_at: datetime | None = None  # when its file last reached an output folder
    delivered_by: str | None = None
    delivered_to: str | None = None
    # the payment policy the run was proposed under (workflow.policies.policy_record); filled by propose / show
    policy: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["payout_date"] = self.payout_date.isoformat()
        data["requested_execution_date"] = _iso(self.requested_execution_date)
        data["delivered_at"] = _iso(self.delivered_at)
        data["approvals"] = list(self.approvals)
        data["total"] = format_eur(self.total_cents)
        return data

    def line(self) -> str:
        approvals = f"{len(self.approvals)}/{self.approvals_required} approvals"
        return (f"{self.ref}  {self.payout_date.isoformat()}  {self.status:<10}  {format_eur(self.total_cents)}  "
                f"{self.payout_count} payouts, {self.excluded_count} excluded, {approvals}")


@dataclass(frozen=True)
class PayoutLine:
    client_id: str
    name: str
    iban: str
    bic: str | None
    amount_cents: int
    remittance: str
    end_to_end_id: str
    status: PayoutStatus
    reason: str | None
    # IBAN, BIC or name differ from the client's last executed payout: the run needs two approvers
    bank_details_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


@dataclass(frozen=True)
class ExcludedLine:
    client_id: str
    name: str
    reasons: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    payouts: tuple[PayoutLine, ...]
    excluded: tuple[ExcludedLine, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "payouts": [p.to_dict() for p in self.payouts],
                "excluded": [e.to_dict() for e in self.excluded]}


@dataclass(frozen=True)
class ExecutionResult:
    run: RunSummary
    xml_path: Path
    sha256: str
    reviewer_path: Path | None
    already_executed: bool
    superseded: tuple[int, ...] = field(default=())
    funding: str = ""  # the funding check's figures (workflow.bank.funding_check); '' when not executed now

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "xml_path": str(self.xml_path), "sha256": self.sha256,
                "reviewer_path": None if self.reviewer_path is None else str(self.reviewer_path),
                "already_executed": self.already_executed, "funding": self.funding}


@dataclass(frozen=True)
class DeliveryResult:
    run: RunSummary
    xml_path: Path
    sha256: str
    delivered_before_at: datetime | None  # None: this is the file's first delivery
    delivered_before_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "xml_path": str(self.xml_path), "sha256": self.sha256,
                "delivered_before_at": _iso(self.delivered_before_at), "delivered_before_to": self.delivered_before_to}

    def line(self) -> str:
        before = ("first delivery" if self.delivered_before_at is None else
                  f"delivered before on {self.delivered_before_at:%Y-%m-%d %H:%M:%S} UTC to {self.delivered_before_to}")
        return f"delivered run {self.run.ref}'s file to {self.xml_path} (sha256 {self.sha256}); {before}"


@dataclass(frozen=True)
class ProposeResult:
    run: RunSummary
    superseded: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "superseded": [f"R{i}" for i in self.superseded]}


@dataclass(frozen=True)
class CreditLimitChange:
    client_id: str
    before_cents: int | None  # None: the data's limit applied until now
    after_cents: int

    def to_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id,
                "before": None if self.before_cents is None else {"credit_limit_cents": self.before_cents},
                "after": {"credit_limit_cents": self.after_cents}}


@dataclass(frozen=True)
class ReserveTermsChange:
    client_id: str
    reserve: str
    before: dict[str, int | str | None] | None  # None: the data's terms applied until now
    after: dict[str, int | str | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
