"""Stopping a query's long work when its client hangs up.

ASGI servers do not cancel a request whose client has gone: the application learns it only by
asking ``receive()``, which answers ``http.disconnect`` once the connection is closed. Most
requests take milliseconds and are not worth watching (a watch is a task, and a pending
``receive`` per request). A query that walks the subscriber directory (``members``,
``memberCount``, ``segmentEditImpact``) can take tens of seconds and holds one of the
process's walk slots (``SEGGRAPH_BULK_CONCURRENCY``) meanwhile, so its resolvers start a
:class:`ClientWatch`: when the client hangs up, the request's task is cancelled, which stops
its walks, and a member count nobody else waits for is given up
(:mod:`seggraph.services.counts`). Mutations are never watched: their writes run to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import Message, Receive, Scope

#: Where the request's :class:`ClientWatch` is kept in its ASGI scope's ``state``.
CLIENT_WATCH = "client_watch"


class ClientWatch:
    """Cancels ``task`` (the request's) if its client hangs up between :meth:`start` and
    :meth:`stop`. Only once the request's body has been read: the watch reads ``receive``."""

    def __init__(self, receive: Receive, task: asyncio.Task[Any] | None) -> None:
        self._receive = receive
        self._task = task
        self._watcher: asyncio.Task[None] | None = None
        self._stopped = False
        self.hung_up = False
        """The client hung up while watched, and the request's task was cancelled for it."""

    def start(self) -> None:
        """Watch from now on (again and again: one watch a request)."""
        if self._watcher is None and not self._stopped and self._task is not None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        """The request's work is done (its answer is about to be sent): stop watching."""
        self._stopped = True
        if self._watcher is not None:
            self._watcher.cancel()
        # The server's receive holds the connection's state, which holds the scope, which
        # holds this watch: let go, so that no cycle waits for the garbage collector.
        self._receive = _gone
        self._task = None

    async def _watch(self) -> None:
        with contextlib.suppress(Exception):  # a receive that fails: nothing more to watch
            while True:
                message = await self._receive()
                # A GET request's empty body, which the view never reads, comes first.
                if message["type"] == "http.disconnect":
                    break
            if not self._stopped and self._task is not None:
                self.hung_up = True
                self._task.cancel("the client hung up")


async def _gone() -> Message:
    return {"type": "http.disconnect"}


def watch_client(scope: Scope, receive: Receive, task: asyncio.Task[Any] | None) -> None:
    """Start watching the request of ``scope`` (its task, ``task``), once: its client hanging
    up from now on cancels the task."""
    state = scope.setdefault("state", {})
    watch = state.get(CLIENT_WATCH)
    if watch is None:
        watch = state[CLIENT_WATCH] = ClientWatch(receive, task)
    watch.start()


def stop_watching(scope: Scope) -> ClientWatch | None:
    """The request of ``scope`` is done: its watch (if one was started) stopped and forgotten."""
    watch: ClientWatch | None = scope.get("state", {}).pop(CLIENT_WATCH, None)
    if watch is not None:
        watch.stop()
    return watch
