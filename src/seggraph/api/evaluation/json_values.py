"""Provider and condition values as JSON for GraphQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from seggraph.api.segments.conditions import value_to_json
from seggraph.domain.conditions import Money, RelativeDate
from seggraph.evaluation import MISSING, Unknown


def to_json(value: Any) -> Any:
    """Any value a provider or the core hands back, as JSON (``null`` for missing/unknown)."""
    if value is None or value is MISSING or isinstance(value, Unknown):
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal | Money | RelativeDate):
        return value_to_json(value)
    if isinstance(value, float):
        return value
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)
