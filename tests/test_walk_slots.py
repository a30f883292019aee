"""The walk slots (seggraph.services.walk_slots): a slot that frees goes to the waiting owner
holding the fewest, the earliest waiting among equals, an owner's walks in the order they
came; a walk cancelled while it waits takes no slot, and one cancelled as it is granted a slot
passes it on.

The walks are tasks holding a slot until the test ends them; ``settle`` lets every task that
can run do so (no clocks)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from seggraph.services.walk_slots import FairSlots


class Walks:
    """Fake walks over ``slots``, each named, holding its slot until :meth:`end`; ``started``
    is the order they got one in."""

    def __init__(self, slots: FairSlots) -> None:
        self.slots = slots
        self.started: list[str] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._ends: dict[str, asyncio.Event] = {}

    def start(self, owner: str, *names: str) -> None:
        for name in names:
            end = self._ends[name] = asyncio.Event()
            self.tasks[name] = asyncio.ensure_future(self._walk(owner, name, end))

    async def _walk(self, owner: str, name: str, end: asyncio.Event) -> None:
        async with self.slots.hold(owner):
            self.started.append(name)
            await end.wait()

    async def end(self, *names: str) -> None:
        for name in names:
            self._ends[name].set()
            await settle()

    async def all_slots_serve(self, slots: int) -> bool:
        """Whether ``slots`` new walks (of an owner of their own) all start at once, once
        every walk started so far has ended."""
        await self.end(*(n for n, e in self._ends.items() if not e.is_set()))
        fresh = [f"fresh{i}" for i in range(slots)]
        self.start("fresh", *fresh)
        await settle()
        started = self.started[-slots:] == fresh and self.slots.waiting == 0
        await self.end(*fresh)
        return started and all(task.done() for task in self.tasks.values())


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_freed_slot_goes_to_the_client_holding_fewer_then_each_client_in_order() -> None:
    """Two slots: A runs two walks and queues four more, then B queues one. When one of A's
    ends, B's starts (B holds none, A one); A's go on in the order A sent them."""
    walks = Walks(FairSlots(2))
    walks.start("A", "a1", "a2", "a3", "a4", "a5", "a6")
    await settle()
    assert walks.started == ["a1", "a2"]
    walks.start("B", "b1")
    await settle()
    assert walks.slots.waiting == 5

    await walks.end("a1")
    assert walks.started == ["a1", "a2", "b1"]
    await walks.end("a2")  # A holds none, B one: A's next
    assert walks.started == ["a1", "a2", "b1", "a3"]
    await walks.end("b1", "a3", "a4")
    assert walks.started == ["a1", "a2", "b1", "a3", "a4", "a5", "a6"]
    assert await walks.all_slots_serve(2)


async def test_the_fewest_held_goes_first_then_the_client_served_longest_ago() -> None:
    """Three slots, A holding two and B one; A, B, C and D queue one walk each, in that
    order. Clients holding as many go by when they were last served (a walk of theirs
    started), those not served yet first, the one whose walk came first."""
    walks = Walks(FairSlots(3))
    walks.start("A", "a1", "a2")
    walks.start("B", "b1")
    await settle()
    walks.start("A", "a3")
    walks.start("B", "b2")
    walks.start("C", "c1")
    walks.start("D", "d1")
    await settle()
    assert walks.started == ["a1", "a2", "b1"]

    await walks.end("a1")  # A and B hold one each, C and D none: C's walk came first
    assert walks.started[3:] == ["c1"]
    await walks.end("c1")
    assert walks.started[3:] == ["c1", "d1"]
    await walks.end("d1")  # A and B hold one each: A was served (a2) before B (b1)
    assert walks.started[3:] == ["c1", "d1", "a3"]
    await walks.end("a2")
    assert walks.started[3:] == ["c1", "d1", "a3", "b2"]
    assert await walks.all_slots_serve(3)


async def test_one_slot_goes_round_the_busy_clients() -> None:
    """One slot, three clients queueing three walks each, one client after the other: each
    client's first walk, then each one's second, then each one's third. (By the oldest
    waiting walk alone, A and B would take turns until they had nothing left.)"""
    walks = Walks(FairSlots(1))
    for owner in "ABC":
        walks.start(owner, *(f"{owner.lower()}{i}" for i in (1, 2, 3)))
    await settle()
    for name in ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3"]:
        await walks.end(name)
    assert walks.started == ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]
    assert await walks.all_slots_serve(1)


async def test_a_walk_cancelled_while_it_waits_frees_nothing_and_loses_no_slot() -> None:
    """Its client hung up: it leaves the queue; the walks running go on, the others wait as
    they did, and every slot still serves."""
    walks = Walks(FairSlots(2))
    walks.start("A", "a1", "a2", "a3", "a4")
    walks.start("B", "b1")
    await settle()
    walks.tasks["a3"].cancel()
    walks.tasks["b1"].cancel()
    await settle()
    assert walks.tasks["a3"].cancelled() and walks.tasks["b1"].cancelled()
    assert walks.started == ["a1", "a2"]  # nothing freed, nothing started
    assert walks.slots.waiting == 1  # a4

    walks.start("B", "b2")
    await settle()
    await walks.end("a1")  # B holds none: b2 before a4, and a3 is gone
    assert walks.started == ["a1", "a2", "b2"]
    await walks.end("a2")
    assert walks.started == ["a1", "a2", "b2", "a4"]
    assert await walks.all_slots_serve(2)


@pytest.mark.parametrize("slots", [1, 2])
async def test_a_slot_granted_to_a_walk_cancelled_at_that_moment_is_passed_on(slots: int) -> None:
    """A walk of A's held by the test ends, and its slot is granted to B's first walk (B
    holds no more than A and was not served yet), which is cancelled before it can start.
    The slot goes to the walk next in line as if B's first had never waited: B's second, not
    A's; and afterwards every slot still serves."""
    walks = Walks(FairSlots(slots))
    async with walks.slots.hold("A"):
        walks.start("A", *(f"a{i}" for i in range(2, slots + 1)), "a_next")
        walks.start("B", "b1", "b2")
        await settle()
        running = walks.started[:]
        assert len(running) == slots - 1
        assert walks.slots.waiting == 3
    # The block's end granted the slot to b1 (waiting no more), which has not run yet.
    assert walks.slots.waiting == 2
    walks.tasks["b1"].cancel()
    await settle()
    assert walks.tasks["b1"].cancelled()
    assert walks.started == [*running, "b2"]
    await walks.end("b2")
    assert walks.started == [*running, "b2", "a_next"]
    await walks.end(*running, "a_next")

    # Again with nobody else waiting: the slot is free again.
    async with contextlib.AsyncExitStack() as holding:
        for _ in range(slots):
            await holding.enter_async_context(walks.slots.hold("A"))
        walks.start("C", "c1")
        await settle()
    walks.tasks["c1"].cancel()
    await settle()
    assert walks.tasks["c1"].cancelled() and "c1" not in walks.started
    assert await walks.all_slots_serve(slots)
