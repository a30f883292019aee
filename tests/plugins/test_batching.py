"""One request costs one call per provider per batch of contexts, however many fields ask."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from seggraph import hookimpl
from seggraph.catalogue import Catalogue
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins.manager import PluginManager
from seggraph.services.properties import SETTLE_TICKS, PropertyBatcher, PropertyResolver
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.plugins.fakes import FakeProvider, number, text

SUBSCRIBERS = [f"sub_{i}" for i in range(1, 7)]


def providers() -> tuple[FakeProvider, FakeProvider]:
    alpha = FakeProvider(
        [number("alpha.count"), number("alpha.other")],
        {s: {"alpha.count": i, "alpha.other": i * 10} for i, s in enumerate(SUBSCRIBERS)},
    )
    beta = FakeProvider([text("beta.name")], {s: {"beta.name": s.upper()} for s in SUBSCRIBERS})
    return alpha, beta


def in_process(**plugins: FakeProvider) -> tuple[Catalogue, PropertyBatcher]:
    """The catalogue of a plugin manager holding ``plugins`` (by name), and one request's
    batcher over it: the batching path without a server."""
    manager = PluginManager(Settings(_env_file=None, plugins=[]))  # type: ignore[call-arg]
    for name, plugin in plugins.items():
        manager.add_plugin(plugin, name=name)
    catalogue: Catalogue = manager.build_catalogue()
    return catalogue, PropertyResolver(lambda: manager, lambda: catalogue).batcher()


def serve(
    start_live_server: Any, settings: Settings, **changes: Any
) -> tuple[GraphQLClient, FakeProvider, FakeProvider, httpx.Client]:
    alpha, beta = providers()
    server: LiveServer = start_live_server(
        settings.model_copy(update={"plugins": [], **changes}),
        extra_plugins=[("alpha", alpha), ("beta", beta)],
    )
    http = httpx.Client(base_url=server.url, timeout=30)
    return GraphQLClient(http), alpha, beta, http


MANY_FIELDS = """{
  first: propertyValues(subscriberIds: ["sub_1", "sub_2", "sub_3"],
                        keys: ["alpha.count", "beta.name"]) {
    subscriberId
    values { key value provider }
    count: value(key: "alpha.count") { value }
    name: value(key: "beta.name") { value }
    other: value(key: "alpha.other") { value }
  }
  second: propertyValues(subscriberIds: ["sub_4", "sub_5", "sub_6", "sub_1"], keys: ["beta.name"]) {
    subscriberId
    values { key value }
    again: value(key: "beta.name") { value }
    count: value(key: "alpha.count") { value }
  }
}"""


def test_one_graphql_request_costs_one_call_per_provider(
    settings: Settings, start_live_server: Any
) -> None:
    gql, alpha, beta, http = serve(start_live_server, settings)
    with http:
        data = gql.query(MANY_FIELDS)
    # 6 subscribers x 3 keys, asked from 2 top-level fields, 7 kinds of nested fields...
    assert data["first"][0] == {
        "subscriberId": "sub_1",
        "values": [
            {"key": "alpha.count", "value": 0, "provider": "alpha"},
            {"key": "beta.name", "value": "SUB_1", "provider": "beta"},
        ],
        "count": {"value": 0},
        "name": {"value": "SUB_1"},
        "other": {"value": 0},
    }
    assert data["second"][2] == {
        "subscriberId": "sub_6",
        "values": [{"key": "beta.name", "value": "SUB_6"}],
        "again": {"value": "SUB_6"},
        "count": {"value": 5},
    }
    # ... and each provider was called once, for every subscriber asked about.
    assert len(alpha.calls) == 1 and len(beta.calls) == 1
    alpha_contexts, alpha_keys = alpha.calls[0]
    assert sorted(c.subscriber_id for c in alpha_contexts) == SUBSCRIBERS
    assert sorted(alpha_keys) == ["alpha.count", "alpha.other"]
    beta_contexts, beta_keys = beta.calls[0]
    assert sorted(c.subscriber_id for c in beta_contexts) == SUBSCRIBERS
    assert beta_keys == ["beta.name"]


def test_every_request_asks_afresh(settings: Settings, start_live_server: Any) -> None:
    gql, alpha, beta, http = serve(start_live_server, settings)
    query = (
        '{ propertyValues(subscriberIds: ["sub_1"], keys: ["alpha.count"]) { values { value } } }'
    )
    with http:
        gql.query(query)
        gql.query(query)
    assert len(alpha.calls) == 2 and beta.calls == []


def test_large_requests_are_split_into_batches_of_the_configured_size(
    settings: Settings, start_live_server: Any
) -> None:
    gql, alpha, beta, http = serve(start_live_server, settings, provider_batch_size=4)
    with http:
        gql.query(MANY_FIELDS)
    for provider in (alpha, beta):
        sizes = sorted(len(contexts) for contexts, _ in provider.calls)
        assert sizes == [2, 4]


async def test_keys_asked_along_come_in_the_same_call_and_are_found_later() -> None:
    """``along`` is how a request asks a provider for all its keys at once: a later field that
    needs another of them finds it without a call of its own."""
    alpha, beta = providers()
    catalogue, batcher = in_process(alpha=alpha, beta=beta)
    assert catalogue.with_siblings(frozenset({"alpha.count"})) == {"alpha.count", "alpha.other"}
    assert catalogue.with_siblings(frozenset({"nobody.x"})) == {"nobody.x"}
    # How the plugin manager splits a request's keys between providers (in the order asked).
    assert catalogue.partition(("alpha.other", "nobody.x", "beta.name", "alpha.count")) == (
        {"alpha": ("alpha.other", "alpha.count"), "beta": ("beta.name",)},
        ("nobody.x",),
    )
    sub_2 = EvaluationContext("sub_2")
    first = await batcher.load_many(
        [sub_2], ["alpha.count"], along=catalogue.with_siblings(frozenset({"alpha.count"}))
    )
    assert {k: v.value for k, v in first[sub_2].items()} == {"alpha.count": 1}  # only as asked
    assert [sorted(keys) for _, keys in alpha.calls] == [["alpha.count", "alpha.other"]]
    assert (await batcher.load(sub_2, ["alpha.other"]))["alpha.other"].value == 10
    assert len(alpha.calls) == 1 and batcher.dispatches == 1  # found, not asked again
    # Nothing missing: nothing asked, along or not.
    await batcher.load_many([sub_2], ["alpha.count"], along=["beta.name"])
    assert beta.calls == [] and batcher.dispatches == 1


async def test_a_prefetch_is_the_read_later_loads_wait_for() -> None:
    """A prefetch starts a read without waiting; a load of those keys made while it is under
    way waits for it instead of asking again, and a load of other keys asks for them alone."""
    alpha, beta = providers()
    alpha.delay = 0.05
    catalogue, batcher = in_process(alpha=alpha, beta=beta)
    sub_3 = EvaluationContext("sub_3")
    batcher.prefetch(
        sub_3, ["alpha.count"], along=catalogue.with_siblings(frozenset({"alpha.count"}))
    )
    assert alpha.calls == []  # started, not yet asked
    await asyncio.sleep(0.01)
    assert [sorted(keys) for _, keys in alpha.calls] == [["alpha.count", "alpha.other"]]
    found = await batcher.load_many([sub_3], ["alpha.other", "beta.name"])
    assert {k: v.value for k, v in found[sub_3].items()} == {
        "alpha.other": 20,
        "beta.name": "SUB_3",
    }
    assert len(alpha.calls) == 1 and batcher.dispatches == 2  # alpha's was the prefetch's
    assert [keys for _, keys in beta.calls] == [["beta.name"]]
    # Prefetching what is known asks nothing.
    batcher.prefetch(sub_3, ["alpha.count", "beta.name"])
    await asyncio.sleep(0.01)
    assert len(alpha.calls) == 1 and len(beta.calls) == 1 and batcher.dispatches == 2


async def test_a_prefetch_asks_without_waiting_for_other_loads_to_join() -> None:
    """A load lets the loop turn SETTLE_TICKS times before its round asks, so that the
    request's other loads join it; a prefetch knows every key it reads and asks at once."""
    alpha, beta = providers()
    _, batcher = in_process(alpha=alpha, beta=beta)

    async def turns_until_asked(start: Any) -> int:
        asked = len(alpha.calls)
        task = asyncio.ensure_future(start())
        turns = 0
        while len(alpha.calls) == asked:
            await asyncio.sleep(0)
            turns += 1
        await task
        return turns

    async def load() -> None:
        await batcher.load_many([EvaluationContext("sub_4")], ["alpha.count"])

    async def prefetch() -> None:
        batcher.prefetch(EvaluationContext("sub_5"), ["alpha.count"])

    assert await turns_until_asked(load) == await turns_until_asked(prefetch) + SETTLE_TICKS


def test_keys_asked_along_are_those_of_the_same_read_group() -> None:
    """A provider that declares read groups is asked along only for the keys read with the
    ones asked; one that declares none is asked for all of its keys."""
    catalogue = Catalogue(
        [
            PropertyDefinition("bill.mrr", "MRR", PropertyType.NUMBER, provider="bill"),
            PropertyDefinition("bill.plan", "Plan", PropertyType.TEXT, provider="bill"),
            PropertyDefinition(
                "bill.ltv", "LTV", PropertyType.NUMBER, provider="bill", read_group="invoices"
            ),
            PropertyDefinition(
                "bill.paid", "Paid", PropertyType.NUMBER, provider="bill", read_group="invoices"
            ),
            PropertyDefinition("crm.country", "Country", PropertyType.TEXT, provider="crm"),
            PropertyDefinition("crm.seats", "Seats", PropertyType.NUMBER, provider="crm"),
        ]
    )
    assert catalogue.with_siblings(frozenset({"bill.mrr"})) == {"bill.mrr", "bill.plan"}
    assert catalogue.with_siblings(frozenset({"bill.ltv"})) == {"bill.ltv", "bill.paid"}
    assert catalogue.with_siblings(frozenset({"bill.plan", "bill.paid", "crm.seats"})) == {
        "bill.mrr",
        "bill.plan",
        "bill.ltv",
        "bill.paid",
        "crm.country",
        "crm.seats",
    }


async def test_the_batcher_coalesces_concurrent_loads_and_remembers_answers() -> None:
    alpha, beta = providers()
    _, batcher = in_process(alpha=alpha, beta=beta)
    contexts = [EvaluationContext(s) for s in SUBSCRIBERS]

    async def one(context: EvaluationContext, key: str) -> Any:
        await asyncio.sleep(0)  # loads arrive a loop iteration apart
        return (await batcher.load(context, [key]))[key].value

    answers = await asyncio.gather(
        *(one(c, k) for c in contexts for k in ("alpha.count", "beta.name", "alpha.other"))
    )
    assert answers[:3] == [0, "SUB_1", 0]
    assert batcher.dispatches == 1
    assert len(alpha.calls) == 1 and len(beta.calls) == 1

    again = await batcher.load_many(contexts, ["alpha.count", "beta.name"])
    assert again[contexts[5]]["alpha.count"].value == 5
    assert batcher.dispatches == 1 and len(alpha.calls) == 1  # remembered

    subscription = EvaluationContext("sub_1", "sub_1_annual")
    await batcher.load(subscription, ["alpha.count"])
    assert len(alpha.calls) == 2 and alpha.calls[1][0] == [subscription]
    assert len(beta.calls) == 1


class GatedProvider(FakeProvider):
    """A fake whose every call waits for its own gate (``gates[n]`` for the ``n``-th call)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gates = [asyncio.Event() for _ in range(4)]

    @hookimpl
    async def resolve_properties(  # type: ignore[override]
        self, contexts: list[EvaluationContext], keys: list[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        gate = self.gates[len(self.calls)]
        answer = await super().resolve_properties(contexts, keys)
        await gate.wait()
        return answer


async def _until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_key_in_flight_stays_in_flight_when_an_earlier_round_ends() -> None:
    """Two rounds about the same subscriber at once: when the first is answered, a load of a
    key the second is still asking waits for the second, and asks nothing again."""
    provider = GatedProvider(
        [number("alpha.count"), number("alpha.other")],
        {s: {"alpha.count": i, "alpha.other": i * 10} for i, s in enumerate(SUBSCRIBERS)},
    )
    _, batcher = in_process(alpha=provider)
    sub_2 = EvaluationContext("sub_2")

    first = asyncio.ensure_future(batcher.load(sub_2, ["alpha.count"]))
    await _until(lambda: len(provider.calls) == 1)
    second = asyncio.ensure_future(batcher.load(sub_2, ["alpha.other"]))
    await _until(lambda: batcher.dispatches == 2)
    provider.gates[0].set()
    assert (await first)["alpha.count"].value == 1
    await _until(lambda: len(provider.calls) == 2)
    third = asyncio.ensure_future(batcher.load(sub_2, ["alpha.other"]))
    for _ in range(5 * SETTLE_TICKS):  # long enough for a round of its own to be dispatched
        await asyncio.sleep(0)
    assert not third.done() and batcher.dispatches == 2  # waiting for the second round
    provider.gates[1].set()
    assert (await second)["alpha.other"].value == 10
    assert (await third)["alpha.other"].value == 10
    assert batcher.dispatches == 2
    assert [keys for _, keys in provider.calls] == [["alpha.count"], ["alpha.other"]]


async def test_a_round_cancelled_before_it_asks_leaves_nothing_in_flight() -> None:
    """A round cut short while it waits for more loads (its request gone) hands the
    cancellation to its loads; the same keys asked afterwards go out in a round of their own,
    with nothing of the cancelled round asked again."""
    alpha, beta = providers()
    _, batcher = in_process(alpha=alpha, beta=beta)
    sub_3 = EvaluationContext("sub_3")

    cut_short = asyncio.ensure_future(batcher.load(sub_3, ["alpha.count", "beta.name"]))
    for _ in range(2):  # the load asks, then its round starts waiting for more loads
        await asyncio.sleep(0)
    assert batcher.dispatches == 0 and len(batcher._tasks) == 1
    for task in batcher._tasks:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(cut_short, timeout=5)
    assert alpha.calls == [] and beta.calls == [] and batcher.dispatches == 0

    found = await batcher.load(sub_3, ["alpha.count"])
    assert found["alpha.count"].value == 2
    assert batcher.dispatches == 1
    assert [keys for _, keys in alpha.calls] == [["alpha.count"]] and beta.calls == []


async def test_a_round_whose_dispatch_is_cancelled_before_it_runs_releases_its_waiters() -> None:
    """A dispatch task cancelled before its first step (an event loop shutting down) never
    enters its ``try``: its round is cancelled for it, and its keys can be asked again."""
    alpha, beta = providers()
    _, batcher = in_process(alpha=alpha, beta=beta)
    sub_2 = EvaluationContext("sub_2")
    waiter = asyncio.ensure_future(batcher.load(sub_2, ["alpha.count"]))
    await asyncio.sleep(0)  # the waiter has enqueued its key; the dispatch has not run
    (dispatch,) = batcher._tasks
    dispatch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, 2)
    assert alpha.calls == []
    assert (await batcher.load(sub_2, ["alpha.count"]))["alpha.count"].value == 1
