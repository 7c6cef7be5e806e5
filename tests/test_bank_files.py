"""Reading the bank's pain.002 / camt.054 / camt.053 files: values, versions, schema, hostile input."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from atlas_xl.domain.bank import (
    CreditDebit,
    MessageKind,
    ReasonAction,
    StatusOutcome,
    TransactionStatus,
    reason_action,
)
from atlas_xl.errors import UnsafeInputError
from atlas_xl.inputs.bank_files import (
    DEFAULT_MAX_BYTES,
    BankFileError,
    read_bank_file,
    read_notification,
    read_statement,
    read_status_report,
    schema,
)

DATA = Path(__file__).parent / "data" / "bank"


def test_reason_policy_table():
    for code in ("AC01", "AC04", "AC06", "BE04", "RC01"):
        assert reason_action(code) is ReasonAction.BLOCK_BANK_DETAILS
    for code in ("RR01", "RR02", "RR03", "RR04"):
        assert reason_action(code) is ReasonAction.COMPLIANCE_HOLD
    for code in ("MS02", "MS03", "AM04", "FF01", "XX99", None):
        assert reason_action(code) is ReasonAction.MANUAL_REVIEW


def test_pain002_v11_every_status_and_reason_family():
    rpt = read_status_report(DATA / "pain002_v11_part.xml")
    assert rpt.version == "pain.002.001.11"
    assert rpt.message_id == "STS-RUN7-1"
    assert rpt.created_at == datetime(2025, 3, 4, 9, 15)
    assert (rpt.original_msg_id, rpt.original_msg_name) == ("ATLAS-RUN7", "pain.001.001.09")
    assert rpt.group_status is TransactionStatus.PART
    assert [(p.original_pmt_inf_id, p.status) for p in rpt.payment_infos] == [
        ("ATLAS-RUN7-PMT1", TransactionStatus.PART)]
    got = [(t.end_to_end_id, t.status.value, t.outcome, t.reason_code, t.action) for t in rpt.transactions]
    assert got == [
        ("RUN7-C001", "ACCP", StatusOutcome.ACCEPTED, None, None),
        ("RUN7-C002", "ACSC", StatusOutcome.ACCEPTED, None, None),
        ("RUN7-C003", "ACWC", StatusOutcome.ACCEPTED, None, None),
        ("RUN7-C004", "RJCT", StatusOutcome.REJECTED, "AC04", ReasonAction.BLOCK_BANK_DETAILS),
        ("RUN7-C005", "RJCT", StatusOutcome.REJECTED, "RR03", ReasonAction.COMPLIANCE_HOLD),
        ("RUN7-C006", "RJCT", StatusOutcome.REJECTED, "MS03", ReasonAction.MANUAL_REVIEW),
        ("RUN7-C007", "RJCT", StatusOutcome.REJECTED, "AM04", ReasonAction.MANUAL_REVIEW),
        ("RUN7-C008", "ACTC", StatusOutcome.ACCEPTED, None, None),
    ]
    assert all(t.original_msg_id == "ATLAS-RUN7" and t.original_pmt_inf_id == "ATLAS-RUN7-PMT1"
               for t in rpt.transactions)
    c004 = rpt.by_end_to_end_id()["RUN7-C004"]
    assert c004.reason_text == "Closed account number"
    assert c004.line == 13  # the TxInfAndSts start tag in the file
    assert rpt.by_end_to_end_id()["RUN7-C005"].reason_text == "Missing creditor address"
    assert len(rpt.rejected) == 4


def test_pain002_v11_group_rejected_ff01():
    rpt = read_bank_file(DATA / "pain002_v11_group_rejected.xml")
    assert rpt.group_status is TransactionStatus.RJCT
    assert [(r.code, r.text, r.action) for r in rpt.group_reasons] == [
        ("FF01", "Invalid file format", ReasonAction.MANUAL_REVIEW)]
    assert rpt.transactions == ()
    assert rpt.created_at.utcoffset().total_seconds() == 0


def test_pain002_v03():
    rpt = read_status_report(DATA / "pain002_v03_part.xml")
    assert rpt.version == "pain.002.001.03"
    assert [(t.end_to_end_id, t.status.value, t.reason_code, t.action) for t in rpt.transactions] == [
        ("RUN6-C001", "ACSP", None, None),
        ("RUN6-C002", "RJCT", "AC06", ReasonAction.BLOCK_BANK_DETAILS),
        ("RUN6-C003", "RJCT", "BE04", ReasonAction.BLOCK_BANK_DETAILS),
        ("RUN6-C004", "RJCT", "RC01", ReasonAction.BLOCK_BANK_DETAILS),
        ("RUN6-C005", "RJCT", "RR01", ReasonAction.COMPLIANCE_HOLD),
        ("RUN6-C006", "RJCT", "MS02", ReasonAction.MANUAL_REVIEW),
    ]


def test_camt053_v08_values_and_balances():
    stm = read_statement(DATA / "camt053_v08.xml")
    assert (stm.kind, stm.version, stm.message_id) == (MessageKind.STATEMENT, "camt.053.001.08", "STM-20250304")
    (rpt,) = stm.reports
    assert rpt.account_iban == "DE89370400440532013000"
    assert (rpt.opening.code, rpt.opening.amount_cents) == ("OPBD", 1_000_000)
    assert (rpt.closing.code, rpt.closing.amount_cents) == ("CLBD", 1_399_043)
    got = [(e.signed_cents, e.status, e.end_to_end_id, e.bank_transaction_code.subfamily, e.return_reason)
           for e in rpt.entries]
    assert got == [
        (-123456, "BOOK", "RUN7-C001", "ESCT", None),
        (-25000, "BOOK", "RUN7-C002", "ESCT", None),
        (500000, "BOOK", None, "ESCT", None),  # NOTPROVIDED is no EndToEndId
        (30000, "BOOK", None, "ESCT", None),
        (9999, "BOOK", None, "ESCT", None),
        (7500, "BOOK", "RUN7-C003", "RRTN", "AC01"),
        (-4000, "PDNG", None, "ESCT", None),
    ]
    first = rpt.entries[0]
    assert first.details[0].amount_cents == 123456
    assert (first.booking_date, first.value_date) == (date(2025, 3, 4), date(2025, 3, 4))
    assert first.bank_transaction_code.domain == "PMNT" and first.bank_transaction_code.family == "ICDT"
    assert rpt.entries[3].remittance_info == "Repayment loan-42 March"
    assert rpt.entries[4].value_date == date(2025, 3, 5)
    assert rpt.entries[5].is_return and rpt.entries[5].details[0].return_text == "Incorrect account number"
    # 10,000.00 - 1,234.56 - 250.00 + 5,000.00 + 300.00 + 99.99 + 75.00 = 13,990.43 (the pending 40.00 is not booked)
    assert rpt.opening.amount_cents + sum(e.signed_cents for e in rpt.entries if e.booked) == 1_399_043


def test_camt053_v02_debit_balance_and_datetime_booking():
    (rpt,) = read_statement(DATA / "camt053_v02.xml").reports
    assert (rpt.opening.code, rpt.opening.amount_cents) == ("PRCD", -10000)  # DBIT balance is negative
    assert rpt.entries[1].booking_date == date(2025, 2, 4)  # from DtTm
    assert rpt.entries[1].details[0].amount_cents == 50050  # V02: AmtDtls/TxAmt/Amt
    assert rpt.entries[0].status == "BOOK"  # V02: Sts is the code itself
    # -100.00 + 2,500.00 - 500.50 = 1,899.50
    assert rpt.opening.amount_cents + sum(e.signed_cents for e in rpt.entries) == rpt.closing.amount_cents == 189950


@pytest.mark.parametrize("name, version, e2e, reason", [
    ("camt054_v08.xml", "camt.054.001.08", "RUN7-C003", "AC01"),
    ("camt054_v02.xml", "camt.054.001.02", "RUN6-C001", "AC04"),
])
def test_camt054_both_versions_returns(name, version, e2e, reason):
    ntf = read_notification(DATA / name)
    assert (ntf.kind, ntf.version) == (MessageKind.NOTIFICATION, version)
    ret = [e for e in ntf.entries if e.is_return]
    assert len(ret) == 1
    assert (ret[0].credit_debit, ret[0].end_to_end_id, ret[0].return_reason) == (CreditDebit.CREDIT, e2e, reason)
    assert ret[0].bank_transaction_code.family == "ICDT" and ret[0].bank_transaction_code.subfamily == "RRTN"


def test_real_lithuanian_statement_reconciles_on_available_balances():
    (rpt,) = read_statement(DATA / "real_camt053_001_02_lt_statement_1.xml").reports
    assert rpt.account_iban == "LT007180000000000000"
    assert (rpt.opening.code, rpt.closing.code) == ("OPAV", "CLAV")
    # 2,768.08 - 1.64 - 2,734.58 - 30.16 - 1.70 = 0.00 ("1.7" in the file is 170 cents)
    assert [e.signed_cents for e in rpt.entries] == [-164, -273458, -3016, -170]
    assert rpt.opening.amount_cents + sum(e.signed_cents for e in rpt.entries) == rpt.closing.amount_cents == 0


def test_real_finnish_statement_and_notification():
    (rpt,) = read_statement(DATA / "real_camt053_001_02_fi_sample.xml").reports
    assert rpt.account_iban == "FI7433010001222090"
    assert (rpt.opening.amount_cents, rpt.closing.amount_cents) == (1_000_000, 2_364_483)
    # -1,000.12 - 4,000.00 - 4,230.05 + 2,000.00 + 500.00 + 3,000.00 + 2,120.00 + 5,455.00 + 10,000.00 - 200.00
    # = 13,644.83, and 10,000.00 + 13,644.83 = 23,644.83
    assert sum(e.signed_cents for e in rpt.entries) == 1_364_483
    assert [e.end_to_end_id for e in rpt.entries if e.end_to_end_id] == ["EndToEndIdSCT01"]
    ntf = read_notification(DATA / "real_camt054_001_02_fi_sample.xml")
    info = [e for e in ntf.entries if e.status == "INFO"]
    assert [(e.signed_cents, e.return_reason) for e in info] == [(10000, "AC01")]


def test_unsupported_version_named_with_supported_list():
    with pytest.raises(BankFileError) as err:
        read_bank_file(DATA / "real_camt054_001_04_ch_postfinance_returns.xml")
    text = str(err.value)
    assert "urn:iso:std:iso:20022:tech:xsd:camt.054.001.04" in text
    assert "supported: " in text and "camt.054.001.08" in text and "pain.002.001.03" in text


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_pain002_v10_and_foreign_namespace_refused(tmp_path):
    v10 = (DATA / "pain002_v11_part.xml").read_text().replace("pain.002.001.11", "pain.002.001.10")
    with pytest.raises(BankFileError, match=r"'urn:iso:std:iso:20022:tech:xsd:pain.002.001.10' is not a bank"):
        read_bank_file(_write(tmp_path, "v10.xml", v10))
    with pytest.raises(BankFileError, match=r"namespace 'urn:example:other' is not a bank message"):
        read_bank_file(_write(tmp_path, "o.xml", '<Document xmlns="urn:example:other"/>'))
    with pytest.raises(BankFileError, match="no namespace"):
        read_bank_file(_write(tmp_path, "n.xml", "<Document/>"))


def test_wrong_kind_for_reader():
    with pytest.raises(BankFileError, match="is a camt.053 message; expected a pain.002 message"):
        read_status_report(DATA / "camt053_v08.xml")


def test_schema_failure_is_located(tmp_path):
    bad = (DATA / "camt053_v08.xml").read_text().replace(
        "<CdtDbtInd>DBIT</CdtDbtInd><Sts>", "<CdtDbtInd>DEBT</CdtDbtInd><Sts>", 1)
    with pytest.raises(BankFileError) as err:
        read_bank_file(_write(tmp_path, "bad.xml", bad))
    (problem,) = err.value.problems
    assert problem.line == 11
    assert problem.path == "Document/BkToCstmrStmt/Stmt/Ntry[1]/CdtDbtInd"
    assert problem.value == "DEBT"
    assert "camt.053.001.08 schema" in problem.message
    assert "{urn:" not in str(err.value)


def test_non_eur_and_three_decimals_are_located(tmp_path):
    text = (DATA / "camt053_v08.xml").read_text()
    text = text.replace('<Amt Ccy="EUR">250.00</Amt>', '<Amt Ccy="USD">250.00</Amt>', 1)
    text = text.replace('<Amt Ccy="EUR">99.99</Amt>', '<Amt Ccy="EUR">99.995</Amt>', 1)
    with pytest.raises(BankFileError) as err:
        read_bank_file(_write(tmp_path, "amt.xml", text))
    usd, dec = err.value.problems
    assert (usd.line, usd.path, usd.value) == (17, "Document/BkToCstmrStmt/Stmt/Ntry[2]/Amt", "250.00 USD")
    assert "currency is USD; Atlas reads EUR amounts only" in usd.message
    assert (dec.line, dec.path, dec.value) == (35, "Document/BkToCstmrStmt/Stmt/Ntry[5]/Amt", "99.995")
    assert "more than 2 decimals" in dec.message


def test_trailing_zero_third_decimal_is_exact(tmp_path):
    text = (DATA / "camt053_v08.xml").read_text().replace(">99.99<", ">99.990<", 1)
    (rpt,) = read_statement(_write(tmp_path, "z.xml", text)).reports
    assert rpt.entries[4].amount_cents == 9999


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><x>&lol3;</x></Document>
"""


def test_billion_laughs_and_doctype_refused(tmp_path):
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        read_bank_file(_write(tmp_path, "lol.xml", BILLION_LAUGHS))
    xxe = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.11">&x;</Document>')
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        read_bank_file(_write(tmp_path, "xxe.xml", xxe))
    utf16 = tmp_path / "u16.xml"
    utf16.write_bytes(BILLION_LAUGHS.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
                      .encode("utf-16"))
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        read_bank_file(utf16)


def test_size_limit_checked_before_reading(tmp_path):
    assert DEFAULT_MAX_BYTES == 50 * 1024 * 1024
    src = (DATA / "pain002_v11_part.xml").read_bytes()
    p = tmp_path / "big.xml"
    p.write_bytes(src)
    assert read_bank_file(p, max_bytes=len(src)).message_id == "STS-RUN7-1"  # exactly at the limit: read
    with pytest.raises(UnsafeInputError, match=rf"is {len(src):,} bytes, over the limit of {len(src) - 1:,}"):
        read_bank_file(p, max_bytes=len(src) - 1)
    sparse = tmp_path / "sparse.xml"  # claims 2 GiB without using the disk
    with open(sparse, "wb") as fh:
        fh.truncate(2 * 1024**3)
    with pytest.raises(UnsafeInputError, match="2,147,483,648 bytes, over the limit of 52,428,800"):
        read_bank_file(sparse)


def test_not_xml_and_missing_file(tmp_path):
    with pytest.raises(BankFileError, match=r"line 1: is not well-formed XML"):
        read_bank_file(_write(tmp_path, "x.xml", "<Document>"))
    with pytest.raises(BankFileError, match="cannot be read"):
        read_bank_file(tmp_path / "nope.xml")


def test_unknown_status_code_in_v11_is_located(tmp_path):
    text = (DATA / "pain002_v11_part.xml").read_text().replace("<TxSts>ACTC</TxSts>", "<TxSts>ZZZZ</TxSts>")
    with pytest.raises(BankFileError) as err:
        read_bank_file(_write(tmp_path, "s.xml", text))
    (problem,) = err.value.problems
    assert problem.value == "ZZZZ" and "not a payment status" in problem.message and problem.line == 29


def test_shipped_schemas_load():
    for version in ("pain.002.001.03", "pain.002.001.11", "camt.053.001.02", "camt.053.001.08",
                    "camt.054.001.02", "camt.054.001.08"):
        assert schema(version) is not None
