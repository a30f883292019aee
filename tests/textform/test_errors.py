"""Texts that do not parse: every error says where (line, column) and what was expected."""

from __future__ import annotations

import pickle

import pytest

from seggraph.textform import TextFormError, parse

# text, line, column, one of the expected items (or None), a piece of the message
ERRORS: list[tuple[str, int, int, str | None, str]] = [
    # unclosed parentheses
    ("(a.a = 1", 1, 9, "')'", "expected AND, OR or ')', found the end of the text"),
    ("(a.a = 1 AND (b.b = 2)", 1, 23, "')'", "found the end of the text"),
    ("ALL(a.a = 1", 1, 12, "','", "expected AND, OR, ',' or ')'"),
    ('a.a IN ("x", "y"', 1, 17, "')'", "expected ',' or ')'"),
    # a missing value
    (
        "a.a =",
        1,
        6,
        "a number",
        'expected a value (a number, an amount such as 9.99 USD or a "string")',
    ),
    (
        'a.a = 1 AND\n  c.d IN ("x", )',
        2,
        16,
        'a "string"',
        "expected a value (a number, an amount such as 9.99 USD",
    ),
    ("a.a = AND b.b = 1", 1, 7, "a number", "found 'AND'"),
    ("a.a = (1)", 1, 7, "a number", "a list is taken by IN, NOT IN and CONTAINS ANY, ALL or NONE"),
    ('a.a IN "x"', 1, 8, "'('", 'expected a list in parentheses, such as ("a", "b")'),
    ("a.a IN (1,)", 1, 11, "a number", "found ')'"),
    # a missing or unknown operator
    ('a.a LIKE "x"', 1, 5, "STARTS WITH", "expected an operator (such as =, !="),
    ("a.a", 1, 4, "=", "expected an operator"),
    ('a.a "x"', 1, 5, "=", "found '\"x\"'"),
    (
        "a.a IS MAYBE",
        1,
        8,
        "NOT SET",
        "expected EMPTY, FALSE, NOT EMPTY, NOT SET, SET or TRUE after IS",
    ),
    ("a.a IS NOT TRUE", 1, 12, "SET", "expected EMPTY or SET after IS NOT, found 'TRUE'"),
    ('a.a STARTS "x"', 1, 12, "WITH", "expected WITH after STARTS"),
    ('a.a ON OR "2026-01-01"', 1, 11, "BEFORE", "expected AFTER or BEFORE after ON OR"),
    ('a.a NOT LIKE "x"', 1, 9, "BETWEEN", "expected BETWEEN, CONTAINS, IN or ON after NOT"),
    ("a.a MORE 1 DAY AGO", 1, 10, "THAN", "expected THAN after MORE, found '1'"),
    ("a.a MORE THAN 1 DAY", 1, 20, "AGO", "expected AGO or AHEAD, found the end of the text"),
    ("a.a ! 1", 1, 5, "'!='", "expected '!=', found '!'"),
    # an unterminated string
    ('a.a = "abc', 1, 7, '"', 'unterminated string: expected a closing " on the same line'),
    ('a.a = "abc\n" AND b.b = 1', 1, 7, '"', "unterminated string"),
    ("`a.a = 1", 1, 1, "`", "unterminated quoted key"),
    ('a.a = "abc\\"', 1, 7, '"', "unterminated string"),
    # a bad escape
    (
        'a.a = "\\q"',
        1,
        8,
        "\\n",
        r"expected an escape (\", \\, \`, \n, \t, \r, \uXXXX, \UXXXXXXXX), found '\q'",
    ),
    ('a.a = "\\u12"', 1, 8, "\\uXXXX", "expected \\u and 4 hexadecimal digits, found '\\u12\"'"),
    ('a.a = "\\UFFFFFFFF"', 1, 8, None, "beyond the last Unicode code point"),
    # half of a UTF-16 pair: no character (the database refused to store it)
    ('a.a = "\\uD800"', 1, 8, None, "\\uD800 is a UTF-16 surrogate, not a character"),
    ('a.a = "\\uDE00\\uD83D"', 1, 8, None, "\\uDE00 is a UTF-16 surrogate"),
    ('a.a = "\\uD83Dx"', 1, 8, None, "\\uD83D is a UTF-16 surrogate"),
    ('a.a = "\\U0000DFFF"', 1, 8, None, "\\U0000DFFF is a UTF-16 surrogate"),
    # trailing garbage
    ("a.a = 1 b.b = 2", 1, 9, "AND", "expected AND, OR or the end of the text, found 'b.b'"),
    ("a.a = 1)", 1, 8, "the end of the text", "found ')'"),
    ("a.a = 1 AND b.b = 2 ,", 1, 21, "OR", "found ','"),
    ("a.a = 100 usd", 1, 11, "AND", "a currency code is written in upper case: 100 USD"),
    # a date without its quotes reads as 2026, then -01: say how to write it
    ("a.a ON 2026-01-31", 1, 12, "AND", 'a date is written in double quotes: "2026-01-31"'),
    (
        "a.a BEFORE 2026-01-31T09:30:00+01:00 AND b.b IS SET",
        1,
        16,
        "OR",
        'a date is written in double quotes: "2026-01-31T09:30:00+01:00"',
    ),
    (
        "a.a BETWEEN 2026-01-01 AND 2026-02-01",
        1,
        17,
        "AND",
        '(a date is written in double quotes: "2026-01-01")',
    ),
    ('a.a IN ("x", 2026-01-31)', 1, 18, "')'", 'a date is written in double quotes: "2026-01-31"'),
    ("a.a = 5 -3", 1, 9, "AND", "found '-3'"),
    # a bad number
    ("a.a = 1.2.3", 1, 7, None, "expected a number such as 100, -3 or 99.95, found '1.2.3'"),
    ("a.a = 1.", 1, 7, None, "found '1.'"),
    ("a.a = .5", 1, 7, None, "unexpected character '.'"),
    ("a.a = 12abc", 1, 7, None, "found '12abc' (put a space between a number and a currency code"),
    # an exponent is not a currency code
    ("a.a = 1e3", 1, 7, None, "found '1e3' (a number is written without an exponent: 1000, not"),
    ("a.a = 2.5E-7", 1, 7, None, "found '2.5E' (a number is written without an exponent"),
    ("a.a = 1e3USD", 1, 7, None, "found '1e3USD' (put a space between a number and a currency"),
    ("a.a = - 3", 1, 7, None, "found '-'"),
    ("a.a = ٣", 1, 7, None, "found '٣'"),
    # BETWEEN without its AND
    (
        "a.a BETWEEN 1",
        1,
        14,
        "AND",
        "expected AND, found the end of the text (BETWEEN takes a minimum AND a maximum",
    ),
    ("a.a NOT BETWEEN 1 OR 2", 1, 19, "AND", "(NOT BETWEEN takes a minimum AND a maximum"),
    ("a.a BETWEEN 1 AND", 1, 18, "a number", "expected a value"),
    # relative dates
    ("a.a IN LAST 30", 1, 15, "DAYS", "expected a unit (DAYS, WEEKS, MONTHS or YEARS)"),
    ("a.a IN LAST 30 FORTNIGHTS", 1, 16, "WEEKS", "found 'FORTNIGHTS'"),
    ("a.a IN LAST 1.5 DAYS", 1, 13, "a whole number", "expected a whole number"),
    ('a.a IN NEXT "30" DAYS', 1, 13, "a whole number", "expected a whole number"),
    # where a condition is expected
    ("()", 1, 2, "a property key", "expected a condition (such as subscriber.mrr > 100), NOT"),
    ("a.a = 1 AND", 1, 12, "a property key", "found the end of the text"),
    ("a.a = 1 OR OR b.b = 1", 1, 12, "NOT", "found 'OR'"),
    ("NOT", 1, 4, "'('", "expected a condition"),
    (
        "in = 1",
        1,
        1,
        "a property key",
        "a property key that is a keyword is written in backquotes: `in`",
    ),
    ("ALL = 1", 1, 1, "a property key", "found 'ALL'"),
    ("IN PERCENTAGE", 1, 14, "a number", "expected a value"),
    ("= 1", 1, 1, "a property key", "found '='"),
    # the suffix
    (
        'a.a CONTAINS "x" CASE',
        1,
        22,
        "INSENSITIVE",
        "expected INSENSITIVE, found the end of the text",
    ),
    ('a.a CONTAINS "x" CASE SENSITIVE', 1, 23, "INSENSITIVE", "found 'SENSITIVE'"),
    # unexpected characters
    ("a.a = 1 & b.b = 2", 1, 9, None, "unexpected character '&'"),
    ("a.a = 1 \x00", 1, 9, None, "unexpected character '\\x00'"),
    ("a.a = 'x'", 1, 7, None, 'unexpected character "\'"'),
    ("¤ a.a = 1", 1, 1, "a property key", "found '¤'"),
    # line and column count characters; lines end at \n, \r\n or \r
    ("a.a = 1\r\nAND\r\n)", 3, 1, "a property key", "found ')'"),
    ("a.a = 1\rAND\r)", 3, 1, "a property key", "found ')'"),
    ("\n\n   \t a.a =", 3, 11, "a number", "found the end of the text"),
    ('a.a = "é😀" AND b', 1, 17, "=", "expected an operator"),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "expected", "message"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_errors_say_where_and_what_was_expected(
    text: str, line: int, column: int, expected: str | None, message: str
) -> None:
    with pytest.raises(TextFormError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert message in error.message, str(error)
    if expected is not None:
        assert expected in error.expected, error.expected
    assert str(error) == f"line {line}, column {column}: {error.message}"


def test_the_message_reads_as_the_brief_shows() -> None:
    with pytest.raises(TextFormError) as caught:
        parse('subscriber.mrr > 100 AND\nplan.interval IN ("MONTH", )')
    assert str(caught.value) == (
        "line 2, column 28: expected a value (a number, an amount such as 9.99 USD "
        "or a \"string\"), found ')'"
    )
    assert caught.value.expected == ["a number", "an amount such as 9.99 USD", 'a "string"']


def test_the_first_problem_in_the_text_is_reported() -> None:
    # a syntax error before an unterminated string is reported, not the string
    with pytest.raises(TextFormError) as caught:
        parse('a.a = = "abc')
    assert (caught.value.line, caught.value.column) == (1, 7)
    # and an unreadable character before a syntax error
    with pytest.raises(TextFormError) as caught:
        parse("a.a = 1.2.3 b.b")
    assert "1.2.3" in caught.value.message


def test_nesting_is_limited_with_a_clear_error() -> None:
    for text in ("(" * 100 + "a.a = 1" + ")" * 100, "NOT " * 100 + "a.a = 1", "ALL(" * 100):
        with pytest.raises(TextFormError) as caught:
            parse(text)
        assert "too deeply nested" in caught.value.message
        assert caught.value.expected == []
    assert parse("(" * 50 + "a.a = 1" + ")" * 50) == parse("a.a = 1")


def test_an_amount_too_large_for_a_relative_date() -> None:
    with pytest.raises(TextFormError) as caught:
        parse("a.a IN LAST " + "9" * 5000 + " DAYS")
    assert caught.value.message == "the amount is too large"
    assert (caught.value.line, caught.value.column) == (1, 13)


def test_text_form_errors_are_value_errors_and_pickle() -> None:
    error = TextFormError("expected ')', found the end of the text", 1, 9, ["')'"])
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.line, copy.column, copy.expected) == (
        error.message,
        1,
        9,
        ["')'"],
    )
    assert str(copy) == str(error)
