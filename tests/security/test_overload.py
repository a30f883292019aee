"""The bound on requests in flight (``SEGGRAPH_MAX_CONCURRENT_REQUESTS``): past it a request to
the API is answered at once with 503 ``OVERLOADED`` and ``Retry-After: 1``, in the route's
error shape; the health endpoints are always answered; a request gives its place back however
it ends (answered, failed, cancelled), and the refusals are logged at most once in a while.

A request counts only once its body has arrived whole: one still sending it (a client sending a
body a byte at a time) holds no place, and one whose body completes while none is free is
refused then, its body never handed to the route.

A real server (limit 2) holds two requests with a plugin of its own (a property whose call
waits, and a route that waits) until the test releases them; the middleware's bookkeeping is
also driven at the ASGI level with events."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from seggraph import hookimpl
from seggraph.domain.context import EvaluationContext
from seggraph.logs import ServerFormatter
from seggraph.settings import Settings, SettingsError, load_settings
from seggraph.web.middleware import RequestIdMiddleware
from seggraph.web.overload import ConcurrencyLimitMiddleware
from tests.conftest import LiveServer
from tests.plugins.fakes import FakeProvider, number

HELD_PATH = "/held/hold"
READ_PATH = "/held/read"
VALUES = 'query { propertyValues(subscriberIds: ["sub_1"], keys: ["held.n"]) { values { value } } }'


class Holding(FakeProvider):
    """``held.n`` (7 for everyone), and a route ``/held/hold``; each of their calls waits for
    ``release`` once it has said so in ``resolving`` or ``routed`` (from the server's thread
    to the test's). ``/held/read`` answers the body it is sent, once whole; ``reading`` says
    it has started reading it."""

    def __init__(self) -> None:
        super().__init__([number("held.n")])
        self.release = threading.Event()
        self.resolving = threading.Event()
        self.routed = threading.Event()
        self.reading = threading.Event()

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        self.resolving.set()
        await asyncio.to_thread(self.release.wait)
        return {context: {"held.n": 7} for context in contexts}

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        async def hold(request: Request) -> JSONResponse:
            self.routed.set()
            await asyncio.to_thread(self.release.wait)
            return JSONResponse({"ok": True})

        async def read(request: Request) -> JSONResponse:
            self.reading.set()
            return JSONResponse({"body": (await request.body()).decode()})

        return [Route(HELD_PATH, hold, methods=["POST"]), Route(READ_PATH, read, methods=["POST"])]


def test_past_the_limit_a_request_is_refused_at_once_and_served_again_later(
    settings: Settings, start_live_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    holding = Holding()
    server: LiveServer = start_live_server(
        settings.model_copy(
            update={
                "plugins": [],
                "max_concurrent_requests": 2,
                "provider_timeout_seconds": 300,  # held until released, never UNKNOWN
            }
        ),
        extra_plugins=[("held", holding)],
    )
    with (
        ThreadPoolExecutor(2) as pool,
        httpx.Client(base_url=server.url, timeout=30) as http,
        caplog.at_level(logging.WARNING, logger="seggraph.overload"),
    ):
        try:

            def fresh(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
                with httpx.Client(base_url=server.url, timeout=60) as own:
                    return call(own)

            query = pool.submit(fresh, lambda c: c.post("/graphql", json={"query": VALUES}))
            assert holding.resolving.wait(30), "the query never reached its provider"
            routed = pool.submit(fresh, lambda c: c.post(HELD_PATH))
            assert holding.routed.wait(30), "the route was never called"

            # Two in flight: a third is refused, on /graphql in GraphQL's shape...
            refused = http.post("/graphql", json={"query": "{ __typename }"})
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            request_id = refused.headers["x-request-id"]
            assert refused.json() == {
                "data": None,
                "errors": [
                    {
                        "message": (
                            "the server has too many requests in flight; try again in a moment"
                        ),
                        "extensions": {"code": "OVERLOADED", "requestId": request_id},
                    }
                ],
            }
            # ... on an ingestion route in theirs, and a GET (GraphiQL's page) too.
            other = http.post(HELD_PATH, headers={"x-request-id": "client-id-123"})
            assert other.status_code == 503
            assert other.headers["x-request-id"] == "client-id-123"
            assert other.json()["error"]["code"] == "OVERLOADED"
            assert http.get("/graphql", headers={"accept": "text/html"}).status_code == 503
            # The health endpoints are always answered.
            assert http.get("/healthz").json() == {"status": "ok"}
            assert http.get("/readyz").json() == {"status": "ready"}
            assert not query.done() and not routed.done()
        finally:
            holding.release.set()
        assert query.result().status_code == 200
        assert query.result().json() == {"data": {"propertyValues": [{"values": [{"value": 7}]}]}}
        assert routed.result().json() == {"ok": True}

        # Both answered: their places are free again.
        served = [http.post("/graphql", json={"query": VALUES}) for _ in range(3)]
        assert [r.json()["data"]["propertyValues"] for r in served] == [
            [{"values": [{"value": 7}]}]
        ] * 3
        assert http.post(HELD_PATH).json() == {"ok": True}
    warnings = [r.getMessage() for r in caplog.records if r.name == "seggraph.overload"]
    assert warnings and all("SEGGRAPH_MAX_CONCURRENT_REQUESTS" in m for m in warnings), warnings


def test_a_client_still_sending_its_body_holds_no_place(
    settings: Settings, start_live_server: Any
) -> None:
    # One place: a client sending its body slowly (a byte now, the rest whenever it likes; the
    # billing webhook reads the whole body before it checks a signature) does not take it.
    holding = Holding()
    server: LiveServer = start_live_server(
        settings.model_copy(update={"plugins": [], "max_concurrent_requests": 1}),
        extra_plugins=[("held", holding)],
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
        slow.sendall(
            f"POST {READ_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\na".encode()
        )
        assert holding.reading.wait(30), "the route never started reading"
        with httpx.Client(base_url=server.url, timeout=30) as http:
            served = http.post("/graphql", json={"query": "{ __typename }"})
            assert served.status_code == 200, served.text
            assert served.json() == {"data": {"__typename": "Query"}}
        slow.sendall(b"b")
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'{"body":"ab"}')


# --- the middleware alone, at the ASGI level ---------------------------------------------------


class Gate:
    """An ASGI app whose requests wait for ``release``, then answer in two chunks with
    ``finish`` between them (``streaming`` set once the first is sent); ``entered`` counts
    them in. ``fail``: raise instead of answering."""

    def __init__(self) -> None:
        self.entered = asyncio.Semaphore(0)
        self.release = asyncio.Event()
        self.streaming = asyncio.Event()
        self.finish = asyncio.Event()
        self.fail = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered.release()
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the route failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        self.streaming.set()
        await self.finish.wait()
        await send({"type": "http.response.body", "body": b"b"})


def scope_of(path: str, headers: Sequence[tuple[bytes, bytes]], method: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def call(
    app: Any,
    path: str = "/graphql",
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    receive: Receive = no_body,
    method: str = "POST",
) -> tuple[int, dict[str, str], Any]:
    """The status, headers and JSON body (or raw body) ``app`` answers ``path`` with."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope_of(path, headers, method), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answered = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], answered, orjson.loads(body) if body.startswith(b"{") else body


WITH_BODY = [(b"content-length", b"2")]


class Reader:
    """An ASGI app that reads its request's body whole (kept in ``bodies``, ``read`` counting
    them), then waits for ``release`` and answers it back."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.read = asyncio.Semaphore(0)
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        self.read.release()
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


class SlowBody:
    """A client sending the body ``ab``: ``a`` at once, ``b`` once ``rest`` is set (``waiting``
    says the application waits for it)."""

    def __init__(self) -> None:
        self.rest = asyncio.Event()
        self.waiting = asyncio.Event()
        self.first = True

    async def __call__(self) -> Message:
        if self.first:
            self.first = False
            return {"type": "http.request", "body": b"a", "more_body": True}
        self.waiting.set()
        await self.rest.wait()
        return {"type": "http.request", "body": b"b", "more_body": False}


async def test_a_request_holds_a_place_only_once_its_body_is_whole() -> None:
    reader = Reader()
    limit = ConcurrencyLimitMiddleware(reader, max_requests=1)
    app = RequestIdMiddleware(limit)

    # Still sending its body: no place held, so another request is served meanwhile.
    slow_body = SlowBody()
    slow = asyncio.create_task(call(app, headers=WITH_BODY, receive=slow_body))
    await slow_body.waiting.wait()
    assert limit.in_flight == 0
    assert (await call(app))[::2] == (200, b"")
    await reader.read.acquire()

    # Its body whole while the one place is taken: refused then, the body never handed over.
    reader.release.clear()

    async def whole() -> Message:
        return {"type": "http.request", "body": b"xy", "more_body": False}

    held = asyncio.create_task(call(app, headers=WITH_BODY, receive=whole))
    await reader.read.acquire()
    assert limit.in_flight == 1
    slow_body.rest.set()
    status, headers, body = await slow
    assert (status, headers["retry-after"], body["errors"][0]["extensions"]["code"]) == (
        503,
        "1",
        "OVERLOADED",
    )
    assert reader.bodies == [b"", b"xy"]
    reader.release.set()
    assert (await held)[::2] == (200, b"xy")
    assert limit.in_flight == 0

    # A body whole while a place is free: served.
    slow_body = SlowBody()
    slow = asyncio.create_task(call(app, headers=WITH_BODY, receive=slow_body))
    await slow_body.waiting.wait()
    slow_body.rest.set()
    assert (await slow)[::2] == (200, b"ab")
    assert limit.in_flight == 0


async def test_a_request_answered_without_its_body_read_counts_from_its_answer() -> None:
    gates = {"/graphql": Gate(), "/other": Gate()}

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        await gates[scope["path"]](scope, receive, send)

    limit = ConcurrencyLimitMiddleware(route, max_requests=1)
    app = RequestIdMiddleware(limit)

    # Working without reading its body (as a GET does, which no route reads the body of):
    # not counted until it answers, ...
    unread = asyncio.create_task(call(app, "/other", headers=WITH_BODY))
    await gates["/other"].entered.acquire()
    assert limit.in_flight == 0
    held = asyncio.create_task(call(app, headers=WITH_BODY, method="GET"))
    await gates["/graphql"].entered.acquire()
    assert limit.in_flight == 1
    # ... then counted (past the bound: its work is done), never refused, freed once.
    gates["/other"].release.set()
    await gates["/other"].streaming.wait()
    assert limit.in_flight == 2
    gates["/other"].finish.set()
    assert (await unread)[::2] == (200, b"ab")
    assert limit.in_flight == 1
    gates["/graphql"].release.set()
    gates["/graphql"].finish.set()
    assert (await held)[::2] == (200, b"ab")
    assert limit.in_flight == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_place_is_held_until_the_streamed_answer_ends_and_freed_however_it_ends() -> None:
    gate = Gate()
    limit = ConcurrencyLimitMiddleware(gate, max_requests=1)
    app = RequestIdMiddleware(limit)

    # Answered: the place is held while the answer streams, freed once it is whole.
    first = asyncio.create_task(call(app))
    await gate.entered.acquire()
    status, headers, body = await call(app)
    assert (status, headers["retry-after"], body["errors"][0]["extensions"]["code"]) == (
        503,
        "1",
        "OVERLOADED",
    )
    gate.release.set()
    await gate.streaming.wait()
    assert (await call(app))[0] == 503
    gate.finish.set()
    assert (await first)[::2] == (200, b"ab")
    assert limit.in_flight == 0

    # Cancelled (a client gone whose work is stopped, a shutdown): freed.
    gate.release.clear()
    cancelled = asyncio.create_task(call(app))
    await gate.entered.acquire()
    assert limit.in_flight == 1
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert limit.in_flight == 0
    gate.release.set()
    assert (await call(app))[::2] == (200, b"ab")

    # Failed (answered 500 by the request id middleware): freed.
    gate.fail = True
    assert (await call(app))[0] == 500
    assert limit.in_flight == 0

    # The health endpoints are neither counted nor refused.
    gate.fail = False
    gate.release.clear()
    gate.entered = asyncio.Semaphore(0)
    held = asyncio.create_task(call(app))
    await gate.entered.acquire()
    health = asyncio.create_task(call(app, "/healthz"))
    await gate.entered.acquire()
    assert limit.in_flight == 1
    gate.release.set()
    assert [(await held)[0], (await health)[0]] == [200, 200]


async def test_refusals_are_logged_at_most_once_in_a_while_with_how_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate()
    clock = Clock()
    limit = ConcurrencyLimitMiddleware(gate, max_requests=1, warn_every=10, clock=clock)
    held = asyncio.create_task(call(limit))
    await gate.entered.acquire()
    with caplog.at_level(logging.WARNING, logger="seggraph.overload"):
        for _ in range(5):
            assert (await call(limit))[0] == 503
        clock.now += 9.9
        assert (await call(limit))[0] == 503
        clock.now += 0.1
        for _ in range(3):
            assert (await call(limit))[0] == 503
    gate.release.set()
    gate.finish.set()
    await held
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("overloaded: 1 request(s) refused with 503 since start-up")
    assert messages[1].startswith("overloaded: 6 request(s) refused with 503 since the last")


class ServerLines(logging.Handler):
    """The lines ``seggraph serve`` writes (:class:`ServerFormatter`)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(ServerFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_the_warning_is_not_written_as_if_about_the_one_request_refused_then() -> None:
    # ``seggraph serve``'s log format puts the current request's id before a line written
    # while it is handled; the warning counts every refusal since the last one, so it is no
    # line of the request that happened to trigger it (whose id is on its access line).
    gate = Gate()
    app = RequestIdMiddleware(ConcurrencyLimitMiddleware(gate, max_requests=1))
    held = asyncio.create_task(call(app))
    await gate.entered.acquire()
    handler = ServerLines()
    logger = logging.getLogger("seggraph.overload")
    logger.addHandler(handler)
    try:
        refused = await call(app, headers=[(b"x-request-id", b"refused-1234")])
    finally:
        logger.removeHandler(handler)
    assert refused[1]["x-request-id"] == "refused-1234"
    assert len(handler.lines) == 1, handler.lines
    assert "refused-1234" not in handler.lines[0]
    assert " WARNING seggraph.overload: overloaded: 1 request(s) refused" in handler.lines[0]
    gate.release.set()
    gate.finish.set()
    await held


@pytest.mark.parametrize("given", ["0", "-1", "100001", "many"])
def test_the_setting_refuses_a_bound_that_is_no_bound(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGGRAPH_MAX_CONCURRENT_REQUESTS", given)
    with pytest.raises(SettingsError, match="SEGGRAPH_MAX_CONCURRENT_REQUESTS"):
        load_settings(_env_file=None)
