"""Servers with API keys on (the session's server runs with auth off), and a key maker that
goes through the `seggraph keys` command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase
from typer.testing import CliRunner

from seggraph.catalogue import Catalogue
from seggraph.cli import app as cli_app
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.segments.conftest import TEST_PROPERTIES, SegmentClient

KeyMaker = Callable[..., str]


def run_cli(settings: Settings, *args: str) -> Any:
    """``seggraph ARGS`` in-process, against the test database (SEGGRAPH_MONGODB_URI)."""
    assert settings.mongodb_uri
    result = CliRunner().invoke(
        cli_app,
        list(args),
        env={
            "SEGGRAPH_MONGODB_URI": settings.mongodb_uri,
            "SEGGRAPH_DATABASE": settings.database,
            "COLUMNS": "200",
        },
    )
    return result


@pytest.fixture(scope="session")
def auth_settings(settings: Settings) -> Settings:
    """Keys on, and checked against the database on every request (no cache)."""
    return settings.model_copy(update={"auth": True, "api_key_cache_seconds": 0})


@pytest.fixture(scope="session")
def auth_server(
    auth_settings: Settings, sync_db: SyncDatabase[dict[str, Any]]
) -> Iterator[LiveServer]:
    server = LiveServer(auth_settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def auth_http(auth_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def make_key(auth_settings: Settings) -> KeyMaker:
    """``make_key(mode="test", role="write", name="")``: a new key, made by `seggraph keys
    create`; returns the full key text."""

    def make(mode: str = "test", role: str = "write", name: str = "") -> str:
        result = run_cli(
            auth_settings, "keys", "create", "--mode", mode, "--role", role, "--name", name
        )
        assert result.exit_code == 0, result.output
        key: str = result.stdout.strip().splitlines()[-1]
        return key

    return make


@pytest.fixture
def seg(gql: GraphQLClient, live_server: LiveServer) -> Iterator[SegmentClient]:
    """Segments on the session's server (auth off), with the segment tests' properties for
    the test only: the providers' catalogue is put back after it, so that the tests that
    follow see the real one whatever order they run in."""
    services = live_server.app.state.services
    real = services.catalogue
    services.catalogue = Catalogue(TEST_PROPERTIES)
    yield SegmentClient(gql)
    services.catalogue = real


def bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}
