"""A bound on the requests in flight (``SEGGRAPH_MAX_CONCURRENT_REQUESTS``).

Without one, a burst of slow queries (member walks, counts) all run at once: memory grows and
every request slows down until the clients time out. Past the bound a request is answered at
once with 503 and ``Retry-After: 1``, in the route's error shape (GraphQL's ``errors`` on
``/graphql``, code ``OVERLOADED``), rather than waiting behind the others. uvicorn's
``limit_concurrency`` counts connections (a browser's idle keep-alive one too) and answers in
plain text, which GraphQL clients cannot read.

A request counts from when its body has arrived whole, not from when it arrives: one still
sending its body does no work yet, and uvicorn gives no time limit to a body, so that anyone
sending a body one byte at a time (the billing webhook reads its whole body before it checks
the signature) would otherwise hold a place as long as they liked, and a few hundred such
connections would shut the API out. A request without a body (a GET or HEAD, whatever it
sends, or no ``Content-Length``, or ``Content-Length: 0``, and no ``Transfer-Encoding``)
counts at once; one that is answered without its body read whole (a 401 before it, a 413)
counts from its answer's first message, and is never refused then.

``/healthz`` and ``/readyz`` are never counted nor refused: an orchestrator that saw them fail
under load would restart a process that is only busy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seggraph.logs import current_request_id
from seggraph.web.middleware import send_error

log = logging.getLogger("seggraph.overload")

#: The paths that are never counted nor refused.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
#: Seconds between two warnings of refused requests, at least.
WARN_EVERY_SECONDS = 10.0
OVERLOADED_MESSAGE = "the server has too many requests in flight; try again in a moment"
#: Methods whose body no route reads: such a request does its work without waiting for it.
_BODILESS_METHODS = frozenset({"GET", "HEAD"})


class _NoPlace(Exception):
    """Raised out of a request's ``receive`` when its body is whole and no place is free:
    the application is not handed the body, and the middleware answers the refusal."""


def _has_body(scope: Scope) -> bool:
    """Whether the request may send a body that the application waits for."""
    if scope.get("method") in _BODILESS_METHODS:
        return False
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class ConcurrencyLimitMiddleware:
    """Answers an HTTP request 503 (``OVERLOADED``, ``Retry-After: 1``) while ``max_requests``
    others are in flight. A request counts from when it reaches this middleware, or, when it
    has a body, from when the application receives the body's last part (the refusal then
    answered instead of handing it over), or from the application's first message of its
    answer, whichever comes first; until the application has returned: its response sent (a
    streamed one whole), or the request failed or was cancelled. Sits inside
    :class:`~seggraph.web.middleware.RequestIdMiddleware`, so that the refusal carries the
    request id. A WARNING says so at most once every ``warn_every`` seconds, with the number
    refused since the last one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_requests: int,
        unlimited_paths: Collection[str] = UNLIMITED_PATHS,
        warn_every: float = WARN_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.unlimited_paths = frozenset(unlimited_paths)
        self.warn_every = warn_every
        self.clock = clock
        self.in_flight = 0
        self._refused = 0  # since the last warning
        self._warned_at: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.unlimited_paths:
            await self.app(scope, receive, send)
            return
        holding = False

        def take(*, refusable: bool) -> bool:
            """Take a place, unless none is free and ``refusable``; whether one is held."""
            nonlocal holding
            if not holding and (not refusable or self.in_flight < self.max_requests):
                self.in_flight += 1
                holding = True
            return holding

        async def receive_counted() -> Message:
            message = await receive()
            if (
                message["type"] == "http.request"
                and not message.get("more_body", False)
                and not take(refusable=True)
            ):
                raise _NoPlace
            return message

        async def send_counted(message: Message) -> None:
            # Answered before its body was received whole: its work is done, counted from
            # now (a streamed answer goes on), never refused. Takes the place before the
            # answer starts, so that no receive raises once it has.
            take(refusable=False)
            await send(message)

        try:
            if _has_body(scope) or take(refusable=True):
                try:
                    await self.app(scope, receive_counted, send_counted)
                    return
                except _NoPlace:
                    pass
            self._note_refusal()
            await send_error(
                send, scope, 503, "OVERLOADED", OVERLOADED_MESSAGE, [(b"retry-after", b"1")]
            )
        finally:
            if holding:
                self.in_flight -= 1

    def _note_refusal(self) -> None:
        self._refused += 1
        now = self.clock()
        if self._warned_at is not None and now - self._warned_at < self.warn_every:
            return
        # About the process, not about the request refused now: written outside its
        # request's context, so that the log's format does not put that one's id before it.
        token = current_request_id.set(None)
        try:
            log.warning(
                "overloaded: %d request(s) refused with 503 since %s: %d in flight "
                "(SEGGRAPH_MAX_CONCURRENT_REQUESTS)",
                self._refused,
                "the last warning" if self._warned_at is not None else "start-up",
                self.max_requests,
            )
        finally:
            current_request_id.reset(token)
        self._warned_at = now
        self._refused = 0
