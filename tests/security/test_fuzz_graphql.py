"""schemathesis against the GraphQL schema: every query and mutation, with generated arguments,
on a live server with API keys on. No 5xx, and no unexpected (masked) error: every refusal is a
validation error, a userError or an error written for the client.

The number of examples per operation is bounded (``SEGGRAPH_FUZZ_EXAMPLES``, default 25) so the
whole run stays well under a minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pymongo import MongoClient

from seggraph.settings import Settings
from tests.conftest import LiveServer
from tests.security.conftest import run_cli

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
EXAMPLES = int(os.environ.get("SEGGRAPH_FUZZ_EXAMPLES", "25"))

schema = schemathesis.graphql.from_path(SCHEMA)


@pytest.fixture(scope="module")
def fuzz_target(settings: Settings, mongo_uri: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A server on a database of its own (the fuzzer writes odd things), with a write key."""
    fuzz_settings = settings.model_copy(
        update={"auth": True, "database": settings.database + "_fuzz"}
    )
    server = LiveServer(fuzz_settings)
    server.start()
    created = run_cli(fuzz_settings, "keys", "create", "--mode", "test", "--role", "write")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    yield server.url + "/graphql", {"Authorization": f"Bearer {key}"}
    server.stop()
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(fuzz_settings.database)
    client.close()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_server_fail(case: Any, fuzz_target: tuple[str, dict[str, str]]) -> None:
    url, headers = fuzz_target
    response = case.call(base_url=url, headers=headers, timeout=30)
    assert response.status_code < 500, (case.body, response.text)
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code != "INTERNAL_SERVER_ERROR", (case.body, error)
        assert not error["message"].startswith("Unexpected error"), (case.body, error)
