"""National check digits inside the BBAN: an IBAN whose ISO 13616 check digits are right but whose national
digits are wrong is INVALID_IBAN in readiness, refused by the SEPA writer and refused by the per-row oracle
(tests/reference.py, schwifty's validate_bban on its own) alike. Valid IBANs are published examples."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from atlas_xl.domain.accounts import iban_problems
from atlas_xl.domain.epc_text import iban_compact as iso_checks_only
from atlas_xl.errors import SepaError
from atlas_xl.examples.portfolio import generate_portfolio
from tests.reference import iban_is_valid
from tests.test_sepa import THREE, build


def with_iso_check_digits(country: str, bban: str) -> str:
    """The IBAN of `bban` with its ISO 7064 mod 97-10 check digits computed here (letters A=10 .. Z=35)."""
    number = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


VALID = [
    "BE68539007547034",  # the Belgian example: national digits 34 = 5390075470 mod 97
    "ES9121000418450200051332",  # the Spanish example: control digits 45
    "FR1420041010050500013M02606",  # the French example: RIB key 06
    "IT60X0542811101000000123456",  # the Italian example: CIN X
]
NATIONAL_WRONG = [
    "BE65001983341924",  # Belgian: 0019833419 mod 97 = 19, not 24
    with_iso_check_digits("BE", "539007547035"),  # the example's account with key 35 instead of 34
    with_iso_check_digits("ES", "21000418550200051332"),  # control digits 55 instead of 45
    with_iso_check_digits("FR", "20041010050500013M02607"),  # RIB key 07 instead of 06
    with_iso_check_digits("IT", "Y0542811101000000123456"),  # CIN Y instead of X
]


@pytest.mark.parametrize("iban", VALID)
def test_published_examples_pass_every_check(iban):
    assert iban_problems(np.array([iban], dtype=object)).tolist() == [""]
    assert iban_is_valid(iban)


@pytest.mark.parametrize("iban", NATIONAL_WRONG)
def test_wrong_national_digits_are_invalid_in_readiness_the_writer_and_the_oracle(iban):
    assert iso_checks_only(iban, "client") == iban  # the IBAN check digits and the format are right
    assert iban_problems(np.array([iban], dtype=object)).tolist() == [
        f"IBAN {iban!r} is invalid (Invalid national checksum); expected e.g. DE89370400440532013000"]
    assert not iban_is_valid(iban)
    bad = dataclasses.replace(THREE[1], creditor_iban=iban)
    with pytest.raises(SepaError, match=rf"client 'C002' \(EndToEndId 'RUN7-C002'\): IBAN '{iban}' is invalid "
                                        r"\(Invalid national checksum\)"):
        build([THREE[0], bad, THREE[2]])


def test_the_generator_makes_only_nationally_valid_ibans_but_the_deliberate_bad_one():
    clients = generate_portfolio(clients=300, days=1)["clients"]
    problems = iban_problems(clients["iban"].to_numpy(dtype=object))
    assert clients["country"].nunique() == 10  # every country of its bank list, FR / IT / FI / PT among them
    assert clients.loc[problems != "", "client_id"].tolist() == ["C00004"]  # invalid on purpose (check digits)
