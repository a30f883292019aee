"""The per-request GraphQL context: services, the request's mode and its actor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from graphql import GraphQLResolveInfo, OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from seggraph.domain.segments import Mode
from seggraph.web.disconnect import watch_client

if TYPE_CHECKING:
    from seggraph.domain.api_keys import ApiKey
    from seggraph.services.container import Services
    from seggraph.services.evaluation import EvaluationService
    from seggraph.services.properties import PropertyBatcher

MODE_HEADER = "x-seggraph-mode"
ACTOR_HEADER = "x-seggraph-actor"
DEFAULT_ACTOR = "anonymous"


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    services: Services
    mode: Mode = Mode.TEST
    actor: str = DEFAULT_ACTOR
    properties: PropertyBatcher | None = None
    """This request's property batcher (see :meth:`property_batcher`)."""
    api_key: ApiKey | None = None
    """The request's API key (None with SEGGRAPH_AUTH off); a READ key cannot run mutations."""
    request_id: str = ""
    """The id in the ``X-Request-Id`` response header, named in masked errors and the log."""
    fresh: asyncio.Future[None] | None = None
    """The request's freshness checks, under way (:meth:`Services.begin_request`): the
    executor runs the operation once they are done, and starts the reads it will need while
    they run (:mod:`seggraph.api.prefetch`)."""

    task: asyncio.Task[Any] | None = None
    """The task running the request (which :meth:`watch_client` may cancel)."""

    _evaluation: EvaluationService | None = None

    def watch_client(self, info: GraphQLResolveInfo | StrawberryInfo) -> None:
        """A query is about to walk the subscriber directory (seconds to minutes): from now
        on, its client hanging up stops it (:mod:`seggraph.web.disconnect`). A mutation's
        writes always run to the end, so it is never stopped."""
        if isinstance(self.request, Request) and info.operation.operation is OperationType.QUERY:
            watch_client(self.request.scope, self.request.receive, self.task)

    @property
    def evaluation(self) -> EvaluationService:
        """Query-time evaluation for this request (made on first use)."""
        if self._evaluation is None:
            self._evaluation = self.services.evaluation_for(self.property_batcher())
        return self._evaluation

    def forget_values(self) -> None:
        """Read property values afresh from now on: a new batcher (and evaluation around it)
        for the rest of the request; what the old one read or is reading is not used."""
        self.properties = None
        self._evaluation = None

    def property_batcher(self) -> PropertyBatcher:
        """The request's one batcher of property values, made on first use."""
        if self.properties is None:
            self.properties = self.services.properties.batcher()
        return self.properties


def request_mode(request: Request | WebSocket) -> Mode:
    """The mode a request works in: the ``X-Seggraph-Mode`` header, TEST by default."""
    raw = request.headers.get(MODE_HEADER, Mode.TEST.value).strip().upper()
    try:
        return Mode(raw)
    except ValueError:
        raise HTTPException(
            400, f"the {MODE_HEADER} header must be TEST or LIVE, got {raw!r}"
        ) from None


def request_actor(request: Request | WebSocket) -> str:
    """Who is acting, for history, with auth off: the ``X-Seggraph-Actor`` header (with a key,
    see :func:`seggraph.web.auth.request_identity`)."""
    return request.headers.get(ACTOR_HEADER, "").strip()[:200] or DEFAULT_ACTOR


Info = StrawberryInfo[Context, None]
