"""What providers answer, and what the manager hands on to the evaluation core.

A provider's ``resolve_properties`` answers, per evaluation context and key, one of:

- a plain value of the property's declared type;
- :data:`MISSING` (or ``None``, or leaving the key out): it has no value for this subscriber;
- :class:`ProviderError` (or an ``Exception`` instance, or an :class:`Unknown`): it could not
  read this value; the condition on it is UNKNOWN, and the explanation shows the message;
- :class:`Noted` around any of the above: the value with a note on how it was derived, which
  explanations and property answers show (e.g. "invoice in_1 is in EUR: left out").

The manager turns every answer into a :class:`ResolvedValue` whose ``value`` is a plain value,
:data:`MISSING` or :class:`Unknown` (reason ``PROVIDER_ERROR`` or ``TIMEOUT``), with the
provider's name and the call's latency: the shapes the evaluation core reads
(``seggraph.evaluation.values``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from seggraph.evaluation.values import MISSING, ResolvedValue, Unknown, UnknownReason
from seggraph.logs import without_topology

__all__ = [
    "MISSING",
    "Noted",
    "ProviderError",
    "ProviderStatus",
    "ResolvedValue",
    "SubscriberFilter",
    "Unknown",
    "UnknownReason",
    "normalize_value",
]


@dataclass(frozen=True, slots=True)
class ProviderError:
    """A provider could not read one value (the others in its answer are fine)."""

    message: str


@dataclass(frozen=True, slots=True)
class Noted:
    """A value with the provider's note on it, for people reading an explanation: what was
    left out or assumed in deriving it. Evaluation reads ``value`` alone."""

    value: Any
    note: str


class ProviderStatus(StrEnum):
    """How a provider is doing, as ``seggraph plugins`` and the ``providers`` query show it."""

    #: Loaded and started; answering.
    OK = "OK"
    #: Failed several calls in a row: skipped (its keys UNKNOWN) until the cool-down ends.
    DEGRADED = "DEGRADED"
    #: Could not be imported, registered, or started, or declared invalid properties.
    FAILED = "FAILED"
    #: Left out by ``SEGGRAPH_PLUGINS`` or ``SEGGRAPH_DISABLE_PLUGINS``.
    DISABLED = "DISABLED"


@dataclass(frozen=True, slots=True)
class SubscriberFilter:
    """A condition translated into a MongoDB query that selects subscribers.

    The subscribers matching the condition are the distinct values of ``id_field`` among the
    documents of ``collection`` that match ``filter``. ``complete`` is False when the filter
    selects a superset that must still be checked value by value.
    """

    collection: str
    filter: Mapping[str, Any]
    id_field: str = "_id"
    complete: bool = True
    notes: tuple[str, ...] = field(default=())


async def selected_ids(db: Any, subscriber_filter: SubscriberFilter) -> set[str]:
    """Every subscriber id ``subscriber_filter`` selects in ``db`` (PyMongo's
    ``AsyncDatabase``), read as a stream of documents: a ``distinct`` answer must fit in one
    16 MB reply, which a whole directory may not."""
    field_name = subscriber_filter.id_field
    cursor = db[subscriber_filter.collection].find(dict(subscriber_filter.filter), {field_name: 1})
    return {str(doc.get(field_name)) async for doc in cursor}


def normalize_value(raw: Any) -> Any:
    """One answered value as the evaluation core reads it: a value, MISSING or Unknown."""
    if raw is None or raw is MISSING:
        return MISSING
    cls = raw.__class__
    if cls is Unknown:
        return raw
    if cls is ProviderError:
        return Unknown(UnknownReason.PROVIDER_ERROR, raw.message)
    if cls is ResolvedValue or cls is Noted:
        return normalize_value(raw.value)
    if isinstance(raw, BaseException):
        return Unknown(UnknownReason.PROVIDER_ERROR, describe_exception(raw))
    return raw


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` (just the type name when the message is empty; without the
    topology description PyMongo appends to a server selection error)."""
    text = without_topology(str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
