"""The per-request GraphQL context: services, the request's mode and its actor."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from graphql import GraphQLResolveInfo, OperationType
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from seggraph.domain.errors import control_characters
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
            self._evaluation = self.services.evaluation_for(
                self.property_batcher(), self.walk_owner
            )
        return self._evaluation

    @property
    def walk_owner(self) -> str:
        """The client the request's walks over the directory belong to, for sharing the
        walk slots fairly (:mod:`seggraph.services.walk_slots`): its API key's id (every
        request sent with one key is one client, whoever it acts for), or without keys its
        actor."""
        return self.api_key.id if self.api_key is not None else self.actor

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


#: The longest ``X-Seggraph-Actor`` taken (it is kept in every history entry).
MAX_ACTOR = 200


def asked_mode(headers: Headers) -> Mode | None:
    """The mode the ``X-Seggraph-Mode`` header names, in any case (None without the header).
    Raises ``ValueError`` with the message for the client when it names no mode, or when it is
    sent more than once naming different modes (which one was meant?)."""
    values = headers.getlist(MODE_HEADER)
    modes: set[Mode] = set()
    for raw in values:
        try:
            modes.add(Mode(raw.strip().upper()))
        except ValueError:
            raise ValueError(
                f"the {MODE_HEADER} header must be TEST or LIVE, got {raw.strip()!r}"
            ) from None
    if len(modes) > 1:
        raise ValueError(
            f"the {MODE_HEADER} header is sent {len(values)} times naming different modes; "
            "send it once"
        )
    return modes.pop() if modes else None


def request_mode(request: Request | WebSocket) -> Mode:
    """The mode a request works in: the ``X-Seggraph-Mode`` header, TEST by default."""
    try:
        return asked_mode(request.headers) or Mode.TEST
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def asked_actor(request: Request | WebSocket) -> str:
    """The ``X-Seggraph-Actor`` header, trimmed ("" without one). Header values arrive as
    bytes that servers read as Latin-1; clients send names in UTF-8 (``Jürgen``), so bytes
    that are UTF-8 are read as such. Refused (400) with control characters or past
    :data:`MAX_ACTOR` characters: it is kept in every history entry the request writes."""
    raw = request.headers.get(ACTOR_HEADER, "")
    with contextlib.suppress(UnicodeError):  # not UTF-8: the Latin-1 reading stands
        raw = raw.encode("latin-1").decode("utf-8")
    actor = raw.strip()
    controls = control_characters(actor)
    if controls:
        raise HTTPException(
            400, f"the {ACTOR_HEADER} header cannot hold control characters; it has {controls}"
        )
    if len(actor) > MAX_ACTOR:
        raise HTTPException(
            400, f"the {ACTOR_HEADER} header has at most {MAX_ACTOR} characters, got {len(actor)}"
        )
    return actor


def request_actor(request: Request | WebSocket) -> str:
    """Who is acting, for history, with auth off: the ``X-Seggraph-Actor`` header (with a key,
    see :func:`seggraph.web.auth.request_identity`)."""
    return asked_actor(request) or DEFAULT_ACTOR


Info = StrawberryInfo[Context, None]
