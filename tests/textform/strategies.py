"""Hypothesis strategies for condition trees in their canonical value forms."""

from __future__ import annotations

import string
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    DateUnit,
    Group,
    Money,
    Node,
    Operator,
    RelativeDate,
)
from seggraph.textform.vocabulary import KEYWORDS, SHAPES, Shape

# characters that stress the quoting: quotes, backslashes, line breaks, invisible and astral ones.
# No lone UTF-16 surrogates: they are no characters, the database cannot store them, and the
# text form refuses them (a pair written as two escapes reads as the one character it encodes).
_NASTY = '"\\`\n\r\t\x00\x7f\u2028\u00a0\u200b\U00010000é😀 ('

texts = st.text(
    st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(_NASTY)), max_size=12
)

_LOWER = string.ascii_lowercase + "_"
_PART = _LOWER + string.digits
# [a-z_][a-z0-9_]*(\.[a-z0-9_]+)*, built piecewise (much faster to draw than from_regex)
dotted_keys = st.builds(
    lambda first, rest, parts: ".".join([first + rest, *parts]),
    st.sampled_from(_LOWER),
    st.text(_PART, max_size=6),
    st.lists(st.text(_PART, min_size=1, max_size=6), max_size=3),
)
keys = st.one_of(
    dotted_keys,
    st.sampled_from(
        [
            "subscriber.mrr",
            "cdp.event.order_completed.count_30d",
            "Plan.Name",
            SEGMENT_PROPERTY,
            BUCKET_PROPERTY,
            "in.segment",
            *sorted(KEYWORDS)[::7],
            "not",
            "all",
            "None",
        ]
    ),
    texts,
)


@st.composite
def decimals(draw: st.DrawFn, max_exponent: int = 0) -> Decimal:
    """Finite decimals with varied scale: 0, -0.00, 100.0, 12.500, 1234567.000001."""
    sign = draw(st.integers(0, 1))
    coefficient = draw(st.one_of(st.integers(0, 999), st.integers(0, 10**15)))
    exponent = draw(st.integers(-8, max_exponent))
    digits = tuple(int(d) for d in str(coefficient))
    return Decimal((sign, digits, exponent))


currencies = st.one_of(
    st.none(),
    st.text(string.ascii_uppercase, min_size=3, max_size=3),
    st.sampled_from(["USD", "EUR", "JPY", "ALL", "AND", "usd", "", "U`D"]),
)
money = st.builds(Money, decimals(), currencies)
scalars = st.one_of(decimals(), money, texts)
relative_dates = st.builds(
    RelativeDate, st.one_of(st.integers(1, 12), st.integers(0, 10**9)), st.sampled_from(DateUnit)
)


def values_for(operator: Operator) -> st.SearchStrategy[Any]:
    shape = SHAPES[operator]
    if shape is Shape.NONE:
        return st.none()
    if shape is Shape.SCALAR:
        return scalars
    if shape is Shape.LIST:
        return st.lists(scalars, max_size=4).map(tuple)
    if shape is Shape.RANGE:
        return st.tuples(scalars, scalars)
    return relative_dates


def keys_for(operator: Operator) -> st.SearchStrategy[str]:
    if operator in (Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT):
        return st.one_of(st.just(SEGMENT_PROPERTY), keys)
    if operator is Operator.PERCENTAGE:
        return st.one_of(st.just(BUCKET_PROPERTY), keys)
    return keys


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    operator = draw(st.sampled_from(Operator))
    return Condition(
        draw(keys_for(operator)), operator, draw(values_for(operator)), draw(st.booleans())
    )


def groups(levels: int = 5) -> st.SearchStrategy[Group]:
    """Groups nested at most ``levels`` deep, any combinator, empty and one-child ones too."""
    child: st.SearchStrategy[Node] = conditions()
    if levels > 1:
        child = st.one_of(conditions(), groups(levels - 1))
    return st.builds(
        Group,
        st.sampled_from(Combinator),
        st.one_of(st.lists(child, max_size=1), st.lists(child, max_size=4)).map(tuple),
    )
