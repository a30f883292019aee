"""Currency codes and their minor units (ISO 4217).

Only the exponent matters to seggraph: it decides whether a money amount is a whole number of
minor units (``12.50`` USD is, ``12.505`` is not) and where a MONEY value is rounded. Codes not
listed here use two decimals, which is what ISO 4217 assigns to the great majority.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

_ZERO_DECIMALS = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"]
    + ["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"]
)
_THREE_DECIMALS = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])
_CODE = re.compile(r"^[A-Z]{3}$")


def is_currency_code(code: str) -> bool:
    """Three upper-case letters, as ISO 4217 writes them."""
    return bool(_CODE.match(code))


def minor_units(code: str) -> int:
    """How many decimals the currency's minor unit has (2 unless ISO says otherwise)."""
    code = code.upper()
    if code in _ZERO_DECIMALS:
        return 0
    if code in _THREE_DECIMALS:
        return 3
    return 2


def is_whole_minor_units(amount: Decimal, code: str) -> bool:
    """True when ``amount`` needs no more decimals than the currency has (``12.500`` is fine)."""
    # Read from the digits, not with quantize(), which needs the result to fit the context's
    # 28 digits and raised InvalidOperation on 1e300 (found by the condition fuzzer).
    _, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):  # not finite: never a whole number of anything
        return False
    significant = len(digits)
    while significant > 0 and digits[significant - 1] == 0:
        significant -= 1
    if significant == 0:
        return True  # zero, however written
    return exponent + (len(digits) - significant) >= -minor_units(code)


def round_money(amount: Decimal, code: str) -> Decimal:
    """Round half-up to the currency's minor unit (done once, when a value is returned)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(code)), rounding=ROUND_HALF_UP)
