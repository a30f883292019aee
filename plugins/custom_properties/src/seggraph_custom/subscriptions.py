"""Which subscription a subscription property reads when the caller names none.

The spec's primary subscription: the most recently ``created`` subscription that is not canceled
(``canceled`` or ``incomplete_expired``), or, when all are canceled, the most recently created
one; ties go to the greatest id. Subscriptions are the billing provider's Stripe-shaped documents
(``customer``, ``status``, ``created``), read with one ``$in`` query per batch from the
collection ``SEGGRAPH_CUSTOM_SUBSCRIPTIONS_COLLECTION`` names (``billing_subscriptions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from seggraph.domain.subscriptions import primary_rank


def _rank(doc: dict[str, Any]) -> tuple[bool, datetime, str]:
    return primary_rank(doc.get("status"), doc.get("created"), doc["_id"])


class PrimarySubscriptions:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def of(self, subscriber_ids: Sequence[str]) -> dict[str, str | None]:
        cursor = self.collection.find(
            {"customer": {"$in": list(dict.fromkeys(subscriber_ids))}},
            {"customer": 1, "status": 1, "created": 1},
        )
        best: dict[str, tuple[tuple[bool, datetime, str], str]] = {}
        for doc in await cursor.to_list():
            customer = doc.get("customer")
            if not isinstance(customer, str):
                continue
            rank = _rank(doc)
            held = best.get(customer)
            if held is None or rank > held[0]:
                best[customer] = (rank, str(doc["_id"]))
        return {
            subscriber: best[subscriber][1] if subscriber in best else None
            for subscriber in subscriber_ids
        }
