"""Shared fixtures: one real database per test session, one live server over HTTP.

The database is a throw-away SecantusDB (started once, in memory) unless
``SEGGRAPH_TEST_MONGODB_URI`` names a real MongoDB; either way each session uses a database of
its own, dropped at the end. Tests talk to a real uvicorn server over real HTTP.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pymongo import MongoClient
from pymongo.database import Database as SyncDatabase

from seggraph.app import create_app
from seggraph.embedded import EmbeddedDatabase, free_port
from seggraph.settings import Settings

TEST_URI_VARIABLE = "SEGGRAPH_TEST_MONGODB_URI"


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    uri = os.environ.get(TEST_URI_VARIABLE)
    if uri:
        yield uri
        return
    with EmbeddedDatabase(":memory:") as embedded:
        yield embedded.uri


@pytest.fixture(scope="session")
def database_name() -> str:
    return f"seggraph_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def sync_db(mongo_uri: str, database_name: str) -> Iterator[SyncDatabase[dict[str, Any]]]:
    """A plain synchronous handle on the test database, for looking behind the API."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    yield client[database_name]
    client.drop_database(database_name)
    client.close()


@pytest.fixture(scope="session")
def settings(mongo_uri: str, database_name: str) -> Settings:
    # auth off: API keys have their own tests (tests/security), on servers of their own.
    return Settings(mongodb_uri=mongo_uri, database=database_name, auth=False, _env_file=None)  # type: ignore[call-arg]


class LiveServer:
    """uvicorn serving ``create_app(settings)`` in a background thread on a free port."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.port = free_port()
        self.app = create_app(settings, **app_options)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_server(settings: Settings, sync_db: SyncDatabase[dict[str, Any]]) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    server.start()
    yield server
    server.stop()


class GraphQLClient:
    """Posts GraphQL documents to the live server; ``query`` fails loudly on GraphQL errors."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def query(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        body = self.execute(query, variables, **headers)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data


def empty_collections(db: SyncDatabase[dict[str, Any]], prefix: str = "") -> None:
    """Every document of ``db``'s collections whose name starts with ``prefix`` deleted (the
    collections and their indexes kept)."""
    for name in db.list_collection_names():
        if name.startswith(prefix):
            db[name].delete_many({})


@pytest.fixture(scope="session")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def gql(http: httpx.Client, sync_db: SyncDatabase[dict[str, Any]]) -> GraphQLClient:
    """A GraphQL client on an empty database (every collection emptied, indexes kept)."""
    empty_collections(sync_db)
    return GraphQLClient(http)


@pytest.fixture
def start_live_server(sync_db: SyncDatabase[dict[str, Any]]) -> Iterator[Any]:
    """Start extra live servers (``start(settings, **create_app_options)``), e.g. with
    ``extra_plugins``; each is stopped when the test ends."""
    started: list[LiveServer] = []

    def start(settings: Settings, **app_options: Any) -> LiveServer:
        server = LiveServer(settings, **app_options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
