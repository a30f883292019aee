"""The coercion rules of written custom property values (the spec's table, per type)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seggraph.domain.custom_properties import (
    CustomPropertyDefinition,
    CustomType,
    ValueRefused,
    coerce_value,
    list_as_text,
)


def definition(kind: CustomType, values: tuple[str, ...] = ()) -> CustomPropertyDefinition:
    return CustomPropertyDefinition(key="k", label="K", type=kind, enum_values=values)


BOOLEAN = definition(CustomType.BOOLEAN)


@pytest.mark.parametrize("raw", ["true", "t", "1", "yes", "TRUE", " Yes ", "T", True, 1])
def test_boolean_true(raw: Any) -> None:
    assert coerce_value(BOOLEAN, raw) is True


@pytest.mark.parametrize("raw", ["false", "f", "0", "no", "", "   ", "FALSE", "No", False, 0])
def test_boolean_false_including_blank(raw: Any) -> None:
    assert coerce_value(BOOLEAN, raw) is False


@pytest.mark.parametrize("raw", ["y", "n", "on", "off", "2", "truthy", 2, -1, 0.5, ["true"]])
def test_boolean_anything_else_is_refused(raw: Any) -> None:
    with pytest.raises(ValueRefused, match="expected a boolean"):
        coerce_value(BOOLEAN, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        (" -7 ", -7),
        ("99.95", Decimal("99.95")),
        ("1e3", Decimal("1e3")),
        (".5", Decimal(".5")),
        (12, 12),
        (0.1, Decimal("0.1")),
        (3.0, 3),
        (Decimal("1.50"), Decimal("1.50")),
    ],
)
def test_number(raw: Any, expected: Any) -> None:
    value = coerce_value(definition(CustomType.NUMBER), raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "raw", ["", "abc", "1,5", "NaN", "inf", True, float("nan"), [1], "1_000", "١٢", "٣.٥"]
)
def test_number_refused(raw: Any) -> None:
    with pytest.raises(ValueRefused):
        coerce_value(definition(CustomType.NUMBER), raw)


def test_text_is_kept_as_written() -> None:
    assert coerce_value(definition(CustomType.TEXT), "  Gold  ") == "  Gold  "
    assert coerce_value(definition(CustomType.TEXT), "") == ""
    with pytest.raises(ValueRefused, match="expected text"):
        coerce_value(definition(CustomType.TEXT), 5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2026-02-28", date(2026, 2, 28)), (" 2024-02-29 ", date(2024, 2, 29))],
)
def test_date(raw: str, expected: date) -> None:
    assert coerce_value(definition(CustomType.DATE), raw) == expected


@pytest.mark.parametrize(
    "raw", ["2026-02-30", "2026-13-01", "20260101", "2026-01-01T10:00:00Z", "01/02/2026", "", 5]
)
def test_date_refused(raw: Any) -> None:
    with pytest.raises(ValueRefused):
        coerce_value(definition(CustomType.DATE), raw)


def test_enum_matches_case_insensitively_and_stores_the_declared_identifier() -> None:
    tier = definition(CustomType.ENUM, ("Gold", "SILVER"))
    assert coerce_value(tier, "gold") == "Gold"
    assert coerce_value(tier, " silver ") == "SILVER"
    with pytest.raises(ValueRefused, match="expected one of Gold, SILVER"):
        coerce_value(tier, "bronze")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        ("a, b ,,c", ["a", "b", "c"]),
        ('["x, y", "z"]', ["x, y", "z"]),
        ("", []),
        ([], []),
    ],
)
def test_list(raw: Any, expected: list[str]) -> None:
    assert coerce_value(definition(CustomType.LIST), raw) == expected


@pytest.mark.parametrize("raw", [[1, 2], "[1, 2]", '["a"', 5, {"a": 1}])
def test_list_refused(raw: Any) -> None:
    with pytest.raises(ValueRefused, match=r"list of strings|JSON array"):
        coerce_value(definition(CustomType.LIST), raw)


@pytest.mark.parametrize(
    ("items", "text"),
    [
        (["a", "b"], "a,b"),
        ([], ""),
        (["a,b", "c"], '["a,b","c"]'),
        ([" padded", "x"], '[" padded","x"]'),
        (["", "x"], '["","x"]'),
        (["[x", "y"], '["[x","y"]'),
        (["[x]"], '["[x]"]'),
        (["tab\t", "ü"], '["tab\\t","ü"]'),
        (["é"], "é"),
    ],
)
def test_a_list_as_text_is_comma_separated_unless_that_would_change_its_items(
    items: list[str], text: str
) -> None:
    assert list_as_text(items) == text


@given(st.lists(st.text(max_size=20), max_size=30))
@example(["a,b", "c"])
@example(["[", "]"])
@example(['["a"]'])
def test_a_list_as_text_reads_back_as_the_same_items(items: list[str]) -> None:
    """A LIST property changed to TEXT and back keeps every list: the text is read as the
    LIST type reads a written value."""
    text = coerce_value(definition(CustomType.TEXT), list_as_text(items))
    assert coerce_value(definition(CustomType.LIST), text) == items


@pytest.mark.parametrize("kind", list(CustomType))
def test_null_removes_the_value_for_every_type(kind: CustomType) -> None:
    assert coerce_value(definition(kind, ("A",)), None) is None
