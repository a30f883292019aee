"""Resolving property values: the process-wide resolver and the per-request batcher.

A GraphQL request (or an evaluation) asks for values from many places at once: several fields,
several segments, several conditions, several subscribers. :class:`PropertyBatcher` collects
every ``load`` made while the event loop is busy starting those resolvers, then asks the plugin
manager once for the union — one call per provider per batch of contexts — and caches what it
got, so asking again for a value already fetched costs nothing. Build one per request
(:meth:`PropertyResolver.batcher`); never share one between requests or event loops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Sequence
from functools import partial
from typing import Any

from seggraph.catalogue import Catalogue
from seggraph.coalescing import retrieve_outcome
from seggraph.domain.context import EvaluationContext
from seggraph.evaluation.values import ResolvedValue
from seggraph.plugins.manager import PluginManager, Resolved

#: How many times the batcher lets the event loop run before it dispatches: resolvers started
#: by one ``gather`` reach their ``load`` a few loop iterations apart (nested fields later).
SETTLE_TICKS = 3


class PropertyResolver:
    """Property values and suggestions for the whole process, through the plugin manager."""

    def __init__(
        self, plugins: Callable[[], PluginManager], catalogue: Callable[[], Catalogue]
    ) -> None:
        self._plugins = plugins
        self._catalogue = catalogue

    @property
    def plugins(self) -> PluginManager:
        return self._plugins()

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue()

    async def resolve(
        self,
        contexts: Sequence[EvaluationContext],
        keys: Iterable[str],
        *,
        timeout: float | None = None,
        shared: bool = False,
    ) -> Resolved:
        """Values right now, each provider call under ``timeout`` (the provider timeout by
        default). ``shared``: a provider call may serve other requests asking at the same
        moment (see ``PluginManager.resolve``); bulk questions are not shared."""
        return await self.plugins.resolve(
            self.catalogue, contexts, keys, timeout=timeout, shared=shared
        )

    async def suggest(self, key: str, prefix: str = "", limit: int = 10) -> list[Any]:
        return await self.plugins.suggest(self.catalogue, key, prefix, limit)

    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        """A page of the subscriber directory (see ``PluginManager.subscriber_ids``)."""
        return await self.plugins.subscriber_ids(after, limit)

    def batcher(self) -> PropertyBatcher:
        """A new batcher, for one request."""
        return PropertyBatcher(self)


class PropertyBatcher:
    """Per-request, DataLoader-style: coalesces loads, one resolve per provider per batch."""

    def __init__(self, resolver: PropertyResolver) -> None:
        self._resolver = resolver
        self._values: dict[EvaluationContext, dict[str, ResolvedValue]] = {}
        self._inflight: dict[EvaluationContext, dict[str, asyncio.Future[None]]] = {}
        """Per context, the keys asked and not yet answered, with the round that asks them."""
        self._pending: dict[EvaluationContext, set[str]] = {}
        self._round: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Dispatches made so far (each is one call per provider concerned).
        self.dispatches = 0

    async def load(
        self, context: EvaluationContext, keys: Iterable[str]
    ) -> dict[str, ResolvedValue]:
        """The values of ``keys`` for one context."""
        found = await self.load_many([context], keys)
        return found[context]

    async def load_many(
        self,
        contexts: Iterable[EvaluationContext],
        keys: Iterable[str],
        *,
        along: Along | Collection[str] = (),
    ) -> dict[EvaluationContext, dict[str, ResolvedValue]]:
        """The values of ``keys`` for each of ``contexts``. ``along``: keys to ask in the same
        call when a context's ``keys`` need one (not returned; later loads find them here), or
        a function giving them from the keys that need the call (the catalogue's
        ``with_siblings``: their read groups)."""
        wanted_keys = list(dict.fromkeys(keys))
        wanted_contexts = list(dict.fromkeys(contexts))
        along = _along(along)
        waits: set[asyncio.Future[None]] = set()
        for context in wanted_contexts:
            self._ask(context, wanted_keys, along, waits)
        if len(waits) == 1:  # the usual case: one round, awaited without a gathering task
            await next(iter(waits))
        elif waits:
            await asyncio.gather(*waits)
        values = self._values
        return {
            context: {key: values[context][key] for key in wanted_keys}
            for context in wanted_contexts
        }

    def prefetch(
        self,
        context: EvaluationContext,
        keys: Iterable[str],
        *,
        along: Along | Collection[str] = (),
    ) -> None:
        """Start reading ``keys`` (and ``along``, as :meth:`load_many` does) for ``context``
        without waiting: a later :meth:`load_many` of them waits for this read instead of
        making its own. What nobody asks for afterwards is read for nothing. Its round asks
        at once, without the :data:`SETTLE_TICKS` a load lets pass for the request's other
        loads to join: a prefetch is made before any field runs, so there are none yet."""
        rounds: set[asyncio.Future[None]] = set()
        self._ask(context, list(dict.fromkeys(keys)), _along(along), rounds, settle=0)
        for round_ in rounds:  # a failed round may be awaited by no one
            round_.add_done_callback(retrieve_outcome)

    def _ask(
        self,
        context: EvaluationContext,
        keys: list[str],
        along: Along,
        waits: set[asyncio.Future[None]],
        settle: int = SETTLE_TICKS,
    ) -> None:
        """Add to ``waits`` the rounds that answer ``keys`` for ``context``: the rounds already
        reading some of them, and a new one for the others (with ``along``, or what it gives
        for them)."""
        known = self._values.get(context, _NOTHING)
        flying = self._inflight.get(context, _NOTHING)
        missing: list[str] = []
        for key in keys:
            if key in known:
                continue
            inflight = flying.get(key)
            if inflight is None:
                missing.append(key)
            else:
                waits.add(inflight)
        if missing:
            # Set operations: ``along`` is a provider's every key, forty or more.
            asked_along = along(frozenset(missing)) if callable(along) else along
            extra = asked_along.difference(missing, known, flying)
            waits.add(self._enqueue(context, [*missing, *extra], settle))

    async def resolve(
        self, contexts: Sequence[EvaluationContext], keys: Iterable[str]
    ) -> dict[EvaluationContext, dict[str, ResolvedValue]]:
        """The same as :meth:`load_many` (so a batcher serves wherever a value source does)."""
        return await self.load_many(contexts, keys)

    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        """A page of the subscriber directory (not batched: pages are already large)."""
        return await self._resolver.subscriber_ids(after, limit)

    def _enqueue(
        self, context: EvaluationContext, keys: list[str], settle: int
    ) -> asyncio.Future[None]:
        round_ = self._round
        if round_ is None:
            loop = asyncio.get_running_loop()
            round_ = self._round = loop.create_future()
            task = loop.create_task(self._dispatch(round_, settle))
            self._tasks.add(task)
            task.add_done_callback(partial(self._dispatched, round_))
        self._pending.setdefault(context, set()).update(keys)
        self._inflight.setdefault(context, {}).update(dict.fromkeys(keys, round_))
        return round_

    async def _dispatch(self, round_: asyncio.Future[None], settle: int) -> None:
        pending: dict[EvaluationContext, set[str]] | None = None
        try:
            for _ in range(settle):
                await asyncio.sleep(0)
            pending = self._take_pending()
            contexts = list(pending)
            keys = sorted(set().union(*pending.values()))
            self.dispatches += 1
            resolved = await self._resolver.resolve(contexts, keys, shared=True)
            for context, values in resolved.items():
                self._values.setdefault(context, {}).update(values)
            self._forget(pending)
            round_.set_result(None)
        except BaseException as exc:
            if pending is None:  # ended before taking its keys: they are still the pending ones
                pending = self._take_pending()
            self._forget(pending)
            if not round_.done():
                round_.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    def _dispatched(self, round_: asyncio.Future[None], task: asyncio.Task[None]) -> None:
        """A dispatch ended. One cancelled before it ran (its ``try`` never entered) leaves
        its round unanswered: the keys still pending are forgotten and the round cancelled,
        so its waiters are not left waiting for ever."""
        self._tasks.discard(task)
        if round_.done():
            return
        if self._round is round_:
            self._forget(self._take_pending())
        round_.cancel()

    def _take_pending(self) -> dict[EvaluationContext, set[str]]:
        """The keys enqueued for the round about to ask (or to give up), per context; the
        next load starts a round of its own."""
        pending, self._pending = self._pending, {}
        self._round = None
        return pending

    def _forget(self, asked: dict[EvaluationContext, set[str]]) -> None:
        """The keys a round ``asked`` (per context) are no longer in flight (answered, or
        failed). A key is enqueued only while it is not in flight, so each of them is in
        flight with that round alone."""
        for context, keys in asked.items():
            in_flight = self._inflight.get(context)
            if in_flight is None:
                continue
            if len(in_flight) == len(keys):  # the usual case: no other round asks about it
                del self._inflight[context]
                continue
            for key in keys:
                in_flight.pop(key, None)
            if not in_flight:
                del self._inflight[context]


_NOTHING: dict[str, Any] = {}

#: What a load asks for along with the keys it needs: keys, or a function of those keys.
Along = frozenset[str] | Callable[[frozenset[str]], frozenset[str]]


def _along(along: Along | Collection[str]) -> Along:
    if callable(along) or isinstance(along, frozenset):
        return along
    return frozenset(along)
