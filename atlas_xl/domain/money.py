"""Exact money: the one place amounts and rates are parsed, rounded and formatted.

Rules (stated once, used everywhere):
- Amounts are integer cents (``int`` or ``numpy.int64``) inside the engines, ``Decimal`` at the edges.
- Rates are integer parts per million (ppm) of a fraction: 10 % = 0.10 = 100_000 ppm.
- Rounding is ROUND_HALF_UP at the cent (half away from zero), applied once per computed figure.
  Where a total is split into parts (schedules), the residual cent(s) go to the last part.
- Binary floats never carry an amount; a float arriving from Excel is converted through its shortest
  repr (``repr(0.1) == '0.1'``), so 1234.56 typed in a cell is exactly 1234.56.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np

from atlas_xl.errors import AmountError, RateError

CENT = Decimal("0.01")
PPM = 1_000_000


def D(value: object) -> Decimal:
    """Parse a money-like value into a Decimal without going through binary floating point."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise AmountError(f"{value!r} is not an amount; expected a number such as 1234.56")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise AmountError(f"{value!r} is not an amount; expected a finite number such as 1234.56")
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise AmountError(f"{value!r} is not a number; expected e.g. 1234.56") from None
    else:
        raise AmountError(f"{value!r} is not an amount; expected a number such as 1234.56")
    if not result.is_finite():
        raise AmountError(f"{value!r} is not an amount; expected a finite number such as 1234.56")
    return result


def to_cents(value: object) -> int:
    """Exact conversion to integer cents; more than two decimals is an error, never rounded away."""
    amount = D(value)
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise AmountError(f"{value!r} has more than 2 decimals; expected an amount in cents such as 12.34")
    return int(cents)


def round_cents(value: Decimal) -> int:
    """Round a Decimal amount of euros to integer cents, ROUND_HALF_UP."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(CENT)


def format_eur(cents: int) -> str:
    """1234567 -> 'EUR 12,345.67'."""
    amount = cents_to_decimal(cents)
    return f"EUR {amount:,.2f}"


def rate_to_ppm(value: object) -> int:
    """A rate as a fraction (0.10 for 10 %) -> integer parts per million; more precision is an error."""
    try:
        rate = D(value)
    except AmountError:
        raise RateError(f"{value!r} is not a rate; expected a fraction such as 0.10 for 10 %") from None
    ppm = rate * PPM
    if ppm != ppm.to_integral_value():
        raise RateError(f"{value!r} has more than 6 decimals; expected a fraction such as 0.1025")
    return int(ppm)


def ppm_to_decimal(ppm: int) -> Decimal:
    return Decimal(int(ppm)) / PPM


def div_round_half_up(numerator: np.ndarray | int, denominator: int) -> np.ndarray | int:
    """Integer division rounding half away from zero, vectorised over int64 arrays.

    Used for cents x ppm / 1e6 and the like; exact for every int64 numerator (the quotient and remainder are
    taken first, so nothing is doubled: doubling the numerator wrapped from 4.6e18 on).
    """
    num = np.asarray(numerator, dtype=np.int64)
    if num.size and num.min() >= 0:  # the usual case (sales x rate): no sign to carry
        quotient, remainder = np.divmod(num, denominator)
        result = quotient + (remainder * 2 >= denominator)
    else:
        sign = np.where(num < 0, -1, 1)
        quotient, remainder = np.divmod(np.abs(num), denominator)
        result = sign * (quotient + (remainder * 2 >= denominator))
    if np.ndim(result) == 0:
        return int(result)
    return result.astype(np.int64)


# |cents| below this keeps cents x ppm inside int64 for every rate up to 100 % (1e6 ppm)
_DIRECT_LIMIT = np.iinfo(np.int64).max // PPM


def apply_rate(cents: np.ndarray | int, ppm: np.ndarray | int) -> np.ndarray | int:
    """cents x rate, rounded ROUND_HALF_UP (half away from zero) to the cent; exact for any int64 amount.

    The usual amounts multiply directly. From 92 billion euros on (a balance left to grow, a month of a
    very large merchant's sales) cents x ppm would leave int64 and wrap around without a word, so those
    go as (cents // 1e6) x ppm plus the rounded (cents % 1e6) x ppm / 1e6: the same figure, in range.
    """
    amount = np.asarray(cents, dtype=np.int64)
    rate = np.asarray(ppm, dtype=np.int64)
    if amount.size == 0 or (amount.max() < _DIRECT_LIMIT and amount.min() > -_DIRECT_LIMIT
                            and rate.max(initial=0) <= PPM):
        return div_round_half_up(amount * rate, PPM)
    # whole x rate is a whole number of cents of the rest's sign, so rounding the rest alone rounds the sum
    sign = np.where(amount < 0, -1, 1)
    whole, part = np.divmod(np.abs(amount), PPM)
    result = sign * (whole * rate + np.asarray(div_round_half_up(part * rate, PPM)))
    return int(result) if np.ndim(result) == 0 else result.astype(np.int64)
