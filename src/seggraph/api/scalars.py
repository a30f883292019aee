"""Scalars whose refusals are written for the client.

Strawberry's ``DateTime`` reads input with dateutil's ``isoparse`` and, when that fails, passes
on the parser's own words: ``at: "not a date"`` was refused as "…invalid literal for int() with
base 10: b'not '". :data:`DATETIME` reads the same values and says what it expected instead,
for a variable and for a literal in the document (located there). Its name and output are
Strawberry's; its description says what a client reads and may send.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from dateutil.parser import isoparse
from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from seggraph.validation.values import describe

DATETIME_EXAMPLE = "2026-01-31T09:30:00Z"


def parse_datetime(value: object, node: ValueNode | None = None) -> datetime:
    """An ISO-8601 date-time (what ``isoparse`` reads: a date alone is its midnight), or a
    refusal saying so, located at ``node`` (a literal's)."""
    if isinstance(value, str):
        try:
            return isoparse(value)
        except (ValueError, OverflowError):
            pass
    raise GraphQLError(
        f"expected an ISO-8601 date-time such as {DATETIME_EXAMPLE}, got {describe(value)}",
        node,
    )


def parse_datetime_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> datetime:
    return parse_datetime(value_from_ast_untyped(node, variables), node)


DATETIME: ScalarDefinition = dataclasses.replace(
    DateTimeDefinition,
    description="A date and time in ISO 8601. Answered in UTC with its offset, e.g. "
    "2026-01-31T09:30:00.123000+00:00 (no fraction when it is zero). Read from any ISO 8601 "
    f"form, e.g. {DATETIME_EXAMPLE} (a date alone is its midnight; without an offset, as the "
    "field says).",
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)

#: For ``StrawberryConfig(scalar_map=...)``.
SCALARS: dict[object, ScalarDefinition] = {datetime: DATETIME}
