"""Shared reads and calls (seggraph.coalescing): a caller never gets an answer from a run that
started before it asked, callers arriving together share a run, failures reach every caller of
their run and no further."""

from __future__ import annotations

import asyncio

import pymongo
import pytest

from seggraph.coalescing import Coalescer, FreshRead
from seggraph.db import Database
from seggraph.settings import Settings


class Source:
    """A value that callers can change, read slowly (the read holds until released)."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    async def read(self) -> int:
        self.reads += 1
        seen = self.value  # the value when the read starts, as a database read would see it
        self.started.set()
        await self.gate.wait()
        return seen


async def test_a_caller_never_gets_a_read_started_before_it_asked() -> None:
    source = Source()
    shared = FreshRead(source.read)
    source.gate.clear()
    first = asyncio.ensure_future(shared())
    await source.started.wait()  # the first read is under way and has seen value 0
    source.value = 1  # a write acknowledged now, before the second caller asks
    second = asyncio.ensure_future(shared())
    await asyncio.sleep(0)
    source.gate.set()
    assert await first == 0
    assert await second == 1  # from a second read, started after it asked
    assert source.reads == 2


async def test_callers_asking_together_share_one_read() -> None:
    source = Source()
    shared = FreshRead(source.read)
    values = await asyncio.gather(*(shared() for _ in range(50)))
    assert values == [0] * 50
    assert source.reads == 1 == shared.reads


async def test_callers_arriving_during_a_read_share_the_next_one() -> None:
    source = Source()
    shared = FreshRead(source.read)
    source.gate.clear()
    first = asyncio.ensure_future(shared())
    await source.started.wait()
    later = [asyncio.ensure_future(shared()) for _ in range(20)]
    await asyncio.sleep(0)
    source.gate.set()
    await asyncio.gather(first, *later)
    assert source.reads == 2


async def test_a_failed_run_reaches_its_callers_only() -> None:
    calls: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        calls.append(items)
        if -1 in items:
            raise ValueError("refused")
        return [i * 10 for i in items]

    shared: Coalescer[int, int] = Coalescer(run)
    failed = await asyncio.gather(shared(1), shared(-1), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in failed)
    assert await asyncio.gather(shared(2), shared(3)) == [20, 30]
    assert calls == [[1, -1], [2, 3]]


async def test_each_caller_gets_its_own_output() -> None:
    async def run(items: list[str]) -> list[str]:
        await asyncio.sleep(0.001)
        return [item.upper() for item in items]

    shared: Coalescer[str, str] = Coalescer(run)
    words = [f"w{i}" for i in range(30)]
    assert await asyncio.gather(*(shared(w) for w in words)) == [w.upper() for w in words]
    assert shared.runs == 1


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    source = Source()
    shared = FreshRead(source.read)
    source.gate.clear()
    leaving = asyncio.ensure_future(shared())
    staying = asyncio.ensure_future(shared())
    await source.started.wait()
    leaving.cancel()
    source.value = 7
    source.gate.set()
    assert await staying == 0
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await shared() == 7


async def test_a_run_answering_the_wrong_number_of_outputs_is_an_error() -> None:
    async def run(items: list[int]) -> list[int]:
        return []

    shared: Coalescer[int, int] = Coalescer(run)
    with pytest.raises(RuntimeError, match="1 inputs"):
        await shared(1)


async def test_a_run_does_not_carry_the_deadline_of_the_caller_that_started_it(
    settings: Settings,
) -> None:
    """A mutation's database work runs under a deadline (seggraph.api.deadlines). A run it
    starts serves the callers that ask meanwhile too, and under load it goes on serving
    them: its database calls must not fail once that one mutation's deadline has passed."""
    assert settings.mongodb_uri
    database = Database(settings.mongodb_uri, settings.database)
    gate = asyncio.Event()

    async def ping(inputs: list[int]) -> list[int]:
        await gate.wait()
        await database.client.admin.command("ping")
        return inputs

    shared: Coalescer[int, int] = Coalescer(ping)
    try:
        with pymongo.timeout(0.05):  # the first caller's deadline
            first = asyncio.ensure_future(shared(1))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(shared(2))  # a caller without one
        await asyncio.sleep(0.2)  # the first caller's deadline has passed
        gate.set()
        assert await asyncio.gather(first, second) == [1, 2]
    finally:
        await database.close()


async def test_a_run_s_database_work_is_bounded_by_the_coalescer_s_timeout(
    settings: Settings,
) -> None:
    """A run has a context of its own, so no caller's deadline bounds it: one on a database
    that stopped answering held every caller waiting on it for the 20 to 30 s PyMongo takes to
    give the server up. With a timeout, its database work fails as timed out, for every caller,
    once that much time has passed (here spent before the ping)."""
    assert settings.mongodb_uri
    database = Database(settings.mongodb_uri, settings.database)

    async def slow_ping(inputs: list[int]) -> list[int]:
        await asyncio.sleep(0.2)  # the run's 0.05 s are spent
        await database.client.admin.command("ping")
        return inputs

    shared: Coalescer[int, int] = Coalescer(slow_ping, timeout=0.05)
    try:
        answers = await asyncio.gather(shared(1), shared(2), return_exceptions=True)
        assert all(isinstance(a, pymongo.errors.PyMongoError) and a.timeout for a in answers)
        # A caller's own deadline does not reach it either way; one without a timeout pings.
        assert await Coalescer(slow_ping)(3) == 3
    finally:
        await database.close()
