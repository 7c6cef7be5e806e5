"""div_round_half_up / apply_rate against Decimal's ROUND_HALF_UP (the stated rounding rule), on scalars, on
mixed-sign arrays and on all-non-negative arrays (which take the sign-free fast path)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from atlas_xl.money import PPM, apply_rate, div_round_half_up

NUMERATORS = st.integers(min_value=-(10**15), max_value=10**15)


def half_up(numerator: int, denominator: int) -> int:
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(NUMERATORS, st.sampled_from([1, 2, 100, PPM, 3, 7]))
def test_scalar_matches_decimal(numerator: int, denominator: int) -> None:
    assert div_round_half_up(numerator, denominator) == half_up(numerator, denominator)


@given(st.lists(NUMERATORS, min_size=1, max_size=40))
def test_mixed_sign_array_matches_decimal(numerators: list[int]) -> None:
    got = div_round_half_up(np.array(numerators, dtype=np.int64), PPM)
    assert got.tolist() == [half_up(n, PPM) for n in numerators]


@given(st.lists(st.integers(min_value=0, max_value=10**15), min_size=1, max_size=40))
def test_non_negative_array_matches_decimal(numerators: list[int]) -> None:
    got = div_round_half_up(np.array(numerators, dtype=np.int64), PPM)
    assert got.tolist() == [half_up(n, PPM) for n in numerators]


def test_hand_examples() -> None:
    # 1,234.50 EUR x 2.5 % = 30.8625 EUR -> 30.86; 0.50 EUR x 1 % = 0.005 EUR -> 0.01 (half up);
    # a refund of -0.50 EUR x 1 % = -0.005 -> -0.01 (half away from zero)
    assert apply_rate(np.array([123450, 50, -50]), 25_000).tolist()[0] == 3086
    assert apply_rate(np.array([50, -50]), 10_000).tolist() == [1, -1]
    assert div_round_half_up(np.array([], dtype=np.int64), PPM).tolist() == []
