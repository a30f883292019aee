"""Walk slots are shared fairly between clients: a client queueing many walks does not keep
another client's one walk waiting behind all of them. The client is the request's API key
with keys on (whoever the key acts for), else its actor (``X-Seggraph-Actor``).

A real server with one walk slot (``bulk_concurrency=1``); the directory holds the first
walk's first page until the test releases it, and each request is sent once the one before
it waits for the slot, so the order they wait in is known."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from seggraph.services.walk_slots import FairSlots
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer, empty_collections
from tests.query_time.conftest import make_providers, provider_server
from tests.query_time.test_walks_going_wrong import COUNT, HeldLedger, create
from tests.security.conftest import bearer, run_cli


def waits_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture(params=["actors", "keys"])
def clients(
    request: pytest.FixtureRequest, settings: Settings, sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[LiveServer, HeldLedger, list[dict[str, str]], dict[str, str]]]:
    """The server, its held directory, the headers of client A's three requests and those of
    client B's one. Without keys, a client is an actor; with keys, a key, whatever actor each
    of its requests names."""
    empty_collections(sync_db)
    plain, crm = make_providers()
    ledger = HeldLedger(plain)
    keys = request.param == "keys"
    overrides: dict[str, Any] = {"auth": True, "api_key_cache_seconds": 0} if keys else {}
    server = provider_server(settings, (ledger, crm), bulk_concurrency=1, **overrides)
    if keys:

        def key() -> str:
            made = run_cli(
                server.app.state.services.settings,
                "keys",
                "create",
                "--mode",
                "test",
                "--role",
                "write",
            )
            assert made.exit_code == 0, made.output
            return str(made.stdout.strip().splitlines()[-1])

        key_a, key_b = key(), key()
        a = [bearer(key_a, **{"X-Seggraph-Actor": who}) for who in ("ann", "bo", "cy")]
        b = bearer(key_b, **{"X-Seggraph-Actor": "ann"})
    else:
        a = [{"X-Seggraph-Actor": "dashboard"}] * 3
        b = {"X-Seggraph-Actor": "editor"}
    try:
        yield server, ledger, a, b
    finally:
        ledger.release.set()
        server.stop()


def test_a_clients_one_walk_is_served_before_the_rest_of_another_clients_queue(
    clients: tuple[LiveServer, HeldLedger, list[dict[str, str]], dict[str, str]],
) -> None:
    """A holds the one slot and has two more counts waiting; B's count comes last and is
    walked second. Each count reads the ledger once (one page of 30 subscribers): A's
    segments read ``subscriber.mrr``, B's ``plan.interval``."""
    server, ledger, a, b = clients
    slots: FairSlots = server.app.state.services.walk_slots
    with httpx.Client(base_url=server.url, timeout=10) as http:
        q = GraphQLClient(http)
        q.http.headers.update(a[0])
        ids_a = [create(q, f"over {n}", f"subscriber.mrr > {n}") for n in (100, 150, 200)]
        id_b = create(q, "yearly", 'plan.interval = "YEAR"')

    def count(segment_id: str, headers: dict[str, str]) -> int:
        with httpx.Client(base_url=server.url, timeout=20, headers=headers) as http:
            data = GraphQLClient(http).query(COUNT, {"id": segment_id})
        return int(data["segment"]["memberCount"]["members"])

    with ThreadPoolExecutor(4) as pool:
        asked: list[Future[int]] = [pool.submit(count, ids_a[0], a[0])]
        assert ledger.walking.wait(10), "A's first walk never began"
        for waiting, (segment_id, headers) in enumerate(
            [(ids_a[1], a[1]), (ids_a[2], a[2]), (id_b, b)], 1
        ):
            asked.append(pool.submit(count, segment_id, headers))
            waits_for(lambda n=waiting: slots.waiting == n, f"{waiting} walks never waited")
        ledger.release.set()
        counts = [f.result(timeout=20) for f in asked]

    assert counts == [20, 15, 10, 9]  # mrr over 100, 150, 200; every third YEAR, bar sub_021
    walked = [keys for size, keys in ledger.calls if size == 30]
    mrr, interval = ("subscriber.mrr",), ("plan.interval",)
    assert walked == [mrr, interval, mrr, mrr]
