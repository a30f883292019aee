"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def healthz(request: Request) -> JSONResponse:
    """The process is up (does not touch the database)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database answers a ping; 503 otherwise."""
    if await request.app.state.services.database.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"status": "unavailable", "reason": "database did not answer"}, status_code=503
    )


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
