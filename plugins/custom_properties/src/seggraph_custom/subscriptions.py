"""Which subscription a subscription property reads when the caller names none.

The spec's primary subscription: the most recently ``created`` subscription that is not canceled
(``canceled`` or ``incomplete_expired``), or, when all are canceled, the most recently created
one; ties go to the greatest id. Subscriptions are the billing provider's Stripe-shaped documents
(``customer``, ``status``, ``created``), read with one ``$in`` query per batch from the
collection ``SEGGRAPH_CUSTOM_SUBSCRIPTIONS_COLLECTION`` names (``billing_subscriptions``). When
the choice turns on a ``created`` that is there but is no time, a subscription property is
UNKNOWN for that subscriber, never another subscription's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pymongo.asynchronous.collection import AsyncCollection

from seggraph.domain.subscriptions import PrimaryNotKnown, pick_primary


def _read(doc: dict[str, Any]) -> tuple[Any, Any, Any]:
    return doc.get("status"), doc.get("created"), doc["_id"]


class Primary(NamedTuple):
    """A subscriber's primary subscription, and how many subscriptions it was chosen among."""

    id: str
    among: int


class PrimarySubscriptions:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def of(
        self, subscriber_ids: Sequence[str]
    ) -> dict[str, Primary | PrimaryNotKnown | None]:
        """Each subscriber's primary subscription, None when it has none, or why which one it
        is is not known (a ``created`` that is no time decides it)."""
        cursor = self.collection.find(
            {"customer": {"$in": list(dict.fromkeys(subscriber_ids))}},
            {"customer": 1, "status": 1, "created": 1},
        )
        held: dict[str, list[dict[str, Any]]] = {}
        for doc in await cursor.to_list():
            customer = doc.get("customer")
            if isinstance(customer, str):
                held.setdefault(customer, []).append(doc)
        out: dict[str, Primary | PrimaryNotKnown | None] = {}
        for subscriber in subscriber_ids:
            candidates = held.get(subscriber, [])
            try:
                chosen = pick_primary(candidates, _read)
            except PrimaryNotKnown as exc:
                out[subscriber] = exc
            else:
                out[subscriber] = (
                    None if chosen is None else Primary(str(chosen["_id"]), len(candidates))
                )
        return out
