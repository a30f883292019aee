"""The rules every declared property must follow (the manager and the contract kit share them)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from seggraph.domain.conditions import BUCKET_PROPERTY, SEGMENT_PROPERTY
from seggraph.domain.currencies import is_iso_currency
from seggraph.domain.properties import PropertyDefinition, PropertyType

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
NAMESPACE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_KEY_LENGTH = 200
MAX_LABEL_LENGTH = 200
RESERVED_KEYS = frozenset({SEGMENT_PROPERTY, BUCKET_PROPERTY})


def definition_problems(definition: object) -> list[str]:
    """What is wrong with one declared definition (empty when it is valid)."""
    if not isinstance(definition, PropertyDefinition):
        return [f"expected a PropertyDefinition, got {type(definition).__name__}"]
    key = definition.key
    where = f"property {key!r}"
    problems: list[str] = []
    if not isinstance(key, str) or not KEY_PATTERN.match(key) or len(key) > MAX_KEY_LENGTH:
        problems.append(
            f"{where}: the key must be lower-case dotted words such as 'support.open_tickets' "
            f"(letters, digits, underscores; at most {MAX_KEY_LENGTH} characters)"
        )
    elif key in RESERVED_KEYS:
        problems.append(f"{where}: the key is reserved for seggraph's own conditions")
    if not isinstance(definition.label, str) or not definition.label.strip():
        problems.append(f"{where}: the label must not be blank")
    elif len(definition.label) > MAX_LABEL_LENGTH:
        problems.append(f"{where}: the label is longer than {MAX_LABEL_LENGTH} characters")
    if not isinstance(definition.description, str):
        problems.append(f"{where}: the description must be a string")
    if not isinstance(definition.namespace, str) or not NAMESPACE_PATTERN.match(
        definition.namespace
    ):
        problems.append(f"{where}: the namespace must be lower-case dotted words")
    try:
        kind = PropertyType(definition.type)
    except ValueError:
        problems.append(
            f"{where}: the type must be one of {', '.join(t.value for t in PropertyType)}, "
            f"got {definition.type!r}"
        )
        return problems
    problems += _enum_problems(where, kind, definition.enum_values)
    if definition.currency is not None and (
        kind is not PropertyType.MONEY
        or not isinstance(definition.currency, str)
        or not is_iso_currency(definition.currency)
    ):
        problems.append(f"{where}: currency must be an ISO 4217 code, and only on a MONEY property")
    if definition.unit is not None and (
        not isinstance(definition.unit, str) or not definition.unit.strip()
    ):
        problems.append(f"{where}: the unit, when given, must not be blank")
    if not isinstance(definition.read_group, str):
        problems.append(f"{where}: read_group must be a string (empty: the provider's default)")
    return problems


def _enum_problems(where: str, kind: PropertyType, values: object) -> list[str]:
    if not isinstance(values, tuple):
        return [f"{where}: enum_values must be a tuple of strings"]
    if kind is not PropertyType.ENUM:
        return [f"{where}: only an ENUM declares enum_values"] if values else []
    if not values:
        return [f"{where}: an ENUM must declare at least one value"]
    problems = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: enum value {value!r} must be a non-blank string")
            continue
        folded = value.casefold()
        if folded in seen:
            problems.append(f"{where}: enum value {value!r} is declared twice")
        seen.add(folded)
    return problems


def declaration_problems(definitions: Iterable[object]) -> list[str]:
    """The problems of one provider's whole declaration, keys declared twice included."""
    problems: list[str] = []
    seen: set[str] = set()
    for definition in definitions:
        problems += definition_problems(definition)
        key = getattr(definition, "key", None)
        if isinstance(key, str):
            if key in seen:
                problems.append(f"property {key!r} is declared twice")
            seen.add(key)
    return problems
