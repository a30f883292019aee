"""Provider calls shared among requests asking at the same moment (``resolve(shared=True)``,
as every request's batcher asks): one call serves them all, each request gets its own
subscribers' values from a call that started after it asked, and a failure or a hang costs each
request no more than its own call would have."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx

from seggraph import hookimpl
from seggraph.domain.context import EvaluationContext
from seggraph.plugins import Unknown, UnknownReason
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.plugins.fakes import FakeProvider, manager_with, number

SUBSCRIBERS = [f"sub_{i}" for i in range(30)]


def counting() -> FakeProvider:
    return FakeProvider(
        [number("alpha.count"), number("alpha.other")],
        {s: {"alpha.count": i, "alpha.other": -i} for i, s in enumerate(SUBSCRIBERS)},
        delay=0.01,
    )


class Gated(FakeProvider):
    """Answers ``value`` as it is when a call starts, then holds until ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__([number("alpha.count")])
        self.value = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        self.calls.append((list(contexts), list(keys)))
        seen = self.value
        self.started.set()
        await self.gate.wait()
        return {context: {"alpha.count": seen} for context in contexts}


async def test_requests_asking_at_once_share_a_call_and_get_their_own_values() -> None:
    provider = counting()
    manager = manager_with(("alpha", provider))
    catalogue = manager.build_catalogue()

    async def one(i: int) -> Any:
        context = EvaluationContext(SUBSCRIBERS[i])
        keys = ["alpha.count"] if i % 2 else ["alpha.other"]
        return await manager.resolve(catalogue, [context], keys, shared=True)

    answers = await asyncio.gather(*(one(i) for i in range(30)))
    for i, answer in enumerate(answers):
        # Only what this request asked: its subscriber, its keys.
        key = "alpha.count" if i % 2 else "alpha.other"
        assert list(answer) == [EvaluationContext(SUBSCRIBERS[i])]
        assert {k: v.value for k, v in answer[EvaluationContext(SUBSCRIBERS[i])].items()} == {
            key: i if i % 2 else -i
        }
    assert len(provider.calls) == 1
    contexts, keys = provider.calls[0]
    assert len(contexts) == 30 and keys == ["alpha.count", "alpha.other"]


async def test_unshared_calls_are_not_merged() -> None:
    provider = counting()
    manager = manager_with(("alpha", provider))
    catalogue = manager.build_catalogue()
    await asyncio.gather(
        *(
            manager.resolve(catalogue, [EvaluationContext(s)], ["alpha.count"])
            for s in SUBSCRIBERS[:5]
        )
    )
    assert len(provider.calls) == 5


async def test_a_request_arriving_during_a_call_gets_a_call_started_after_it() -> None:
    provider = Gated()
    manager = manager_with(("alpha", provider))
    catalogue = manager.build_catalogue()
    first = asyncio.ensure_future(
        manager.resolve(catalogue, [EvaluationContext("sub_1")], ["alpha.count"], shared=True)
    )
    await provider.started.wait()
    provider.value = 1  # changed after the first call started, before the second request asks
    second = asyncio.ensure_future(
        manager.resolve(catalogue, [EvaluationContext("sub_2")], ["alpha.count"], shared=True)
    )
    await asyncio.sleep(0.01)
    assert len(provider.calls) == 1  # the second waits for the call under way to end...
    provider.gate.set()
    assert (await first)[EvaluationContext("sub_1")]["alpha.count"].value == 0
    assert (await second)[EvaluationContext("sub_2")]["alpha.count"].value == 1  # ...then asks
    assert len(provider.calls) == 2


async def test_a_failed_shared_call_is_unknown_for_its_requests_and_counted_once() -> None:
    provider = counting()
    provider.fail = OSError("billing is down")
    manager = manager_with(("alpha", provider), provider_failure_threshold=3)
    catalogue = manager.build_catalogue()
    answers = await asyncio.gather(
        *(
            manager.resolve(catalogue, [EvaluationContext(s)], ["alpha.count"], shared=True)
            for s in SUBSCRIBERS[:10]
        )
    )
    for s, answer in zip(SUBSCRIBERS, answers, strict=False):
        value = answer[EvaluationContext(s)]["alpha.count"].value
        assert isinstance(value, Unknown) and value.reason is UnknownReason.PROVIDER_ERROR
        assert "OSError: billing is down" in value.detail
    info = manager.info("alpha")
    assert info is not None and info.failures_in_row == 1  # one call failed, not ten
    provider.fail = None
    again = await manager.resolve(
        catalogue, [EvaluationContext("sub_3")], ["alpha.count"], shared=True
    )
    assert again[EvaluationContext("sub_3")]["alpha.count"].value == 3


async def test_waiting_for_a_hung_call_never_takes_a_request_past_its_timeout() -> None:
    provider = Gated()  # never released: the call hangs
    manager = manager_with(("alpha", provider), provider_timeout_seconds=0.3)
    catalogue = manager.build_catalogue()
    first = asyncio.ensure_future(
        manager.resolve(catalogue, [EvaluationContext("sub_1")], ["alpha.count"], shared=True)
    )
    await provider.started.wait()
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    # Arrives 0.2 s into a hung call: the call under way ends at 0.3 s, its own would end at
    # 0.6 s; its own timeout ends the wait at 0.3 s after it asked.
    second = await manager.resolve(
        catalogue, [EvaluationContext("sub_2")], ["alpha.count"], shared=True
    )
    waited = time.perf_counter() - started
    value = second[EvaluationContext("sub_2")]["alpha.count"].value
    assert value == Unknown(
        UnknownReason.TIMEOUT,
        "provider 'alpha': no answer within 0.3s of this request asking (it waited for an "
        "earlier call first)",
    )
    assert waited < 0.5
    # The first request found no call under way: its own call ran out of time.
    assert (await first)[EvaluationContext("sub_1")]["alpha.count"].value == Unknown(
        UnknownReason.TIMEOUT, "provider 'alpha' did not answer within 0.3s"
    )


async def test_a_shared_run_keeps_to_the_batch_size() -> None:
    provider = counting()
    manager = manager_with(("alpha", provider), provider_batch_size=8)
    catalogue = manager.build_catalogue()
    answers = await asyncio.gather(
        *(
            manager.resolve(catalogue, [EvaluationContext(s)], ["alpha.count"], shared=True)
            for s in SUBSCRIBERS[:20]
        )
    )
    values = [
        a[EvaluationContext(s)]["alpha.count"].value
        for s, a in zip(SUBSCRIBERS[:20], answers, strict=True)
    ]
    assert values == list(range(20))
    assert sorted(len(contexts) for contexts, _ in provider.calls) == [4, 8, 8]


def test_concurrent_graphql_requests_share_provider_calls(
    settings: Settings, start_live_server: Any
) -> None:
    provider = counting()
    server: LiveServer = start_live_server(
        settings.model_copy(update={"plugins": []}), extra_plugins=[("alpha", provider)]
    )
    query = (
        'query($id: ID!) { propertyValues(subscriberIds: [$id], keys: ["alpha.count"]) '
        "{ subscriberId values { value } } }"
    )

    async def ask_all() -> list[Any]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post("/graphql", json={"query": query, "variables": {"id": s}})
                    for s in SUBSCRIBERS
                )
            )

    answers = asyncio.run(ask_all())
    for i, answer in enumerate(answers):
        assert answer.status_code == 200
        assert answer.json()["data"]["propertyValues"] == [
            {"subscriberId": SUBSCRIBERS[i], "values": [{"value": i}]}
        ]
    assert len(provider.calls) < len(SUBSCRIBERS)  # shared: fewer calls than requests
    with httpx.Client(base_url=server.url, timeout=30) as client:
        GraphQLClient(client).query(query, {"id": "sub_7"})
    assert len(provider.calls[-1][0]) == 1  # alone, a request has a call of its own


async def test_a_small_question_never_waits_behind_a_large_call() -> None:
    """A call for many subscribers (another client's list of values) is under way, held: a
    question about one subscriber gets a call of its own at once, where it used to wait for
    the large one to end, past its own timeout (its values UNKNOWN)."""
    provider = Gated()
    manager = manager_with(("alpha", provider), provider_timeout_seconds=0.5)
    catalogue = manager.build_catalogue()
    many = [EvaluationContext(s) for s in SUBSCRIBERS[:20]]
    large = asyncio.ensure_future(manager.resolve(catalogue, many, ["alpha.count"], shared=True))
    await provider.started.wait()
    small = asyncio.ensure_future(
        manager.resolve(catalogue, [EvaluationContext("sub_x")], ["alpha.count"], shared=True)
    )
    await asyncio.sleep(0.05)
    assert [len(contexts) for contexts, _ in provider.calls] == [20, 1]
    provider.gate.set()
    assert (await small)[EvaluationContext("sub_x")]["alpha.count"].value == 0
    assert len(await large) == 20


class FailsFor(FakeProvider):
    """Answers like :func:`counting`'s provider, but fails a call whose contexts include
    ``poison``."""

    def __init__(self, poison: str) -> None:
        super().__init__(
            [number("alpha.count")], {s: {"alpha.count": i} for i, s in enumerate(SUBSCRIBERS)}
        )
        self.poison = poison

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        if any(context.subscriber_id == self.poison for context in contexts):
            self.calls.append((list(contexts), list(keys)))
            raise OSError(f"cannot read {self.poison}")
        return await super().resolve_properties(contexts, keys)


def _outcomes(answer: Any, subscribers: Sequence[str]) -> dict[str, Any]:
    return {s: answer[EvaluationContext(s)]["alpha.count"].value for s in subscribers}


async def test_a_request_split_across_batches_gets_each_batchs_own_outcome() -> None:
    """Three requests of six subscribers share a run of 18, in batches of 8: the second
    request's subscribers fall in the first two batches, the third's in the last two. The
    middle batch fails: its subscribers are UNKNOWN, and only they; a request's subscribers
    in a batch that worked get their values (they used to get the failure too)."""
    provider = FailsFor("sub_10")
    manager = manager_with(("alpha", provider), provider_batch_size=8)
    catalogue = manager.build_catalogue()
    requests = [SUBSCRIBERS[0:6], SUBSCRIBERS[6:12], SUBSCRIBERS[12:18]]
    answers = await asyncio.gather(
        *(
            manager.resolve(
                catalogue, [EvaluationContext(s) for s in subs], ["alpha.count"], shared=True
            )
            for subs in requests
        )
    )
    assert [[c.subscriber_id for c in contexts] for contexts, _ in provider.calls] == [
        SUBSCRIBERS[0:8],
        SUBSCRIBERS[8:16],
        SUBSCRIBERS[16:18],
    ]
    failure = Unknown(
        UnknownReason.PROVIDER_ERROR, "provider 'alpha' failed: OSError: cannot read sub_10"
    )
    for subs, answer in zip(requests, answers, strict=True):
        assert _outcomes(answer, subs) == {
            s: failure if s in SUBSCRIBERS[8:16] else SUBSCRIBERS.index(s) for s in subs
        }
    info = manager.info("alpha")
    assert info is not None and info.last_error == failure.detail


async def test_an_unshared_request_of_many_batches_gets_each_batchs_own_outcome() -> None:
    provider = FailsFor("sub_10")
    manager = manager_with(("alpha", provider), provider_batch_size=8)
    catalogue = manager.build_catalogue()
    subs = SUBSCRIBERS[0:18]
    answer = await manager.resolve(catalogue, [EvaluationContext(s) for s in subs], ["alpha.count"])
    failure = Unknown(
        UnknownReason.PROVIDER_ERROR, "provider 'alpha' failed: OSError: cannot read sub_10"
    )
    assert _outcomes(answer, subs) == {
        s: failure if s in SUBSCRIBERS[8:16] else i for i, s in enumerate(subs)
    }
    assert [len(contexts) for contexts, _ in provider.calls] == [8, 8, 2]
