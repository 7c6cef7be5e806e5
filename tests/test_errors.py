"""atlas_xl.errors: the kinds of failure, their exit codes, quoted values cut to a readable length, and passwords
masked where they stand."""

from __future__ import annotations

import pytest

from atlas_xl import errors
from atlas_xl.errors import (
    AmountError,
    ArgumentError,
    AtlasError,
    BadInput,
    ConfigError,
    DateError,
    IbanError,
    LoadError,
    NotFound,
    OutputError,
    PermissionDenied,
    Problem,
    RateError,
    RefusedByRule,
    SepaError,
    StoreError,
    UnsafeInputError,
    WorkflowError,
    cut,
    exit_code_for,
    hide_passwords,
    quote,
)
from atlas_xl.store.database import open_store

# every error class by the kind it belongs to and the exit status that kind gives `atlas-xl`
KINDS = [
    (AmountError, BadInput, 2), (RateError, BadInput, 2), (DateError, BadInput, 2), (ArgumentError, BadInput, 2),
    (IbanError, BadInput, 2), (ConfigError, BadInput, 2), (UnsafeInputError, BadInput, 2),
    (NotFound, NotFound, 2), (WorkflowError, RefusedByRule, 1), (SepaError, RefusedByRule, 1),
    (PermissionDenied, PermissionDenied, 3), (OutputError, OutputError, 73), (StoreError, StoreError, 70),
]


@pytest.mark.parametrize(("cls", "kind", "code"), KINDS, ids=[c.__name__ for c, _, _ in KINDS])
def test_every_error_has_one_kind_and_the_kind_decides_the_exit_code(cls, kind, code) -> None:
    error = cls("something is wrong")
    assert isinstance(error, kind) and isinstance(error, AtlasError) and isinstance(error, ValueError)
    others = {BadInput, NotFound, RefusedByRule, PermissionDenied, OutputError, StoreError} - {kind}
    assert not any(isinstance(error, other) for other in others)
    assert exit_code_for(error) == code


def test_load_errors_are_bad_input_and_an_unkinded_atlas_error_is_refused() -> None:
    assert exit_code_for(LoadError([Problem("clients.csv", None, 3, "credit_limit", "12.345", "bad")])) == 2
    assert exit_code_for(AtlasError("no kind")) == 1


def test_the_kinds_are_flat_under_the_root() -> None:
    for kind in (BadInput, NotFound, RefusedByRule, PermissionDenied, OutputError, StoreError):
        assert kind.__bases__ == (AtlasError,)
    assert [kind for kind, _ in errors.EXIT_CODES] == [RefusedByRule, BadInput, NotFound, PermissionDenied,
                                                       StoreError, OutputError]


def test_quote_keeps_short_values_as_repr() -> None:
    assert quote("abc") == "'abc'"
    assert quote("it's") == '"it\'s"'
    assert quote(12) == "12"
    assert quote(None) == "None"
    assert quote("x" * 80) == repr("x" * 80)  # exactly at the limit: whole


def test_quote_cuts_a_long_value_and_notes_its_length() -> None:
    assert quote("abcdef", limit=3) == "'abc…' (6 characters)"
    assert quote("x" * 2_000_000) == "'" + "x" * 80 + "…' (2,000,000 characters)"
    # escapes are never split: the text is cut (3 characters) before repr() escapes its control characters
    assert quote("\x01\x02\x03\x04", limit=3) == "'\\x01\\x02\\x03…' (4 characters)"
    assert quote(list(range(100)), limit=10) == "[0, 1, 2, … (390 characters)"  # repr is 390 characters long
    assert cut("abcdef", 4) == "abcd… (6 characters)" and cut("abc", 4) == "abc"


def test_a_two_megabyte_value_gives_a_short_message() -> None:
    name = "N" * 2_000_000
    problem = Problem("clients.csv", None, 7, "name", name, "is too long; expected at most 140 characters")
    assert str(problem) == ("clients.csv, row 7, column name: is too long; expected at most 140 characters "
                            "(value '" + "N" * 80 + "…' (2,000,000 characters))")
    assert len(str(LoadError([problem]))) < 300
    error = ArgumentError("is not a client id", what="client", value=name, expected="1-20 of A-Z a-z 0-9 _ -")
    assert str(error) == "client '" + "N" * 80 + "…' (2,000,000 characters) is not a client id; expected 1-20 of " \
                         "A-Z a-z 0-9 _ -"
    assert error.value is name  # the structured field keeps the whole value for code that needs it


def test_structured_fields() -> None:
    error = DateError("is not a date", what="--as-of", value="2026-13-01", expected="YYYY-MM-DD")
    assert (error.what, error.value, error.expected) == ("--as-of", "2026-13-01", "YYYY-MM-DD")
    assert str(error) == "--as-of '2026-13-01' is not a date; expected YYYY-MM-DD"
    assert str(ArgumentError(what="--clients", value=-1, expected="a positive number")) == \
        "--clients -1 is not valid; expected a positive number"
    plain = WorkflowError("run R3 is executed; only a proposed run can be approved")
    assert str(plain) == plain.message == "run R3 is executed; only a proposed run can be approved"
    assert (plain.what, plain.value, plain.expected) == (None, None, None)


def test_passwords_are_masked_where_they_stand_and_nowhere_else() -> None:
    text = 'connection to server at "127.0.0.1", port 1 failed: postgresql+psycopg://atlas:p@127.0.0.1:1/atlas'
    assert hide_passwords(text) == ('connection to server at "127.0.0.1", port 1 failed: '
                                    'postgresql+psycopg://atlas:***@127.0.0.1:1/atlas')
    assert hide_passwords("host=db user=atlas password=p port=5432") == "host=db user=atlas password=*** port=5432"
    assert hide_passwords("password = 'p q' sslmode=require") == "password = *** sslmode=require"
    assert hide_passwords("port 1 failed, p and pp stay") == "port 1 failed, p and pp stay"


def test_an_unreachable_database_with_a_one_letter_password_keeps_the_drivers_words() -> None:
    # Masking used to replace the password's text everywhere: with the password p, psycopg's
    # 'connection to server at "127.0.0.1", port 1 failed' read '***ort 1 failed'. Nothing listens on port 1.
    with pytest.raises(ConfigError) as info:
        open_store("postgresql+psycopg://atlas:p@127.0.0.1:1/atlas")
    message = str(info.value)
    assert "postgresql+psycopg://atlas:***@127.0.0.1:1/atlas" in message
    assert "port 1 failed" in message and "***ort" not in message
