"""The member counts under way in the process, who waits for them, and giving up on a count
nobody waits for any more; and what one request asks together (its counts, its evaluated
pages of members), answered together by one task.

A count that evaluates every subscriber walks the whole directory (tens of seconds over
100,000 subscribers) in a task of its own, not in the request that asked: requests asking for
the same count of the same segment version at once share it (two people opening the same
list), and one request's counts are walked together. That task holds one of the process's
walk slots (``SEGGRAPH_BULK_CONCURRENCY``) until it ends, so a client that hangs up (a page
closed, a frontend's timeout) must not leave it walking for nobody while other counts wait
for a slot. :class:`CountsUnderWay` counts the requests waiting for each count; when the last
of them leaves (its request cancelled because its client hung up, :mod:`seggraph.web.disconnect`)
and no other count of the same task is still waited for, the task is cancelled. A request's
pages of members are asked with its counts (:class:`AskedTogether`: one walk for the counts and
pages that are not pushed down) and waited for through the same :class:`CountsUnderWay`: a
page is never shared with another request, but a walk making counts and pages nobody waits
for any more stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from typing import Generic, TypeVar

from seggraph.coalescing import retrieve_outcome
from seggraph.domain.segments import Mode
from seggraph.services.properties import SETTLE_TICKS

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")


class CountsUnderWay(Generic[T]):
    """Shared by the process's requests (one per :class:`~seggraph.services.container.Services`)."""

    def __init__(self) -> None:
        self.shared: dict[Hashable, asyncio.Future[T]] = {}
        """The counts another request asking for the same count joins, by their key."""
        self._waiters: dict[asyncio.Future[T], int] = {}
        self._maker: dict[asyncio.Future[T], asyncio.Task[None]] = {}
        self._made_by: dict[asyncio.Task[None], list[asyncio.Future[T]]] = {}
        self._follows: dict[asyncio.Future[T], asyncio.Future[T]] = {}

    def share(self, key: Hashable, future: asyncio.Future[T]) -> None:
        """``future`` is the count under way for ``key`` until it is done (or another count
        is shared under ``key``)."""
        self.shared[key] = future

        def done(finished: asyncio.Future[T]) -> None:
            if self.shared.get(key) is finished:
                del self.shared[key]

        future.add_done_callback(done)

    def joinable(self, future: asyncio.Future[T] | None) -> asyncio.Future[T] | None:
        """``future``, unless it is ``None``, cancelled, or made by a task being cancelled
        (given up, or the server stopping: the task takes a turn or more to end it, and a
        request asking meanwhile, even the one that gave it up, must start a count of its
        own rather than wait for a cancellation)."""
        if future is None or future.cancelled():
            return None
        task = self._maker.get(future)
        return None if task is not None and task.cancelling() else future

    def made_by(self, future: asyncio.Future[T], task: asyncio.Task[None]) -> None:
        """``task`` answers ``future`` (it may answer others too)."""
        self._maker[future] = task
        futures = self._made_by.get(task)
        if futures is None:
            futures = self._made_by[task] = []
            task.add_done_callback(self._task_done)
        futures.append(future)

    def follow(self, follower: asyncio.Future[T], followed: asyncio.Future[T]) -> None:
        """``follower`` is answered by ``followed`` (another task's count): while anyone waits
        for ``follower``, ``followed`` counts as waited for."""
        self._follows[follower] = followed
        self._hold(followed)
        follower.add_done_callback(self._follower_done)

    async def wait(self, future: asyncio.Future[T]) -> T:
        """``future``'s answer. The caller counts as waiting for it until this returns or is
        cancelled; the count itself is never cancelled by a caller leaving (``shield``),
        only by :meth:`_release` once nobody waits."""
        self._hold(future)
        try:
            return await asyncio.shield(future)
        finally:
            self._release(future)

    def waiting(self, future: asyncio.Future[T]) -> int:
        """How many wait for ``future`` (requests, and counts that follow it)."""
        return self._waiters.get(future, 0)

    def _hold(self, future: asyncio.Future[T]) -> None:
        self._waiters[future] = self._waiters.get(future, 0) + 1

    def _release(self, future: asyncio.Future[T]) -> None:
        left = self._waiters.get(future, 1) - 1
        if left > 0:
            self._waiters[future] = left
            return
        self._waiters.pop(future, None)
        if future.done():
            return
        followed = self._follows.pop(future, None)
        if followed is not None:
            self._release(followed)
        task = self._maker.get(future)
        if task is None or task.done():
            return
        made = self._made_by.get(task, [])
        if any(self._waiters.get(f, 0) for f in made):
            return
        log.info(
            "a walk over the directory (member counts, pages of members) was given up: no "
            "request waits for it any more (its client hung up, or the field asking for it was "
            "cancelled)"
        )
        task.cancel()  # from now on its counts are not joinable

    def _follower_done(self, follower: asyncio.Future[T]) -> None:
        followed = self._follows.pop(follower, None)
        if followed is not None:
            self._release(followed)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        for future in self._made_by.pop(task, ()):
            if self._maker.get(future) is task:
                del self._maker[future]


#: What a request asked, with the future its answer is given to.
Asked = tuple[A, asyncio.Future[T]]


class AskedTogether(Generic[A, T]):
    """What one request asks within ``SETTLE_TICKS`` turns of the event loop (the fields of a
    page of segments ask a few turns apart, nested ones later), answered together by one task
    of its own: ``answer(mode, asked)`` for what was asked in each mode, which gives each
    future its answer. The task is the maker of each future in ``under_way``, so it is
    cancelled once nobody waits for any of them; it fails with the error (or ends with the
    cancellation) every future it did not answer, but those in ``answered_elsewhere``."""

    def __init__(
        self,
        answer: Callable[[Mode, Sequence[Asked[A, T]]], Awaitable[None]],
        under_way: CountsUnderWay[T],
        answered_elsewhere: Collection[asyncio.Future[T]] = (),
    ) -> None:
        self._answer = answer
        self._under_way = under_way
        self._elsewhere = answered_elsewhere
        self._queued: list[tuple[Mode, A, asyncio.Future[T]]] = []
        """Asked and not yet started: what is asked now joins them."""
        self._task: asyncio.Task[None] | None = None
        """The task that will answer what is queued now."""
        self._tasks: set[asyncio.Task[None]] = set()

    def ask(self, mode: Mode, item: A) -> asyncio.Future[T]:
        """A future for ``item``'s answer, given by the task answering what the request asks
        now (a new one unless one is open and not given up)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        task = self._task
        if task is None or task.cancelling():  # none, or one given up: a new one answers it
            self._queued = []
            task = self._task = asyncio.ensure_future(self._answer_queued(self._queued))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._queued.append((mode, item, future))
        self._under_way.made_by(future, task)
        return future

    async def _answer_queued(self, queued: list[tuple[Mode, A, asyncio.Future[T]]]) -> None:
        """Answer ``queued`` (this task's own list) once the event loop has turned
        ``SETTLE_TICKS`` times, as the request's property batcher waits for its loads."""
        try:
            for _ in range(SETTLE_TICKS):
                await asyncio.sleep(0)
        except BaseException as exc:  # cancelled meanwhile: what is queued ends with it
            self._fail([(item, future) for _, item, future in queued], exc)
            raise
        finally:
            if self._queued is queued:  # what is asked from now on starts a task of its own
                self._queued = []
                self._task = None
        by_mode: dict[Mode, list[Asked[A, T]]] = {}
        for mode, item, future in queued:
            by_mode.setdefault(mode, []).append((item, future))
        answering = list(by_mode.items())
        try:
            for mode, asked in answering:
                try:
                    await self._answer(mode, asked)
                except Exception as exc:  # noqa: BLE001 - every one asked gets it, none hangs
                    self._fail(asked, exc)
        except BaseException as exc:  # cancelled (given up, or the server stopping)
            for _, asked in answering:
                self._fail(asked, exc)
            raise

    def _fail(self, asked: Sequence[Asked[A, T]], exc: BaseException) -> None:
        for _, future in asked:
            if not future.done() and future not in self._elsewhere:
                fail(future, exc)


def fail(future: asyncio.Future[T], error: BaseException) -> None:
    """``future`` ends with ``error`` (cancelled, for a cancellation), retrieved when nobody
    awaits it any more."""
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)
        future.add_done_callback(retrieve_outcome)
