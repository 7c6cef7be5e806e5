"""EPC character set, length and IBAN/BIC rules (atlas_xl.epc)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_xl.epc import (
    NAME_MAX,
    REMITTANCE_MAX,
    check_bic,
    check_iban,
    check_identifier,
    epc_name,
    epc_remittance,
    is_epc_text,
    transliterate,
)
from atlas_xl.errors import IbanError, SepaError

EPC_RE = re.compile(r"[a-zA-Z0-9/\-?:().,'+ ]*")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Müller GmbH", "Muller GmbH"),  # Ü/ü lose the umlaut (EPC basic set, not the German Ue)
        ("ÜBER", "UBER"),
        ("Straße", "Strasse"),  # ß -> ss
        ("Ærøskøbing Æble", "AEroskobing AEble"),  # Æ -> AE, ø -> o
        ("Œuvre œil", "OEuvre oeil"),
        ("Café Crème Noël", "Cafe Creme Noel"),  # é è ë -> e
        ("Łódź Żabka", "Lodz Zabka"),
        ("Čapek Dvořák", "Capek Dvorak"),
        ("Smith & Sons", "Smith + Sons"),  # & -> +
        ("A#B", "A B"),  # # removed (sepaxml's own cleaning lets it through)
        ('Say "hi"; <now>', "Say hi now"),  # quotes, ; < > removed, spaces collapsed
        ("Tab\there\r\nnewline", "Tab here newline"),
        ("  lots   of    space  ", "lots of space"),
        ("O’Brien – Dash", "O'Brien - Dash"),  # typographic apostrophe and dash
        ("snake_case", "snake-case"),
        ("100 € fee", "100 EUR fee"),
        ("Ref: a/b-c?(d).e,f'g+h", "Ref: a/b-c?(d).e,f'g+h"),  # the whole EPC punctuation set passes
        ("ＡＢＣ", "ABC"),  # full-width letters (NFKD compatibility forms)
        ("Москва", ""),  # no Latin equivalent: nothing left (callers refuse an empty name)
    ],
)
def test_transliteration_table(raw: str, expected: str) -> None:
    assert transliterate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Leading slash", "Leading slash"),  # a name must not start with '/'
        ("a//b///c", "a/b/c"),  # nor contain '//'
        ("</Nm><Nm>x", "Nm Nm x"),  # markup becomes harmless text
        ("&amp;", "+amp"),
        ("<script>alert(1)</script>", "script alert(1) /script"),
        ('=HYPERLINK("http://x","click")', "HYPERLINK( http:/x , click )"),
    ],
)
def test_name_rules(raw: str, expected: str) -> None:
    assert epc_name(raw) == expected


def test_missing_text_is_empty() -> None:
    assert transliterate(None) == ""
    assert epc_name(None) == ""  # type: ignore[arg-type]  (callers then refuse the empty name)


def test_length_cuts() -> None:
    # 75 letters -> the first 70; a cut never leaves a trailing space
    assert epc_name("A" * 75) == "A" * 70
    assert epc_name("B" * 69 + " C") == "B" * 69
    assert epc_remittance("x" * 200) == "x" * 140
    # the cut counts characters after transliteration: 'ß' * 40 is 'ss' * 40 = 80 chars -> 70
    assert epc_name("ß" * 40) == "s" * 70
    assert len(epc_remittance("Ä" * 141)) == 140


@given(st.text(max_size=300))
def test_any_text_becomes_epc_text(text: str) -> None:
    name = epc_name(text)
    ustrd = epc_remittance(text)
    for out, limit in ((name, NAME_MAX), (ustrd, REMITTANCE_MAX)):
        assert EPC_RE.fullmatch(out)
        assert len(out) <= limit
        assert out == out.strip()
        assert "  " not in out
    assert not name.startswith("/")
    assert "//" not in name


@given(st.text(max_size=200))
def test_transliteration_is_idempotent(text: str) -> None:
    once = transliterate(text)
    assert transliterate(once) == once
    assert epc_name(epc_name(text)) == epc_name(text)


@given(st.text(alphabet="abcXYZ019/-?:().,'+ ", max_size=100))
def test_epc_text_without_runs_of_spaces_is_kept(text: str) -> None:
    normalised = " ".join(text.split())
    assert transliterate(normalised) == normalised
    assert is_epc_text(normalised)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "is empty"),
        ("X" * 36, "36 characters"),
        ("RUN_1", "contains '_'"),
        ("RUN#1", "contains '#'"),
        ("/RUN1", "must not start"),
        ("RUN1/", "must not start or end"),
        ("RUN//1", "'//'"),
        (" RUN1", "space"),
    ],
)
def test_identifier_rules(value: str, fragment: str) -> None:
    with pytest.raises(SepaError, match=re.escape(fragment)) as info:
        check_identifier(value, "EndToEndId")
    assert repr(value) in str(info.value)


def test_identifier_ok() -> None:
    assert check_identifier("R-2026-04-07-C0001", "EndToEndId") == "R-2026-04-07-C0001"
    assert check_identifier("X" * 35, "MsgId") == "X" * 35


def test_iban_checks() -> None:
    assert check_iban("DE89 3704 0044 0532 0130 00", "client C1").compact == "DE89370400440532013000"
    with pytest.raises(IbanError, match="client C1: IBAN 'DE89370400440532013001' is invalid"):
        check_iban("DE89370400440532013001", "client C1")  # last digit changed: check digits fail
    with pytest.raises(IbanError, match="outside the SEPA zone"):
        check_iban("SA0380000000608010167519", "client C2")  # valid Saudi IBAN, not SEPA
    with pytest.raises(IbanError, match="'hello'"):
        check_iban("hello", "client C3")


def test_bic_checks() -> None:
    assert check_bic("COBADEFFXXX", "debtor").compact == "COBADEFFXXX"
    assert check_bic("BYLADEM1", "debtor").compact == "BYLADEM1"
    with pytest.raises(IbanError, match="BIC 'COBAXXFF' is invalid"):
        check_bic("COBAXXFF", "debtor")  # XX is no country
    with pytest.raises(IbanError, match="BIC 'ABC' is invalid"):
        check_bic("ABC", "debtor")
