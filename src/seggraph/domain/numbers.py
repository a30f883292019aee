"""The numbers seggraph keeps: exact decimals of a bounded size.

A condition value or a custom property value that is a number is kept exactly, as a ``Decimal``
(or an ``int``), stored in MongoDB as a tagged string or a ``Decimal128``, answered in JSON and
printed in the text form without an exponent. An unbounded number breaks each of those: ``1e400``
is no double (JSON would say ``null``), ``1e2000000`` overflows ``Decimal`` arithmetic and prints
as two million digits, a 40-digit amount does not fit a ``Decimal128``. So a number is refused
when it is written unless it has at most :data:`MAX_DIGITS` digits, at most
:data:`MAX_DIGITS` decimal places and is less than ``10 ** MAX_DIGITS`` in size: what a
``Decimal128`` holds exactly, and far beyond any amount, count or score a subscriber has.
"""

from __future__ import annotations

import re
from decimal import Decimal

#: Significant digits a ``Decimal128`` holds exactly; also the bound on size and decimal places.
MAX_DIGITS = 34

#: A number written as text, as JSON writes one: a sign, ASCII digits (``\d`` would take
#: Arabic-Indic and other Unicode digits, which ``Decimal()`` reads too), a decimal point, an
#: exponent. ``Decimal()`` alone also reads ``"1_000"`` and ``"Infinity"``.
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

#: The integers BSON keeps as integers (its 64-bit int); a larger one is stored as a
#: ``Decimal128`` (or refused).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def fits_int64(value: int | Decimal) -> bool:
    """Whether ``value`` (a whole number) is within BSON's 64-bit integers."""
    return INT64_MIN <= value <= INT64_MAX


BOUNDS = (
    f"a number has at most {MAX_DIGITS} digits, at most {MAX_DIGITS} decimal places and is "
    f"less than 10^{MAX_DIGITS} in size"
)


def within_bounds(value: Decimal | int) -> bool:
    """``value`` is finite and within the bounds above (no arithmetic: any size is safe)."""
    if isinstance(value, int):
        return abs(value) < 10**MAX_DIGITS
    if not value.is_finite():
        return False
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent < -MAX_DIGITS:
        return False
    return not value or (len(digits) <= MAX_DIGITS and value.adjusted() < MAX_DIGITS)
