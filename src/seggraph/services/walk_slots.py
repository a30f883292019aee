"""The process's walk slots, shared fairly between clients.

A walk over the whole subscriber directory (an evaluated ``members`` page, a count,
``segmentEditImpact``) holds one of ``SEGGRAPH_BULK_CONCURRENCY`` slots while it runs. Served
first come, first served (an :class:`asyncio.Semaphore`), a client sending many walks at once
(a dashboard counting page after page of segments, a script looping over ``members``) queued
them all ahead of another client's one walk. :class:`FairSlots` serves the waiting walks by
their owner (the client) instead:

- a slot that frees goes to the waiting owner holding the fewest slots once it is free;
- among owners holding as many, to the one served longest ago: an owner is served when one of
  its walks starts, and forgets it once it has no walk running or waiting; owners not served
  yet go first, the one whose oldest waiting walk came first;
- an owner's own walks start in the order they came.

Breaking ties by the oldest waiting walk alone would serve one slot first come, first served
(the owner whose walk ends holds none either, and its queue came first), and let two busy
owners take turns ahead of a third for as long as they had walks waiting.

asyncio's ``Semaphore`` serves its waiters in the order they came, and so does anyio's
``CapacityLimiter`` (installed with Starlette; it lends one token per borrower): neither picks
a waiter by what its owner holds when a slot frees.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field

#: An owner's turn when it has not been served since it last had no walk running or waiting.
NOT_SERVED = -1


@dataclass(eq=False)
class _Waiter:
    came: int
    """When it came (on the slots' clock)."""
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    turn: int = NOT_SERVED
    """The turn its owner was given when the waiter was granted a slot."""
    turn_before: int = NOT_SERVED
    """Its owner's turn before that (put back if the waiter cannot take the slot)."""


class FairSlots:
    """``slots`` slots, each held by one walk of an owner (any hashable: the client)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"at least one slot is needed, got {slots}")
        self._free = slots
        self._clock = itertools.count()
        """Orders the walks' coming and starting."""
        self._held: dict[Hashable, int] = {}
        """How many slots each owner holding any holds."""
        self._waiting: dict[Hashable, deque[_Waiter]] = {}
        """Each waiting owner's walks, in the order they came; a waiter cancelled before it
        was granted a slot may stay here until a grant skips it."""
        self._turns: dict[Hashable, int] = {}
        """When each owner holding or waiting was last served (a walk of its started)."""
        self._queued = 0

    @property
    def waiting(self) -> int:
        """How many walks wait for a slot (read from any thread)."""
        return self._queued

    @contextlib.asynccontextmanager
    async def hold(self, owner: Hashable) -> AsyncIterator[None]:
        """Hold one slot for ``owner`` while the block runs, waiting for it if none is free."""
        await self._acquire(owner)
        try:
            yield
        finally:
            self._release(owner)

    async def _acquire(self, owner: Hashable) -> None:
        if self._free:  # a slot is free only while nobody waits (_release grants it)
            self._free -= 1
            self._take(owner)
            return
        waiter = _Waiter(next(self._clock))
        self._waiting.setdefault(owner, deque()).append(waiter)
        self._queued += 1
        try:
            await waiter.granted
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled():
                # Granted a slot and cancelled before it could start: the slot goes on, and
                # the owner's turn is as if this walk had not waited (unless another of its
                # walks was served since).
                if self._turns.get(owner) == waiter.turn:
                    self._turns[owner] = waiter.turn_before
                self._release(owner)
            else:
                self._leave(owner, waiter)
            raise

    def _take(self, owner: Hashable) -> int:
        """``owner`` holds one more slot, served now: its turn."""
        self._held[owner] = self._held.get(owner, 0) + 1
        turn = self._turns[owner] = next(self._clock)
        return turn

    def _release(self, owner: Hashable) -> None:
        held = self._held[owner] - 1
        if held:
            self._held[owner] = held
        else:
            del self._held[owner]
            self._forget_if_idle(owner)
        if not self._grant():
            self._free += 1

    def _leave(self, owner: Hashable, waiter: _Waiter) -> None:
        """A waiter cancelled before it was granted a slot leaves the queue (unless a grant
        skipped it already)."""
        queue = self._waiting.get(owner)
        if queue is None or waiter not in queue:
            return
        queue.remove(waiter)
        self._queued -= 1
        if not queue:
            del self._waiting[owner]
            self._forget_if_idle(owner)

    def _forget_if_idle(self, owner: Hashable) -> None:
        if owner not in self._held and owner not in self._waiting:
            self._turns.pop(owner, None)

    def _grant(self) -> bool:
        """Give a slot to the next waiter, if any (see the module's rules)."""
        best: tuple[tuple[int, int, int], Hashable] | None = None
        for owner, queue in list(self._waiting.items()):
            while queue and queue[0].granted.done():  # cancelled, not yet gone
                queue.popleft()
                self._queued -= 1
            if not queue:
                del self._waiting[owner]
                self._forget_if_idle(owner)
                continue
            rank = (
                self._held.get(owner, 0),
                self._turns.get(owner, NOT_SERVED),
                queue[0].came,
            )
            if best is None or rank < best[0]:
                best = (rank, owner)
        if best is None:
            return False
        owner = best[1]
        queue = self._waiting[owner]
        waiter = queue.popleft()
        self._queued -= 1
        if not queue:
            del self._waiting[owner]
        waiter.turn_before = self._turns.get(owner, NOT_SERVED)
        waiter.turn = self._take(owner)
        waiter.granted.set_result(None)
        return True
