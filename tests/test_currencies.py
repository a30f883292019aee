"""Whether a money amount is a whole number of the currency's minor units: exact for any
finite amount, however large or precise (a quantize() in the default context raised on 1e300)."""

from __future__ import annotations

from decimal import Context, Decimal

from hypothesis import given
from hypothesis import strategies as st

from seggraph.domain.currencies import is_whole_minor_units, minor_units

#: Wide enough for every amount drawn below: quantize() answers there instead of raising.
WIDE = Context(prec=5000, Emax=10**6, Emin=-(10**6))


def by_quantize(amount: Decimal, code: str) -> bool:
    quantum = Decimal(1).scaleb(-minor_units(code))
    return amount == amount.quantize(quantum, context=WIDE)


amounts = st.builds(
    lambda digits, exponent, sign: Decimal((sign, tuple(digits), exponent)),
    st.lists(st.integers(0, 9), min_size=1, max_size=40),
    st.integers(-60, 400),
    st.integers(0, 1),
)


@given(amounts, st.sampled_from(["USD", "JPY", "KWD"]))
def test_the_same_answer_as_quantize_in_a_context_wide_enough(amount: Decimal, code: str) -> None:
    assert is_whole_minor_units(amount, code) == by_quantize(amount, code)


def test_examples() -> None:
    assert is_whole_minor_units(Decimal("12.500"), "USD")
    assert not is_whole_minor_units(Decimal("12.505"), "USD")
    assert is_whole_minor_units(Decimal("1E+300"), "USD")
    assert is_whole_minor_units(Decimal("-0.000"), "JPY")
    assert not is_whole_minor_units(Decimal("1.5"), "JPY")
    assert is_whole_minor_units(Decimal("120E-1"), "JPY")
    assert not is_whole_minor_units(Decimal("1E-1000"), "USD")
    assert not is_whole_minor_units(Decimal("Infinity"), "USD")
