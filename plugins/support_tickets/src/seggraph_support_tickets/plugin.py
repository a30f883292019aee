"""The plugin: seggraph's hooks, implemented for support tickets.

seggraph instantiates :class:`SupportTicketsPlugin` once per application (the entry point names
the class), calls ``startup`` with the database, then ``register_properties``; after that,
``resolve_properties`` answers whole batches of subscribers, one query each.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_settings import BaseSettings
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from seggraph import hookimpl
from seggraph.db import Database
from seggraph.domain.conditions import Condition
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition
from seggraph.plugins import SubscriberFilter
from seggraph.settings import Settings, read_settings
from seggraph.web import json_bodies
from seggraph.web.methods import ANY_METHOD
from seggraph.web.middleware import BodyLimitMiddleware
from seggraph_support_tickets import properties
from seggraph_support_tickets.ingest import BadTickets, parse_tickets
from seggraph_support_tickets.matching import tags_filter
from seggraph_support_tickets.settings import SupportTicketsSettings
from seggraph_support_tickets.store import COLLECTION, TicketStore

TOKEN_VARIABLE = "SEGGRAPH_SUPPORT_TICKETS_TOKEN"
INGEST_PATH = "/support-tickets/tickets"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="seggraph support tickets"'}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SupportTicketsPlugin:
    """Support-ticket properties of each subscriber, kept in the ``support_tickets`` collection
    and fed by ``POST /support-tickets/tickets``."""

    def __init__(
        self, *, token: str | None = None, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.token = token
        self.clock = clock
        self._store: TicketStore | None = None

    @property
    def store(self) -> TicketStore:
        if self._store is None:
            raise RuntimeError("the support tickets provider has not started")
        return self._store

    # --- life cycle -------------------------------------------------------------------------------

    @hookimpl
    def register_settings(self) -> list[type[BaseSettings]]:
        """The ``SEGGRAPH_SUPPORT_TICKETS_*`` variables, so that a misspelled one is warned of."""
        return [SupportTicketsSettings]

    @hookimpl
    async def startup(self, database: Database) -> None:
        self._store = TicketStore(database)
        await self._store.ensure_indexes()
        if self.token is None:  # from the environment or .env, as every setting
            token = read_settings(SupportTicketsSettings).token
            self.token = token.get_secret_value() if token is not None else None

    # --- the catalogue ----------------------------------------------------------------------------

    @hookimpl
    def register_properties(self, register: Callable[[PropertyDefinition], None]) -> None:
        for definition in properties.DEFINITIONS:
            register(definition)

    # --- values -----------------------------------------------------------------------------------

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        """One query for the whole batch; tickets belong to subscribers, so a context's
        subscription is not used."""
        tickets = await self.store.tickets_of([c.subscriber_id for c in contexts])
        now = self.clock()
        return {
            context: properties.values(keys, tickets.get(context.subscriber_id, []), now)
            for context in contexts
        }

    @hookimpl
    async def suggest_property_values(self, key: str, prefix: str, limit: int) -> list[str] | None:
        if key == properties.TAGS:
            return await self.store.tags_starting_with(prefix, limit)
        return None  # seggraph suggests an ENUM's values; numbers and dates get none

    @hookimpl
    def condition_to_filter(self, condition: Condition) -> SubscriberFilter | None:
        """Conditions on tags are questions about tickets, so most translate to a query that
        selects exactly the subscribers the evaluation selects, case and case folding
        included (see :mod:`seggraph_support_tickets.matching`); the others are declined."""
        if condition.property != properties.TAGS:
            return None
        query = tags_filter(condition)
        if query is None:
            return None
        return SubscriberFilter(COLLECTION, query, "subscriber_id")

    # --- ingestion --------------------------------------------------------------------------------

    @hookimpl
    def register_routes(self, settings: Settings) -> list[BaseRoute]:
        """The ingestion route, its body bounded by ``SEGGRAPH_MAX_BODY_BYTES`` as GraphQL's is,
        by the same middleware: a body over it (by ``Content-Length``, or counted as a chunked
        one arrives) is answered 413 ``BODY_TOO_LARGE`` by seggraph's ``RequestIdMiddleware``,
        before anything is read or written."""
        limit = Middleware(
            BodyLimitMiddleware, max_bytes=settings.max_body_bytes, paths=[INGEST_PATH]
        )
        return [
            Route(
                INGEST_PATH,
                self.ingest,
                methods=list(ANY_METHOD),
                name="support_tickets_ingest",
                middleware=[limit],
            )
        ]

    async def ingest(self, request: Request) -> Response:
        """``POST /support-tickets/tickets`` with ``Authorization: Bearer <token>`` and
        ``{"tickets": [{"id", "subscriber_id", "status", "priority", "tags", "created_at",
        "updated_at", "satisfaction"}]}``: every ticket is written (but those older than
        their stored state, by ``updated_at``), or none."""
        if request.method != "POST":
            return _error(
                405,
                "METHOD_NOT_ALLOWED",
                f"{INGEST_PATH} takes POST, not {request.method}",
                Allow="POST",
            )
        if not self.token:
            return _error(503, "NOT_CONFIGURED", f"set {TOKEN_VARIABLE} to accept tickets")
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        ):
            return _error(
                401, "UNAUTHORIZED", "a valid bearer token is required", **BEARER_CHALLENGE
            )
        try:
            # Numbers exactly, no NaN or Infinity, no half of a UTF-16 surrogate pair.
            body: Any = json_bodies.loads(await request.body(), strict_constants=True)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            return _refused(["the body is not JSON"])
        now = self.clock()
        try:
            tickets = parse_tickets(body, now)
        except BadTickets as exc:
            return _refused(exc.problems)
        written = await self.store.upsert(tickets, now)
        return JSONResponse({"written": written.written, "stale": written.stale})


def _refused(problems: list[str]) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "INVALID", "message": "tickets refused", "problems": problems}},
        status_code=400,
    )


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
