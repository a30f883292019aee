"""Parsing the text form into a condition tree: recursive descent over the lexer's tokens.

See the package docstring (and ``docs/text-form.md``) for the grammar. The parser knows the
syntax only: it does not look properties up, so ``nosuch.key = "x"`` parses, and validation
refuses it later with the condition's path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    Group,
    Money,
    Node,
    Operator,
    RelativeDate,
)
from seggraph.textform.errors import TextFormError
from seggraph.textform.lexer import Kind, Lexer, Token, shown
from seggraph.textform.vocabulary import (
    ACCOUNT_CURRENCY,
    KEYWORDS,
    NOT_KEYS,
    SHAPES,
    SPELLINGS,
    SYMBOLS,
    UNITS,
    Shape,
    is_plain_currency,
)

#: Levels of parentheses, explicit groups and NOT one text may nest (the tree allows 5).
MAX_NESTING = 64

# The operators written as words after a property key. ``None`` is MORE THAN <amount> AGO|AHEAD.
_PHRASES: dict[tuple[str, ...], Operator | None] = {
    **{(op.value,): op for op in Operator},
    ("NOT", "BETWEEN"): Operator.NOT_BETWEEN,
    ("NOT", "IN"): Operator.NOT_IN,
    ("NOT", "IN", "SEGMENT"): Operator.NOT_IN_SEGMENT,
    ("NOT", "CONTAINS"): Operator.NOT_CONTAINS,
    ("NOT", "ON"): Operator.NOT_ON,
    ("IS", "SET"): Operator.IS_SET,
    ("IS", "NOT", "SET"): Operator.IS_NOT_SET,
    ("IS", "TRUE"): Operator.IS_TRUE,
    ("IS", "FALSE"): Operator.IS_FALSE,
    ("IS", "EMPTY"): Operator.IS_EMPTY,
    ("IS", "NOT", "EMPTY"): Operator.IS_NOT_EMPTY,
    ("STARTS", "WITH"): Operator.STARTS_WITH,
    ("ENDS", "WITH"): Operator.ENDS_WITH,
    ("CONTAINS", "ANY"): Operator.CONTAINS_ANY,
    ("CONTAINS", "ALL"): Operator.CONTAINS_ALL,
    ("CONTAINS", "NONE"): Operator.CONTAINS_NONE,
    ("ON", "OR", "BEFORE"): Operator.ON_OR_BEFORE,
    ("ON", "OR", "AFTER"): Operator.ON_OR_AFTER,
    ("IN", "LAST"): Operator.IN_LAST,
    ("IN", "NEXT"): Operator.IN_NEXT,
    ("IN", "SEGMENT"): Operator.IN_SEGMENT,
    ("IN", "PERCENTAGE"): Operator.PERCENTAGE,  # as IN SEGMENT: the keyless form's words
    ("MORE", "THAN", "AGO"): Operator.MORE_THAN_AGO,
    ("MORE", "THAN", "AHEAD"): Operator.MORE_THAN_AHEAD,
    ("MORE", "THAN"): None,
}
_LONGEST_PHRASE = max(len(words) for words in _PHRASES)

_OPERATORS_EXPECTED = list(SYMBOLS) + sorted(
    {SPELLINGS[op] for op in Operator if SPELLINGS[op] not in SYMBOLS} - {"MORE THAN"}
    | {"MORE THAN ... AGO", "MORE THAN ... AHEAD"}
)
_OPERATORS_SUMMARY = (
    "an operator (such as =, !=, >, >=, IN, NOT IN, BETWEEN, IS SET, CONTAINS, STARTS WITH, "
    "ON OR BEFORE or IN LAST)"
)
_SCALAR_EXPECTED = ["a number", "an amount such as 9.99 USD", 'a "string"']
_SCALAR_SUMMARY = 'a value (a number, an amount such as 9.99 USD or a "string")'
_NODE_EXPECTED = ["a property key", "NOT", "'('", "ALL(", "ANY(", "NONE(", "IN SEGMENT"]
_NODE_SUMMARY = "a condition (such as subscriber.mrr > 100), NOT, '(' or a group such as ALL(...)"
#: A date or date-time written without its quotes (``2026-01-31``, ``2026-01-31T09:30:00Z``),
#: which reads as the number 2026 and then -01.
_UNQUOTED_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt][0-9:.]*(?:[Zz]|[+-][0-9:]*)?)?")
_UNITS_EXPECTED = ["DAYS", "WEEKS", "MONTHS", "YEARS"]


def parse(text: str) -> Group:
    """The condition tree a text describes; raises :class:`TextFormError` if it does not parse.

    The result is always a group: an empty text is ``Group(ALL, ())`` and a lone condition
    ``c`` is ``Group(ALL, (c,))``.
    """
    return _Parser(text).root()


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A parsed node; ``chain`` says it was written as ``a AND b`` / ``a OR b``.

    A chain operand that is itself a chain of the same connective (``(a AND b) AND c``) gives
    its children to the enclosing group: parentheses group, they do not make groups.
    """

    node: Node
    chain: Combinator | None = None


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = Lexer(text).tokens()
        self.at = 0
        self.depth = 0

    # -- tokens

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        if token.kind not in (Kind.END, Kind.ERROR):
            self.at += 1
        return token

    def at_word(self, *words: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind is Kind.WORD and token.upper in words

    def at_symbol(self, symbol: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind is Kind.SYMBOL and token.text == symbol

    def fail(
        self,
        expected: list[str],
        summary: str = "",
        hint: str = "",
        token: Token | None = None,
    ) -> NoReturn:
        token = token or self.peek()
        if token.kind is Kind.ERROR:  # what could not be read comes first
            raise TextFormError(token.error, token.line, token.column, token.expected)
        found = "the end of the text" if token.kind is Kind.END else shown(token.text)
        message = f"expected {summary or _join(expected)}, found {found}"
        if hint:
            message += f" ({hint})"
        raise TextFormError(message, token.line, token.column, expected)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            token = self.peek()
            raise TextFormError(
                f"too deeply nested: at most {MAX_NESTING} levels of parentheses, groups and NOT",
                token.line,
                token.column,
                [],
            )

    def leave(self) -> None:
        self.depth -= 1

    def after_value_hint(self) -> str:
        """A hint when a lower-case currency code follows an amount, or when a date was written
        without its quotes (``2026-01-31`` reads as 2026, then -01)."""
        token, before = self.peek(), self.tokens[self.at - 1] if self.at else None
        if (
            before is not None
            and before.kind is Kind.NUMBER
            and token.kind is Kind.NUMBER
            and token.offset == before.offset + len(before.text)
        ):
            date = _UNQUOTED_DATE.match(self.text, before.offset)
            if date is not None:
                return f'a date is written in double quotes: "{date.group()}"'
        if (
            before is not None
            and before.kind is Kind.NUMBER
            and token.kind is Kind.WORD
            and len(token.text) == 3
            and token.text.isalpha()
            and token.upper not in KEYWORDS
        ):
            return f"a currency code is written in upper case: {before.text} {token.upper}"
        return ""

    # -- connectives and groups

    def root(self) -> Group:
        if self.peek().kind is Kind.END:
            return Group(Combinator.ALL, ())
        node = self.any_of().node
        if self.peek().kind is not Kind.END:
            self.fail(["AND", "OR", "the end of the text"], hint=self.after_value_hint())
        return node if isinstance(node, Group) else Group(Combinator.ALL, (node,))

    def any_of(self) -> _Parsed:
        """``a OR b OR ...``"""
        first = self.all_of()
        if not self.at_word("OR"):
            return first
        children = list(self.spliced(first, Combinator.ANY))
        while self.at_word("OR"):
            self.advance()
            children.extend(self.spliced(self.all_of(), Combinator.ANY))
        return _Parsed(Group(Combinator.ANY, tuple(children)), Combinator.ANY)

    def all_of(self) -> _Parsed:
        """``a AND b AND ...``"""
        first = self.negation()
        if not self.at_word("AND"):
            return first
        children = list(self.spliced(first, Combinator.ALL))
        while self.at_word("AND"):
            self.advance()
            children.extend(self.spliced(self.negation(), Combinator.ALL))
        return _Parsed(Group(Combinator.ALL, tuple(children)), Combinator.ALL)

    @staticmethod
    def spliced(parsed: _Parsed, combinator: Combinator) -> tuple[Node, ...]:
        if parsed.chain is combinator and isinstance(parsed.node, Group):
            return parsed.node.children
        return (parsed.node,)

    def negation(self) -> _Parsed:
        """``NOT x`` is NONE(x); ``NOT (a OR b)`` is NONE(a, b)."""
        if not self.at_word("NOT") or self.at_bare_segment():
            return self.primary()
        self.advance()
        self.enter()
        inner = self.negation()
        self.leave()
        return _Parsed(Group(Combinator.NONE, self.spliced(inner, Combinator.ANY)))

    def primary(self) -> _Parsed:
        token = self.peek()
        if self.at_symbol("("):
            self.advance()
            self.enter()
            inner = self.any_of()
            if not self.at_symbol(")"):
                self.fail(["AND", "OR", "')'"], hint=self.after_value_hint())
            self.advance()
            self.leave()
            return inner
        if self.at_word("ALL", "ANY", "NONE") and self.at_symbol("(", ahead=1):
            return self.explicit_group()
        if self.at_bare_segment():
            negated = self.at_word("NOT", "NOT_IN_SEGMENT")
            operator = Operator.NOT_IN_SEGMENT if negated else Operator.IN_SEGMENT
            if self.at_word("NOT_IN_SEGMENT", "IN_SEGMENT"):
                self.advance()
            else:  # [NOT] IN SEGMENT
                for _ in range(3 if negated else 2):
                    self.advance()
            return self.finish(SEGMENT_PROPERTY, operator, self.scalar())
        if self.at_word("IN") and self.at_word("PERCENTAGE", ahead=1):
            self.advance()
            self.advance()
            return self.finish(BUCKET_PROPERTY, Operator.PERCENTAGE, self.scalar())
        if token.kind is Kind.WORD and token.upper not in NOT_KEYS:
            self.advance()
            return self.condition(token.text)
        if token.kind is Kind.QUOTED:
            self.advance()
            return self.condition(str(token.value))
        hint = ""
        if token.kind is Kind.WORD and token.text != token.upper:
            hint = f"a property key that is a keyword is written in backquotes: `{token.text}`"
        self.fail(_NODE_EXPECTED, _NODE_SUMMARY, hint)

    def at_bare_segment(self) -> bool:
        """At ``IN SEGMENT``, ``NOT IN SEGMENT``, ``IN_SEGMENT`` or ``NOT_IN_SEGMENT``."""
        if self.at_word("IN_SEGMENT", "NOT_IN_SEGMENT"):
            return True
        if self.at_word("IN"):
            return self.at_word("SEGMENT", ahead=1)
        return (
            self.at_word("NOT") and self.at_word("IN", ahead=1) and self.at_word("SEGMENT", ahead=2)
        )

    def explicit_group(self) -> _Parsed:
        """``ALL(a, b)``, ``ANY()``, ``NONE(a)``: exactly the children listed."""
        combinator = Combinator(self.advance().upper)
        self.advance()  # (
        self.enter()
        children: list[Node] = []
        if not self.at_symbol(")"):
            children.append(self.any_of().node)
            while self.at_symbol(","):
                self.advance()
                children.append(self.any_of().node)
            if not self.at_symbol(")"):
                self.fail(["AND", "OR", "','", "')'"], hint=self.after_value_hint())
        self.advance()  # )
        self.leave()
        return _Parsed(Group(combinator, tuple(children)))

    # -- conditions

    def condition(self, key: str) -> _Parsed:
        operator, value = self.operator_and_value()
        return self.finish(key, operator, value)

    def finish(self, key: str, operator: Operator, value: Any) -> _Parsed:
        """The condition, with its optional ``CASE INSENSITIVE`` suffix."""
        case_insensitive = False
        if self.at_word("NOCASE", "CASE_INSENSITIVE"):
            self.advance()
            case_insensitive = True
        elif self.at_word("CASE"):
            self.advance()
            if not self.at_word("INSENSITIVE"):
                self.fail(["INSENSITIVE"])
            self.advance()
            case_insensitive = True
        return _Parsed(Condition(key, operator, value, case_insensitive))

    def operator_and_value(self) -> tuple[Operator, Any]:
        token = self.peek()
        if token.kind is Kind.SYMBOL and token.text in SYMBOLS:
            self.advance()
            operator = SYMBOLS[token.text]
            return operator, self.value_of(operator)
        if token.kind is not Kind.WORD or not token.upper:
            self.fail(_OPERATORS_EXPECTED, _OPERATORS_SUMMARY)
        # the longest phrase that matches; a longer partial match must be completed
        words = [
            self.peek(i).upper if self.peek(i).kind is Kind.WORD else ""
            for i in range(_LONGEST_PHRASE)
        ]
        best, partial = 0, 0
        for phrase in _PHRASES:
            matched = 0
            while matched < len(phrase) and phrase[matched] == words[matched]:
                matched += 1
            if matched == len(phrase):
                best = max(best, matched)
            partial = max(partial, matched)
        if partial > best:
            prefix = tuple(words[:partial])
            following = sorted(
                " ".join(p[partial:])
                for p in _PHRASES
                if p[:partial] == prefix and len(p) > partial
            )
            # IN SEGMENT after NOT: IN says enough
            following = [f for f in following if not any(f.startswith(g + " ") for g in following)]
            self.fail(
                following,
                f"{_join(following)} after {' '.join(prefix)}",
                token=self.peek(partial),
            )
        if best == 0:
            self.fail(_OPERATORS_EXPECTED, _OPERATORS_SUMMARY)
        phrase_operator = _PHRASES[tuple(words[:best])]
        for _ in range(best):
            self.advance()
        if phrase_operator is None:  # MORE THAN 1 MONTH AGO | AHEAD
            relative = self.relative()
            if not self.at_word("AGO", "AHEAD"):
                self.fail(["AGO", "AHEAD"])
            after = self.advance().upper
            operator = Operator.MORE_THAN_AGO if after == "AGO" else Operator.MORE_THAN_AHEAD
            return operator, relative
        return phrase_operator, self.value_of(phrase_operator)

    def value_of(self, operator: Operator) -> Any:
        shape = SHAPES[operator]
        if shape is Shape.NONE:
            return None
        if shape is Shape.SCALAR:
            return self.scalar()
        if shape is Shape.LIST:
            return self.list_value()
        if shape is Shape.RELATIVE:
            return self.relative()
        low = self.scalar()
        if not self.at_word("AND"):
            self.fail(
                ["AND"],
                hint=self.after_value_hint()
                or f"{SPELLINGS[operator]} takes a minimum AND a maximum, such as 1 AND 10",
            )
        self.advance()
        return (low, self.scalar())

    def scalar(self) -> Any:
        """``100``, ``-3``, ``99.95`` (Decimal), ``9.99 USD``, ``100 ¤`` (Money) or ``"text"``."""
        token = self.peek()
        if token.kind is Kind.STRING:
            self.advance()
            return token.value
        if token.kind is not Kind.NUMBER:
            hint = ""
            if self.at_symbol("("):
                hint = "a list is taken by IN, NOT IN and CONTAINS ANY, ALL or NONE only"
            self.fail(_SCALAR_EXPECTED, _SCALAR_SUMMARY, hint)
        self.advance()
        amount = token.value
        assert isinstance(amount, Decimal)
        currency = self.peek()
        if self.at_symbol(ACCOUNT_CURRENCY):  # 100 ¤: money in the account currency
            self.advance()
            return Money(amount, None)
        if currency.kind is Kind.WORD and is_plain_currency(currency.text):
            self.advance()
            return Money(amount, currency.text)
        if currency.kind is Kind.QUOTED:  # `AND`: a code that cannot be written plainly
            self.advance()
            return Money(amount, str(currency.value))
        return amount

    def list_value(self) -> tuple[Any, ...]:
        """``("a", "b")``: a tuple; ``()`` is the empty list."""
        if not self.at_symbol("("):
            self.fail(["'('"], 'a list in parentheses, such as ("a", "b")')
        self.advance()
        items: list[Any] = []
        if not self.at_symbol(")"):
            items.append(self.scalar())
            while self.at_symbol(","):
                self.advance()
                items.append(self.scalar())
            if not self.at_symbol(")"):
                self.fail(["','", "')'"], hint=self.after_value_hint())
        self.advance()
        return tuple(items)

    def relative(self) -> RelativeDate:
        """``30 DAYS``: a whole number and a unit (singular or plural)."""
        token = self.peek()
        if token.kind is not Kind.NUMBER or "." in token.text:
            self.fail(["a whole number"], "a whole number, such as 30 in IN LAST 30 DAYS")
        try:
            amount = int(token.text)
        except ValueError:  # more digits than Python converts
            raise TextFormError("the amount is too large", token.line, token.column, []) from None
        self.advance()
        unit = self.peek()
        if unit.kind is not Kind.WORD or unit.upper not in UNITS:
            self.fail(_UNITS_EXPECTED, "a unit (DAYS, WEEKS, MONTHS or YEARS)")
        self.advance()
        return RelativeDate(amount, UNITS[unit.upper])
