"""Faults: the database stopping in the middle of requests, and a write failing between a
segment and its history entry. (Providers that hang or fail, and plugins that fail to import:
tests/plugins/test_failures.py and tests/query_time/test_query_time.py.)"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from seggraph import hookimpl
from seggraph.clock import utcnow
from seggraph.db import Database
from seggraph.domain.api_keys import ApiKey, Role, new_key
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.domain.segments import Mode
from seggraph.embedded import EmbeddedDatabase, free_port
from seggraph.settings import Settings
from seggraph.store.api_keys import to_document
from tests.conftest import TEST_URI_VARIABLE, LiveServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get(TEST_URI_VARIABLE)),
        reason="stops and restarts a database of its own (the embedded one)",
    ),
]

CREATE = """mutation($name: String!) { createSegment(input: {name: $name}) {
  segment { id version } userErrors { code } } }"""
UPDATE = """mutation($id: ID!, $v: Int!, $name: String!) {
  updateSegment(input: {id: $id, expectedVersion: $v, name: $name}) {
    segment { version } userErrors { code } } }"""


@dataclass
class Faulty:
    database: EmbeddedDatabase
    server: LiveServer
    db: Any  # a synchronous handle, to look behind the API
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.server.url, timeout=60)

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def faulty(tmp_path: Path, settings: Settings) -> Iterator[Faulty]:
    """A server on a database of its own, on a fixed port and data directory (so it can be
    stopped and started again), with fail points enabled; a short server selection timeout."""
    database = EmbeddedDatabase(
        tmp_path / "db", port=free_port(), extra_args=["--enable-test-commands"]
    )
    database.start()
    server = server_on(database, settings)
    server.start()
    client: MongoClient[dict[str, Any]] = MongoClient(database.uri, tz_aware=True)
    faulty = Faulty(database, server, client["faults"])
    try:
        yield faulty
    finally:
        faulty.http.close()
        server.stop()
        client.close()
        database.stop()


def server_on(database: EmbeddedDatabase, settings: Settings, **updates: Any) -> LiveServer:
    """A server (not started) on ``database``'s ``faults`` database, with no plugin and a 1 s
    database timeout unless ``updates`` say otherwise."""
    return LiveServer(
        settings.model_copy(
            update={
                "mongodb_uri": database.uri,
                "database": "faults",
                "plugins": [],
                "database_timeout_seconds": 1,
                **updates,
            }
        )
    )


def no_partial_writes(db: Any) -> None:
    """Every segment has the history entry of its version, and every history entry's version
    of a live segment is at most the segment's."""
    segments = {doc["_id"]: doc["version"] for doc in db["segments"].find()}
    for segment_id, version in segments.items():
        versions = sorted(
            h["version"] for h in db["segment_history"].find({"segment_id": str(segment_id)})
        )
        assert versions == list(range(1, version + 1)), (segment_id, version, versions)
    orphans = db["segment_history"].count_documents(
        {"segment_id": {"$nin": [str(i) for i in segments]}}
    )
    assert orphans == 0


def test_the_database_stopping_mid_request_gives_clear_errors_and_recovery_without_restart(
    faulty: Faulty,
) -> None:
    acknowledged: list[str] = []
    refusals: list[dict[str, Any]] = []
    slowest = [0.0]
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=faulty.server.url, timeout=60) as http:
            n = 0
            while not stop.is_set():
                n += 1
                started = time.monotonic()
                response = http.post(
                    "/graphql", json={"query": CREATE, "variables": {"name": f"w{n}"}}
                )
                slowest[0] = max(slowest[0], time.monotonic() - started)
                body = response.json()
                if response.status_code == 200 and not body.get("errors"):
                    acknowledged.append(body["data"]["createSegment"]["segment"]["id"])
                else:
                    refusals.append({"status": response.status_code, **body})
                    time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(acknowledged) < 20:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        faulty.database.stop()  # SIGTERM, with writes in flight
        acked_before = len(acknowledged)

        # While it is down: clear answers within the timeouts, never a hang.
        started = time.monotonic()
        ready = faulty.http.get("/readyz")
        assert ready.status_code == 503 and time.monotonic() - started < 5
        started = time.monotonic()
        down = faulty.gql("{ segments { totalCount } }")
        assert time.monotonic() - started < 5
        (error,) = down["errors"]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert error["message"].startswith("the database is unavailable; try again shortly")
        while len(refusals) < 2:
            assert time.monotonic() < deadline + 30
            time.sleep(0.05)

        faulty.database.start()  # the same port and data directory
        deadline = time.monotonic() + 30
        while faulty.http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.1)
        while len(acknowledged) < acked_before + 20:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(60)

    assert refusals, "no request met the outage"
    for refusal in refusals:
        assert refusal["status"] == 200, refusal
        codes = {e["extensions"]["code"] for e in refusal["errors"]}
        assert codes == {"DATABASE_UNAVAILABLE"}, refusal
    # a write waits for the database at most ~3 server-selection timeouts (one transaction)
    assert slowest[0] < 10
    stored = {str(doc["_id"]) for doc in faulty.db["segments"].find()}
    assert set(acknowledged) <= stored  # every acknowledged write survived the restart
    no_partial_writes(faulty.db)
    after = faulty.gql("{ segments(first: 1) { totalCount } }")
    assert after["data"]["segments"]["totalCount"] == len(stored)


def fail_next_insert(db: Any, *, skip: int) -> None:
    """Make the database refuse one insert command, after letting ``skip`` through."""
    db.client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"skip": skip, "times": 1},
        data={"failCommands": ["insert"], "errorCode": 2, "errorMessage": "injected failure"},
    )


def test_a_failure_between_a_segment_and_its_history_entry_writes_neither(
    faulty: Faulty,
) -> None:
    # Creating: the segment insert goes through, the history insert after it fails.
    fail_next_insert(faulty.db, skip=1)
    created = faulty.gql(CREATE, name="Half written")
    assert created["data"] is None
    assert created["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert faulty.db["segments"].count_documents({}) == 0
    assert faulty.db["segment_history"].count_documents({}) == 0

    # Updating: a history entry already holds the next version, so adding it fails.
    segment = faulty.gql(CREATE, name="Original")["data"]["createSegment"]["segment"]
    faulty.db["segment_history"].insert_one(
        {"segment_id": segment["id"], "version": 2, "note": "in the way"}
    )
    updated = faulty.gql(UPDATE, id=segment["id"], v=1, name="Renamed")
    assert updated["data"] is None
    assert updated["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    stored = faulty.db["segments"].find_one({})
    assert (stored["name"], stored["version"]) == ("Original", 1)

    # And the same write goes through once nothing is in the way.
    faulty.db["segment_history"].delete_one({"note": "in the way"})
    renamed = faulty.gql(UPDATE, id=segment["id"], v=1, name="Renamed")
    assert renamed["data"]["updateSegment"]["segment"] == {"version": 2}
    no_partial_writes(faulty.db)


def test_a_database_that_stops_answering_fails_requests_within_the_timeout(
    faulty: Faulty,
) -> None:
    """Paused (a hung host, a stalled disk): connections stay open and nothing answers. The
    requests fail as unavailable within the database timeout (1 s here), not after the half
    minute PyMongo takes to give the server up; the server recovers when it answers again."""
    assert faulty.gql("{ segments { totalCount } }")["data"]["segments"]["totalCount"] == 0
    process = faulty.database.process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert faulty.http.get("/readyz").status_code == 503
        assert time.monotonic() - started < 5
        started = time.monotonic()
        down = faulty.gql("{ segments { totalCount } }")
        assert time.monotonic() - started < 5
        (error,) = down["errors"]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    finally:
        os.kill(process.pid, signal.SIGCONT)
    deadline = time.monotonic() + 60
    while faulty.http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.1)
    assert faulty.gql("{ segments { totalCount } }")["data"]["segments"]["totalCount"] == 0


def test_a_database_that_stops_answering_fails_the_api_key_check_within_the_timeout(
    faulty: Faulty, settings: Settings
) -> None:
    """With keys on (the default), a request whose key is not cached reads it first: a hung
    database failed that read only when PyMongo's monitor gave the server up (20 s and more,
    with a 1 s database timeout), holding every such request as long."""
    full, key_id, secret_hash = new_key(Mode.TEST)
    faulty.db["api_keys"].insert_one(
        to_document(ApiKey(key_id, Mode.TEST, Role.READ, "probe", secret_hash, utcnow()))
    )
    # Every request checks its key (no cache).
    server = server_on(faulty.database, settings, auth=True, api_key_cache_seconds=0)
    server.start()
    query = {"query": "{ __typename }"}
    headers = {"authorization": f"Bearer {full}"}
    # The client gives up at 15 s: far beyond the 1 s the read may take.
    http = httpx.Client(base_url=server.url, timeout=15, headers=headers)
    try:
        assert http.post("/graphql", json=query).json() == {"data": {"__typename": "Query"}}
        process = faulty.database.process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        try:
            down = http.post("/graphql", json=query)
        finally:
            os.kill(process.pid, signal.SIGCONT)
        assert down.status_code == 503, down.text
        (error,) = down.json()["errors"]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        deadline = time.monotonic() + 60
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.1)
        assert http.post("/graphql", json=query).json() == {"data": {"__typename": "Query"}}
    finally:
        http.close()
        server.stop()


def test_a_database_that_stops_answering_fails_a_mutation_within_three_timeouts(
    faulty: Faulty,
) -> None:
    """A mutation reads before its transaction (how many segments the mode holds), a read
    PyMongo gives no time limit: on a hung database it waited until PyMongo's monitor gave the
    server up (20 to 30 s, with a 1 s database timeout). The mutation is bounded as a whole,
    by three timeouts, as its transaction is; nothing is written."""
    assert "errors" not in faulty.gql(CREATE, name="Before")
    process = faulty.database.process
    assert process is not None
    # The client gives up at 15 s: far beyond the 3 s the mutation may take.
    with httpx.Client(base_url=faulty.server.url, timeout=15) as http:
        os.kill(process.pid, signal.SIGSTOP)
        try:
            down = http.post("/graphql", json={"query": CREATE, "variables": {"name": "During"}})
        finally:
            os.kill(process.pid, signal.SIGCONT)
    (error,) = down.json()["errors"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    deadline = time.monotonic() + 60
    while faulty.http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.1)
    assert "errors" not in faulty.gql(CREATE, name="After")
    assert sorted(doc["name"] for doc in faulty.db["segments"].find()) == ["After", "Before"]
    no_partial_writes(faulty.db)


def test_a_database_that_stops_answering_during_a_type_change_is_not_too_many_values(
    faulty: Faulty, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversion that runs past its time limit on a database that answers is refused
    TOO_MANY_VALUES (raise the timeout, or remove values); one cut off by a database that
    stopped answering is the database being unavailable, not advice to raise a timeout."""
    from seggraph_custom.store import CustomStore

    server = server_on(faulty.database, settings, plugins=["custom"])
    server.start()
    process = faulty.database.process
    assert process is not None
    real = CustomStore.replace_values

    async def hangs(self: CustomStore, *args: Any, **kwargs: Any) -> Any:
        os.kill(process.pid, signal.SIGSTOP)  # the database stops answering mid-conversion
        return await real(self, *args, **kwargs)

    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:

            def gql(query: str) -> dict[str, Any]:
                body: dict[str, Any] = http.post("/graphql", json={"query": query}).json()
                return body

            created = gql(
                'mutation { createCustomProperty(input: {key: "seats", label: "Seats", '
                "type: TEXT}) { userErrors { code } } }"
            )
            assert created["data"]["createCustomProperty"]["userErrors"] == []
            written = gql(
                'mutation { setCustomPropertyValue(input: {subscriberId: "cus_1", key: "seats", '
                'value: "3"}) { written } }'
            )
            assert written["data"]["setCustomPropertyValue"]["written"] == 1
            monkeypatch.setattr(CustomStore, "replace_values", hangs)
            try:
                answer = gql(
                    'mutation { updateCustomProperty(input: {key: "seats", type: NUMBER}) '
                    "{ userErrors { code } } }"
                )
            finally:
                os.kill(process.pid, signal.SIGCONT)
                monkeypatch.undo()
    finally:
        server.stop()
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    stored = faulty.db["custom_definitions"].find_one({"_id": "seats"})
    assert stored is not None and stored["type"] == "TEXT"


class DatabaseProvider:
    """A provider keeping its values in the shared database, as the bundled ones do."""

    @hookimpl
    def register_properties(self, register: Callable[[PropertyDefinition], None]) -> None:
        register(PropertyDefinition("probe.seats", "Seats", PropertyType.NUMBER))

    @hookimpl
    async def startup(self, database: Database) -> None:
        self.values = database.db["probe_values"]

    @hookimpl
    async def resolve_properties(
        self, contexts: list[EvaluationContext]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        ids = [context.subscriber_id for context in contexts]
        found = {doc["_id"]: doc async for doc in self.values.find({"_id": {"$in": ids}})}
        return {c: {"probe.seats": found[c.subscriber_id]["seats"]} for c in contexts}


class HungProvider:
    """Never answers: a provider broken on its own, whatever the database does."""

    @hookimpl
    def register_properties(self, register: Callable[[PropertyDefinition], None]) -> None:
        register(PropertyDefinition("hung.seats", "Seats", PropertyType.NUMBER))

    @hookimpl
    async def resolve_properties(self) -> dict[EvaluationContext, dict[str, Any]]:
        await asyncio.sleep(3600)
        return {}


VALUE = """query($key: String!) { subscriber(id: "sub_1") {
  properties(keys: [$key]) { value unknownReason detail } } }"""


def test_providers_that_failed_while_the_database_did_not_answer_are_called_once_it_does(
    faulty: Faulty, settings: Settings
) -> None:
    """Every call of a provider reading the shared database runs late while the database is
    paused, so the provider was put in its cool-down: once the database answered again (and
    /readyz said ready), its values stayed UNKNOWN ("skipped until ...") for the rest of the
    cool-down (30 s by default; here an hour). A cool-down the database caused ends when it
    answers; a provider failing on its own while the database answers stays in its own."""
    faulty.db["probe_values"].insert_one({"_id": "sub_1", "seats": 4})
    server = LiveServer(
        settings.model_copy(
            update={
                "mongodb_uri": faulty.database.uri,
                "database": "faults",
                "plugins": [],
                "database_timeout_seconds": 1,
                "provider_timeout_seconds": 0.5,
                "provider_failure_threshold": 1,
                "provider_cooldown_seconds": 3600,
            }
        ),
        extra_plugins=[("probe", DatabaseProvider()), ("hung", HungProvider())],
    )
    server.start()
    http = httpx.Client(base_url=server.url, timeout=15)

    def value(key: str) -> dict[str, Any]:
        response = http.post("/graphql", json={"query": VALUE, "variables": {"key": key}})
        body = response.json()
        if "errors" in body:
            return {"errors": [e["extensions"]["code"] for e in body["errors"]]}
        (found,) = body["data"]["subscriber"]["properties"]
        return dict(found)

    try:
        assert value("probe.seats") == {"value": 4, "unknownReason": None, "detail": None}
        # Broken on its own, the database answering: its cool-down stands.
        assert value("hung.seats")["unknownReason"] == "TIMEOUT"
        assert http.get("/readyz").status_code == 200
        skipped = value("hung.seats")
        assert skipped["unknownReason"] == "PROVIDER_ERROR"
        assert "is skipped until" in skipped["detail"]

        process = faulty.database.process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        try:
            during = value("probe.seats")
            assert during.get("value") != 4, during
            assert http.get("/readyz").status_code == 503
        finally:
            os.kill(process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.1)
        assert value("probe.seats") == {"value": 4, "unknownReason": None, "detail": None}
        providers = http.post(
            "/graphql", json={"query": "{ providers { name status lastError } }"}
        ).json()["data"]["providers"]
        probe = next(p for p in providers if p["name"] == "probe")
        assert probe["status"] == "OK"
        assert "did not answer within 0.5s" in probe["lastError"]  # it did fail meanwhile
    finally:
        http.close()
        server.stop()


class _Flusher:
    """A provider that writes what it holds to the database when it shuts down."""

    @hookimpl
    async def startup(self, database: Database) -> None:
        self.database = database

    @hookimpl
    async def shutdown(self) -> None:
        await self.database.db["flusher"].insert_one({"flushed": True})


async def test_a_database_that_stops_answering_cuts_the_shutdown_short(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """After the requests, a provider's shutdown that writes to a database that stopped
    answering waited until PyMongo gave the server up (20 to 30 s, with a 1 s database
    timeout; SEGGRAPH_PROVIDER_STARTUP_TIMEOUT_SECONDS is 30), and a supervisor's SIGKILL came
    first. It is cut short at the database timeout, and said so."""
    from seggraph.app import create_app

    database = EmbeddedDatabase(tmp_path / "db", port=free_port())
    database.start()
    app = create_app(
        settings.model_copy(
            update={
                "mongodb_uri": database.uri,
                "database": "faults",
                "plugins": [],
                "database_timeout_seconds": 1,
            }
        ),
        extra_plugins=[("flusher", _Flusher())],
    )
    process = database.process
    assert process is not None
    try:
        with caplog.at_level("WARNING"):
            async with app.router.lifespan_context(app):
                assert await app.state.services.database.ping()
                os.kill(process.pid, signal.SIGSTOP)
                while Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] != "T":
                    await asyncio.sleep(0.01)  # until it has stopped
        assert (
            "seggraph.plugins.manager",
            logging.WARNING,
            "plugin 'flusher' did not shut down within 1 s: cut short",
        ) in caplog.record_tuples
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        os.kill(process.pid, signal.SIGCONT)
        database.stop()


def answered_while_paused(
    url: str, process: EmbeddedDatabase, query: str, **variables: Any
) -> dict[str, Any]:
    """The answer to ``query`` asked while the database does not answer (paused), once the
    database is back: the client gives up at 15 s, far beyond the 1 s database timeout and
    below the 20 to 30 s PyMongo takes to give the server up."""
    pid = process.process.pid if process.process is not None else 0
    with httpx.Client(base_url=url, timeout=15) as http:
        os.kill(pid, signal.SIGSTOP)
        try:
            body: dict[str, Any] = http.post(
                "/graphql", json={"query": query, "variables": variables}
            ).json()
        finally:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.1)
    return body


def unavailable(answer: dict[str, Any]) -> bool:
    """Every error of ``answer`` (one at least) says the database is unavailable."""
    codes = [error["extensions"]["code"] for error in answer.get("errors", ())]
    return bool(codes) and set(codes) == {"DATABASE_UNAVAILABLE"}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ tags { tag count } }", id="tags"),
        pytest.param(
            'query($id: ID!) { subscriber(id: "cus_1") { membership(segmentIds: [$id]) '
            "{ result } } }",
            id="membership",
        ),
        pytest.param(
            'query($id: ID!) { segmentEditImpact(id: $id, conditionsText: "") '
            "{ impact { leavingCount } } }",
            id="edit-impact",
        ),
    ],
)
def test_a_database_that_stops_answering_fails_a_segment_read_within_the_timeout(
    faulty: Faulty, query: str
) -> None:
    """These read segments without the request's snapshot (``tags`` counts them, a
    membership and an edit impact read the segments they name), with no time limit: on a
    database that stopped answering they waited until PyMongo gave the server up (20 to 30 s,
    with a 1 s database timeout)."""
    created = faulty.gql(CREATE, name="Tagged")["data"]["createSegment"]["segment"]
    # Answered while the database answers (the edit impact: refused, for want of a
    # subscriber directory among these providers).
    assert not unavailable(faulty.gql(query, id=created["id"]))
    answer = answered_while_paused(faulty.server.url, faulty.database, query, id=created["id"])
    assert unavailable(answer), answer


@pytest.mark.parametrize(
    "field",
    [
        pytest.param("history { version }", id="history"),
        pytest.param("usages { refId }", id="usages"),
    ],
)
def test_a_database_whose_reads_stop_answering_fails_a_segment_s_history_or_usages_in_time(
    faulty: Faulty, field: str
) -> None:
    """``Segment.history`` and ``Segment.usages`` read without the store's read deadline:
    when the database stopped answering those reads they waited as long as it did (a paused
    database stops the request's snapshot first, so a find held by a fail point stands in)."""
    created = faulty.gql(CREATE, name="Read")["data"]["createSegment"]["segment"]
    query = f"{{ segments(first: 1) {{ nodes {{ id {field} }} }} }}"
    # Answered while the database answers; the page is kept, so the field's is the next find.
    answered = faulty.gql(query)
    assert answered["data"]["segments"]["nodes"][0]["id"] == created["id"], answered
    faulty.db.client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={"failCommands": ["find"], "blockConnection": True, "blockTimeMS": 10_000},
    )
    try:
        with httpx.Client(base_url=faulty.server.url, timeout=15) as http:
            answer = http.post("/graphql", json={"query": query}).json()
    finally:
        faulty.db.client.admin.command("configureFailPoint", "failCommand", mode="off")
    assert unavailable(answer), answer


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ customProperties { key } }", id="definitions"),
        pytest.param('{ customProperty(key: "seats") { key } }', id="definition"),
        pytest.param('{ customPropertyValues(subscriberId: "cus_1") { key } }', id="values"),
    ],
)
def test_a_database_that_stops_answering_fails_a_custom_property_read_within_the_timeout(
    faulty: Faulty, settings: Settings, query: str
) -> None:
    """The custom property queries read the definitions and values themselves, with no time
    limit: on a database that stopped answering they waited until PyMongo gave the server up
    (20 to 30 s, with a 1 s database timeout)."""
    server = server_on(faulty.database, settings, plugins=["custom"])
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            created = http.post(
                "/graphql",
                json={
                    "query": 'mutation { createCustomProperty(input: {key: "seats", '
                    'label: "Seats", type: TEXT}) { userErrors { code } } }'
                },
            ).json()
            assert created["data"]["createCustomProperty"]["userErrors"] == []
            answered = http.post("/graphql", json={"query": query}).json()
            assert "errors" not in answered, answered
        answer = answered_while_paused(server.url, faulty.database, query)
    finally:
        server.stop()
    assert unavailable(answer), answer


def test_a_database_that_stops_answering_fails_retention_events_within_the_timeout(
    faulty: Faulty, settings: Settings
) -> None:
    """retentionEvents reads the billing provider's events itself, with no time limit: on a
    database that stopped answering it waited until PyMongo gave the server up (20 to 30 s,
    with a 1 s database timeout)."""
    query = '{ retentionEvents(subscriberId: "cus_1") { id } }'
    server = server_on(faulty.database, settings, plugins=["billing"])
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answered = http.post("/graphql", json={"query": query}).json()
            assert answered == {"data": {"retentionEvents": []}}, answered
        answer = answered_while_paused(server.url, faulty.database, query)
    finally:
        server.stop()
    assert unavailable(answer), answer
