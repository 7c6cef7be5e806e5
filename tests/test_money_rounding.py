"""div_round_half_up / apply_rate against Decimal's ROUND_HALF_UP (the stated rounding rule), on scalars, on
mixed-sign arrays and on all-non-negative arrays (which take the sign-free fast path)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from atlas_xl.domain.money import PPM, apply_rate, div_round_half_up
from atlas_xl.engines.exposure import _MAX_PPM, _ratio_ppm

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


# Amounts past 92 billion euros: cents x ppm no longer fits int64. apply_rate must still give the exact
# half-up figure instead of a wrapped one (any amount whose result fits, any rate up to 100 %).
HUGE = st.integers(min_value=-(2**63 - 1), max_value=2**63 - 1)


@given(st.lists(HUGE, min_size=1, max_size=20), st.integers(min_value=0, max_value=PPM))
@example([4_945_285_057_860], 932_543)  # 4.6e18 before rounding: doubling it wrapped to -4,611,681,073,143
def test_apply_rate_is_exact_for_any_int64_amount(amounts: list[int], ppm: int) -> None:
    got = apply_rate(np.array(amounts, dtype=np.int64), ppm)
    assert got.tolist() == [half_up(a * ppm, PPM) for a in amounts]


def test_apply_rate_huge_hand_examples() -> None:
    # 10**15 + 500,000 cents x 1 ppm = 1,000,000,000.5 cents -> 1,000,000,001 (half up), negative: half away
    # from zero; 10**17 cents x 99.9999 % = 99,999,900,000,000,000 (10**17 x 999,999 = 9.99999e22: no int64)
    assert apply_rate(np.array([10**15 + 500_000, -(10**15 + 500_000)]), 1).tolist() == [1_000_000_001,
                                                                                         -1_000_000_001]
    assert apply_rate(10**17, 999_999) == 99_999_900_000_000_000


@given(st.integers(min_value=0, max_value=2**63 - 1), st.integers(min_value=1, max_value=10**12 - 1))
def test_utilisation_ppm_is_exact_or_saturated(exposure: int, limit: int) -> None:
    # exposure / limit in ppm, half up; a share past ~9.2e12 ppm (92 million x the limit) saturates
    got = int(_ratio_ppm(np.array([exposure]), np.array([limit]))[0])
    if exposure // limit < (_MAX_PPM - PPM) // PPM:
        assert got == half_up(exposure * PPM, limit)
    else:
        assert got == _MAX_PPM


def test_a_hundred_billion_exposure_is_its_true_share_of_the_limit() -> None:
    # 10,035,416,552,686 cents on a 10,000,000-cent limit: x 1e6 / 1e7 = 1,003,541,655,268.6 -> ...269 ppm
    # (the product 1.0035e19 left int64: it read as 81,204,451,583 ppm before)
    assert _ratio_ppm(np.array([10_035_416_552_686]), np.array([10_000_000])).tolist() == [1_003_541_655_269]


def test_apply_rate_near_the_int64_edge_hand_example() -> None:
    # 4,945,285,057,860 cents x 93.2543 % = 4,611,690,963,711,937,980 / 1e6 = 4,611,690,963,711.94 -> ...712;
    # the product fits in int64 (< 9.22e18) but twice it does not: the old rounding doubled it and wrapped
    assert apply_rate(np.array([4_945_285_057_860]), 932_543).tolist() == [4_611_690_963_712]
    assert apply_rate(4_945_285_057_860, 932_543) == 4_611_690_963_712
