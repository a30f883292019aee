"""GraphiQL served by seggraph itself, so exploring the schema works with no internet.

The scripts and styles (GraphiQL, React and ReactDOM UMD builds) come from the
``graphene-django-graphiql-static`` wheel, a dependency that only ships those files; its
Django views are never imported. Strawberry's own page would load them from a CDN.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ASSETS_PATH = "/graphiql-assets"
_PACKAGE = "graphene_django_graphiql_static"
_MEDIA_TYPES = {".js": "application/javascript", ".css": "text/css"}
ASSET_NAMES = (
    "graphiql.min.css",
    "graphiql.min.js",
    "react.production.min.js",
    "react-dom.production.min.js",
)


def graphiql_html() -> str:
    template = resources.files("seggraph.web").joinpath("graphiql.html").read_text("utf-8")
    return template.replace("{assets}", ASSETS_PATH)


def _asset_bytes(name: str) -> bytes:
    return resources.files(_PACKAGE).joinpath("static", _PACKAGE, name).read_bytes()


async def graphiql_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSET_NAMES:
        return Response("not found", status_code=404, media_type="text/plain")
    suffix = name[name.rfind(".") :]
    return Response(
        _asset_bytes(name),
        media_type=_MEDIA_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=86400"},
    )


routes = [Route(ASSETS_PATH + "/{name}", graphiql_asset, methods=["GET"])]
