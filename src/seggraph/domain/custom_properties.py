"""Custom properties: definitions teams create themselves, and the coercion of written values.

A definition has an immutable ``key`` (``[a-z][a-z0-9_]{0,63}``, read as ``custom.<key>``), a
label, a description, a type and the object it describes (a subscriber or a subscription).
Values are coerced when they are *written* (GraphQL, bulk import), never when they are read:
:func:`coerce_value` turns what a user sent (JSON from GraphQL or a JSON line, or the text of a
CSV cell) into the stored value of the declared type, or raises :class:`ValueRefused` saying why.

The GraphQL API (``seggraph.api.custom_properties``) talks to the bundled provider through
:class:`CustomPropertiesBackend`, so the core never imports a plugin.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from seggraph.domain.errors import UserError, checked_text
from seggraph.domain.numbers import BOUNDS, NUMBER_TEXT, within_bounds
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.domain.segments import Mode

NAMESPACE = "custom"
PROVIDER = "custom"
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_LABEL = 200
MAX_DESCRIPTION = 2000
MAX_ENUM_VALUES = 500
MAX_ENUM_VALUE = 100
MAX_TEXT = 10_000
MAX_LIST_ITEMS = 1000

TRUE_WORDS = frozenset({"true", "t", "1", "yes"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", ""})
# ASCII digits only: \d would take Arabic-Indic and other Unicode digits too.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class CustomType(StrEnum):
    """The types a custom property can have (a subset of :class:`PropertyType`)."""

    TEXT = "TEXT"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    ENUM = "ENUM"
    LIST = "LIST"


class CustomObject(StrEnum):
    """What a custom property describes: values are kept per subscriber or per subscription."""

    SUBSCRIBER = "SUBSCRIBER"
    SUBSCRIPTION = "SUBSCRIPTION"


@dataclass(frozen=True, slots=True)
class CustomPropertyDefinition:
    key: str
    label: str
    type: CustomType
    object: CustomObject = CustomObject.SUBSCRIBER
    description: str = ""
    enum_values: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def property_key(self) -> str:
        """The catalogue key segments use: ``custom.<key>``."""
        return f"{NAMESPACE}.{self.key}"

    def to_property(self) -> PropertyDefinition:
        return PropertyDefinition(
            key=self.property_key,
            label=self.label,
            type=PropertyType(self.type.value),
            description=self.description,
            namespace=NAMESPACE,
            enum_values=self.enum_values,
            provider=PROVIDER,
            extra={"object": self.object.value},
        )


@dataclass(frozen=True, slots=True)
class ValueAssignment:
    """One value to write: ``value`` as sent (``None`` removes the value).

    ``subject_id`` is a subscriber id, or a subscription id for a property that describes
    subscriptions; ``object``, when given, says which the caller meant (a mismatch is refused).
    ``subject_id`` ``None`` means the caller refused the id itself: the key and the value are
    still checked (to report every problem at once), and nothing is stored.
    """

    key: str
    subject_id: str | None
    value: Any
    object: CustomObject | None = None


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One coerced value, ready to store (``value`` ``None`` means remove it)."""

    key: str
    object: CustomObject
    subject_id: str
    value: Any


@dataclass
class DefinitionChange:
    """What ``updateCustomProperty`` may change; ``None`` leaves a field as it is."""

    label: str | None = None
    description: str | None = None
    type: CustomType | None = None
    enum_values: Sequence[str] | None = None


@dataclass
class SetResult:
    written: int = 0
    removed: int = 0
    errors: list[UserError] = field(default_factory=list)


class ValueRefused(ValueError):
    """A written value cannot be read as the property's type; the message says why."""

    def __init__(self, message: str, code: str = "INVALID_VALUE") -> None:
        super().__init__(message)
        self.message, self.code = message, code


def show_value(value: Any) -> str:
    """``value`` in a message: text quoted, anything else as JSON, cut to 60 characters."""
    if isinstance(value, str):
        text = repr(value[:60])
    else:
        try:
            text = json.dumps(value, default=str)
        except (RecursionError, ValueError):  # nested too deeply for json (or circular)
            text = reprlib.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce_value(definition: CustomPropertyDefinition, raw: Any) -> Any:
    """The stored form of ``raw`` for ``definition``'s type, or :class:`ValueRefused`.

    ``raw`` is JSON (string, number, boolean, list) or the text of a CSV cell. ``None`` is
    returned as ``None`` (remove the value). Stored forms: ``str`` (TEXT, and ENUM as the
    declared identifier), ``int`` or ``Decimal`` (NUMBER), ``bool`` (BOOLEAN), ``date`` (DATE),
    ``list[str]`` (LIST).
    """
    if raw is None:
        return None
    kind = definition.type
    if kind is CustomType.TEXT:
        return _text(raw)
    if kind is CustomType.NUMBER:
        return _number(raw)
    if kind is CustomType.BOOLEAN:
        return _boolean(raw)
    if kind is CustomType.DATE:
        return _date(raw)
    if kind is CustomType.ENUM:
        return _enum(raw, definition.enum_values)
    return _list(raw)


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueRefused(f"expected text, got {show_value(raw)}")
    if len(raw) > MAX_TEXT:
        raise ValueRefused(f"text has at most {MAX_TEXT} characters", "TOO_LONG")
    return raw


def _number(raw: Any) -> int | Decimal:
    number = _unbounded_number(raw)
    if not within_bounds(number):
        raise ValueRefused(f"{BOUNDS}, got {show_value(raw)}")
    return number


def _unbounded_number(raw: Any) -> int | Decimal:
    if isinstance(raw, bool):
        raise ValueRefused(f"expected a number, got {show_value(raw)}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise ValueRefused(f"expected a finite number, got {show_value(raw)}")
        return _whole(Decimal(repr(raw)))
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ValueRefused(f"expected a finite number, got {raw}")
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        if NUMBER_TEXT.fullmatch(text):
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
                pass
        if not text:
            raise ValueRefused("expected a number, got a blank value (send null to remove it)")
    raise ValueRefused(f"expected a number, got {show_value(raw)}")


def _whole(value: Decimal) -> int | Decimal:
    return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else value


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return raw == 1
    if isinstance(raw, str):
        word = raw.strip().casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueRefused(
        f"expected a boolean (true, t, 1, yes / false, f, 0, no or blank), got {show_value(raw)}"
    )


def _date(raw: Any) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and _DATE.fullmatch(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueRefused(f"{raw.strip()!r} is not a calendar date") from None
    if isinstance(raw, str) and not raw.strip():
        raise ValueRefused("expected a date YYYY-MM-DD, got a blank value (send null to remove it)")
    raise ValueRefused(f"expected a date YYYY-MM-DD, got {show_value(raw)}")


def _enum(raw: Any, values: tuple[str, ...]) -> str:
    if isinstance(raw, str):
        wanted = raw.strip().casefold()
        for identifier in values:
            if identifier.casefold() == wanted:
                return identifier
    raise ValueRefused(f"expected one of {', '.join(values)}, got {show_value(raw)}")


def _list(raw: Any) -> list[str]:
    items: Any = raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise ValueRefused(
                    f"expected a JSON array of strings, got {show_value(raw)}"
                ) from None
        else:
            items = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueRefused(f"expected a list of strings, got {show_value(raw)}")
    if len(items) > MAX_LIST_ITEMS:
        raise ValueRefused(f"a list has at most {MAX_LIST_ITEMS} items", "TOO_LONG")
    return list(items)


def list_as_text(items: Sequence[str]) -> str:
    """A LIST's items as text that :func:`coerce_value` reads back as the same items (a LIST
    property changed to TEXT, and back, keeps them): comma-separated (``a,b``) when that reads
    back exactly, else a JSON array (``["a,b","c"]``), for an item that holds a comma, is
    blank, has spaces around it or starts the text with ``[``."""
    joined = ",".join(items)
    try:
        if _list(joined) == list(items):
            return joined
    except ValueRefused:  # the text starts with "[" and is no JSON array
        pass
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


# --- definitions -------------------------------------------------------------------------------


def bare_key(key: str) -> str:
    """A custom property's key as it is stored, however a request names it: trimmed, and
    without the ``custom.`` namespace (``" custom.plan_tier "`` is ``plan_tier``). Creating a
    property, setting a value, reading, updating and deleting one all read the key so."""
    return key.strip().removeprefix(f"{NAMESPACE}.")


def check_key(key: str, errors: list[UserError], path: tuple[str, ...] = ("key",)) -> str:
    key = bare_key(key)
    if not KEY_PATTERN.fullmatch(key):
        errors.append(
            UserError(
                path,
                "INVALID_KEY",
                "a key is a lower-case letter followed by up to 63 lower-case letters, digits "
                f"or underscores ([a-z][a-z0-9_]{{0,63}}), got {key!r}",
            )
        )
    return key


def check_label(label: str, errors: list[UserError]) -> str:
    return checked_text(
        label, "label", errors, max_length=MAX_LABEL, blank="a custom property needs a label"
    )


def check_description(description: str, errors: list[UserError]) -> str:
    return checked_text(
        description, "description", errors, max_length=MAX_DESCRIPTION, multiline=True
    )


def check_enum_values(
    kind: CustomType, values: Sequence[str], errors: list[UserError]
) -> tuple[str, ...]:
    """Trimmed values, unique case-insensitively; required for ENUM, refused otherwise."""
    if kind is not CustomType.ENUM:
        if values:
            errors.append(
                UserError(("enumValues",), "NOT_ALLOWED", "only an ENUM property has values")
            )
        return ()
    if not values:
        errors.append(UserError(("enumValues",), "BLANK", "an ENUM property needs values"))
    if len(values) > MAX_ENUM_VALUES:
        errors.append(UserError(("enumValues",), "TOO_MANY", f"at most {MAX_ENUM_VALUES} values"))
    seen: set[str] = set()
    out: list[str] = []
    for index, raw in enumerate(values):
        value = raw.strip()
        if not value:
            errors.append(UserError(("enumValues", index), "BLANK", "a value cannot be blank"))
        elif len(value) > MAX_ENUM_VALUE:
            errors.append(
                UserError(
                    ("enumValues", index),
                    "TOO_LONG",
                    f"a value has at most {MAX_ENUM_VALUE} characters",
                )
            )
        elif value.casefold() in seen:
            errors.append(
                UserError(
                    ("enumValues", index),
                    "DUPLICATE",
                    f"{value!r} is listed twice (values are compared case-insensitively)",
                )
            )
        else:
            seen.add(value.casefold())
            out.append(value)
    return tuple(out)


class CustomPropertiesBackend(Protocol):
    """What the GraphQL API needs from the custom properties provider.

    Every write validates first and raises :class:`~seggraph.domain.errors.InputRefused`
    (nothing written) when any part is refused.
    """

    async def list_definitions(self) -> list[CustomPropertyDefinition]: ...

    async def get_definition(self, key: str) -> CustomPropertyDefinition | None: ...

    async def create_definition(
        self,
        *,
        key: str,
        label: str,
        type: CustomType,
        object: CustomObject,
        description: str,
        enum_values: Sequence[str],
    ) -> CustomPropertyDefinition: ...

    async def update_definition(
        self, key: str, change: DefinitionChange, *, mode: Mode | None = None
    ) -> CustomPropertyDefinition: ...

    async def delete_definition(self, key: str, *, mode: Mode | None = None) -> None: ...

    async def check_values(
        self, assignments: Sequence[ValueAssignment], path: str = "values"
    ) -> tuple[list[StoredValue], list[UserError]]:
        """Every problem of every assignment (paths ``(path, index, field)``); writes nothing."""
        ...

    async def set_values(self, assignments: Sequence[ValueAssignment]) -> SetResult: ...

    async def get_values(self, object: CustomObject, subject_id: str) -> dict[str, Any]: ...
