"""Currency codes and their minor units (ISO 4217).

The exponent decides whether a money amount is a whole number of minor units (``12.50`` USD
is, ``12.505`` is not) and where a MONEY value is rounded. Codes not listed among the zero- and
three-decimal ones use two decimals, which is what ISO 4217 assigns to the great majority.

:data:`ISO_4217` lists the codes a user may write: conditions, declared property currencies
and ``SEGGRAPH_CURRENCY`` are refused with any other (``XYZ`` would make every comparison a
currency mismatch). Values that providers send are not checked against it (see
``seggraph.evaluation.values.coerce_money``): a provider's odd code is a mismatch, not an error.
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

#: ISO 4217 list one (currencies and funds, with the codes for precious metals, testing and "no
#: currency"), as Debian's ``iso-codes`` package 4.15.0 publishes it
#: (``/usr/share/iso-codes/json/iso_4217.json``, kept from the ISO 4217 maintenance agency's
#: list), plus ZWG (Zimbabwe Gold, 2024) and XCG (Caribbean guilder, 2025), added since. Codes
#: withdrawn lately (HRK) stay: old invoices and conditions on them still name them.
_ISO_4217_TEXT = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP "
    "ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR "
    "ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD "
    "MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR "
    "PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
    "THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF "
    "XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL"
)
ISO_4217 = frozenset(_ISO_4217_TEXT.split())


def is_currency_code(code: str) -> bool:
    """Three upper-case letters, the shape of an ISO 4217 code (what a provider's data is
    checked for; see :func:`is_iso_currency` for what a user may write)."""
    return bool(_CODE.match(code))


def is_iso_currency(code: str) -> bool:
    """An ISO 4217 code, in upper case, from :data:`ISO_4217`."""
    return code in ISO_4217


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
