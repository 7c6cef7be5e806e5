"""Read the bank's ISO 20022 answers safely: pain.002 status reports, camt.054 notifications, camt.053 statements.

Order of checks, each refusing the file with a located message (never a traceback):
1. size, from the file system before anything is read (``DEFAULT_MAX_BYTES`` = 50 MiB unless a limit is given);
2. a DOCTYPE anywhere in the file is refused (no DTD, no entities: "billion laughs" and external entities never
   reach the parser), and the parser itself runs with resolve_entities=False, no_network=True, load_dtd=False;
3. the root element's namespace decides the message and version (``SUPPORTED``); any other is refused naming
   the namespace found and the supported ones;
4. the file is validated against the ISO 20022 XSD shipped in ``atlas_xl/inputs/xsd/`` (errors give the line,
   the element path and the value);
5. amounts: currency EUR only, at most 2 decimals, turned into exact integer cents through Decimal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import NoReturn, TypeVar

from lxml import etree

from atlas_xl.domain.bank import (
    AccountReport,
    Balance,
    BankReportFile,
    BankTransactionCode,
    CreditDebit,
    Entry,
    EntryDetail,
    MessageKind,
    PaymentInfoStatus,
    StatusReason,
    StatusReport,
    TransactionStatus,
    TransactionStatusRecord,
)
from atlas_xl.errors import AtlasError, UnsafeInputError

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
CURRENCY = "EUR"
_MAX_LISTED = 50
_NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"

SUPPORTED: dict[str, MessageKind] = {
    "pain.002.001.03": MessageKind.STATUS_REPORT,
    "pain.002.001.11": MessageKind.STATUS_REPORT,
    "camt.054.001.02": MessageKind.NOTIFICATION,
    "camt.054.001.08": MessageKind.NOTIFICATION,
    "camt.053.001.02": MessageKind.STATEMENT,
    "camt.053.001.08": MessageKind.STATEMENT,
}
"""Message version (namespace tail) -> kind; the XSD of each is ``xsd/<version>.xsd``."""

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_DOCTYPE_UTF16 = (re.compile("<!DOCTYPE".encode("utf-16-le")), re.compile("<!DOCTYPE".encode("utf-16-be")))


@dataclass(frozen=True)
class XmlProblem:
    """One problem in a bank file, located as a user finds it in a text editor."""

    file: str
    line: int | None
    path: str | None  # element path such as Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/Amt
    value: object
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.path:
            where.append(f"element {self.path}")
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{', '.join(where)}: {self.message}{value}"


class BankFileError(AtlasError):
    """A bank file (pain.002 / camt.053 / camt.054) that Atlas refuses; carries every problem found."""

    def __init__(self, problems: Iterable[XmlProblem]):
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} problem(s) in the bank file:"]
        lines += [f"  - {p}" for p in self.problems[:_MAX_LISTED]]
        if len(self.problems) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.problems) - _MAX_LISTED} more")
        super().__init__("\n".join(lines))


# --- loading ------------------------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=False)


@cache
def schema(version: str) -> etree.XMLSchema:
    """The XSD shipped beside this module for ``version`` (e.g. "camt.053.001.08")."""
    resource = files("atlas_xl.inputs") / "xsd" / f"{version}.xsd"
    return etree.XMLSchema(etree.fromstring(resource.read_bytes(), _parser()))


def _supported_text() -> str:
    return ", ".join(_NS_PREFIX + v for v in sorted(SUPPORTED))


def _read_checked(path: Path, max_bytes: int) -> bytes:
    name = str(path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise BankFileError([XmlProblem(name, None, None, None, f"cannot be read: {exc.strerror or exc}")]) from None
    if size > max_bytes:
        raise UnsafeInputError(f"{name}: the file is {size:,} bytes, over the limit of {max_bytes:,} bytes for a "
                               "bank file; refused before reading")
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we looked
        raise UnsafeInputError(f"{name}: the file is over the limit of {max_bytes:,} bytes for a bank file")
    if _DOCTYPE.search(data) or any(p.search(data) for p in _DOCTYPE_UTF16):
        raise UnsafeInputError(f"{name}: the file contains a DOCTYPE declaration; bank files must not have one "
                               "(DTDs and entities are refused: entity expansion, external entities)")
    return data


def _parse(name: str, data: bytes) -> etree._ElementTree:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise BankFileError([XmlProblem(name, line, None, None, f"is not well-formed XML: {exc.msg}")]) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeInputError(f"{name}: the file contains a DOCTYPE declaration; bank files must not have one")
    return tree


def _version_of(name: str, root: etree._Element) -> str:
    qname = etree.QName(root)
    ns = qname.namespace or ""
    version = ns[len(_NS_PREFIX):] if ns.startswith(_NS_PREFIX) else None
    if version not in SUPPORTED:
        found = f"namespace {ns!r}" if ns else "no namespace"
        raise BankFileError([XmlProblem(name, root.sourceline, qname.localname, None,
                                        f"{found} is not a bank message Atlas reads; supported: {_supported_text()}")])
    if qname.localname != "Document":
        raise BankFileError([XmlProblem(name, root.sourceline, qname.localname, None,
                                        "the root element must be Document")])
    return version


def _readable_path(el: etree._Element) -> str:
    parts = []
    node: etree._Element | None = el
    while node is not None:
        tag = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                tag += f"[{same.index(node) + 1}]"
        parts.append(tag)
        node = parent
    return "/".join(reversed(parts))


def _validate(name: str, tree: etree._ElementTree, version: str) -> None:
    xsd = schema(version)
    if xsd.validate(tree):
        return
    problems = []
    for err in xsd.error_log:
        path, value = err.path, None
        if path:
            try:
                found = tree.xpath(path)
            except etree.XPathError:
                found = []
            if found and isinstance(found[0], etree._Element):
                value = (found[0].text or "").strip() or None
                path = _readable_path(found[0])
        message = re.sub(r"\{[^}]*\}", "", err.message)  # drop the namespace from element names
        problems.append(XmlProblem(name, err.line, path, value, f"fails the {version} schema: {message}"))
    raise BankFileError(problems)


def read_bank_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES,
                   ) -> StatusReport | BankReportFile:
    """Read a pain.002, camt.054 or camt.053 file (the namespace decides which)."""
    p = Path(path)
    name = str(p)
    tree = _parse(name, _read_checked(p, max_bytes))
    version = _version_of(name, tree.getroot())
    _validate(name, tree, version)
    reader = _Reader(name, version)
    kind = SUPPORTED[version]
    result = reader.status_report(tree.getroot()) if kind is MessageKind.STATUS_REPORT else \
        reader.account_reports(tree.getroot(), kind)
    if reader.problems:
        raise BankFileError(reader.problems)
    return result


_Record = TypeVar("_Record", StatusReport, BankReportFile)


def _expect(result: StatusReport | BankReportFile, kind: MessageKind, record: type[_Record],
            path: str | os.PathLike[str]) -> _Record:
    got = result.kind if isinstance(result, BankReportFile) else MessageKind.STATUS_REPORT
    if got is not kind or not isinstance(result, record):
        raise BankFileError([XmlProblem(str(path), None, None, None,
                                        f"is a {got.value} message; expected a {kind.value} message")])
    return result


def read_status_report(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> StatusReport:
    return _expect(read_bank_file(path, max_bytes=max_bytes), MessageKind.STATUS_REPORT, StatusReport, path)


def read_notification(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> BankReportFile:
    return _expect(read_bank_file(path, max_bytes=max_bytes), MessageKind.NOTIFICATION, BankReportFile, path)


def read_statement(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> BankReportFile:
    return _expect(read_bank_file(path, max_bytes=max_bytes), MessageKind.STATEMENT, BankReportFile, path)


# --- extraction (after schema validation: required elements are there) -------------------------------------


class _Reader:
    def __init__(self, name: str, version: str):
        self.name = name
        self.version = version
        self.ns = {"d": _NS_PREFIX + version}
        self.problems: list[XmlProblem] = []

    def _problem(self, el: etree._Element, value: object, message: str) -> None:
        self.problems.append(XmlProblem(self.name, el.sourceline, _readable_path(el), value, message))

    def _refuse(self, el: etree._Element, value: object, message: str) -> NoReturn:
        """A required value the schema guarantees is missing or unreadable: refuse with what was found so far."""
        self._problem(el, value, message)
        raise BankFileError(self.problems)

    def find(self, el: etree._Element, path: str) -> etree._Element | None:
        return el.find(path, self.ns)

    def text(self, el: etree._Element, path: str) -> str | None:
        found = el.find(path, self.ns)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def texts(self, el: etree._Element, path: str) -> list[str]:
        return [f.text.strip() for f in el.findall(path, self.ns) if f.text and f.text.strip()]

    # values

    def amount(self, el: etree._Element) -> int:
        text = (el.text or "").strip()
        ccy = el.get("Ccy")
        if ccy != CURRENCY:
            self._problem(el, f"{text} {ccy}", f"the currency is {ccy}; Atlas reads {CURRENCY} amounts only")
            return 0
        try:
            amount = Decimal(text)
        except InvalidOperation:
            self._problem(el, text, "is not an amount")
            return 0
        exponent = amount.as_tuple().exponent
        if not isinstance(exponent, int):  # "NaN", "Infinity": Decimal takes them, xs:decimal does not
            self._problem(el, text, "is not an amount")
            return 0
        if exponent < -2 and amount != amount.quantize(Decimal("0.01")):
            self._problem(el, text, "has more than 2 decimals; expected an amount in cents such as 12.34")
            return 0
        return int(amount * 100)

    def date_of(self, el: etree._Element | None) -> date | None:
        """A DateAndDateTimeChoice: Dt, or the date part of DtTm."""
        if el is None:
            return None
        day = self.text(el, "d:Dt")
        if day:
            return date.fromisoformat(day[:10])
        stamp = self.text(el, "d:DtTm")
        return date.fromisoformat(stamp[:10]) if stamp else None

    @staticmethod
    def datetime_of(text: str | None) -> datetime | None:
        if not text:
            return None
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    def required_date(self, el: etree._Element, path: str) -> date:
        """The date of a required DateAndDateTimeChoice under ``el`` (Bal/Dt)."""
        day = self.date_of(self.find(el, path))
        if day is None:
            self._refuse(el, None, f"has no date in {path.replace('d:', '')}")
        return day

    def required_datetime(self, el: etree._Element, path: str) -> datetime:
        """A required ISODateTime under ``el`` (GrpHdr/CreDtTm)."""
        stamp = self.datetime_of(self.text(el, path))
        if stamp is None:
            self._refuse(el, None, f"has no date and time in {path.replace('d:', '')}")
        return stamp

    def credit_debit(self, el: etree._Element) -> CreditDebit:
        """The required CdtDbtInd under ``el``: CRDT or DBIT."""
        text = self.text(el, "d:CdtDbtInd") or ""
        try:
            return CreditDebit(text)
        except ValueError:
            self._refuse(el, text, "CdtDbtInd must be CRDT or DBIT")

    def status(self, el: etree._Element, path: str) -> TransactionStatus | None:
        node = self.find(el, path)
        if node is None or not (node.text or "").strip():
            return None
        code = node.text.strip()
        try:
            return TransactionStatus(code)
        except ValueError:
            self._problem(node, code, "is not a payment status Atlas knows; expected one of "
                          + ", ".join(s.value for s in TransactionStatus))
            return None

    def reasons(self, el: etree._Element) -> tuple[StatusReason, ...]:
        out = []
        for info in el.findall("d:StsRsnInf", self.ns):
            code = self.text(info, "d:Rsn/d:Cd") or self.text(info, "d:Rsn/d:Prtry")
            text = " ".join(self.texts(info, "d:AddtlInf")) or None
            out.append(StatusReason(code, text))
        return tuple(out)

    # pain.002

    def status_report(self, root: etree._Element) -> StatusReport:
        msg = root[0]  # CstmrPmtStsRpt
        grp = self.find(msg, "d:OrgnlGrpInfAndSts")
        original_msg_id = self.text(grp, "d:OrgnlMsgId") or ""
        pmt_infos, transactions = [], []
        for pmt in msg.findall("d:OrgnlPmtInfAndSts", self.ns):
            pmt_inf_id = self.text(pmt, "d:OrgnlPmtInfId") or ""
            pmt_status = self.status(pmt, "d:PmtInfSts")
            pmt_infos.append(PaymentInfoStatus(pmt_inf_id, pmt_status, self.reasons(pmt), pmt.sourceline))
            for tx in pmt.findall("d:TxInfAndSts", self.ns):
                reasons = self.reasons(tx)
                first = reasons[0] if reasons else StatusReason(None, None)
                texts = [r.text for r in reasons if r.text]
                transactions.append(TransactionStatusRecord(
                    original_msg_id=original_msg_id,
                    original_pmt_inf_id=pmt_inf_id,
                    end_to_end_id=self.text(tx, "d:OrgnlEndToEndId"),
                    status=self.status(tx, "d:TxSts"),
                    reason_code=first.code,
                    reason_text=" ".join(texts) or None,
                    line=tx.sourceline,
                ))
        return StatusReport(
            file=self.name,
            version=self.version,
            message_id=self.text(msg, "d:GrpHdr/d:MsgId") or "",
            created_at=self.required_datetime(msg, "d:GrpHdr/d:CreDtTm"),
            original_msg_id=original_msg_id,
            original_msg_name=self.text(grp, "d:OrgnlMsgNmId") or "",
            group_status=self.status(grp, "d:GrpSts"),
            group_reasons=self.reasons(grp),
            payment_infos=tuple(pmt_infos),
            transactions=tuple(transactions),
        )

    # camt.053 / camt.054

    def account_reports(self, root: etree._Element, kind: MessageKind) -> BankReportFile:
        msg = root[0]  # BkToCstmrStmt / BkToCstmrDbtCdtNtfctn
        block = "d:Stmt" if kind is MessageKind.STATEMENT else "d:Ntfctn"
        reports = []
        for rpt in msg.findall(block, self.ns):
            balances = []
            for bal in rpt.findall("d:Bal", self.ns):
                code = self.text(bal, "d:Tp/d:CdOrPrtry/d:Cd") or self.text(bal, "d:Tp/d:CdOrPrtry/d:Prtry") or ""
                cents = self.amount(self.find(bal, "d:Amt"))
                if self.text(bal, "d:CdtDbtInd") == CreditDebit.DEBIT.value:
                    cents = -cents
                balances.append(Balance(code, cents, self.required_date(bal, "d:Dt")))
            reports.append(AccountReport(
                report_id=self.text(rpt, "d:Id") or "",
                account_iban=self.text(rpt, "d:Acct/d:Id/d:IBAN"),
                created_at=self.datetime_of(self.text(rpt, "d:CreDtTm")),
                balances=tuple(balances),
                entries=tuple(self.entry(n) for n in rpt.findall("d:Ntry", self.ns)),
                line=rpt.sourceline,
            ))
        return BankReportFile(
            file=self.name,
            kind=kind,
            version=self.version,
            message_id=self.text(msg, "d:GrpHdr/d:MsgId") or "",
            created_at=self.required_datetime(msg, "d:GrpHdr/d:CreDtTm"),
            reports=tuple(reports),
        )

    def entry(self, ntry: etree._Element) -> Entry:
        status = self.text(ntry, "d:Sts/d:Cd") or self.text(ntry, "d:Sts/d:Prtry") or self.text(ntry, "d:Sts") or ""
        code = BankTransactionCode(
            domain=self.text(ntry, "d:BkTxCd/d:Domn/d:Cd"),
            family=self.text(ntry, "d:BkTxCd/d:Domn/d:Fmly/d:Cd"),
            subfamily=self.text(ntry, "d:BkTxCd/d:Domn/d:Fmly/d:SubFmlyCd"),
            proprietary=self.text(ntry, "d:BkTxCd/d:Prtry/d:Cd"),
        )
        details = []
        for tx in ntry.findall("d:NtryDtls/d:TxDtls", self.ns):
            amt = self.find(tx, "d:Amt")
            if amt is None:
                amt = self.find(tx, "d:AmtDtls/d:TxAmt/d:Amt")
            details.append(EntryDetail(
                end_to_end_id=self.text(tx, "d:Refs/d:EndToEndId"),
                amount_cents=None if amt is None else self.amount(amt),
                remittance_info=" ".join(self.texts(tx, "d:RmtInf/d:Ustrd")) or None,
                return_reason=self.text(tx, "d:RtrInf/d:Rsn/d:Cd") or self.text(tx, "d:RtrInf/d:Rsn/d:Prtry"),
                return_text=" ".join(self.texts(tx, "d:RtrInf/d:AddtlInf")) or None,
            ))
        return Entry(
            amount_cents=self.amount(self.find(ntry, "d:Amt")),
            credit_debit=self.credit_debit(ntry),
            reversal=(self.text(ntry, "d:RvslInd") or "false").lower() in ("true", "1"),
            status=status,
            booking_date=self.date_of(self.find(ntry, "d:BookgDt")),
            value_date=self.date_of(self.find(ntry, "d:ValDt")),
            bank_transaction_code=code,
            account_servicer_ref=self.text(ntry, "d:AcctSvcrRef"),
            details=tuple(details),
            additional_info=self.text(ntry, "d:AddtlNtryInf"),
            line=ntry.sourceline,
        )
