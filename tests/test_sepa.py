"""pain.001 credit transfer files (atlas_xl.outputs.sepa.pain001): structure, EPC rules, XSD validity, hostile text."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from schwifty import IBAN

from atlas_xl.errors import SepaError
from atlas_xl.outputs.sepa import pain001 as sepa
from atlas_xl.outputs.sepa.pain001 import (
    CreditTransfer,
    Debtor,
    PainVersion,
    build_pain001,
    end_to_end_id,
    format_amount,
    validate_pain001,
    write_pain001_file,
)

DEBTOR = Debtor(name="Atlas Settlement Demo GmbH", iban="DE89370400440532013000", bic="COBADEFFXXX")
EXEC_DAY = date(2026, 4, 7)  # Tuesday after Easter Monday: a TARGET2 banking day
CREATED = datetime(2026, 4, 6, 18, 30, 5)

THREE = [
    CreditTransfer("RUN7-C001", "C001", 123456, "Müller & Söhne GmbH", "DE02120300000000202051",
                   "BYLADEM1001", "Payout 2026-04-07 C001"),
    CreditTransfer("RUN7-C002", "C002", 1, "Café Ærø", "FR1420041010050500013M02606", None,
                   "Auszahlung #2 <netto>"),
    CreditTransfer("RUN7-C003", "C003", 99_999_999_999, "Van der Berg B.V.", "NL91ABNA0417164300",
                   "ABNANL2A", ""),
]
# CtrlSum by hand: 1234.56 + 0.01 + 999999999.99 = 1000001234.56


def build(transfers: list[CreditTransfer] = THREE, version: PainVersion = PainVersion.V09,
          **kwargs: object) -> bytes:
    args: dict[str, object] = dict(debtor=DEBTOR, execution_date=EXEC_DAY, message_id="MSG-RUN7",
                                   payment_info_id="PMT-RUN7", created_at=CREATED, version=version)
    args.update(kwargs)
    return build_pain001(transfers, **args)  # type: ignore[arg-type]


def ns(version: PainVersion) -> dict[str, str]:
    return {"p": f"urn:iso:std:iso:20022:tech:xsd:{version.value}"}


def test_format_amount() -> None:
    assert format_amount(123456) == "1234.56"
    assert format_amount(1) == "0.01"
    assert format_amount(100) == "1.00"
    assert format_amount(99_999_999_999) == "999999999.99"


@pytest.mark.parametrize("version", list(PainVersion))
def test_three_transfers_read_back(version: PainVersion) -> None:
    doc = etree.fromstring(build(version=version))
    n = ns(version)
    assert doc.xpath("string(p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs)", namespaces=n) == "3"
    assert doc.xpath("string(p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum)", namespaces=n) == "1000001234.56"
    assert doc.xpath("string(p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId)", namespaces=n) == "MSG-RUN7"
    assert doc.xpath("string(p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm)", namespaces=n) == "2026-04-06T18:30:05"
    pmt = doc.find("p:CstmrCdtTrfInitn/p:PmtInf", namespaces=n)
    assert pmt.findtext("p:PmtInfId", namespaces=n) == "PMT-RUN7"
    assert pmt.findtext("p:PmtMtd", namespaces=n) == "TRF"
    assert pmt.findtext("p:NbOfTxs", namespaces=n) == "3"
    assert pmt.findtext("p:CtrlSum", namespaces=n) == "1000001234.56"
    assert pmt.findtext("p:PmtTpInf/p:SvcLvl/p:Cd", namespaces=n) == "SEPA"
    assert pmt.findtext("p:ChrgBr", namespaces=n) == "SLEV"
    assert pmt.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=n) == "DE89370400440532013000"
    if version is PainVersion.V09:
        assert pmt.findtext("p:ReqdExctnDt/p:Dt", namespaces=n) == "2026-04-07"
        assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:BICFI", namespaces=n) == "COBADEFFXXX"
    else:
        assert pmt.findtext("p:ReqdExctnDt", namespaces=n) == "2026-04-07"
        assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=n) == "COBADEFFXXX"

    txs = pmt.findall("p:CdtTrfTxInf", namespaces=n)
    got = [(tx.findtext("p:PmtId/p:EndToEndId", namespaces=n), tx.find("p:Amt/p:InstdAmt", namespaces=n))
           for tx in txs]
    assert [(e2e, amt.text, amt.get("Ccy")) for e2e, amt in got] == [
        ("RUN7-C001", "1234.56", "EUR"), ("RUN7-C002", "0.01", "EUR"), ("RUN7-C003", "999999999.99", "EUR")]
    # CtrlSum equals the sum of the amounts as written (Decimal, exact)
    assert sum(Decimal(amt.text) for _, amt in got) == Decimal("1000001234.56")
    names = [tx.findtext("p:Cdtr/p:Nm", namespaces=n) for tx in txs]
    assert names == ["Muller + Sohne GmbH", "Cafe AEro", "Van der Berg B.V."]
    assert [tx.findtext("p:RmtInf/p:Ustrd", namespaces=n) for tx in txs] == [
        "Payout 2026-04-07 C001", "Auszahlung 2 netto", None]  # empty remittance: no RmtInf at all
    assert txs[1].find("p:CdtrAgt", namespaces=n) is None  # no creditor BIC: no agent
    assert txs[2].findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=n) == "NL91ABNA0417164300"
    if version is PainVersion.V09:
        assert [tx.findtext("p:Cdtr/p:PstlAdr/p:Ctry", namespaces=n) for tx in txs] == ["DE", "FR", "NL"]
        assert txs[0].findtext("p:CdtrAgt/p:FinInstnId/p:BICFI", namespaces=n) == "BYLADEM1001"


@pytest.mark.parametrize("version", list(PainVersion))
def test_valid_against_xsd_with_an_independent_validator(version: PainVersion) -> None:
    xml = build(version=version)
    validate_pain001(xml, version)  # lxml
    xsd = files("sepaxml") / "schemas" / f"{version.value}.xsd"
    xmlschema.XMLSchema(str(xsd)).validate(xml.decode("utf-8"))  # xmlschema: a second, independent check


def test_validate_rejects_the_other_version_and_broken_files() -> None:
    xml = build(version=PainVersion.V09)
    with pytest.raises(SepaError, match=r"not a valid pain\.001\.001\.03 document"):
        validate_pain001(xml, PainVersion.V03)
    with pytest.raises(SepaError, match="not well-formed XML"):
        validate_pain001(xml[:-30], PainVersion.V09)


def test_validate_catches_wrong_totals() -> None:
    xml = build()
    tampered = xml.replace(b"<CtrlSum>1000001234.56</CtrlSum>", b"<CtrlSum>1000001234.57</CtrlSum>", 1)
    assert tampered != xml
    with pytest.raises(SepaError, match=r"GrpHdr CtrlSum 1000001234\.57 but the transactions add up to "
                                        r"1000001234\.56"):
        validate_pain001(tampered, PainVersion.V09)
    tampered = xml.replace(b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>4</NbOfTxs>")
    with pytest.raises(SepaError, match="NbOfTxs 4 but 3 transactions"):
        validate_pain001(tampered, PainVersion.V09)


def test_xsd_error_lists_the_bad_element() -> None:
    bad = build().replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>XXX</PmtMtd>")
    with pytest.raises(SepaError, match=r"(?s)XSD error.*PmtMtd.*XXX") as info:
        validate_pain001(bad, PainVersion.V09)
    assert "line " in str(info.value)


def test_deterministic_bytes() -> None:
    assert build() == build()
    assert build(version=PainVersion.V03) == build(version=PainVersion.V03)
    assert build() != build(created_at=datetime(2026, 4, 6, 18, 30, 6))
    assert build().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')


def test_invalid_iban_names_the_client() -> None:
    bad = dataclasses.replace(THREE[1], creditor_iban="FR1420041010050500013M02607")
    with pytest.raises(SepaError, match=r"client 'C002' \(EndToEndId 'RUN7-C002'\): IBAN "
                                        r"'FR1420041010050500013M02607' is invalid"):
        build([THREE[0], bad, THREE[2]])


def test_invalid_bic_names_the_client() -> None:
    bad = dataclasses.replace(THREE[0], creditor_bic="BYLAXXM1")
    with pytest.raises(SepaError, match=r"client 'C001'.*BIC 'BYLAXXM1' is invalid"):
        build([bad])


def test_bad_debtor_account_refused() -> None:
    with pytest.raises(SepaError, match="debtor account: IBAN 'DE00370400440532013000' is invalid"):
        build(debtor=dataclasses.replace(DEBTOR, iban="DE00370400440532013000"))
    with pytest.raises(SepaError, match="debtor account: BIC 'NOPE' is invalid"):
        build(debtor=dataclasses.replace(DEBTOR, bic="NOPE"))


def test_non_eur_refused() -> None:
    usd = dataclasses.replace(THREE[0], currency="USD")
    with pytest.raises(SepaError, match=r"client 'C001'.*currency 'USD' is refused; expected 'EUR'"):
        build([usd])


@pytest.mark.parametrize("amount", [0, -1, -123456, 99_999_999_999 + 1])
def test_amount_out_of_range_refused(amount: int) -> None:
    t = dataclasses.replace(THREE[2], amount_cents=amount)
    with pytest.raises(SepaError, match=rf"client 'C003'.*amount {amount} cents is refused"):
        build([t])


@pytest.mark.parametrize("amount", [12.5, Decimal("12.50"), True])
def test_amount_must_be_integer_cents(amount: object) -> None:
    t = dataclasses.replace(THREE[0], amount_cents=amount)  # type: ignore[arg-type]
    with pytest.raises(SepaError, match="is not integer cents"):
        build([t])


@pytest.mark.parametrize(
    ("day", "reason"),
    [(date(2026, 4, 4), "Saturday"), (date(2026, 4, 5), "Sunday"), (date(2026, 4, 3), "Good Friday"),
     (date(2026, 4, 6), "Easter Monday"), (date(2026, 12, 25), "Christmas")],
)
def test_execution_date_must_be_a_banking_day(day: date, reason: str) -> None:
    with pytest.raises(SepaError, match=rf"execution date {day.isoformat()} is not a TARGET2 banking day"
                                        rf" \({reason}"):
        build(execution_date=day)


def test_duplicate_end_to_end_id_refused() -> None:
    dup = dataclasses.replace(THREE[1], end_to_end_id="RUN7-C001")
    with pytest.raises(SepaError, match=r"EndToEndId 'RUN7-C001' is used by more than one payout "
                                        r"\(clients \['C001', 'C002'\]\)"):
        build([THREE[0], dup])


def test_identifiers_checked() -> None:
    with pytest.raises(SepaError, match="EndToEndId 'RUN7_C001' contains '_'"):
        build([dataclasses.replace(THREE[0], end_to_end_id="RUN7_C001")])
    with pytest.raises(SepaError, match="MsgId 'M" + "X" * 35 + "' has 36 characters"):
        build(message_id="M" + "X" * 35)
    with pytest.raises(SepaError, match="MsgId and PmtInfId are both 'SAME'"):
        build(message_id="SAME", payment_info_id="SAME")
    with pytest.raises(SepaError, match="no credit transfers"):
        build([])


def test_all_problems_listed_at_once() -> None:
    bad = [dataclasses.replace(THREE[0], amount_cents=0),
           dataclasses.replace(THREE[1], creditor_iban="XX00"),
           THREE[2]]
    with pytest.raises(SepaError, match=r"3 problem\(s\)") as info:
        build(bad, execution_date=date(2026, 4, 3))
    text = str(info.value)
    assert "'C001'" in text and "'C002'" in text and "Good Friday" in text and "'C003'" not in text


def test_name_without_epc_characters_refused() -> None:
    with pytest.raises(SepaError, match=r"client 'C001'.*creditor name '###' has no character"):
        build([dataclasses.replace(THREE[0], creditor_name="###")])


def _tags(xml: bytes) -> list[str]:
    return [etree.QName(e).localname for e in etree.fromstring(xml).iter()]


HOSTILE = ["</Nm><Nm>x", "<script>alert(1)</script>", "&amp;", '=HYPERLINK("http://x","click")',
           "]]><Cdtr><Nm>evil</Nm></Cdtr><![CDATA[", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>&a;",
           "\x00\x1f\ufeff zero"]


def _clean_and_hostile() -> tuple[list[CreditTransfer], list[CreditTransfer]]:
    clean = [dataclasses.replace(THREE[0], end_to_end_id=f"E{i}", client_id=f"H{i}", creditor_name="Plain",
                                 remittance="Plain") for i in range(len(HOSTILE))]
    hostile = [dataclasses.replace(t, creditor_name=h, remittance=h)
               for t, h in zip(clean, HOSTILE, strict=True)]
    return clean, hostile


@pytest.mark.parametrize("version", list(PainVersion))
def test_hostile_names_cannot_add_elements(version: PainVersion) -> None:
    clean, hostile = _clean_and_hostile()
    clean_xml, hostile_xml = build(clean, version), build(hostile, version)
    assert _tags(hostile_xml) == _tags(clean_xml)  # exactly the same elements, in the same order
    n = ns(version)
    doc = etree.fromstring(hostile_xml)
    assert len(doc.findall(".//p:Cdtr", namespaces=n)) == len(HOSTILE)
    names = [e.text for e in doc.findall(".//p:Cdtr/p:Nm", namespaces=n)]
    assert names[0] == "Nm Nm x"
    assert names[1] == "script alert(1) /script"
    assert names[2] == "+amp"
    assert names[3] == "HYPERLINK( http:/x , click )"
    assert names[6] == "zero"
    for text in doc.xpath("//p:Nm/text() | //p:Ustrd/text()", namespaces=n):
        assert not set(text) & set("<>&\"#;=")
    assert b"<script" not in hostile_xml and b"&amp;" not in hostile_xml and b"<!DOCTYPE" not in hostile_xml


def test_long_texts_cut() -> None:
    t = dataclasses.replace(THREE[0], creditor_name="N" * 100, remittance="R" * 300)
    doc = etree.fromstring(build([t]))
    n = ns(PainVersion.V09)
    assert doc.findtext(".//p:Cdtr/p:Nm", namespaces=n) == "N" * 70
    assert doc.findtext(".//p:RmtInf/p:Ustrd", namespaces=n) == "R" * 140


def _many(count: int) -> list[CreditTransfer]:
    return [CreditTransfer(f"R1-C{i:05d}", f"C{i:05d}", 100 + i, f"Client {i} Ölmühle", iban,
                           "ABNANL2A" if i % 2 else None, f"Payout R1 {i}")
            for i, iban in enumerate(_abn_amro_ibans(count))]


def _abn_amro_ibans(count: int) -> list[str]:
    """The first `count` Dutch accounts from 100,000,000 up that pass the national check (the writer refuses
    wrong national digits): the 11-test, sum of digit x weight 10..1 divisible by 11."""
    ibans: list[str] = []
    account = 100_000_000
    while len(ibans) < count:
        digits = f"{account:010d}"
        account += 1
        if sum(int(d) * w for d, w in zip(digits, range(10, 0, -1), strict=True)) % 11 == 0:
            ibans.append(str(IBAN.generate("NL", bank_code="ABNA", account_code=digits)))
    return ibans


def test_ten_thousand_transfers() -> None:
    transfers = _many(10_000)
    xml = build(transfers)  # build_pain001 validates against the XSD itself before returning
    validate_pain001(xml, PainVersion.V09)
    n = ns(PainVersion.V09)
    doc = etree.fromstring(xml, etree.XMLParser(huge_tree=True))
    # sum of 100 + i for i in 0..9999 = 100 * 10000 + 9999 * 10000 / 2 = 1_000_000 + 49_995_000 cents
    assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=n) == "509950.00"
    assert doc.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=n) == "10000"
    assert len(doc.findall(".//p:CdtTrfTxInf", namespaces=n)) == 10_000


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=99_999_999_999), min_size=1, max_size=30))
def test_totals_match_any_amounts(amounts: list[int]) -> None:
    transfers = [dataclasses.replace(THREE[0], end_to_end_id=f"E{i}", amount_cents=a)
                 for i, a in enumerate(amounts)]
    doc = etree.fromstring(build(transfers))
    n = ns(PainVersion.V09)
    written = [Decimal(x) for x in doc.xpath("//p:InstdAmt/text()", namespaces=n)]
    assert written == [Decimal(a) / 100 for a in amounts]  # exact round trip of every amount
    for path in ("p:CstmrCdtTrfInitn/p:GrpHdr", "p:CstmrCdtTrfInitn/p:PmtInf"):
        head = doc.find(path, namespaces=n)
        assert Decimal(head.findtext("p:CtrlSum", namespaces=n)) * 100 == sum(amounts)
        assert head.findtext("p:NbOfTxs", namespaces=n) == str(len(amounts))
    for text in doc.xpath("//p:InstdAmt/text() | //p:CtrlSum/text()", namespaces=n):
        assert len(text.split(".")[1]) == 2  # exactly two decimals


def test_write_file_atomically(tmp_path: Path) -> None:
    xml = build()
    target = tmp_path / "RUN7.xml"
    digest = write_pain001_file(target, xml)
    assert target.read_bytes() == xml
    assert digest == hashlib.sha256(xml).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RUN7.xml"]  # no temp file left behind
    with pytest.raises(SepaError, match="does not exist"):
        write_pain001_file(tmp_path / "missing" / "x.xml", xml)


def test_end_to_end_id_helper() -> None:
    assert end_to_end_id("RUN7", "C001") == "RUN7-C001"
    assert end_to_end_id("RUN7", "acme_de-01") == "RUN7-acme.de-01"  # '_' is not EPC; '.' is in no client id
    assert end_to_end_id("R" * 14, "C" * 20) == "R" * 14 + "-" + "C" * 20  # 14 + 1 + 20 = 35
    with pytest.raises(SepaError, match="has 36 characters"):
        end_to_end_id("R" * 15, "C" * 20)


def test_validate_does_not_expand_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xml = build().replace(
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        .encode())
    xml = xml.replace(b"<MsgId>MSG-RUN7</MsgId>", b"<MsgId>&x;</MsgId>")
    with pytest.raises(SepaError, match="has a DOCTYPE declaration") as info:
        validate_pain001(xml, PainVersion.V09)
    assert "TOPSECRET" not in str(info.value)


# Inputs that take the writer's slow paths: IBAN with spaces and lower case, lower-case BIC (schwifty
# cleans both), names that need NFKD, an empty BIC and no remittance.
ODD = [dataclasses.replace(THREE[0], creditor_iban="de02 1203 0000 0000 2020 51", creditor_bic="byladem1001",
                           creditor_name="  ＡＢＣ  Łódź\t& co ", remittance="a" * 300),
       dataclasses.replace(THREE[1], creditor_bic="", remittance=None)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "version", "sha256"),
    [("three", PainVersion.V09, "87e897ab0d6730c601830cba4569dae13348842854408b3a69f4b9104b116815"),
     ("three", PainVersion.V03, "dbd9dc783debed1e0e5888d23dc89e81cbe0706be709b22013c427d0e5e04dd8"),
     ("hostile", PainVersion.V09, "71681fb58ac62d4e511589bd58ee0233c739228d4abcd1d0646db92b5df4852c"),
     ("hostile", PainVersion.V03, "f06ecf601e886169b3eb26dd6580358fc1680a986d7fa26eab3f651f2fb88edd"),
     ("odd", PainVersion.V09, "944331b0d1eab880e274aa0ac54494734b641690e6caafd7851752f475e13d86"),
     ("odd", PainVersion.V03, "64e12710784988ee95f84d77a284d80b32333df16f81a1b5d791e35d5aa7f48c"),
     ("many", PainVersion.V09, "77b45dd70ed876077f7a47a5bf31017c36ef1817710d95f801ec6af7b4ce881e")],
)
def test_bytes_pinned(case: str, version: PainVersion, sha256: str) -> None:
    # Digests of the files the writer produced before its speed-up (SubElement per element, re-parse to
    # validate): the template copies, fast IBAN/BIC and text paths must not change a single byte.
    transfers = {"three": THREE, "hostile": _clean_and_hostile()[1], "odd": ODD, "many": _many(700)}[case]
    assert hashlib.sha256(build(transfers, version)).hexdigest() == sha256


def test_invalid_built_tree_reported_with_line_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer validates the tree it built (no line numbers there); a failure is reported from the bytes,
    # as validate_pain001 reports it. A negative amount can only come from a bug, so one is injected.
    monkeypatch.setattr(sepa, "format_amount", lambda cents: "-1.00")
    with pytest.raises(SepaError, match=r"(?s)3 XSD error\(s\).*line 45: Element '\{[^}]+\}InstdAmt'.*"
                                        r"less than the minimum value allowed"):
        build()

