"""ASGI middleware around every route: a request id, a body-size limit, and a last line of
defence that turns an unhandled exception into a masked answer logged with the request id;
and :func:`read_body`, the same limit for a route that reads its body itself."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Collection
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seggraph.db import database_unavailable
from seggraph.logs import current_request_id

log = logging.getLogger("seggraph.errors")

REQUEST_ID_HEADER = "x-request-id"
GRAPHQL_PATH = "/graphql"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_request_id() -> str:
    return secrets.token_hex(8)


def scope_request_id(scope: Scope) -> str:
    """The request id :class:`RequestIdMiddleware` gave this request ("" outside it)."""
    return str(scope.get("state", {}).get("request_id", ""))


def unavailable_message(request_id: str) -> str:
    return f"the database is unavailable; try again shortly (request id {request_id})"


def error_body(path: str, status: int, code: str, message: str, request_id: str) -> bytes:
    """An error in the shape the route's clients read: GraphQL's ``errors`` list on
    ``/graphql``, ``{"error": {"code", "message"}}`` (the ingestion routes' shape) elsewhere."""
    if path == GRAPHQL_PATH:
        body: dict[str, Any] = {
            "data": None,
            "errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}],
        }
    else:
        body = {"error": {"code": code, "message": message, "requestId": request_id}}
    return orjson.dumps(body)


class RequestRefused(HTTPException):
    """A request refused before anything runs, with the stable ``code`` its answer carries
    (and any headers it needs, such as ``Allow``): answered by :func:`send_error`, in the
    route's error shape, rather than as Strawberry's plain text."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Collection[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.headers = tuple(headers)


async def send_error(
    send: Send,
    scope: Scope,
    status: int,
    code: str,
    message: str,
    headers: Collection[tuple[bytes, bytes]] = (),
) -> None:
    body = error_body(scope.get("path", ""), status, code, message, scope_request_id(scope))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Gives every HTTP request an id (the client's ``X-Request-Id`` when it looks like one),
    returns it in the ``X-Request-Id`` response header, and answers an exception no route
    handled with a 500 (503 when the database is unavailable) naming only that id; the
    traceback goes to the log with the same id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope.get("headers", ()):
            if name == REQUEST_ID_HEADER.encode():
                given = value.decode("latin-1")
                break
        request_id = given if _CLIENT_REQUEST_ID.match(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        # The log lines written while it is handled name it, uvicorn's access line included
        # (written when the response starts, from ``send``: in this context).
        token = current_request_id.set(request_id)
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except BodyTooLarge as exc:
                if started:
                    raise
                await send_error(send_with_id, scope, 413, "BODY_TOO_LARGE", str(exc))
            except ClientDisconnect:
                # The client hung up before its body was whole: nobody to answer, nothing wrong
                # with the server (anyone could fill the log with tracebacks this way).
                log.info("request %s: the client disconnected before sending its body", request_id)
            except Exception as exc:
                if database_unavailable(exc):
                    log.warning("request %s: database unavailable: %s", request_id, exc)
                    status, code = 503, "DATABASE_UNAVAILABLE"
                    message = unavailable_message(request_id)
                else:
                    log.exception("request %s: unexpected error", request_id)
                    status, code = 500, "INTERNAL_SERVER_ERROR"
                    message = f"Unexpected error; request id {request_id}"
                if started:
                    raise
                await send_error(send_with_id, scope, status, code, message)
        finally:
            current_request_id.reset(token)


class BodyTooLarge(Exception):
    """A request body is over the limit (answered 413 by :class:`RequestIdMiddleware`)."""

    @classmethod
    def over(cls, max_bytes: int) -> BodyTooLarge:
        return cls(f"the request body is larger than {max_bytes} bytes")


def declares_more_than(declared: str | bytes, max_bytes: int) -> bool:
    """Whether a ``Content-Length`` value says more than ``max_bytes`` (one that is no
    number says nothing: the body is counted as it arrives)."""
    try:
        return int(declared) > max_bytes
    except ValueError:
        return False


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, read no further than ``max_bytes``: :class:`BodyTooLarge` when its
    ``Content-Length`` says more (before anything is read), or, for a body sent without one
    (in chunks), as soon as what has arrived is more, the rest left unread. Anyone may send
    such a body before a route checks a key or a signature, so a route must never read one
    whole (``request.body()``) before its size check. For routes that answer the refusal in
    their own shape (the CDP's, the billing webhook); :class:`BodyLimitMiddleware` bounds
    the others."""
    if declares_more_than(request.headers.get("content-length", ""), max_bytes):
        raise BodyTooLarge.over(max_bytes)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise BodyTooLarge.over(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` on ``paths``: by ``Content-Length`` before
    reading, and by counting what arrives when there is none (chunked uploads)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, paths: Collection[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and declares_more_than(value, self.max_bytes):
                raise BodyTooLarge.over(self.max_bytes)
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge.over(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)
