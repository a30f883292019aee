"""The ingestion endpoints: Segment's HTTP Tracking API under ``/cdp/v1``: ``identify``,
``track``, ``page``, ``screen``, ``group``, ``alias`` and ``batch``.

They take Segment's JSON and authorise it as Segment does: HTTP Basic with the write key as the
user name and an empty password, or (for clients that cannot send that header) the write key
as ``writeKey`` in the JSON body. The whole request is read and checked before anything is
written, so a refused request (405, 401, 400, 413) has no side effect; a message that would
take its profile past its bound (``SEGGRAPH_CDP_MAX_TRAITS``) is a 400 too, and nothing of its
request is stored. Every refusal answers
``{"success": false, "error": ...}``, an unknown path under ``/cdp/v1`` (404) included.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seggraph.web import json_bodies
from seggraph.web.methods import ANY_METHOD
from seggraph.web.middleware import BodyTooLarge, read_body
from seggraph_cdp.messages import MESSAGE_TYPES, BadMessage, Limits, Message, parse_request
from seggraph_cdp.store import IngestResult

log = logging.getLogger(__name__)
PREFIX = "/cdp/v1"


class Ingestor(Protocol):
    """What the routes need from the provider."""

    def write_key(self) -> str | None: ...

    def max_body_bytes(self) -> int: ...

    def limits(self) -> Limits: ...

    def now(self) -> datetime: ...

    async def ingest(self, messages: list[Message], received_at: datetime) -> IngestResult: ...


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status, headers=headers)


#: The endpoints, one per Segment message type and ``batch``.
KINDS = (*MESSAGE_TYPES, "batch")


def authorised(request: Request, write_key: str | None) -> bool:
    """The request's HTTP Basic user name is the write key."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if write_key is None or scheme.lower() != "basic" or not token:
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, _, _password = decoded.partition(":")
    return hmac.compare_digest(user.encode(), write_key.encode())


def authorised_by_body(body: Any, write_key: str | None) -> bool:
    """The body's ``writeKey`` is the write key (Segment's alternative to the header)."""
    given = body.get("writeKey") if isinstance(body, dict) else None
    if write_key is None or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), write_key.encode())


def _unauthorised(write_key: str | None) -> JSONResponse:
    reason = (
        "CDP ingestion has no write key configured (SEGGRAPH_CDP_WRITE_KEY)"
        if write_key is None
        else "a valid write key is required (HTTP Basic with the write key as user name, or "
        "writeKey in the body)"
    )
    return _error(401, reason, **{"WWW-Authenticate": 'Basic realm="seggraph cdp"'})


def _endpoint(kind: str, ingestor: Ingestor) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.method != "POST":  # answered in the shape of every other refusal
            return _error(405, f"{PREFIX}/{kind} takes POST, not {request.method}", Allow="POST")
        write_key = ingestor.write_key()
        by_header = authorised(request, write_key)
        if write_key is None or (not by_header and "authorization" in request.headers):
            return _unauthorised(write_key)  # a wrong header is not rescued by the body
        limit = ingestor.max_body_bytes()
        try:
            raw = await read_body(request, limit)  # no further than the limit
        except BodyTooLarge:
            return _error(413, f"the body is larger than {limit} bytes")
        try:
            # Numbers exactly, no NaN or Infinity, no half of a UTF-16 surrogate pair (no
            # character: the database cannot store it).
            body: Any = json_bodies.loads(raw, strict_constants=True)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            if not by_header:
                return _unauthorised(write_key)
            return _error(400, "the body is not valid JSON")
        if not by_header and not authorised_by_body(body, write_key):
            return _unauthorised(write_key)
        received_at = ingestor.now()
        try:
            messages = parse_request(body, kind, received_at, ingestor.limits())
            # A message that would take its profile past its bound is refused here, and the
            # request is not stored.
            result = await ingestor.ingest(messages, received_at)
        except BadMessage as exc:
            return _error(400, str(exc))
        return JSONResponse(result.as_json())

    return endpoint


async def _no_such_endpoint(request: Request) -> Response:
    return _error(
        404,
        f"no endpoint {request.url.path}; the endpoints are "
        + ", ".join(f"{PREFIX}/{kind}" for kind in KINDS),
    )


def cdp_routes(ingestor: Ingestor) -> list[Route]:
    """Every method reaches the endpoint, which answers any but POST with a JSON 405 (Starlette
    would answer it in plain text); any other path under the prefix gets a JSON 404."""
    return [
        *(
            Route(f"{PREFIX}/{kind}", _endpoint(kind, ingestor), methods=list(ANY_METHOD))
            for kind in KINDS
        ),
        Route(f"{PREFIX}/{{rest:path}}", _no_such_endpoint, methods=list(ANY_METHOD)),
    ]
