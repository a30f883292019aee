"""Properties of what a text means: the evaluator reads AND, OR and NOT as the doc says, a
saved tree reads back as itself, and whitespace and the case of keywords change nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from seggraph_billing.properties import definitions as billing_definitions
from seggraph_crm.properties import definitions as crm_definitions

from seggraph.catalogue import Catalogue
from seggraph.domain.conditions import (
    Combinator,
    Condition,
    DateUnit,
    Group,
    Money,
    Node,
    Operator,
    RelativeDate,
)
from seggraph.domain.properties import OPERATORS_BY_TYPE, PropertyDefinition, PropertyType
from seggraph.evaluation.nodes import combine
from seggraph.evaluation.truth import Truth
from seggraph.textform import parse, print_tree
from seggraph.textform.lexer import Kind, Lexer
from seggraph.textform.vocabulary import SHAPES, Shape
from seggraph.validation.conditions import ConditionValidator
from tests.textform.strategies import decimals, dotted_keys, texts

FEW = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

# -- AND, OR and NOT as the evaluator reads them

_ATOMS = ("a.a", "b.b", "c.c", "d.d")


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 0) -> tuple[str, str]:
    """A text of AND, OR, NOT, ( ) and ALL/ANY/NONE(...), and the same in Python, whose
    precedence (not, then and, then or) is the one the doc gives."""
    kinds = ["atom", "atom", "and", "or", "not", "paren", "group"] if depth < 5 else ["atom"]
    kind = draw(st.sampled_from(kinds))
    if kind == "atom":
        key = draw(st.sampled_from(_ATOMS))
        return f"{key} IS TRUE", key.replace(".", "_")
    if kind in ("and", "or"):
        parts = draw(st.lists(_expressions(depth + 1), min_size=2, max_size=3))
        return f" {kind.upper()} ".join(t for t, _ in parts), f" {kind} ".join(p for _, p in parts)
    if kind == "not":
        text, python = draw(_expressions(depth + 1))
        return f"NOT {text}", f"not {python}"
    if kind == "paren":
        text, python = draw(_expressions(depth + 1))
        return f"({text})", f"({python})"
    combinator = draw(st.sampled_from(Combinator))
    parts = draw(st.lists(_expressions(depth + 1), max_size=3))
    function = {"ALL": "all", "ANY": "any", "NONE": "not any"}[combinator.value]
    return (
        f"{combinator.value}(" + ", ".join(t for t, _ in parts) + ")",
        f"{function}([" + ", ".join(p for _, p in parts) + "])",
    )


def _truth(node: Node, facts: dict[str, bool]) -> Truth:
    if isinstance(node, Condition):
        return Truth.TRUE if facts[node.property.replace(".", "_")] else Truth.FALSE
    return combine(node.combinator, [_truth(child, facts) for child in node.children])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(_expressions())
def test_the_evaluator_reads_not_and_or_with_the_documented_precedence(
    expression: tuple[str, str],
) -> None:
    text, python = expression
    tree = parse(text)
    for values in itertools.product((False, True), repeat=len(_ATOMS)):
        facts = {key.replace(".", "_"): value for key, value in zip(_ATOMS, values, strict=True)}
        expected = Truth.TRUE if eval(python, {}, dict(facts)) else Truth.FALSE
        assert _truth(tree, facts) is expected, (text, values)


# -- a saved tree, printed for a person to edit, reads back as the same saved tree

_DEFINITIONS = {d.key: d for d in [*billing_definitions("USD"), *crm_definitions("USD")]}
_VALIDATOR = ConditionValidator(
    Catalogue(_DEFINITIONS.values()), currency="USD", zone=timezone(timedelta(hours=-5))
)
_ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
_DAYS = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.datetimes(timezones=st.sampled_from(_ZONES)).map(lambda moment: moment.isoformat()),
)


def _scalars(definition: PropertyDefinition) -> st.SearchStrategy[Any]:
    kind = definition.type
    if kind is PropertyType.NUMBER:
        return decimals()
    if kind is PropertyType.MONEY:
        return st.one_of(
            decimals(), st.builds(Money, decimals(), st.sampled_from([None, "USD", "EUR", "JPY"]))
        )
    if kind is PropertyType.ENUM and definition.enum_values:
        return st.sampled_from(definition.enum_values)
    if kind in (PropertyType.DATE, PropertyType.DATETIME):
        return _DAYS
    if kind is PropertyType.SEMVER:
        return st.sampled_from(["1.0.0", "2.4.0-beta.1", "10.20.30+build.5"])
    return texts


@st.composite
def _valid_conditions(draw: st.DrawFn) -> Condition:
    definition = draw(st.sampled_from(sorted(_DEFINITIONS.values(), key=lambda d: d.key)))
    operator = draw(st.sampled_from(OPERATORS_BY_TYPE[definition.type]))
    shape = SHAPES[operator]
    value: Any = None
    if shape is Shape.SCALAR:
        value = draw(_scalars(definition))
    elif shape is Shape.LIST:
        value = tuple(draw(st.lists(_scalars(definition), min_size=1, max_size=3)))
    elif shape is Shape.RANGE:
        value = (draw(_scalars(definition)), draw(_scalars(definition)))
    elif shape is Shape.RELATIVE:
        value = RelativeDate(draw(st.integers(1, 400)), draw(st.sampled_from(DateUnit)))
    insensitive = definition.type in (PropertyType.TEXT, PropertyType.LIST) and draw(st.booleans())
    return Condition(definition.key, operator, value, insensitive)


def _valid_groups(levels: int) -> st.SearchStrategy[Group]:
    child: st.SearchStrategy[Node] = _valid_conditions()
    if levels > 1:
        child = st.one_of(_valid_conditions(), _valid_groups(levels - 1))
    return st.builds(
        Group, st.sampled_from(Combinator), st.lists(child, min_size=1, max_size=3).map(tuple)
    )


@FEW
@given(_valid_groups(4))
def test_a_saved_tree_printed_and_read_back_saves_as_itself(tree: Group) -> None:
    outcome = _VALIDATOR.validate(tree)
    assume(not outcome.errors)
    text = print_tree(outcome.tree)
    again = _VALIDATOR.validate(parse(text))
    assert again.errors == [], text
    assert repr(again.tree) == repr(outcome.tree), text
    assert print_tree(again.tree) == text


# -- whitespace between tokens and the case of keywords change nothing

_SPACES = st.sampled_from([" ", "  ", "\n", "\r\n", "\r", "\t", " \n\t ", "\ufeff", "\u00a0"])


@st.composite
def _keyword_trees(draw: st.DrawFn) -> Group:
    """Trees whose keys all have a dot (a key keeps its case) and whose amounts have no code
    (a currency code keeps its case)."""
    keys = dotted_keys.map(lambda key: key + ".k")
    scalars = st.one_of(decimals(), st.builds(Money, decimals(), st.none()), texts)

    @st.composite
    def conditions(draw: st.DrawFn) -> Condition:
        operator = draw(st.sampled_from(Operator))
        shape = SHAPES[operator]
        value: Any = None
        if shape is Shape.SCALAR:
            value = draw(scalars)
        elif shape is Shape.LIST:
            value = tuple(draw(st.lists(scalars, max_size=3)))
        elif shape is Shape.RANGE:
            value = (draw(scalars), draw(scalars))
        elif shape is Shape.RELATIVE:
            value = RelativeDate(draw(st.integers(-5, 10**6)), draw(st.sampled_from(DateUnit)))
        return Condition(draw(keys), operator, value, draw(st.booleans()))

    def groups(levels: int) -> st.SearchStrategy[Group]:
        child: st.SearchStrategy[Node] = conditions()
        if levels > 1:
            child = st.one_of(conditions(), groups(levels - 1))
        return st.builds(Group, st.sampled_from(Combinator), st.lists(child, max_size=3).map(tuple))

    return draw(groups(4))


@FEW
@given(_keyword_trees(), st.data())
def test_spacing_and_the_case_of_keywords_do_not_change_the_tree(
    tree: Group, data: st.DataObject
) -> None:
    text = print_tree(tree, width=data.draw(st.sampled_from([0, 100, None])))
    assert repr(parse(text)) == repr(tree), text
    rewritten = ""
    for token in Lexer(text).tokens()[:-1]:
        written = token.text
        if token.kind is Kind.WORD and "." not in written:
            written = data.draw(st.sampled_from([written.lower(), written.capitalize()]))
        rewritten += written + data.draw(_SPACES)
    assert repr(parse(rewritten)) == repr(tree), rewritten
