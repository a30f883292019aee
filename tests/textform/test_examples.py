"""The text form by example: texts and the exact trees they parse to, and how trees print."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
from seggraph.textform import format_condition, parse, print_tree
from seggraph.textform.printer import format_value
from seggraph.textform.vocabulary import MAX_TEXT, SHAPES, Shape

D = Decimal


def C(key: str, operator: Operator, value: Any = None, ci: bool = False) -> Condition:
    return Condition(key, operator, value, ci)


def ALL(*children: Node) -> Group:
    return Group(Combinator.ALL, children)


def ANY(*children: Node) -> Group:
    return Group(Combinator.ANY, children)


def NONE(*children: Node) -> Group:
    return Group(Combinator.NONE, children)


a = C("a.a", Operator.EQ, D(1))
b = C("b.b", Operator.EQ, D(2))
c = C("c.c", Operator.EQ, D(3))
d = C("d.d", Operator.EQ, D(4))

SPEC_EXAMPLE = """subscriber.mrr > 100 AND plan.interval IN ("MONTH", "YEAR")
  AND (subscription.is_free_trial IS TRUE OR subscription.duration_days >= 90)
  AND NOT (custom.company_size < 10)"""

SPEC_TREE = ALL(
    C("subscriber.mrr", Operator.GT, D(100)),
    C("plan.interval", Operator.IN, ("MONTH", "YEAR")),
    ANY(
        C("subscription.is_free_trial", Operator.IS_TRUE),
        C("subscription.duration_days", Operator.GTE, D(90)),
    ),
    NONE(C("custom.company_size", Operator.LT, D(10))),
)


def test_the_spec_example_parses_to_its_tree() -> None:
    assert parse(SPEC_EXAMPLE) == SPEC_TREE
    assert parse(" ".join(SPEC_EXAMPLE.split())) == SPEC_TREE


def test_the_spec_example_prints_as_the_spec_writes_it() -> None:
    assert print_tree(SPEC_TREE) == (
        "subscriber.mrr > 100\n"
        '  AND plan.interval IN ("MONTH", "YEAR")\n'
        "  AND (subscription.is_free_trial IS TRUE OR subscription.duration_days >= 90)\n"
        "  AND NOT (custom.company_size < 10)"
    )
    assert print_tree(SPEC_TREE, width=None) == " ".join(SPEC_EXAMPLE.split())


# text -> the exact tree it parses to
EXAMPLES: list[tuple[str, Group]] = [
    ("", ALL()),
    ("  \n\t  ", ALL()),
    ("a.a = 1", ALL(a)),
    ("(a.a = 1)", ALL(a)),
    ("((a.a = 1))", ALL(a)),
    ("a.a = 1 AND b.b = 2", ALL(a, b)),
    ("a.a = 1 OR b.b = 2", ANY(a, b)),
    # chains flatten, never nest two by two
    ("a.a = 1 AND b.b = 2 AND c.c = 3", ALL(a, b, c)),
    ("a.a = 1 OR b.b = 2 OR c.c = 3 OR d.d = 4", ANY(a, b, c, d)),
    # parentheses group text; a chain inside one of the same connective joins the outer chain
    ("(a.a = 1 AND b.b = 2) AND c.c = 3", ALL(a, b, c)),
    ("a.a = 1 AND (b.b = 2 AND (c.c = 3))", ALL(a, b, c)),
    ("(a.a = 1 OR b.b = 2) OR (c.c = 3 OR d.d = 4)", ANY(a, b, c, d)),
    # NOT > AND > OR
    ("a.a = 1 OR b.b = 2 AND c.c = 3", ANY(a, ALL(b, c))),
    ("a.a = 1 AND b.b = 2 OR c.c = 3", ANY(ALL(a, b), c)),
    ("(a.a = 1 OR b.b = 2) AND c.c = 3", ALL(ANY(a, b), c)),
    ("NOT a.a = 1 AND b.b = 2", ALL(NONE(a), b)),
    ("NOT a.a = 1 OR b.b = 2", ANY(NONE(a), b)),
    ("a.a = 1 AND NOT b.b = 2 OR NOT c.c = 3", ANY(ALL(a, NONE(b)), NONE(c))),
    # NOT: NONE of the operand; of an OR's operands
    ("NOT a.a = 1", NONE(a)),
    ("NOT (a.a = 1)", NONE(a)),
    ("NOT (a.a = 1 OR b.b = 2)", NONE(a, b)),
    ("NOT (a.a = 1 AND b.b = 2)", NONE(ALL(a, b))),
    ("NOT NOT a.a = 1", NONE(NONE(a))),
    ("NOT (NOT (a.a = 1))", NONE(NONE(a))),
    # function-style groups hold exactly the children listed
    ("ALL()", ALL()),
    ("ANY()", ANY()),
    ("NONE()", NONE()),
    ("ALL(a.a = 1)", ALL(a)),
    ("ANY(a.a = 1)", ANY(a)),
    ("NONE(a.a = 1, b.b = 2)", NONE(a, b)),
    ("ALL(ALL(a.a = 1))", ALL(ALL(a))),
    ("ALL(a.a = 1 AND b.b = 2)", ALL(ALL(a, b))),
    ("ALL(a.a = 1, b.b = 2) AND c.c = 3", ALL(ALL(a, b), c)),
    ("ANY(a.a = 1, b.b = 2) OR c.c = 3", ANY(ANY(a, b), c)),
    ("NOT ANY(a.a = 1, b.b = 2)", NONE(ANY(a, b))),
    ("ALL(NOT a.a = 1)", ALL(NONE(a))),
    ("ANY() OR ALL()", ANY(ANY(), ALL())),
    ("all(any(), none ())", ALL(ANY(), NONE())),
    # BETWEEN's AND belongs to BETWEEN
    (
        "a.a BETWEEN 1 AND 10 AND b.b = 2",
        ALL(C("a.a", Operator.BETWEEN, (D(1), D(10))), b),
    ),
    (
        'a.a NOT BETWEEN "2026-01-01" AND "2026-12-31" OR b.b = 2',
        ANY(C("a.a", Operator.NOT_BETWEEN, ("2026-01-01", "2026-12-31")), b),
    ),
    # keywords in any case
    (
        "a.a = 1 and not (b.b = 2 Or c.c = 3)",
        ALL(a, NONE(b, c)),
    ),
    (
        'plan.interval not in ("MONTH") AnD customer.email Ends With "x" case insensitive',
        ALL(
            C("plan.interval", Operator.NOT_IN, ("MONTH",)),
            C("customer.email", Operator.ENDS_WITH, "x", True),
        ),
    ),
    # keys: digits, underscores, case kept as written, backquotes for anything else
    (
        "cdp.event.order_completed.count_30d > 3",
        ALL(C("cdp.event.order_completed.count_30d", Operator.GT, D(3))),
    ),
    ("Custom.Plan_Name = 1", ALL(C("Custom.Plan_Name", Operator.EQ, D(1)))),
    ("`not` = 1", ALL(C("not", Operator.EQ, D(1)))),
    ("segment = 1", ALL(C("segment", Operator.EQ, D(1)))),
    ("is = 1 AND between = 2", ALL(C("is", Operator.EQ, D(1)), C("between", Operator.EQ, D(2)))),
    ("`my key\\u00e9\\`` = 1", ALL(C("my keyé`", Operator.EQ, D(1)))),
    ("in.x = 1", ALL(C("in.x", Operator.EQ, D(1)))),
    # values
    ("a.a = 100.0", ALL(C("a.a", Operator.EQ, D("100.0")))),
    ("a.a = -3", ALL(C("a.a", Operator.EQ, D(-3)))),
    ("a.a = 007", ALL(C("a.a", Operator.EQ, D(7)))),
    ("a.a >= 99.95 EUR", ALL(C("a.a", Operator.GTE, Money(D("99.95"), "EUR")))),
    ("a.a >= 99.95 ¤", ALL(C("a.a", Operator.GTE, Money(D("99.95"), None)))),
    ("a.a < 100 ALL", ALL(C("a.a", Operator.LT, Money(D(100), "ALL")))),
    ("a.a < 100 `AND`", ALL(C("a.a", Operator.LT, Money(D(100), "AND")))),
    (
        "a.a IN (10 USD, 20, 30 ¤)",
        ALL(C("a.a", Operator.IN, (Money(D(10), "USD"), D(20), Money(D(30), None)))),
    ),
    ("a.a IN ()", ALL(C("a.a", Operator.IN, ()))),
    ("a.a IN (1)", ALL(C("a.a", Operator.IN, (D(1),)))),
    ('a.a = ""', ALL(C("a.a", Operator.EQ, ""))),
    (
        r'a.a = "say \"hi\"\\ \n\t\r \u00e9 \U0001F600 ` \u2028"',
        ALL(C("a.a", Operator.EQ, 'say "hi"\\ \n\t\r é 😀 ` \u2028')),
    ),
    ('a.a = "é 😀 中文"', ALL(C("a.a", Operator.EQ, "é 😀 中文"))),
    (r'a.a = "\uD83D\uDE00!"', ALL(C("a.a", Operator.EQ, "😀!"))),  # a UTF-16 pair, as in JSON
    # segments and buckets
    ('IN SEGMENT "seg_1"', ALL(C(SEGMENT_PROPERTY, Operator.IN_SEGMENT, "seg_1"))),
    (
        'NOT IN SEGMENT "seg_1" AND in segment "seg_2"',
        ALL(
            C(SEGMENT_PROPERTY, Operator.NOT_IN_SEGMENT, "seg_1"),
            C(SEGMENT_PROPERTY, Operator.IN_SEGMENT, "seg_2"),
        ),
    ),
    ('NOT (IN SEGMENT "seg_1")', NONE(C(SEGMENT_PROPERTY, Operator.IN_SEGMENT, "seg_1"))),
    ('NOT IN_SEGMENT "seg_1"', NONE(C(SEGMENT_PROPERTY, Operator.IN_SEGMENT, "seg_1"))),
    ('a.a IN SEGMENT "seg_1"', ALL(C("a.a", Operator.IN_SEGMENT, "seg_1"))),
    ("IN PERCENTAGE 25.5", ALL(C(BUCKET_PROPERTY, Operator.PERCENTAGE, D("25.5")))),
    # relative dates
    (
        "a.a IN LAST 30 DAYS OR a.a MORE THAN 1 MONTH AGO",
        ANY(
            C("a.a", Operator.IN_LAST, RelativeDate(30, DateUnit.DAY)),
            C("a.a", Operator.MORE_THAN_AGO, RelativeDate(1, DateUnit.MONTH)),
        ),
    ),
    # lines
    (
        "a.a = 1\r\n  AND\tb.b = 2\n\n  OR c.c = 3\n",
        ANY(ALL(a, b), c),
    ),
]


@pytest.mark.parametrize(("text", "tree"), EXAMPLES, ids=[t or "<empty>" for t, _ in EXAMPLES])
def test_examples_parse_to_their_trees(text: str, tree: Group) -> None:
    parsed = parse(text)
    assert parsed == tree
    assert repr(parsed) == repr(tree)  # the scale of every Decimal too
    assert parse(print_tree(parsed)) == parsed


def test_a_decimal_keeps_its_written_scale() -> None:
    value = parse("a.a = 100.0").children[0].value  # type: ignore[union-attr]
    assert isinstance(value, Decimal)
    assert value.as_tuple().exponent == -1
    assert print_tree(parse("a.a = 12.500 USD")) == "a.a = 12.500 USD"


# operator -> (canonical text, other spellings), for the key p.k (or the pseudo-properties)
L = RelativeDate
OPERATORS: dict[Operator, tuple[Any, str, list[str]]] = {
    Operator.EQ: (D(1), "p.k = 1", ["p.k == 1", "p.k EQ 1", "p.k eq 1", "p.k=1"]),
    Operator.NEQ: (D(1), "p.k != 1", ["p.k <> 1", "p.k NEQ 1", "p.k!=1"]),
    Operator.GT: (D(1), "p.k > 1", ["p.k GT 1", "p.k>1"]),
    Operator.GTE: (D(1), "p.k >= 1", ["p.k GTE 1", "p.k>=1"]),
    Operator.LT: (D(1), "p.k < 1", ["p.k LT 1", "p.k<1"]),
    Operator.LTE: (D(1), "p.k <= 1", ["p.k LTE 1", "p.k<=1"]),
    Operator.BETWEEN: ((D(1), D(10)), "p.k BETWEEN 1 AND 10", ["p.k between 1 and 10"]),
    Operator.NOT_BETWEEN: (
        (D(1), D(10)),
        "p.k NOT BETWEEN 1 AND 10",
        ["p.k NOT_BETWEEN 1 AND 10", "p.k not  between 1 AND 10"],
    ),
    Operator.IN: (("a", "b"), 'p.k IN ("a", "b")', ['p.k in ("a","b")', 'p.k IN("a" , "b")']),
    Operator.NOT_IN: (("a",), 'p.k NOT IN ("a")', ['p.k NOT_IN ("a")', 'p.k not in("a")']),
    Operator.IS_SET: (None, "p.k IS SET", ["p.k IS_SET", "p.k is set"]),
    Operator.IS_NOT_SET: (None, "p.k IS NOT SET", ["p.k IS_NOT_SET", "p.k Is Not Set"]),
    Operator.CONTAINS: ("a", 'p.k CONTAINS "a"', ['p.k contains "a"']),
    Operator.NOT_CONTAINS: ("a", 'p.k NOT CONTAINS "a"', ['p.k NOT_CONTAINS "a"']),
    Operator.STARTS_WITH: ("a", 'p.k STARTS WITH "a"', ['p.k STARTS_WITH "a"']),
    Operator.ENDS_WITH: ("a", 'p.k ENDS WITH "a"', ['p.k ends_with "a"']),
    Operator.MATCHES: ("^a.*$", 'p.k MATCHES "^a.*$"', ['p.k matches "^a.*$"']),
    Operator.IS_TRUE: (None, "p.k IS TRUE", ["p.k IS_TRUE", "p.k is true"]),
    Operator.IS_FALSE: (None, "p.k IS FALSE", ["p.k IS_FALSE"]),
    Operator.ON: ("2026-01-31", 'p.k ON "2026-01-31"', ['p.k on "2026-01-31"']),
    Operator.NOT_ON: ("2026-01-31", 'p.k NOT ON "2026-01-31"', ['p.k NOT_ON "2026-01-31"']),
    Operator.BEFORE: ("2026-01-31", 'p.k BEFORE "2026-01-31"', ['p.k before "2026-01-31"']),
    Operator.AFTER: ("2026-01-31", 'p.k AFTER "2026-01-31"', ['p.k After "2026-01-31"']),
    Operator.ON_OR_BEFORE: (
        "2026-01-31",
        'p.k ON OR BEFORE "2026-01-31"',
        ['p.k ON_OR_BEFORE "2026-01-31"', 'p.k on or before "2026-01-31"'],
    ),
    Operator.ON_OR_AFTER: (
        "2026-01-31T09:30:00+01:00",
        'p.k ON OR AFTER "2026-01-31T09:30:00+01:00"',
        ['p.k ON_OR_AFTER "2026-01-31T09:30:00+01:00"'],
    ),
    Operator.IN_LAST: (
        L(30, DateUnit.DAY),
        "p.k IN LAST 30 DAYS",
        ["p.k IN_LAST 30 DAY", "p.k in last 30 days", "p.k IN LAST 30 day"],
    ),
    Operator.IN_NEXT: (
        L(2, DateUnit.WEEK),
        "p.k IN NEXT 2 WEEKS",
        ["p.k IN_NEXT 2 WEEK", "p.k in next 2 weeks"],
    ),
    Operator.MORE_THAN_AGO: (
        L(1, DateUnit.MONTH),
        "p.k MORE THAN 1 MONTH AGO",
        ["p.k MORE THAN AGO 1 MONTH", "p.k MORE_THAN_AGO 1 MONTH", "p.k more than 1 months ago"],
    ),
    Operator.MORE_THAN_AHEAD: (
        L(1, DateUnit.YEAR),
        "p.k MORE THAN 1 YEAR AHEAD",
        ["p.k MORE THAN AHEAD 1 YEAR", "p.k MORE_THAN_AHEAD 1 years"],
    ),
    Operator.CONTAINS_ANY: (
        ("a", "b"),
        'p.k CONTAINS ANY ("a", "b")',
        ['p.k CONTAINS_ANY ("a", "b")', 'p.k contains any ("a","b")'],
    ),
    Operator.CONTAINS_ALL: (("a",), 'p.k CONTAINS ALL ("a")', ['p.k CONTAINS_ALL ("a")']),
    Operator.CONTAINS_NONE: (("a",), 'p.k CONTAINS NONE ("a")', ['p.k CONTAINS_NONE ("a")']),
    Operator.IS_EMPTY: (None, "p.k IS EMPTY", ["p.k IS_EMPTY"]),
    Operator.IS_NOT_EMPTY: (None, "p.k IS NOT EMPTY", ["p.k IS_NOT_EMPTY"]),
    Operator.IN_SEGMENT: (
        "seg_1",
        'IN SEGMENT "seg_1"',
        ['IN_SEGMENT "seg_1"', 'segment IN SEGMENT "seg_1"', 'segment IN_SEGMENT "seg_1"'],
    ),
    Operator.NOT_IN_SEGMENT: (
        "seg_1",
        'NOT IN SEGMENT "seg_1"',
        ['NOT_IN_SEGMENT "seg_1"', 'segment NOT IN SEGMENT "seg_1"', 'not in segment "seg_1"'],
    ),
    Operator.PERCENTAGE: (
        D("25.5"),
        "subscriber.bucket PERCENTAGE 25.5",
        [
            "IN PERCENTAGE 25.5",
            "subscriber.bucket percentage 25.5",
            "in percentage 25.5",
            # after the key too, as `segment IN SEGMENT "s"` (it was "expected a list")
            "subscriber.bucket IN PERCENTAGE 25.5",
        ],
    ),
}


def _key(operator: Operator) -> str:
    if operator in (Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT):
        return SEGMENT_PROPERTY
    return BUCKET_PROPERTY if operator is Operator.PERCENTAGE else "p.k"


def test_the_table_covers_every_operator() -> None:
    assert set(OPERATORS) == set(Operator)


@pytest.mark.parametrize("operator", list(Operator), ids=[op.value for op in Operator])
def test_every_operator_parses_and_prints(operator: Operator) -> None:
    value, canonical, others = OPERATORS[operator]
    condition = Condition(_key(operator), operator, value)
    assert format_condition(condition) == canonical
    assert print_tree(ALL(condition)) == canonical
    for text in [canonical, *others]:
        assert parse(text) == ALL(condition), text
    flagged = Condition(_key(operator), operator, value, True)
    for suffix in (" CASE INSENSITIVE", " case insensitive", " NOCASE", " CASE_INSENSITIVE"):
        assert parse(canonical + suffix) == ALL(flagged)
    assert print_tree(ALL(flagged)) == canonical + " CASE INSENSITIVE"


def _value_text(operator: Operator, value: Any) -> str:
    shape = SHAPES[operator]
    if shape is Shape.NONE:
        return ""
    if shape is Shape.LIST:
        return "(" + ", ".join(format_value(item) for item in value) + ")"
    if shape is Shape.RANGE:
        return f"{format_value(value[0])} AND {format_value(value[1])}"
    if shape is Shape.RELATIVE:
        return f"{value.amount} {value.unit.value}"
    return format_value(value)


@pytest.mark.parametrize("operator", list(Operator), ids=[op.value for op in Operator])
def test_every_operator_name_is_accepted_as_written_in_the_enum(operator: Operator) -> None:
    value = OPERATORS[operator][0]
    for name in (operator.value, operator.value.lower()):
        text = f"p.k {name} {_value_text(operator, value)}".strip()
        assert parse(text) == ALL(Condition("p.k", operator, value)), text


# tree -> its canonical text
PRINTED: list[tuple[Group, str]] = [
    (ALL(), ""),
    (ANY(), "ANY()"),
    (NONE(), "NONE()"),
    (ALL(a), "a.a = 1"),
    (ANY(a), "ANY(a.a = 1)"),
    (NONE(a), "NOT (a.a = 1)"),
    (ALL(ALL(a)), "ALL(ALL(a.a = 1))"),
    (ALL(ANY()), "ALL(ANY())"),
    (ALL(a, b), "a.a = 1 AND b.b = 2"),
    (ANY(a, b), "a.a = 1 OR b.b = 2"),
    (ALL(a, ALL(b, c)), "a.a = 1 AND ALL(b.b = 2, c.c = 3)"),
    (ANY(a, ANY(b, c)), "a.a = 1 OR ANY(b.b = 2, c.c = 3)"),
    (ALL(ANY(a, b), c), "(a.a = 1 OR b.b = 2) AND c.c = 3"),
    (ANY(ALL(a, b), c), "a.a = 1 AND b.b = 2 OR c.c = 3"),
    (NONE(a, b), "NOT (a.a = 1 OR b.b = 2)"),
    (NONE(ALL(a, b)), "NOT (a.a = 1 AND b.b = 2)"),
    (NONE(ANY(a, b)), "NOT ANY(a.a = 1, b.b = 2)"),
    (NONE(NONE(a)), "NOT NOT (a.a = 1)"),
    (NONE(ALL(a)), "NOT ALL(a.a = 1)"),
    (ALL(NONE(a)), "ALL(NOT (a.a = 1))"),
    (ALL(NONE(a), b), "NOT (a.a = 1) AND b.b = 2"),
    (ANY(NONE(a, b), c), "NOT (a.a = 1 OR b.b = 2) OR c.c = 3"),
    (NONE(ANY(a, b), c), "NOT (ANY(a.a = 1, b.b = 2) OR c.c = 3)"),
    (ALL(ALL(a, b), ALL(c, d)), "ALL(a.a = 1, b.b = 2) AND ALL(c.c = 3, d.d = 4)"),
    (
        ALL(C(SEGMENT_PROPERTY, Operator.IN_SEGMENT, "s"), NONE(C(SEGMENT_PROPERTY, Operator.IN_SEGMENT, "s"))),
        'IN SEGMENT "s" AND NOT (IN SEGMENT "s")',
    ),
    (ALL(C("not", Operator.IS_SET)), "`not` IS SET"),
    (ALL(C("my key", Operator.IS_SET)), "`my key` IS SET"),
    (ALL(C("", Operator.IS_SET)), "`` IS SET"),
    (ALL(C("Plan.Name", Operator.IS_SET)), "Plan.Name IS SET"),
    (ALL(C("x.in", Operator.IS_SET)), "x.in IS SET"),
    (ALL(C("a.a", Operator.EQ, D("1E+3"))), "a.a = 1000"),
    (ALL(C("a.a", Operator.EQ, D("-0.00"))), "a.a = -0.00"),
    (ALL(C("a.a", Operator.EQ, D("1E-7"))), "a.a = 0.0000001"),
    # beyond the 34 decimal places validation allows, still without an exponent (as parsed)
    (ALL(C("a.a", Operator.EQ, D("1E-40"))), "a.a = 0." + "0" * 39 + "1"),
    (ALL(C("a.a", Operator.IN, (D("-0E-35"),))), "a.a IN (-0." + "0" * 35 + ")"),
    (ALL(C("a.a", Operator.EQ, Money(D("1E-35"), "USD"))), "a.a = 0." + "0" * 34 + "1 USD"),
    (ALL(C("a.a", Operator.EQ, Money(D("12.50"), None))), "a.a = 12.50 ¤"),
    (ALL(C("a.a", Operator.EQ, Money(D("12.50"), "AND"))), "a.a = 12.50 `AND`"),
    (ALL(C("a.a", Operator.EQ, Money(D("12.50"), "usd"))), "a.a = 12.50 `usd`"),
    (ALL(C("a.a", Operator.EQ, 'a "q" \\ \n\t\r \x00 \u2028 é 😀 \U000e0001 `')),
     r'a.a = "a \"q\" \\ \n\t\r \u0000 \u2028 é 😀 \U000E0001 `"'),
    (ALL(C("a.a", Operator.IN_LAST, L(1, DateUnit.DAY))), "a.a IN LAST 1 DAY"),
    (ALL(C("a.a", Operator.IN_LAST, L(7, DateUnit.DAY))), "a.a IN LAST 7 DAYS"),
]  # fmt: skip


@pytest.mark.parametrize(("tree", "text"), PRINTED, ids=[t or "<empty>" for _, t in PRINTED])
def test_trees_print_canonically_and_read_back(tree: Group, text: str) -> None:
    assert print_tree(tree) == text
    assert parse(text) == tree


def test_a_number_saved_before_numbers_were_bounded_prints_in_exponent_form() -> None:
    """A segment saved with 1e-2000000 (before numbers were bounded) had two million digits in
    its conditionsText, in every answer naming it; like 1e2000000, it keeps its exponent form.
    A number as long as a text the API reads can hold is still written out, and reads back."""
    for legacy in ("1E-2000000", "1E+2000000", "-1.5E-300000"):
        assert print_tree(ALL(C("a.a", Operator.EQ, D(legacy)))) == f"a.a = {legacy}"
    text = "a.a = 0." + "0" * (MAX_TEXT - 20) + "1"
    assert len(text) < MAX_TEXT
    assert print_tree(parse(text)) == text


def test_a_long_root_chain_goes_one_operand_a_line() -> None:
    long = ANY(*(C(f"custom.field_{i}", Operator.CONTAINS, "x" * 20) for i in range(4)))
    text = print_tree(long)
    assert text.splitlines() == [
        'custom.field_0 CONTAINS "xxxxxxxxxxxxxxxxxxxx"',
        '  OR custom.field_1 CONTAINS "xxxxxxxxxxxxxxxxxxxx"',
        '  OR custom.field_2 CONTAINS "xxxxxxxxxxxxxxxxxxxx"',
        '  OR custom.field_3 CONTAINS "xxxxxxxxxxxxxxxxxxxx"',
    ]
    assert parse(text) == long
    assert "\n" not in print_tree(long, width=None)
    assert print_tree(long, width=1000) == print_tree(long, width=None)


NOT_PRINTABLE: list[Condition] = [
    C("a.a", Operator.IS_SET, D(1)),  # a valueless operator with a value
    C("a.a", Operator.EQ, None),  # a value missing
    C("a.a", Operator.EQ, 1.5),  # a float
    C("a.a", Operator.EQ, True),  # a bool
    C("a.a", Operator.EQ, D("NaN")),
    C("a.a", Operator.EQ, D("Infinity")),
    C("a.a", Operator.IN, "a"),  # not a list
    C("a.a", Operator.EQ, ("a",)),  # a list for a scalar
    C("a.a", Operator.BETWEEN, (D(1), D(2), D(3))),
    C("a.a", Operator.IN_LAST, D(30)),
    C("a.a", Operator.IN_LAST, L(True, DateUnit.DAY)),  # a bool amount
    C(None, Operator.IS_SET),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("condition", NOT_PRINTABLE, ids=repr)
def test_values_outside_the_canonical_forms_are_refused_by_the_printer(
    condition: Condition,
) -> None:
    with pytest.raises(ValueError):
        print_tree(ALL(condition))


def test_the_printer_takes_a_group() -> None:
    with pytest.raises(TypeError):
        print_tree(a)  # type: ignore[arg-type]


def test_the_examples_of_the_documentation_parse() -> None:
    doc = Path(__file__).parents[2] / "docs" / "text-form.md"
    blocks = re.findall(r"```text\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 7
    for block in blocks:
        tree = parse(block)
        assert parse(print_tree(tree)) == tree
