"""``create_app(settings)``: the Starlette application serving GraphQL, health and GraphiQL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from pymongo.errors import ConnectionFailure, OperationFailure
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from seggraph.api.context import Context
from seggraph.api.schema import schema
from seggraph.api.security import masked
from seggraph.catalogue import DuplicatePropertyError
from seggraph.db import Database, redact_uri
from seggraph.domain.properties import PropertyDefinition
from seggraph.plugins.manager import PluginManager
from seggraph.services.container import Services, all_indexes
from seggraph.settings import Settings
from seggraph.store.segments import refresh_derived_fields
from seggraph.web import graphiql, health, json_bodies
from seggraph.web.access_log import hide_query_strings
from seggraph.web.auth import ApiKeyGate, request_identity
from seggraph.web.disconnect import stop_watching
from seggraph.web.middleware import (
    GRAPHQL_PATH,
    BodyLimitMiddleware,
    RequestIdMiddleware,
    RequestRefused,
    scope_request_id,
    send_error,
)
from seggraph.web.overload import ConcurrencyLimitMiddleware

log = logging.getLogger(__name__)

#: Seconds the providers' shutdown and the database client's close may take together once
#: the requests are over (or the database timeout, when shorter): on a database that does not
#: answer, each waited until PyMongo gave the server up (half a minute), and `seggraph serve`
#: outlived a supervisor's grace period (Kubernetes: 30 s) after its
#: SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS (25) for the requests.
CLOSING_SECONDS = 2.0


def _media_type_lowered(scope: Scope) -> Scope:
    """``scope`` with its ``Content-Type`` in lower case: media types are case-insensitive
    (``Application/JSON`` is JSON, RFC 9110 §8.3.1), Strawberry compares them as written."""
    headers = scope["headers"]
    for index, (name, value) in enumerate(headers):
        if name == b"content-type":
            lowered = value.lower()
            if lowered == value:
                return scope
            return {**scope, "headers": [*headers[:index], (name, lowered), *headers[index + 1 :]]}
    return scope


class SeggraphGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with seggraph's context and the offline GraphiQL page.

    A request it refuses before anything runs (a body that is not a GraphQL request, a
    mutation by GET, an operation name the document does not have) is answered in GraphQL's
    errors shape with a stable ``extensions.code``, as seggraph's own 401, 403 and 413 are:
    Strawberry answers them in plain text, which GraphQL clients (Apollo, urql) cannot read.
    The codes: ``MALFORMED_JSON`` (not JSON, not UTF-8, nested too deeply), ``BAD_REQUEST``
    (not a GraphQL request, or a mode or actor header refused), ``UNKNOWN_OPERATION`` (400),
    ``METHOD_NOT_ALLOWED`` (405, with ``Allow``).
    """

    def __init__(self) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self._ide_html = graphiql.graphiql_html()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope = _media_type_lowered(scope)
        watch = None
        try:
            try:
                response = await self.run(Request(scope, receive))
            except HTTPException as refused:
                await send_refusal(send, scope, refused)
                return
            finally:
                watch = stop_watching(scope)
            await response(scope, receive, send)
        except asyncio.CancelledError:
            # Cancelled by the watch (a query's walk, its client gone): nobody to answer. A
            # cancellation of the server's own (shutting down) goes on.
            task = asyncio.current_task()
            if watch is None or not watch.hung_up or task is None or task.uncancel() > 0:
                raise
            log.info("request %s: the client hung up; its work stopped", scope_request_id(scope))

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        # An HTTP request gets its snapshot of the watched documents (seggraph.freshness),
        # and its operation runs after the freshness checks (started here, waited for by the
        # executor, which starts the reads the operation will need meanwhile).
        services = request.app.state.services
        mode, actor, api_key = request_identity(request)
        fresh = None
        if isinstance(request, Request):
            fresh = services.begin_request()
        else:
            await services.ensure_fresh()
        return Context(
            request=request,
            response=response,
            services=services,
            mode=mode,
            actor=actor,
            properties=services.properties.batcher(),
            api_key=api_key,
            request_id=scope_request_id(request.scope),
            fresh=fresh,
            task=asyncio.current_task(),
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, with its refusals given codes, and a mutation by GET answered 405
        with ``Allow: POST`` (GraphQL over HTTP) rather than 400."""
        method = request_adapter.method
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=OperationType.from_http(method),
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise RequestRefused(400, "UNKNOWN_OPERATION", exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise RequestRefused(
                405,
                "METHOD_NOT_ALLOWED",
                f"{exc.as_http_error_reason(method)}: send them by POST",
                [(b"allow", b"POST")],
            ) from exc
        except MissingQueryError as exc:
            if isinstance(request_data.extensions, dict) and request_data.extensions.get(
                "persistedQuery"
            ):
                # Automatic persisted queries (a hash, no text): the answer Apollo's and
                # urql's links read to send the text from now on. The parse and validation
                # caches already make a document sent again cheap.
                raise RequestRefused(
                    400, "PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported"
                ) from exc
            raise RequestRefused(
                400, "BAD_REQUEST", "No GraphQL query found in the request"
            ) from exc

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Unexpected errors masked (they are logged with the request id by the schema)."""
        if result.errors:
            result.errors = masked(result.errors, scope_request_id(request.scope))
        return await super().process_result(request, result)

    def encode_json(self, data: object) -> str | bytes:
        """orjson: several times faster than ``json.dumps`` on a response of a few hundred
        values. The output of graphql-core's serialisation is plain JSON values; anything
        orjson refuses (an integer beyond 64 bits in an extension) falls back to the standard
        library."""
        try:
            return orjson.dumps(data)
        except orjson.JSONEncodeError:
            return super().encode_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        """The request body (the only JSON Strawberry parses with this: GET parameters go
        through :meth:`parse_query_params`, and multipart uploads are off): a JSON object,
        or a list, which Strawberry refuses as a batch."""
        parsed = self.decode_request_json(data, "the request body")
        if not isinstance(parsed, dict | list):
            raise RequestRefused(
                400,
                "BAD_REQUEST",
                'the request body must be a JSON object such as {"query": "{ __typename }"}, '
                f"not {_json_kind(parsed)}",
            )
        return parsed

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL for a browser's GET, but not for a GET that carries a request without its
        text (an automatic persisted query's hash in ``extensions``): that is a client, and
        curl's ``Accept: */*`` would otherwise get the page instead of the answer that makes
        it send the text."""
        return super().should_render_graphql_ide(request) and not request.query_params.get(
            "extensions"
        )

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """A GET request's parameters, its ``variables`` and ``extensions`` decoded as JSON
        (named as such when they are not: Strawberry's message speaks of a request body)."""
        parsed: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            text = parsed.get(name)
            if text:
                parsed[name] = self.decode_request_json(text, f"the {name} query parameter")
        return parsed

    def decode_json(self, data: str | bytes) -> object:
        """The standard library's JSON (integers of any size exactly), refusing half a UTF-16
        surrogate pair (:mod:`seggraph.web.json_bodies`)."""
        return json_bodies.loads(data)

    def decode_request_json(self, data: str | bytes, what: str) -> object:
        """``data`` decoded as JSON, or a 400 naming ``what`` is not (Strawberry would let a
        body that is not UTF-8, or nested past the recursion limit, be a 500)."""
        try:
            return self.decode_json(data)
        except UnicodeDecodeError as exc:
            message = f"{what} is not valid UTF-8 ({exc.reason} at offset {exc.start})"
        except (json.JSONDecodeError, json_bodies.HalfSurrogate) as exc:
            message = f"{what} is not JSON: {exc}"
        except RecursionError:  # json.loads on thousands of nested brackets
            message = f"{what} is nested too deeply"
        raise RequestRefused(400, "MALFORMED_JSON", message)


def _json_kind(value: object) -> str:
    """What a decoded JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    return "a number"


async def send_refusal(send: Send, scope: Scope, refused: HTTPException) -> None:
    """A refusal of the GraphQL view in GraphQL's errors shape: a :class:`RequestRefused`
    with its code, any other (Strawberry's own) with one for its status."""
    if isinstance(refused, RequestRefused):
        code, headers = refused.code, refused.headers
    elif refused.status_code == 405:  # a method other than GET and POST
        code, headers = "METHOD_NOT_ALLOWED", ((b"allow", b"GET, POST"),)
    else:
        code, headers = "BAD_REQUEST", ()
    await send_error(send, scope, refused.status_code, code, refused.reason, headers)


def create_app(
    settings: Settings,
    *,
    extra_plugins: Iterable[object] = (),
    plugin_manager: PluginManager | None = None,
    freeze_after_startup: bool = False,
) -> Starlette:
    """The application; its lifespan opens the one MongoDB client, creates indexes, starts the
    providers and builds the property catalogue.

    The providers are every plugin of the ``seggraph`` entry-point group (under
    ``SEGGRAPH_PLUGINS`` / ``SEGGRAPH_DISABLE_PLUGINS``) plus ``extra_plugins`` (objects, or
    ``(name, object)`` pairs), unless a ready ``plugin_manager`` is given (``extra_plugins`` are
    then added to it). ``freeze_after_startup`` (what ``seggraph serve`` asks for): see
    :func:`freeze_startup_objects`.
    """
    if not settings.mongodb_uri:
        raise ValueError(
            "create_app needs settings.mongodb_uri; `seggraph serve` starts the embedded "
            "database and fills it in"
        )
    uri = settings.mongodb_uri
    if plugin_manager is None:
        plugins = PluginManager.load(settings, extra_plugins)
    else:
        plugins = plugin_manager
        for extra in extra_plugins:
            if isinstance(extra, tuple):
                plugins.add_plugin(extra[1], name=extra[0])
            else:
                plugins.add_plugin(extra)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = Database(
            uri,
            settings.database,
            server_selection_timeout_ms=round(settings.database_timeout_seconds * 1000),
        )
        # After the requests, the providers' shutdown and the client's close share this
        # (nothing to wait for on a database that answers; on one that does not, a wait that
        # only delays the supervisor's restart).
        closing = min(CLOSING_SECONDS, database.operation_timeout)
        closing_started: float | None = None  # once the providers' shutdown starts
        hide_query_strings()  # after uvicorn has configured its loggers
        log.info("database: %s (database %r)", redact_uri(uri), settings.database)
        try:
            try:
                await database.ensure_indexes(all_indexes())
                await refresh_derived_fields(database.db)
            except (ConnectionFailure, OperationFailure) as exc:
                raise StartupRefused(_database_refusal(uri, settings, exc)) from exc
            services = Services.build(settings, database)
            services.plugins = plugins
            await plugins.startup(database, services)
            try:
                try:
                    services.catalogue = plugins.build_catalogue()
                except DuplicatePropertyError as exc:
                    raise StartupRefused(str(exc)) from exc
                plugins.catalogue_changed = _catalogue_updater(services)
                _log_providers(plugins)
                app.state.services = services
                if freeze_after_startup:
                    freeze_startup_objects()
                yield
            finally:
                closing_started = time.monotonic()
                await plugins.shutdown(closing)
        finally:
            # A start-up refused (the database not answering) reaches here with no shutdown
            # run: the close then gets the whole of ``closing``.
            spent = 0.0 if closing_started is None else time.monotonic() - closing_started
            await database.close(closing - spent)

    graphql_app = SeggraphGraphQL()
    routes = [
        # Every method reaches the view, which answers one other than GET and POST with a 405
        # in GraphQL's errors shape (Starlette's own 405 is plain text).
        Route(GRAPHQL_PATH, ApiKeyGate(graphql_app), methods=None),
        *health.routes,
        *graphiql.routes,
        *plugins.routes(),
    ]
    middleware = [
        Middleware(StartupRefusalMessage),
        Middleware(RequestIdMiddleware),
        Middleware(ConcurrencyLimitMiddleware, max_requests=settings.max_concurrent_requests),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, paths=[GRAPHQL_PATH]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.settings = settings
    app.state.plugins = plugins
    return app


class StartupRefused(Exception):
    """A reason the service cannot start that its operator fixes (the database cannot be
    reached or refuses seggraph, two providers declare one key): said in one line, without a
    traceback (:class:`StartupRefusalMessage`)."""


class StartupRefusalMessage:
    """uvicorn logs the message of ``lifespan.startup.failed``, where Starlette puts the
    traceback of whatever the lifespan raised: sixty lines of PyMongo for a wrong
    ``SEGGRAPH_MONGODB_URI``. For a :class:`StartupRefused` the message is its reason alone;
    anything else (a bug) keeps its traceback. Starlette sends that message while it handles
    the exception, so the exception is the one being handled (``sys.exception()``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_reason(message: Message) -> None:
            refused = sys.exception()
            if message["type"] == "lifespan.startup.failed" and isinstance(refused, StartupRefused):
                message = {**message, "message": f"seggraph did not start: {refused}"}
            await send(message)

        await self.app(scope, receive, send_reason)


def _database_refusal(uri: str, settings: Settings, exc: Exception) -> str:
    where = f"the database at {redact_uri(uri)}"
    if isinstance(exc, OperationFailure):  # reached: authentication, authorisation
        reason = (exc.details or {}).get("errmsg") or str(exc)
        return f"{where} refused seggraph: {reason}"
    # PyMongo's message goes on with the topology's whole description after the reason.
    reason = str(exc).split(", Timeout: ")[0]
    return (
        f"{where} did not answer within {settings.database_timeout_seconds:g} s "
        f"(SEGGRAPH_MONGODB_URI, SEGGRAPH_DATABASE_TIMEOUT_SECONDS): {reason}"
    )


def _catalogue_updater(services: Services) -> Callable[[str, list[PropertyDefinition]], None]:
    """What the plugin manager calls when a provider's definitions change at run time."""

    def replace(provider: str, definitions: list[PropertyDefinition]) -> None:
        services.catalogue = services.catalogue.replace_provider(provider, definitions)

    return replace


def _log_providers(plugins: PluginManager) -> None:
    for info in plugins.describe():
        if info.status.value == "DISABLED":
            log.info("provider %s: DISABLED (%s)", info.name, info.last_error)
        elif info.status.value in ("OK", "DEGRADED"):
            log.info(
                "provider %s %s: %s, %d properties",
                info.name,
                info.version or "",
                info.status.value,
                len(info.properties),
            )
        else:
            log.warning("provider %s: %s (%s)", info.name, info.status.value, info.last_error)


#: Allocations (less deallocations) of container objects between two collections of the
#: youngest generation, once started (Python's default is 700). See
#: :func:`freeze_startup_objects`.
YOUNG_COLLECTION_THRESHOLD = 10_000


def freeze_startup_objects() -> None:
    """Puts every object alive once the service has started (the modules, the GraphQL schema,
    the providers, the catalogue) out of the cyclic garbage collector's way, and lets the
    young generation grow before it is collected.

    They live as long as the process, yet each full collection walked them all: under load a
    ``subscriber { segments }`` request triggered one about every second, 60-80 ms each, during
    which no request moved, and that was the p99 of the stage-2 bench (``bench/README.md``,
    "Findings: the service", item 12). Frozen, a full collection takes about 3 ms. Reference
    counting still frees them as usual; only a cycle among them would now stay, and these are
    objects the process keeps anyway.

    A request leaves no garbage in cycles (item 19), so what a young collection finds is the
    requests under way, which it walks and moves up for nothing: with Python's threshold of
    700, one every fourth ``subscriber { segments }`` request, about 30 µs of each request's
    CPU. At :data:`YOUNG_COLLECTION_THRESHOLD` one is rare; garbage in cycles from elsewhere
    (an error's traceback) waits a little longer to be freed. For a server process: the test
    suite, which builds many apps in one process, leaves both off.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)
