"""Writing a condition tree in the text form.

The output is canonical (one text per tree: keywords in upper case, the symbols ``= != > >= <
<=``, strings in double quotes) and reads back to the same tree: ``parse(print_tree(t)) == t``.
Parentheses appear only where the grammar needs them, and after ``NOT`` (``NOT (x < 10)``, as
the spec writes it); a group that the infix form cannot express (an empty group, a group of one
child, an ``ALL`` directly inside an ``ALL``, an ``ANY`` directly inside an ``ANY``) is written
function-style, ``ALL(a, b)``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

from seggraph.domain.conditions import (
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
from seggraph.domain.numbers import within_bounds
from seggraph.textform.vocabulary import (
    ACCOUNT_CURRENCY,
    MAX_TEXT,
    SHAPES,
    SPELLINGS,
    Shape,
    is_plain_currency,
    is_plain_key,
)

#: A root chain longer than this is written one operand a line (``print_tree(width=None)``: never).
DEFAULT_WIDTH = 100

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class _At(Enum):
    """Where a node is written, which decides whether it needs parentheses or ``ALL(...)``."""

    FREE = "free"  # the whole text, inside ( ), or an argument of ALL( , )
    AND = "and"  # an operand of ... AND ...
    OR = "or"  # an operand of ... OR ...
    NOT = "not"  # after NOT


def print_tree(root: Group, *, width: int | None = DEFAULT_WIDTH) -> str:
    """The text form of a condition tree; ``parse`` reads it back to an equal tree.

    ``Group(ALL, ())`` is the empty text, and a root ``ALL`` of one condition is the condition
    alone. When the root is a chain (``a AND b AND ...``) longer than ``width`` characters, each
    operand goes on a line of its own, the connective leading (as in the spec's example).
    Raises ``ValueError`` for a value that is none of the canonical forms (see
    ``seggraph.domain.conditions``) or does not fit its operator, e.g. ``IS_SET`` with a value.
    """
    if not isinstance(root, Group):
        raise TypeError(f"print_tree takes a Group, got {type(root).__name__}")
    combinator = Combinator(root.combinator)
    if combinator is Combinator.ALL and not root.children:
        return ""
    if combinator is Combinator.ALL and len(root.children) == 1:
        only = root.children[0]
        if isinstance(only, Condition):
            return format_condition(only)
    text = _node(root, _At.FREE)
    if width is not None and len(text) > width and _is_chain(root):
        at = _At.AND if combinator is Combinator.ALL else _At.OR
        text = f"\n  {combinator_word(combinator)} ".join(_node(c, at) for c in root.children)
    return text


def combinator_word(combinator: Combinator) -> str:
    return "AND" if combinator is Combinator.ALL else "OR"


def _is_chain(group: Group) -> bool:
    return group.combinator in (Combinator.ALL, Combinator.ANY) and len(group.children) >= 2


def _node(node: Node, at: _At) -> str:
    if isinstance(node, Condition):
        text = format_condition(node)
        # NOT (x = 1), as the spec writes it; and NOT IN SEGMENT "s" would be NOT_IN_SEGMENT
        return f"({text})" if at is _At.NOT else text
    if not isinstance(node, Group):
        raise ValueError(f"a group's child is a Condition or a Group, got {node!r}")
    combinator, children = Combinator(node.combinator), node.children
    if combinator is Combinator.NONE:
        if len(children) == 1:
            return "NOT " + _node(children[0], _At.NOT)
        if children:
            return "NOT (" + " OR ".join(_node(c, _At.OR) for c in children) + ")"
        return "NONE()"
    if len(children) < 2:
        return _explicit(combinator, children)
    if combinator is Combinator.ALL:
        if at is _At.AND:  # it would merge into the enclosing chain
            return _explicit(combinator, children)
        text = " AND ".join(_node(c, _At.AND) for c in children)
        return f"({text})" if at is _At.NOT else text
    if at in (_At.OR, _At.NOT):  # it would merge into the chain, or NOT would take its children
        return _explicit(combinator, children)
    text = " OR ".join(_node(c, _At.OR) for c in children)
    return f"({text})" if at is _At.AND else text


def _explicit(combinator: Combinator, children: tuple[Node, ...]) -> str:
    return f"{combinator.value}(" + ", ".join(_node(c, _At.FREE) for c in children) + ")"


def _is_bare_segment(condition: Condition) -> bool:
    return condition.property == SEGMENT_PROPERTY and condition.operator in (
        Operator.IN_SEGMENT,
        Operator.NOT_IN_SEGMENT,
    )


def format_condition(condition: Condition) -> str:
    """One condition in the text form, e.g. ``subscriber.mrr > 100``."""
    operator = Operator(condition.operator)
    value = condition.value
    spelled = SPELLINGS[operator]
    # IN SEGMENT "s" needs no key; any other key is written: `x` IN SEGMENT "s"
    head = spelled if _is_bare_segment(condition) else f"{format_key(condition.property)} {spelled}"
    shape = SHAPES[operator]
    if shape is Shape.NONE:
        if value is not None:
            raise ValueError(f"{operator.value} takes no value, got {value!r}")
        text = head
    elif shape is Shape.SCALAR:
        text = f"{head} {format_value(value)}"
    elif shape is Shape.LIST:
        if not isinstance(value, tuple | list):
            raise ValueError(f"{operator.value} takes a tuple of values, got {value!r}")
        text = f"{head} ({', '.join(format_value(item) for item in value)})"
    elif shape is Shape.RANGE:
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise ValueError(f"{operator.value} takes a (min, max) tuple, got {value!r}")
        text = f"{head} {format_value(value[0])} AND {format_value(value[1])}"
    else:
        relative = _relative(operator, value)
        if operator is Operator.MORE_THAN_AGO:
            text = f"{head} {relative} AGO"
        elif operator is Operator.MORE_THAN_AHEAD:
            text = f"{head} {relative} AHEAD"
        else:
            text = f"{head} {relative}"
    if condition.case_insensitive:
        text += " CASE INSENSITIVE"
    return text


def format_key(key: str) -> str:
    """A property key: as is when it is a dotted identifier and not a keyword, else `quoted`."""
    if not isinstance(key, str):
        raise ValueError(f"a property key is a string, got {key!r}")
    return key if is_plain_key(key) else "`" + _escaped(key, "`") + "`"


def format_value(value: Any) -> str:
    """A number (``Decimal``, scale kept), an amount (``Money``) or a ``str`` in double quotes."""
    if isinstance(value, str):
        return '"' + _escaped(value, '"') + '"'
    if isinstance(value, Money):
        amount = _number(value.amount)
        if value.currency is None:
            return f"{amount} {ACCOUNT_CURRENCY}"
        if not isinstance(value.currency, str):
            raise ValueError(f"a currency is a string, got {value.currency!r}")
        if is_plain_currency(value.currency):
            return f"{amount} {value.currency}"
        return f"{amount} `{_escaped(value.currency, '`')}`"
    return _number(value)


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"a number in the text form is finite, got {value}")
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite
        if not within_bounds(value) and (exponent > 0 or len(digits) - exponent > MAX_TEXT):
            # Saved before numbers were bounded: its exponent form (which the text form does
            # not read back) rather than, for 1e2000000 or 1e-2000000, two million digits.
            # Any other number is written as the parser reads it, bounded or not: a text may
            # write 0.000...01 with 40 decimal places (validation refuses it, the parser does
            # not), and whatever parses from a text the API reads prints and reads back.
            return str(value)
        return format(value, "f")  # never an exponent; 100.0 stays 100.0
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(
        f"a value is a Decimal, an int, a Money or a str in the text form, got {value!r}"
    )


def _relative(operator: Operator, value: Any) -> str:
    if (
        not isinstance(value, RelativeDate)
        or isinstance(value.amount, bool)
        or not isinstance(value.amount, int)
    ):
        raise ValueError(f"{operator.value} takes a RelativeDate, got {value!r}")
    unit = DateUnit(value.unit).value
    return f"{value.amount} {unit if value.amount == 1 else unit + 'S'}"


def _escaped(text: str, quote: str) -> str:
    out: list[str] = []
    for char in text:
        if char == quote:
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif not char.isprintable():
            code = ord(char)
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(char)
    return "".join(out)
