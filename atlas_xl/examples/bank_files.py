"""Write the bank's side of an executed payout run, for example data and tests (beside the example portfolio generator:
it feeds inputs, and it validates with the reader's own schemas).

For a list of executed transfers (anything with end_to_end_id, amount_cents, creditor_name, creditor_iban, such
as ``outputs.sepa.pain001.CreditTransfer``):
- pain.002.001.11: the group PART (ACCP when nothing is rejected), every transfer ACCP except ``rejected`` RJCT
  ``reject_reason`` (AC04 unless given);
- camt.054.001.08: the accepted transfers booked as debits (PMNT/ICDT/ESCT) on the execution date, and the
  ``returned`` one credited back ``return_days`` later (PMNT/ICDT/RRTN, ``return_reason``, AC01 unless given);
- camt.053.001.08: the execution day's statement: opening balance, the debits, the given credits (acquirer
  settlements, repayments), closing = opening + entries (the later return is only in the camt.054).
Every file is validated against its XSD (the same schema the reader uses) before it is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from lxml import etree
from lxml.builder import ElementMaker  # type: ignore[import-untyped]  # lxml ships no type information

from atlas_xl.domain.model import Portfolio
from atlas_xl.engines.bank_matching import acquirer_credits, due_repayments
from atlas_xl.engines.run import compute_payouts
from atlas_xl.engines.schedules import portfolio_schedules
from atlas_xl.errors import AtlasError, RefusedByRule
from atlas_xl.inputs.bank_files import schema
from atlas_xl.outputs.files import write_atomic
from atlas_xl.settings import Settings

PAIN002 = "pain.002.001.11"
CAMT054 = "camt.054.001.08"
CAMT053 = "camt.053.001.08"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class Transfer(Protocol):
    @property
    def end_to_end_id(self) -> str: ...
    @property
    def amount_cents(self) -> int: ...
    @property
    def creditor_name(self) -> str: ...
    @property
    def creditor_iban(self) -> str: ...


@dataclass(frozen=True)
class Credit:
    """A credit the statement should show (acquirer settlement, repayment)."""

    amount_cents: int
    remittance_info: str
    end_to_end_id: str = "NOTPROVIDED"
    booked_on: date | None = None  # default: the execution date


@dataclass(frozen=True)
class BankSideFiles:
    pain002: bytes
    camt054: bytes
    camt053: bytes


_REASON_TEXT = {"AC04": "Closed account number", "AC01": "Incorrect account number", "RR01": "Regulatory reason",
                "MS03": "Reason not specified"}


def _eur(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _maker(version: str) -> ElementMaker:
    ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
    return ElementMaker(namespace=ns, nsmap={None: ns})


def _finish(doc: etree._Element, version: str) -> bytes:
    xsd = schema(version)
    if not xsd.validate(doc):
        raise AtlasError(f"generated {version} file fails its schema: {xsd.error_log.last_error}")
    return XML_DECLARATION + etree.tostring(doc, encoding="UTF-8", pretty_print=True)


def _entry(E, cents: int, side: str, on: date, family: str, subfamily: str, end_to_end_id: str,
           remittance: str | None = None, return_reason: str | None = None):
    tx = [E.Refs(E.EndToEndId(end_to_end_id)), E.Amt(_eur(cents), Ccy="EUR"), E.CdtDbtInd(side)]
    if remittance:
        tx.append(E.RmtInf(E.Ustrd(remittance[:140])))
    if return_reason:
        tx.append(E.RtrInf(E.Rsn(E.Cd(return_reason))))
    return E.Ntry(
        E.Amt(_eur(cents), Ccy="EUR"), E.CdtDbtInd(side), E.Sts(E.Cd("BOOK")),
        E.BookgDt(E.Dt(on.isoformat())), E.ValDt(E.Dt(on.isoformat())),
        E.BkTxCd(E.Domn(E.Cd("PMNT"), E.Fmly(E.Cd(family), E.SubFmlyCd(subfamily)))),
        E.NtryDtls(E.TxDtls(*tx)),
    )


def bank_side_files(transfers: Sequence[Transfer], *, original_msg_id: str, pmt_inf_id: str, debtor_iban: str,
                    executed_on: date, created_at: datetime, opening_cents: int, rejected: str | None,
                    returned: str | None, return_days: int = 2, credits: Sequence[Credit] = (),
                    reject_reason: str = "AC04", return_reason: str = "AC01",
                    statement_id: str | None = None, statement_from: date | None = None) -> BankSideFiles:
    """The bank's pain.002, camt.054 and camt.053 for ``transfers`` (see the module docstring)."""
    ids = {t.end_to_end_id for t in transfers}
    for label, e2e in (("rejected", rejected), ("returned", returned)):
        if e2e is not None and e2e not in ids:
            raise AtlasError(f"{label} EndToEndId {e2e!r} is not one of the transfers")
    if rejected is not None and rejected == returned:
        raise AtlasError("the rejected transfer cannot also be returned")
    stamp = created_at.replace(microsecond=0).isoformat()

    E = _maker(PAIN002)
    txs = []
    for t in transfers:
        if t.end_to_end_id == rejected:
            txs.append(E.TxInfAndSts(E.OrgnlEndToEndId(t.end_to_end_id), E.TxSts("RJCT"),
                                     E.StsRsnInf(E.Rsn(E.Cd(reject_reason)),
                                                 E.AddtlInf(_REASON_TEXT.get(reject_reason, "Rejected")))))
        else:
            txs.append(E.TxInfAndSts(E.OrgnlEndToEndId(t.end_to_end_id), E.TxSts("ACCP")))
    group = "PART" if rejected else "ACCP"
    pain002 = _finish(E.Document(E.CstmrPmtStsRpt(
        E.GrpHdr(E.MsgId(f"STS-{original_msg_id}"[:35]), E.CreDtTm(stamp)),
        E.OrgnlGrpInfAndSts(E.OrgnlMsgId(original_msg_id), E.OrgnlMsgNmId("pain.001.001.09"), E.GrpSts(group)),
        E.OrgnlPmtInfAndSts(E.OrgnlPmtInfId(pmt_inf_id), E.PmtInfSts(group), *txs),
    )), PAIN002)

    booked = [t for t in transfers if t.end_to_end_id != rejected]
    return_on = executed_on + timedelta(days=return_days)
    E = _maker(CAMT054)
    acct = E.Acct(E.Id(E.IBAN(debtor_iban)), E.Ccy("EUR"))
    entries = [_entry(E, t.amount_cents, "DBIT", executed_on, "ICDT", "ESCT", t.end_to_end_id) for t in booked]
    entries += [_entry(E, t.amount_cents, "CRDT", return_on, "ICDT", "RRTN", t.end_to_end_id,
                       return_reason=return_reason) for t in booked if t.end_to_end_id == returned]
    camt054 = _finish(E.Document(E.BkToCstmrDbtCdtNtfctn(
        E.GrpHdr(E.MsgId(f"NTF-{original_msg_id}"[:35]), E.CreDtTm(stamp)),
        E.Ntfctn(E.Id(f"NTF-{original_msg_id}"[:35]), acct, *entries),
    )), CAMT054)

    E = _maker(CAMT053)
    entries = [_entry(E, t.amount_cents, "DBIT", executed_on, "ICDT", "ESCT", t.end_to_end_id) for t in booked]
    entries += [_entry(E, c.amount_cents, "CRDT", c.booked_on or executed_on, "RCDT", "ESCT", c.end_to_end_id,
                       c.remittance_info) for c in credits]
    total = sum(c.amount_cents for c in credits) - sum(t.amount_cents for t in booked)
    closing = opening_cents + total

    def bal(code: str, cents: int, on: date):
        return E.Bal(E.Tp(E.CdOrPrtry(E.Cd(code))), E.Amt(_eur(abs(cents)), Ccy="EUR"),
                     E.CdtDbtInd("CRDT" if cents >= 0 else "DBIT"), E.Dt(E.Dt(on.isoformat())))

    camt053 = _finish(E.Document(E.BkToCstmrStmt(
        E.GrpHdr(E.MsgId((statement_id or f"STM-{original_msg_id}")[:35]), E.CreDtTm(stamp)),
        E.Stmt(E.Id(f"STM-{executed_on.isoformat()}"), E.Acct(E.Id(E.IBAN(debtor_iban)), E.Ccy("EUR")),
               bal("OPBD", opening_cents, statement_from or executed_on), bal("CLBD", closing, executed_on),
               *entries),
    )), CAMT053)
    return BankSideFiles(pain002, camt054, camt053)


# --- the bank's side of the bundled example portfolio ---------------------------------------------------------

EXAMPLE_BANK_FILES = ("bank_pain002.xml", "bank_camt054.xml", "bank_camt053.xml")
EXAMPLE_OPENING_CENTS = 2_500_000_00  # the paying account's opening balance on the example statement
EXAMPLE_CREATED_AT = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
UNEXPECTED_CREDIT = Credit(1_234_56, "Refund supplier invoice 2026-117")


def example_bank_side(portfolio: Portfolio, settings: Settings | None = None) -> BankSideFiles:
    """The bank's answer to the run Atlas proposes first in a new store for the portfolio's last date (R1,
    MsgId ATLAS-<date>-R1, EndToEndIds R1-<client>), executed the next day:
    - pain.002 accepting the run but rejecting its first payout (AC04);
    - camt.054 booking the rest and returning the second payout two days later (AC01);
    - camt.053 from two days before the payout date to the execution day: the payout debits, the acquirer's
      credits of the first two settlement dates (the last one is missing), the term-loan instalments due in the
      period (remittance: the loan id) and one unexpected credit."""
    settings = settings or Settings()
    as_of = portfolio.last_date.date()
    executed_on = as_of + timedelta(days=1)
    start = as_of - timedelta(days=2)
    frame = compute_payouts(portfolio, as_of, settings)
    ready = frame.loc[frame["ready"]].sort_values("client_id")
    transfers = [_ExampleTransfer(f"R1-{client}", int(cents), str(name), str(iban)) for client, cents, name, iban
                 in zip(ready["client_id"].tolist(), ready["amount_cents"].tolist(), ready["name"].tolist(),
                        ready["iban"].tolist(), strict=True)]
    if len(transfers) < 3:
        raise RefusedByRule(f"the example portfolio has {len(transfers)} ready payout(s) on its last date; the "
                            "bank's side needs at least 3 (one rejected, one returned, one booked)")
    settlements = acquirer_credits(portfolio.settlements, start, as_of)
    credits = [Credit(s.amount_cents, f"Acquirer settlement {s.reference}", booked_on=s.expected_on)
               for s in settlements[:-1]]  # the last settlement date's credit is missing
    due = due_repayments(portfolio_schedules(portfolio.loans), start, executed_on) if len(portfolio.loans) else []
    credits += [Credit(r.amount_cents, f"Repayment {r.client_reference}", booked_on=r.expected_on) for r in due]
    credits.append(replace(UNEXPECTED_CREDIT, booked_on=executed_on))
    tag = f"ATLAS-{as_of:%Y%m%d}-R1"
    return bank_side_files(transfers, original_msg_id=tag, pmt_inf_id=f"{tag}-P1", debtor_iban=settings.debtor_iban,
                           executed_on=executed_on, created_at=EXAMPLE_CREATED_AT,
                           opening_cents=EXAMPLE_OPENING_CENTS, rejected=transfers[0].end_to_end_id,
                           returned=transfers[1].end_to_end_id, credits=credits, statement_from=start)


@dataclass(frozen=True)
class _ExampleTransfer:
    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str


def write_example_bank_side(portfolio: Portfolio, out_dir: str | Path) -> list[Path]:
    """Write ``example_bank_side`` into ``out_dir`` (EXAMPLE_BANK_FILES), each file atomically."""
    files = example_bank_side(portfolio)
    out = Path(out_dir)
    written = []
    for name, data in zip(EXAMPLE_BANK_FILES, (files.pain002, files.camt054, files.camt053), strict=True):
        write_atomic(out / name, data)
        written.append(out / name)
    return written
