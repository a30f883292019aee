"""Properties: every tree round-trips through the text form; no text breaks the parser."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from seggraph.domain.conditions import Combinator, Condition, Group, Operator
from seggraph.textform import TextFormError, parse, print_tree
from seggraph.textform.vocabulary import KEYWORDS
from tests.textform.strategies import decimals, groups

ROUND_TRIPS = settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def assert_round_trips(tree: Group) -> str:
    text = print_tree(tree)
    parsed = parse(text)
    assert parsed == tree, text
    # dataclass equality takes Decimal("100") for Decimal("100.0"): the repr does not
    assert repr(parsed) == repr(tree), text
    assert print_tree(parsed) == text
    one_line = print_tree(tree, width=None)
    assert "\n" not in one_line
    assert repr(parse(one_line)) == repr(tree), one_line
    return text


@ROUND_TRIPS
@given(groups(5))
def test_every_tree_round_trips(tree: Group) -> None:
    assert_round_trips(tree)


@settings(max_examples=300, deadline=None)
@given(decimals(max_exponent=6))
def test_numbers_with_a_positive_exponent_keep_their_value(number: Decimal) -> None:
    tree = Group(Combinator.ALL, (Condition("a.b", Operator.EQ, number),))
    text = print_tree(tree)
    assert "E" not in text
    parsed = parse(text)
    assert parsed == tree
    assert print_tree(parsed) == text


# words and pieces that drive the parser deep into its grammar
_PIECES = sorted(KEYWORDS) + [
    "(", ")", ",", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "!", "-", ".",
    '"x"', '"', '"\\u00e9"', '"\\q"', "\\", "`k`", "`", "1", "-1", "1.5", "100.0", "1.", "12abc",
    "USD", "usd", "a.b", "subscriber.mrr", "a..b", "\n", "\r\n", "\t", "é", "\x00", "30", "DAYS",
]  # fmt: skip
_grammarish = st.lists(
    st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=25
).flatmap(lambda pieces: st.sampled_from([" ".join(pieces), "".join(pieces)]))


def check_any_text(text: str) -> None:
    try:
        tree = parse(text)
    except TextFormError as error:
        assert error.line >= 1 and error.column >= 1
        assert error.line <= text.count("\n") + text.count("\r") + 1
        assert str(error).startswith(f"line {error.line}, column {error.column}: ")
        assert error.message
        return
    assert isinstance(tree, Group)
    # whatever parses prints, and reads back identically
    assert_round_trips(tree)


@settings(max_examples=2500, deadline=None)
@given(st.one_of(st.text(), _grammarish))
@example('a.b = 1 AND (c.d IN ("x", 2 USD) OR NOT e.f IS SET) CASE INSENSITIVE')
@example("(" * 200 + "a = 1" + ")" * 200)
@example("NOT " * 500 + "a = 1")
@example("a IN LAST " + "9" * 5000 + " DAYS")
@example("a = 0." + "0" * 40 + "1 AND b = 0." + "0" * 50)
def test_any_text_parses_or_raises_a_text_form_error(text: str) -> None:
    check_any_text(text)


@settings(max_examples=800, deadline=None)
@given(groups(3), st.data())
def test_cut_or_damaged_texts_raise_only_text_form_errors(tree: Group, data: st.DataObject) -> None:
    text = print_tree(tree)
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(["", "(", ")", '"', ",", " AND ", "NOT ", "\\", "`"]))
    check_any_text(text[:cut] + insert + text[cut:])
