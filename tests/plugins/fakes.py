"""Plugins made for the tests: they declare properties, answer from a dict, and record calls."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from seggraph import hookimpl
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins import MISSING, SubscriberFilter
from seggraph.plugins.manager import PluginManager
from seggraph.settings import Settings


def number(key: str) -> PropertyDefinition:
    return PropertyDefinition(key, key.replace(".", " ").title(), PropertyType.NUMBER)


def text(key: str) -> PropertyDefinition:
    return PropertyDefinition(key, key.replace(".", " ").title(), PropertyType.TEXT)


def manager_with(*plugins: tuple[str, object], **settings: Any) -> PluginManager:
    """A plugin manager holding only ``plugins`` (name, object), no entry points."""
    return PluginManager.load(Settings(_env_file=None, plugins=[], **settings), plugins)  # type: ignore[arg-type]


class FakeProvider:
    """Answers ``data[subscriber_id][key]`` (MISSING when absent); every call is recorded.

    ``fail`` makes every resolve raise it; ``delay`` makes every resolve sleep first.
    """

    def __init__(
        self,
        definitions: Sequence[PropertyDefinition],
        data: dict[str, dict[str, Any]] | None = None,
        *,
        fail: Exception | None = None,
        delay: float = 0.0,
    ) -> None:
        self.definitions = list(definitions)
        self.data = data or {}
        self.fail = fail
        self.delay = delay
        self.calls: list[tuple[list[EvaluationContext], list[str]]] = []

    @hookimpl
    def register_properties(self, register: Any) -> None:
        for definition in self.definitions:
            register(definition)

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        self.calls.append((list(contexts), list(keys)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return {
            context: {
                key: self.data.get(context.subscriber_id, {}).get(key, MISSING) for key in keys
            }
            for context in contexts
        }


class StubbornProvider(FakeProvider):
    """Hangs, and ignores being cancelled for a while: the manager must not wait for it."""

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        self.calls.append((list(contexts), list(keys)))
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.0)
        return {}


class FailingStartup(FakeProvider):
    @hookimpl
    async def startup(self) -> None:
        raise ConnectionError("cannot reach the ticket system")


class Misspelled:
    """Implements a hook that does not exist (a typo)."""

    @hookimpl
    def resolve_property(self) -> None:  # sic
        return None


class Directory:
    """Lists subscribers ``sub_1`` .. ``sub_<count>`` in pages; records start and stop."""

    def __init__(self, count: int, *, fail: Exception | None = None) -> None:
        self.ids = sorted(f"sub_{i}" for i in range(1, count + 1))
        self.fail = fail
        self.events: list[str] = []

    @hookimpl
    async def startup(self) -> None:
        self.events.append("startup")

    @hookimpl
    async def shutdown(self) -> None:
        self.events.append("shutdown")

    @hookimpl
    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        if self.fail is not None:
            raise self.fail
        return [i for i in self.ids if after is None or i > after][:limit]


class DescribedDirectory(Directory):
    """A directory that also describes itself as a MongoDB query (``directory_filter``);
    ``answer`` is what it returns, or raises when it is an exception."""

    def __init__(self, count: int, answer: object = None) -> None:
        super().__init__(count)
        self.answer = answer if answer is not None else SubscriberFilter("ledger", {"open": True})

    @hookimpl
    def directory_filter(self) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer
