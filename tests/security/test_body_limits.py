"""The routes that take a body stop reading it at their limit: a body sent in chunks without
a ``Content-Length`` (which anyone may send, before any signature or key is checked) is
refused with 413 as soon as what arrived passes the limit, never read whole into memory.

Each route is driven at the ASGI level with a ``receive`` that counts the chunks pulled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient
from seggraph_billing.provider import BillingProvider
from seggraph_billing.settings import BillingSettings
from seggraph_cdp.provider import CdpProvider
from seggraph_cdp.settings import CdpSettings
from seggraph_support_tickets.plugin import SupportTicketsPlugin
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message

from seggraph.settings import Settings
from seggraph.web.middleware import RequestIdMiddleware

CHUNK = b" " * 16_384
LIMIT = 65_536
#: Chunks a client offers: 64 times the limit, far more than any route may pull.
OFFERED = 256
#: The limit is 4 chunks: the fifth passes it, and nothing after it is read.
PULLED = LIMIT // len(CHUNK) + 1


class ChunkedBody:
    """An ASGI ``receive`` giving ``OFFERED`` chunks of a body without a Content-Length,
    counting how many the route pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __call__(self) -> Message:
        if self.pulled >= OFFERED:
            await asyncio.Event().wait()  # the client waits for an answer
        self.pulled += 1
        return {"type": "http.request", "body": CHUNK, "more_body": self.pulled < OFFERED}


async def post(app: ASGIApp, path: str, headers: dict[str, str]) -> tuple[int, Any, int]:
    """POST a chunked body to ``path``: the status, the JSON answer and the chunks pulled."""
    body = ChunkedBody()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    await asyncio.wait_for(app(scope, body, send), timeout=60)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, orjson.loads(answer), body.pulled


def billing_app(mongo_uri: str) -> ASGIApp:
    settings = BillingSettings(  # type: ignore[call-arg]
        webhook_secret=SecretStr("whsec_x"), max_body_bytes=LIMIT, _env_file=None
    )
    provider = BillingProvider(settings)
    # Bound to a client that the refusal never uses (it connects on its first command).
    provider.bind(AsyncMongoClient(mongo_uri)["unused"])
    return Starlette(routes=provider.routes())


def cdp_app(mongo_uri: str) -> ASGIApp:
    settings = CdpSettings(  # type: ignore[call-arg]
        write_key=SecretStr("wk_x"), max_body_bytes=LIMIT, _env_file=None
    )
    return Starlette(routes=CdpProvider(settings).routes())


def tickets_app(mongo_uri: str) -> ASGIApp:
    plugin = SupportTicketsPlugin(token="t0ken")
    routes = plugin.register_routes(Settings(max_body_bytes=LIMIT, _env_file=None))  # type: ignore[call-arg]
    # As in seggraph's application: its RequestIdMiddleware answers the middleware's refusal.
    return Starlette(routes=routes, middleware=[Middleware(RequestIdMiddleware)])


ROUTES: list[Any] = [
    pytest.param(
        billing_app,
        "/webhooks/billing",
        {"stripe-signature": "t=1,v1=00"},
        {"error": {"code": "TOO_LARGE", "message": "the body is larger than the webhook accepts"}},
        id="billing webhook",
    ),
    pytest.param(
        cdp_app,
        "/cdp/v1/track",
        {"authorization": "Basic d2tfeDo="},  # wk_x:
        {"success": False, "error": f"the body is larger than {LIMIT} bytes"},
        id="cdp",
    ),
    pytest.param(
        tickets_app,
        "/support-tickets/tickets",
        {"authorization": "Bearer t0ken"},
        None,
        id="support tickets",
    ),
]


@pytest.mark.parametrize(("make", "path", "headers", "expected"), ROUTES)
def test_a_chunked_body_over_the_limit_is_refused_once_past_it_not_read_whole(
    make: Callable[[str], ASGIApp],
    path: str,
    headers: dict[str, str],
    expected: Any,
    mongo_uri: str,
) -> None:
    """The billing webhook read the whole body (any size: 4 MiB here, and a client could send
    gigabytes) into memory before its size check."""
    app = make(mongo_uri)
    status, answer, pulled = asyncio.run(
        post(app, path, {"content-type": "application/json", **headers})
    )
    assert status == 413, answer
    if expected is not None:
        assert answer == expected
    else:
        assert answer["error"]["code"] == "BODY_TOO_LARGE"
    assert pulled == PULLED, f"{pulled} chunks of {len(CHUNK)} bytes read, limit {LIMIT}"
