"""Unexpected errors are masked for clients and logged, with their traceback, under the request
id the client is given; errors the client can act on are shown as they are."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase

from seggraph.settings import Settings
from tests.conftest import LiveServer


@pytest.fixture
def server(settings: Settings, sync_db: SyncDatabase[dict[str, Any]]) -> Iterator[LiveServer]:
    """A server of its own: these tests break its services on purpose."""
    live = LiveServer(settings.model_copy(update={"plugins": []}))
    live.start()
    yield live
    live.stop()


def test_an_unexpected_error_is_masked_and_logged_with_the_request_id(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    services = server.app.state.services

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection string mongodb://admin:hunter2@db leaked")

    services.segments.page = broken
    with caplog.at_level(logging.ERROR, logger="seggraph.errors"):
        response = httpx.post(
            server.url + "/graphql",
            json={"query": "{ tags { tag } segments { totalCount } }"},
            timeout=30,
        )
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None or body["data"].get("segments") is None
    (error,) = body["errors"]
    assert error["message"] == f"Unexpected error; request id {request_id}"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["path"] == ["segments"]
    assert "hunter2" not in response.text
    (record,) = [r for r in caplog.records if request_id in r.getMessage()]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])
    assert "segments" in record.getMessage()


def test_an_error_outside_graphql_execution_is_masked_too(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise KeyError("internal detail")

    server.app.state.services.begin_request = broken  # called before the GraphQL execution
    with caplog.at_level(logging.ERROR, logger="seggraph.errors"):
        response = httpx.post(server.url + "/graphql", json={"query": "{ __typename }"}, timeout=30)
    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.json()["errors"][0]["message"] == f"Unexpected error; request id {request_id}"
    assert "internal detail" not in response.text
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_errors_the_client_can_act_on_are_not_masked(http: httpx.Client) -> None:
    def messages(query: str) -> list[str]:
        return [e["message"] for e in http.post("/graphql", json={"query": query}).json()["errors"]]

    assert messages("{ nope }") == ["Cannot query field 'nope' on type 'Query'."]
    assert messages('{ segments(after: "garbage") { totalCount } }') == [
        "not a valid cursor: 'garbage'"
    ]
    assert messages('{ subscriber(id: "s") { membership(segmentIds: ["x"]) { result } } }') == [
        "segmentIds: no TEST segment 'x'"
    ]
    assert "invalid value" in messages("query($n: Int!) { segments(first: $n) { totalCount } }")[0]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            b"{not json",
            "MALFORMED_JSON",
            "the request body is not JSON: Expecting property name",
        ),
        (
            b"[" * 100_000 + b"]" * 100_000,
            "MALFORMED_JSON",
            "the request body is nested too deeply",
        ),
        (
            b'{"query": "{ __typename \xff}"}',
            "MALFORMED_JSON",
            "the request body is not valid UTF-8 (invalid start byte at offset 24)",
        ),
        (b"null", "BAD_REQUEST", "the request body must be a JSON object such as"),
        (b'"{ __typename }"', "BAD_REQUEST", "must be a JSON object such as"),
        (b"1", "BAD_REQUEST", "must be a JSON object"),
        (b"true", "BAD_REQUEST", "must be a JSON object"),
        (b'[{"query": "{ __typename }"}]', "BAD_REQUEST", "Batching is not enabled"),
        (b'{"query": 1}', "BAD_REQUEST", "`query` must be a string"),
        (  # half a UTF-16 pair: no character, and the database refused to store it (a 500)
            b'{"query": "mutation { createSegment(input: {name: \\"x\\ud800\\"}) '
            b'{ segment { id } } }"}',
            "MALFORMED_JSON",
            "the request body is not JSON: it holds half a UTF-16 surrogate pair",
        ),
        (
            b'{"query": "{ __typename }", "variables": {"v": "\\udc00"}}',
            "MALFORMED_JSON",
            "the request body is not JSON: it holds half a UTF-16 surrogate pair",
        ),
    ],
    ids=[
        "not-json",
        "nested",
        "not-utf8",
        "null",
        "string",
        "number",
        "boolean",
        "array",
        "query",
        "surrogate",
        "low-surrogate",
    ],
)
def test_a_body_that_is_no_graphql_request_is_a_clear_400_and_logs_no_error(
    http: httpx.Client, caplog: pytest.LogCaptureFixture, body: bytes, code: str, message: str
) -> None:
    with caplog.at_level(logging.WARNING):
        response = http.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, (body[:20], response.text)
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code
    assert message in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_absurdly_nested_variables_are_a_clear_error(http: httpx.Client) -> None:
    deep_variables = (
        b'{"query": "query($c: ConditionGroupInput) { previewConditions(subscriberIds: [], '
        b'conditions: $c) { results { subscriberId } } }", "variables": {"c": '
        + b'{"groups": [' * 200
        + b"{}"
        + b"]}" * 200
        + b"}}"
    )
    response = http.post(
        "/graphql", content=deep_variables, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"] == "Variable values are nested too deeply."


def test_a_client_that_hangs_up_before_its_body_is_whole_logs_no_error(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing went wrong in the server: no ERROR and no traceback, whoever does it how often."""
    host, port = "127.0.0.1", live_server.port
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            with socket.create_connection((host, port), timeout=10) as raw:
                raw.sendall(
                    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 100\r\n\r\n{"query":'
                )
                time.sleep(0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            "disconnected before sending its body" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    hung_up = [
        r for r in caplog.records if "disconnected before sending its body" in r.getMessage()
    ]
    assert hung_up and all(r.exc_info is None for r in hung_up)
    assert (
        httpx.post(live_server.url + "/graphql", json={"query": "{ __typename }"}).status_code
        == 200
    )
