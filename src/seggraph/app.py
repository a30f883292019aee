"""``create_app(settings)``: the Starlette application serving GraphQL, health and GraphiQL."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from seggraph.api.context import Context, request_actor, request_mode
from seggraph.api.schema import schema
from seggraph.db import Database, redact_uri
from seggraph.services.container import Services, all_indexes
from seggraph.settings import Settings
from seggraph.web import graphiql, health

log = logging.getLogger(__name__)


class SeggraphGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with seggraph's context and the offline GraphiQL page."""

    def __init__(self) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self._ide_html = graphiql.graphiql_html()

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            request=request,
            response=response,
            services=request.app.state.services,
            mode=request_mode(request),
            actor=request_actor(request),
        )


def create_app(settings: Settings) -> Starlette:
    """The application; its lifespan opens the one MongoDB client and creates indexes."""
    if not settings.mongodb_uri:
        raise ValueError(
            "create_app needs settings.mongodb_uri; `seggraph serve` starts the embedded "
            "database and fills it in"
        )
    uri = settings.mongodb_uri

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = Database(uri, settings.database)
        log.info("database: %s (database %r)", redact_uri(uri), settings.database)
        try:
            await database.ensure_indexes(all_indexes())
            app.state.services = Services.build(settings, database)
            yield
        finally:
            await database.close()

    graphql_app = SeggraphGraphQL()
    routes = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        *health.routes,
        *graphiql.routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    return app
