"""Sharing one read, or one provider call, among the requests that ask for it at once.

Under load, many requests ask the database the same small question at the same moment (has
a segment been written? has the custom-property catalogue changed?) or ask one provider for
values of different subscribers. Each answer costs a round trip and, in the client, far more
CPU than the work the request does with it. A :class:`Coalescer` lets them share:

- Every caller waits for a run that *starts after it asked*. A run already under way when a
  caller arrives is never reused for it: the caller waits for the next one. So a caller sees
  every write acknowledged before it asked, exactly as if it had made the read itself; this is
  what separates it from a "single-flight" cache, which would hand it an answer started
  earlier.
- One run at a time. The callers that arrive while a run is under way are collected, and when
  it ends they are served together by the next run. At low load a caller finds nothing under
  way and its run starts at once (one event-loop iteration later); under load, N callers cost
  about one run instead of N, at the price of waiting for the run under way to end.

A coalescer belongs to one event loop; used from another (tests start one per test), it starts
afresh there.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import pymongo

I = TypeVar("I")  # noqa: E741 - input, beside O for output
O = TypeVar("O")  # noqa: E741
T = TypeVar("T")


def retrieve_outcome(future: asyncio.Future[Any]) -> None:
    """A done callback for a future that nobody may await any more (its callers gone, a call
    given up on): retrieve its exception, so that it is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()


class Coalescer(Generic[I, O]):
    """Runs ``run(inputs)`` for every input submitted before that run started, one run at a
    time; ``run`` answers one output per input, in order. An exception raised by ``run``
    reaches every caller of that run."""

    def __init__(
        self, run: Callable[[list[I]], Awaitable[Sequence[O]]], timeout: float | None = None
    ) -> None:
        self._run = run
        self._timeout = timeout
        """Seconds each run's database operations may take together (``None``: PyMongo's
        defaults). A run has a context of its own, so no caller's deadline bounds it: without
        one, a run on a database that stopped answering (a hung host) held every caller for
        the 20 to 30 s PyMongo takes to give the server up."""
        self._inputs: list[I] = []
        self._futures: list[asyncio.Future[O]] = []
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Runs made so far (to see, and test, how much was shared).
        self.runs = 0
        #: Whether a run is under way (a caller submitting now waits for it to end first).
        self._running = False

    @property
    def running(self) -> bool:
        """Whether a run is under way in the current event loop: an input submitted now waits
        for it to end, then for its own run."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self._running and loop is self._loop

    def submit(self, item: I) -> asyncio.Future[O]:
        """A future for ``item``'s output, from a run that starts after this call."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._inputs, self._futures, self._runner = loop, [], [], None
        future: asyncio.Future[O] = loop.create_future()
        future.add_done_callback(retrieve_outcome)
        self._inputs.append(item)
        self._futures.append(future)
        if self._runner is None:
            # A context of its own, not the first caller's: the runs serve every caller, and
            # may go on long after that one is answered, so none of its context (a mutation's
            # database deadline, :mod:`seggraph.api.deadlines`) may reach them.
            self._runner = loop.create_task(self._serve(), context=contextvars.Context())
        return future

    async def __call__(self, item: I) -> O:
        # A caller cancelled (its request gone) cancels its own future only: the run the
        # others wait for is a task of its own, which passes over a future already done.
        return await self.submit(item)

    async def _serve(self) -> None:
        try:
            while self._inputs:
                inputs, futures = self._inputs, self._futures
                self._inputs, self._futures = [], []
                self.runs += 1
                self._running = True
                try:
                    with pymongo.timeout(self._timeout):
                        outputs = await self._run(inputs)
                    if len(outputs) != len(inputs):
                        raise RuntimeError(
                            f"a coalesced run answered {len(outputs)} outputs for "
                            f"{len(inputs)} inputs"
                        )
                except Exception as exc:  # noqa: BLE001 - handed to every caller of the run
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
                for future, output in zip(futures, outputs, strict=True):
                    if not future.done():
                        future.set_result(output)
        finally:
            self._runner = None
            self._running = False
            if self._inputs:  # cancelled with callers waiting: they are not left hanging
                for future in self._futures:
                    future.cancel()
                self._inputs, self._futures = [], []


class FreshRead(Generic[T]):
    """One read (``read()``) shared by the callers that asked before it started: each caller
    gets a value read after it asked (see the module's docstring)."""

    def __init__(self, read: Callable[[], Awaitable[T]], timeout: float | None = None) -> None:
        """``timeout``: as :class:`Coalescer`'s."""
        self._read = read
        self._shared: Coalescer[None, T] = Coalescer(self._run, timeout)

    async def _run(self, callers: list[None]) -> list[T]:
        value = await self._read()
        return [value] * len(callers)

    async def __call__(self) -> T:
        return await self._shared(None)

    @property
    def reads(self) -> int:
        """Reads made so far."""
        return self._shared.runs
