"""Deliberately broken providers: each breaks one rule of the contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seggraph import hookimpl
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins import MISSING, ProviderError, SubscriberFilter

COUNT = PropertyDefinition("broken.count", "Count", PropertyType.NUMBER)
NAME = PropertyDefinition("broken.name", "Name", PropertyType.TEXT)
TIER = PropertyDefinition(
    "broken.tier", "Tier", PropertyType.ENUM, enum_values=("FREE", "PRO", "TEAM")
)
KNOWN = {"cus_1": {"broken.count": 1, "broken.name": "Ada", "broken.tier": "PRO"}}


class Base:
    """A correct provider; each subclass breaks one thing."""

    definitions: tuple[PropertyDefinition, ...] = (COUNT, NAME, TIER)

    @hookimpl
    def register_properties(self, register: Any) -> None:
        for definition in self.definitions:
            register(definition)

    def row(self, context: EvaluationContext, keys: Sequence[str]) -> dict[str, Any]:
        found = KNOWN.get(context.subscriber_id, {})
        return {key: found.get(key, MISSING) for key in keys}

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> Any:
        return {context: self.row(context, keys) for context in contexts}

    @hookimpl
    def suggest_property_values(self, key: str, prefix: str, limit: int) -> Any:
        if key == NAME.key:
            return [n for n in ("Ada", "Alan") if n.lower().startswith(prefix.lower())][:limit]
        return None


class Correct(Base):
    pass


class InvalidDefinitions(Base):
    definitions = (COUNT, PropertyDefinition("broken.plan", "Plan", PropertyType.ENUM))


class ForeignKeys(Base):
    def row(self, context: EvaluationContext, keys: Sequence[str]) -> dict[str, Any]:
        return {**super().row(context, keys), "subscriber.mrr": 10}


class WrongTypes(Base):
    def row(self, context: EvaluationContext, keys: Sequence[str]) -> dict[str, Any]:
        row = super().row(context, keys)
        if row.get("broken.count") == 1:
            row["broken.count"] = "1"  # a string for a NUMBER
        return row


class ErrorsForStrangers(Base):
    def row(self, context: EvaluationContext, keys: Sequence[str]) -> dict[str, Any]:
        if context.subscriber_id not in KNOWN:
            return dict.fromkeys(keys, ProviderError("no such customer"))
        return super().row(context, keys)


class Placeholders(Base):
    def row(self, context: EvaluationContext, keys: Sequence[str]) -> dict[str, Any]:
        row = super().row(context, keys)
        if row.get("broken.name") is MISSING:
            row["broken.name"] = "N/A"
        return row


class BatchDependent(Base):
    """Answers a count that depends on how many contexts share the call."""

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> Any:
        return {c: {**self.row(c, keys), "broken.count": len(contexts)} for c in contexts}


class SortedRows(Base):
    """Answers a list sorted by subscriber id instead of in the order asked."""

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> Any:
        ordered = sorted(contexts, key=lambda c: c.subscriber_id)
        return [self.row(c, keys) for c in ordered]


class KeyedById(Base):
    """Keys its answer by subscriber id instead of by context."""

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> Any:
        return {c.subscriber_id: self.row(c, keys) for c in contexts}


class Raising(Base):
    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> Any:
        raise ConnectionError("no route to the ledger")


class BadSuggestions(Base):
    @hookimpl
    def suggest_property_values(self, key: str, prefix: str, limit: int) -> Any:
        if key == TIER.key:
            return ["pro", "ENTERPRISE"]
        if key == NAME.key:
            return ["Zed", "Ada", "Alan", "Bob", "Cy", "Dee"][: limit + 1]
        return None


class Misspelled(Base):
    @hookimpl
    def resolve_properties_batch(self) -> None:
        return None


class Everything(ForeignKeys, WrongTypes, ErrorsForStrangers, BadSuggestions):
    """Breaks several rules at once: every one is reported."""


class KeptDirectory(Base):
    """A correct provider that is also a subscriber directory over a collection of the test
    database, describing itself with ``query`` (right when it is ``{"open": True}``)."""

    collection = "kit_directory"

    def __init__(self, query: dict[str, Any]) -> None:
        self.query = query
        self.db: Any = None

    @hookimpl
    def startup(self, database: Any) -> None:
        self.db = database.db

    @hookimpl
    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        query: dict[str, Any] = {"open": True}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self.db[self.collection].find(query, {"_id": 1}).sort("_id", 1).limit(limit)
        return [doc["_id"] async for doc in cursor]

    @hookimpl
    def directory_filter(self) -> SubscriberFilter:
        return SubscriberFilter(self.collection, self.query)


class Unmarked(Base):
    """Suggests values, but the method lacks ``@hookimpl``: pluggy never calls it."""

    def suggest_property_values(self, key: str, prefix: str, limit: int) -> Any:
        return super().suggest_property_values(key, prefix, limit)


class DefaultedParameter(Base):
    """``settings=None``: pluggy passes only parameters without a default, so it is None."""

    @hookimpl
    def register_properties(self, register: Any, settings: Any = None) -> None:
        super().register_properties(register)
