"""A live server with two small in-memory providers whose calls are counted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins.hookspecs import hookimpl
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer, empty_collections

SUBSCRIBERS = [f"sub_{i:03d}" for i in range(1, 31)]


def billing_row(i: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "subscriber.mrr": Decimal(i * 10),  # 10 .. 300
        "plan.interval": "YEAR" if i % 3 == 0 else "MONTH",
        "subscription.is_free_trial": i % 5 == 0,
    }
    if i % 7 == 0:
        del row["plan.interval"]  # missing for some subscribers
    return row


class CountingProvider:
    """Answers from a dict; counts every resolve call and the contexts it was asked about.
    ``delay`` makes each call take that long; ``most_at_once`` is the most resolve calls that
    were in flight together."""

    def __init__(
        self, name: str, definitions: list[PropertyDefinition], rows: dict[str, dict[str, Any]]
    ):
        self.name = name
        self.definitions = definitions
        self.rows = rows
        self.calls: list[tuple[int, tuple[str, ...]]] = []
        self.listed: list[str | None] = []
        """The ``after`` of each page of the directory asked for (``subscriber_ids``)."""
        self.fail = False
        self.delay = 0.0
        self.in_flight = 0
        self.most_at_once = 0

    @hookimpl
    def register_properties(self, register: Any) -> None:
        for definition in self.definitions:
            register(definition)

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        self.calls.append((len(contexts), tuple(sorted(keys))))
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.fail:
            raise RuntimeError(f"{self.name} is down")
        return {
            ctx: {k: v for k, v in self.rows.get(ctx.subscriber_id, {}).items() if k in keys}
            for ctx in contexts
        }

    @hookimpl
    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        self.listed.append(after)
        await asyncio.sleep(self.delay)
        ids = sorted(self.rows)
        if after is not None:
            ids = [i for i in ids if i > after]
        return ids[:limit]


def make_providers() -> tuple[CountingProvider, CountingProvider]:
    """A billing-like provider ("ledger", the directory) and a CRM-like one ("people")."""
    billing = CountingProvider(
        "ledger",
        [
            PropertyDefinition("subscriber.mrr", "MRR", PropertyType.MONEY),
            PropertyDefinition(
                "plan.interval",
                "Interval",
                PropertyType.ENUM,
                enum_values=("DAY", "WEEK", "MONTH", "YEAR"),
            ),
            PropertyDefinition("subscription.is_free_trial", "Trial", PropertyType.BOOLEAN),
        ],
        {f"sub_{i:03d}": billing_row(i) for i in range(1, 31)},
    )
    crm = CountingProvider(
        "people",
        [PropertyDefinition("crm.country", "Country", PropertyType.TEXT)],
        {f"sub_{i:03d}": {"crm.country": "FR" if i % 2 else "US"} for i in range(1, 31)},
    )
    return billing, crm


def forget_calls(providers: tuple[CountingProvider, CountingProvider]) -> None:
    """The providers' notes of the calls and directory listings made so far, forgotten."""
    for provider in providers:
        provider.calls.clear()
        provider.listed.clear()


@pytest.fixture(scope="session")
def providers() -> tuple[CountingProvider, CountingProvider]:
    return make_providers()


def provider_server(
    settings: Settings, providers: tuple[CountingProvider, CountingProvider], **overrides: Any
) -> LiveServer:
    """A started server with only the two counting providers (installed plugins stay out),
    ``ledger`` as the directory, and ``overrides`` on top of ``settings``."""
    billing, crm = providers
    isolated = settings.model_copy(
        update={"plugins": ["ledger", "people"], "subscriber_directory": "ledger", **overrides}
    )
    server = LiveServer(isolated, extra_plugins=[("ledger", billing), ("people", crm)])
    server.start()
    return server


@contextlib.contextmanager
def served(
    settings: Settings,
    sync_db: Database[dict[str, Any]],
    providers: tuple[CountingProvider, CountingProvider],
    **overrides: Any,
) -> Iterator[GraphQLClient]:
    """A client of a server of its own (:func:`provider_server`, with ``overrides``) on an
    emptied database, stopped when the block ends."""
    empty_collections(sync_db)
    server = provider_server(settings, providers, **overrides)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            yield GraphQLClient(http)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def query_server(
    settings: Settings,
    sync_db: Database[dict[str, Any]],
    providers: tuple[CountingProvider, CountingProvider],
) -> Iterator[LiveServer]:
    server = provider_server(settings, providers)
    yield server
    server.stop()


@pytest.fixture
def q(
    query_server: LiveServer,
    sync_db: Database[dict[str, Any]],
    providers: tuple[CountingProvider, CountingProvider],
) -> Iterator[GraphQLClient]:
    empty_collections(sync_db)
    forget_calls(providers)
    for provider in providers:
        provider.fail = False
    with httpx.Client(base_url=query_server.url, timeout=60) as http:
        yield GraphQLClient(http)
