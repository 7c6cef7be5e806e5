"""EPC character set, length and IBAN/BIC rules (atlas_xl.domain.epc_text)."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schwifty import BIC, IBAN, registry
from schwifty.exceptions import SchwiftyException

from atlas_xl.domain.epc_text import (
    NAME_MAX,
    REMITTANCE_MAX,
    _is_canonical_bic,
    _is_canonical_sepa_iban,
    _transliterate,
    bic_compact,
    check_bic,
    check_iban,
    check_identifier,
    epc_name,
    epc_remittance,
    iban_compact,
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


# --- the fast paths must give plain schwifty's (and the general transliteration's) answer for every input

@given(st.one_of(st.text(max_size=200), st.text(alphabet="abcXYZ019/-?:().,'+ ", max_size=200)))
def test_clean_text_shortcut_is_the_general_transliteration(text: str) -> None:
    assert transliterate(text) == _transliterate(text)


_LETTERS = string.ascii_uppercase
_TWO_LETTERS = [a + b for a in _LETTERS for b in _LETTERS]


def _known(code: str) -> bool:
    try:
        registry.get_iban_spec(code)
    except SchwiftyException:
        return False
    return True


_IBAN_COUNTRIES = [code for code in _TWO_LETTERS if _known(code)]  # SEPA and non-SEPA
_SEPA_COUNTRIES = [code for code in _IBAN_COUNTRIES if registry.get_iban_spec(code).in_sepa_zone]
# characters that schwifty's clean() removes or changes, Unicode digits its structure check accepts, and
# characters outside every IBAN alphabet
_AWKWARD = " \t\n\u00a0abcxyzß٣１ÄŻ-#"


@st.composite
def _iban_candidates(draw: st.DrawFn) -> str:
    """Mostly valid IBANs of every registry country, then damaged in the ways that matter to the checks."""
    country = draw(st.one_of(st.sampled_from(_SEPA_COUNTRIES), st.sampled_from(_SEPA_COUNTRIES),
                             st.sampled_from(_IBAN_COUNTRIES), st.sampled_from(_TWO_LETTERS),
                             st.text(alphabet=_LETTERS + _AWKWARD, min_size=0, max_size=3)))
    if country in _IBAN_COUNTRIES and draw(st.integers(0, 3)):
        # the country's BBAN format: ASCII, or any Unicode digit for \d and (without fullmatch) a final '\n'
        ascii_only = draw(st.integers(0, 3)) > 0
        bban = draw(st.from_regex(registry.get_iban_spec(country).regex, fullmatch=ascii_only,
                                  alphabet=st.characters(codec="ascii") if ascii_only else None))
    else:
        bban = draw(st.text(alphabet=_LETTERS + string.digits + _AWKWARD, max_size=34))
    try:
        iban = str(IBAN.from_bban(country, bban, allow_invalid=True))  # right check digits
    except (SchwiftyException, KeyError, ValueError):
        iban = country + draw(st.text(alphabet=string.digits, min_size=2, max_size=2)) + bban
    damage = draw(st.sampled_from(["none"] * 6 + ["digit", "char", "lower", "space", "cut", "extend"]))
    at = draw(st.integers(min_value=0, max_value=max(len(iban) - 1, 0)))
    char = draw(st.sampled_from(string.digits + _LETTERS + _AWKWARD))
    if damage == "digit" and len(iban) > 3:
        iban = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:] if iban[2:4].isdigit() else iban
    elif damage == "char":
        iban = iban[:at] + char + iban[at + 1:]
    elif damage == "lower":
        iban = iban.lower()
    elif damage == "space":
        iban = iban[:at] + " " + iban[at:]
    elif damage == "cut":
        iban = iban[:at]
    elif damage == "extend":
        iban = iban + char
    return iban


def _schwifty_iban(value: str) -> str | None:
    """Plain schwifty: the compact IBAN if valid and in the SEPA zone, else None."""
    try:
        iban = IBAN(value)
    except SchwiftyException:
        return None
    return iban.compact if iban.in_sepa_zone else None


@settings(max_examples=1000, deadline=None)
@given(_iban_candidates())
def test_fast_iban_check_agrees_with_schwifty(value: str) -> None:
    # the shortcut accepts exactly the IBANs schwifty accepts (SEPA zone) that are already in compact form
    assert _is_canonical_sepa_iban(value) == (_schwifty_iban(value) == value)
    _assert_same_outcome(iban_compact, check_iban, value, "client C1")


def _assert_same_outcome(fast: Callable[[str, str], str], checked: Callable[[str, str], Any], value: str,
                         label: str) -> None:
    """The fast check gives the compact form the full check gives, or raises the same error text."""
    try:
        expected: str | IbanError = checked(value, label).compact
    except IbanError as error:
        expected = error
    if isinstance(expected, IbanError):
        with pytest.raises(IbanError) as info:
            fast(value, label)
        assert str(info.value) == str(expected)
    else:
        assert fast(value, label) == expected


@st.composite
def _bic_candidates(draw: st.DrawFn) -> str:
    alphanumeric = string.digits + _LETTERS
    bic = (draw(st.text(alphabet=alphanumeric, min_size=4, max_size=4))
           + draw(st.one_of(st.sampled_from(_IBAN_COUNTRIES), st.sampled_from(_IBAN_COUNTRIES),
                            st.sampled_from(_TWO_LETTERS),
                            st.text(alphabet=alphanumeric + _AWKWARD, min_size=2, max_size=2)))
           + draw(st.text(alphabet=alphanumeric, min_size=2, max_size=2))
           + draw(st.sampled_from(["", "XXX", "001"]) | st.text(alphabet=alphanumeric + _AWKWARD, max_size=4)))
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(min_value=0, max_value=len(bic)))
        bic = bic[:at] + draw(st.sampled_from(_AWKWARD)) + bic[at:]
    return bic.lower() if draw(st.integers(0, 9)) == 0 else bic


def _schwifty_bic(value: str) -> str | None:
    try:
        return BIC(value).compact
    except SchwiftyException:
        return None


@settings(max_examples=1000, deadline=None)
@given(_bic_candidates())
def test_fast_bic_check_agrees_with_schwifty(value: str) -> None:
    assert _is_canonical_bic(value) == (_schwifty_bic(value) == value)
    _assert_same_outcome(bic_compact, check_bic, value, "debtor")


def _with_check_digits(digits: str) -> str:
    """A valid German IBAN whose check digits are `digits` (02..98)."""
    return next(str(iban) for n in range(1, 100_000)
                if (iban := IBAN.generate("DE", bank_code="37040044", account_code=str(n))).checksum_digits == digits)


# mod-97 aliases: 00/01/99 pass a bare `% 97 == 1` test but never come out of ISO 7064, so schwifty refuses
_ALIASES = [(valid, valid[:2] + alias + valid[4:])
            for valid, alias in ((_with_check_digits("97"), "00"), (_with_check_digits("98"), "01"),
                                 (_with_check_digits("02"), "99"))]


@pytest.mark.parametrize("value", [
    "DE89370400440532013000", "DE89370400440532013000\n", "de89370400440532013000", " DE89370400440532013000",
    "DE89 3704 0044 0532 0130 00", "DE\u0668\u0669370400440532013000", "DE89370400440532013000\u00a0",
    "DE8937040044053201300", "DE893704004405320130000", "XK051212012345678906", "SA0380000000608010167519",
    "GB82WEST12345698765432", "GB82west12345698765432", "IT60X0542811101000000123456", "", "DE", "DE89",
    *[value for pair in _ALIASES for value in pair],
])
def test_fast_iban_check_edge_cases(value: str) -> None:
    assert _is_canonical_sepa_iban(value) == (_schwifty_iban(value) == value)


def test_fast_checks_take_the_common_cases() -> None:
    # what the shortcut exists for: compact IBANs/BICs of SEPA banks settle without schwifty objects
    assert _is_canonical_sepa_iban("DE89370400440532013000")
    assert _is_canonical_sepa_iban("FR1420041010050500013M02606")
    assert not _is_canonical_sepa_iban("DE89 3704 0044 0532 0130 00")  # schwifty cleans it: slow path
    assert iban_compact("DE89 3704 0044 0532 0130 00", "x") == "DE89370400440532013000"
    assert not _is_canonical_sepa_iban("SA0380000000608010167519")  # valid, but outside the SEPA zone
    with pytest.raises(IbanError, match="outside the SEPA zone"):
        iban_compact("SA0380000000608010167519", "client C2")
    for valid, alias in _ALIASES:
        assert _is_canonical_sepa_iban(valid) and not _is_canonical_sepa_iban(alias)
    assert _is_canonical_bic("COBADEFFXXX") and _is_canonical_bic("BYLADEM1")
    assert not _is_canonical_bic("COBAXXFF")
    assert bic_compact("cobadeffxxx", "x") == "COBADEFFXXX"

