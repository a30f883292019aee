"""Condition trees to and from MongoDB documents.

Values that JSON/BSON cannot hold exactly are tagged: a ``Decimal`` is ``{"decimal": "99.95"}``
(a string, never a float), money is ``{"money": "99.95", "currency": "USD" | None}`` and a
relative date ``{"relative": 30, "unit": "DAY"}``. Tuples are stored as arrays.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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


def encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, Money):
        return {"money": str(value.amount), "currency": value.currency}
    if isinstance(value, RelativeDate):
        return {"relative": value.amount, "unit": value.unit.value}
    if isinstance(value, tuple | list):
        return [encode_value(item) for item in value]
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "decimal" in value:
            return Decimal(value["decimal"])
        if "money" in value:
            return Money(Decimal(value["money"]), value.get("currency"))
        if "relative" in value:
            return RelativeDate(int(value["relative"]), DateUnit(value["unit"]))
        raise ValueError(f"unknown tagged condition value {value!r}")
    if isinstance(value, list):
        return tuple(decode_value(item) for item in value)
    return value


def encode_tree(node: Node) -> dict[str, Any]:
    if isinstance(node, Condition):
        doc: dict[str, Any] = {
            "property": node.property,
            "operator": node.operator.value,
            "value": encode_value(node.value),
        }
        if node.case_insensitive:
            doc["case_insensitive"] = True
        return doc
    return {
        "combinator": node.combinator.value,
        "children": [encode_tree(c) for c in node.children],
    }


def decode_tree(doc: dict[str, Any]) -> Node:
    if "combinator" in doc:
        return Group(
            Combinator(doc["combinator"]), tuple(decode_tree(c) for c in doc.get("children", ()))
        )
    return Condition(
        property=doc["property"],
        operator=Operator(doc["operator"]),
        value=decode_value(doc.get("value")),
        case_insensitive=bool(doc.get("case_insensitive", False)),
    )


def decode_root(doc: dict[str, Any] | None) -> Group:
    if not doc:
        return Group(Combinator.ALL, ())
    root = decode_tree(doc)
    assert isinstance(root, Group)
    return root
