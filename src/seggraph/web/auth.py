"""API keys on the GraphQL endpoint: who is asking, in which mode, with which role.

With ``SEGGRAPH_AUTH`` on (the default) every GraphQL request needs
``Authorization: Bearer sg_<mode>_…``; the key decides the mode (an ``X-Seggraph-Mode`` header
naming the other mode is refused with 403) and the actor written to history. The GraphiQL page
itself, the health checks and the ingestion routes (which check their own secrets) need no key.
With auth off, the ``X-Seggraph-Mode`` and ``X-Seggraph-Actor`` headers decide, as in local
development.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from seggraph.api.context import (
    MODE_HEADER,
    asked_actor,
    asked_mode,
    request_actor,
    request_mode,
)
from seggraph.domain.api_keys import ApiKey
from seggraph.domain.segments import Mode
from seggraph.web.middleware import send_error

BEARER_CHALLENGE = (b"www-authenticate", b'Bearer realm="seggraph"')
HOW_TO_GET_A_KEY = (
    "create one with `seggraph keys create --mode test --role write` and send it as "
    "`Authorization: Bearer sg_…`"
)


def _renders_ide(scope: Scope) -> bool:
    """The request would get the GraphiQL page (GET without a query, HTML accepted): the page
    holds no data, and asks for the key in its headers editor."""
    request = Request(scope)
    accept = request.headers.get("accept", "")
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and ("text/html" in accept or "*/*" in accept)
    )


class ApiKeyGate:
    """In front of the GraphQL view: checks the request's key and records it in
    ``request.state.api_key`` for the context, or answers 401/403/400/503 itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app_state = scope["app"].state
        if scope["type"] != "http" or not app_state.settings.auth or _renders_ide(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await send_error(
                send,
                scope,
                401,
                "UNAUTHENTICATED",
                f"an API key is required: {HOW_TO_GET_A_KEY}",
                [BEARER_CHALLENGE],
            )
            return
        key = await app_state.services.api_keys.authenticate(token.strip())
        if key is None:
            await send_error(
                send,
                scope,
                401,
                "UNAUTHENTICATED",
                "the API key is not valid: it is unknown, revoked or mistyped",
                [BEARER_CHALLENGE],
            )
            return
        try:
            asked = asked_mode(request.headers)
        except ValueError as exc:  # the same answer as without auth: the header is malformed
            await send_error(send, scope, 400, "BAD_REQUEST", str(exc))
            return
        if asked is not None and asked is not key.mode:
            await send_error(
                send,
                scope,
                403,
                "WRONG_MODE",
                f"this API key works in {key.mode.value} mode only; the {MODE_HEADER} header "
                f"asks for {asked.value} (use a {key.mode.other.value} key for that mode)",
            )
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)


def request_api_key(request: Request | WebSocket) -> ApiKey | None:
    """The key :class:`ApiKeyGate` accepted for this request; None with auth off."""
    key = getattr(request.state, "api_key", None)
    return key if isinstance(key, ApiKey) else None


def request_identity(request: Request | WebSocket) -> tuple[Mode, str, ApiKey | None]:
    """The request's mode, its actor for history, and its key.

    With a key: the key's mode, and ``key:<id> (<name>)`` as the actor, prefixed by the
    ``X-Seggraph-Actor`` header when a client acts for one of its users (``alice via key:…``).
    Without (auth off): the headers.
    """
    key = request_api_key(request)
    if key is None:
        return request_mode(request), request_actor(request), None
    on_behalf = asked_actor(request)
    actor = f"{on_behalf} via {key.actor}" if on_behalf else key.actor
    return key.mode, actor, key
