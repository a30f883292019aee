"""The demo: generated deterministically, loaded once through the bundled providers, and every
example segment valid and neither empty nor everyone — asked over GraphQL on a live server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database as SyncDatabase
from typer.testing import CliRunner

from seggraph.cli import app as cli_app
from seggraph.demo.generator import PERSONAS, generate, subscriber_id
from seggraph.demo.loader import MARKER_COLLECTION, DemoRefused, load_demo
from seggraph.demo.segments import SEGMENTS
from seggraph.settings import Settings
from tests.conftest import GraphQLClient
from tests.providers.servers import run_cli

SIZE = 300
Db = SyncDatabase[dict[str, Any]]
#: Collections the demo writes, and the least each must hold for SIZE subscribers.
FILLED = {
    "billing_customers": SIZE,
    "billing_subscriptions": SIZE,
    "billing_invoices": SIZE,
    "billing_prices": 10,
    "billing_products": 4,
    "billing_coupons": 5,
    "billing_retention_events": 10,
    "crm_contacts": SIZE // 2,
    "crm_companies": SIZE // 2,
    "cdp_events": SIZE,
    "cdp_profiles": SIZE // 2,
    "custom_definitions": 4,
    "custom_values": SIZE // 2,
    "segments": len(SEGMENTS),
}


@pytest.fixture(scope="module")
def demo_settings(mongo_uri: str, database_name: str) -> Iterator[Settings]:
    """A database of its own (the demo refuses one holding other tests' data), dropped after."""
    name = f"{database_name}_demo"
    yield Settings(mongodb_uri=mongo_uri, database=name, auth=False, _env_file=None)  # type: ignore[call-arg]
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="module")
def demo_db(demo_settings: Settings) -> Iterator[Db]:
    assert demo_settings.mongodb_uri
    client: MongoClient[dict[str, Any]] = MongoClient(demo_settings.mongodb_uri, tz_aware=True)
    yield client[demo_settings.database]
    client.close()


@pytest.fixture(scope="module")
async def loaded(demo_settings: Settings, demo_db: Db) -> dict[str, Any]:
    assert demo_settings.mongodb_uri
    report = await load_demo(demo_settings, demo_settings.mongodb_uri, subscribers=SIZE)
    assert report.loaded
    return {"report": report}


@pytest.fixture(scope="module")
def demo_gql(loaded: dict[str, Any], demo_settings: Settings) -> Iterator[GraphQLClient]:
    from tests.conftest import LiveServer

    server = LiveServer(demo_settings)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            yield GraphQLClient(http)
    finally:
        server.stop()


def counts(db: Db) -> dict[str, int]:
    return {name: db[name].count_documents({}) for name in db.list_collection_names()}


def test_the_generator_is_deterministic_and_the_personas_come_first() -> None:
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    first, second = generate(50, now), generate(50, now)
    assert first.billing == second.billing
    assert first.cdp_messages == second.cdp_messages
    assert first.crm_contacts == second.crm_contacts
    assert first.subscriber_ids[:2] == ["cus_demo_00001", "cus_demo_00002"]
    assert subscriber_id(7, 250_000) == "cus_demo_000007"
    customers = {o["id"]: o for o in first.billing if o["object"] == "customer"}
    assert set(customers) == set(first.subscriber_ids)
    kinds = {o["object"] for o in first.billing}
    assert kinds == {"product", "price", "coupon", "customer", "subscription", "invoice"}
    assert set(PERSONAS) <= set(range(1, 51))


def test_the_help_texts_count_the_example_segments() -> None:
    """They said "a dozen example segments" of the 14."""
    live = sum(1 for s in SEGMENTS if s.live)
    for args, said in (
        (["--help"], f"and {len(SEGMENTS)} example segments ({live} of them copied to LIVE)"),
        (["demo", "--help"], f"{len(SEGMENTS)} example segments ({live} of them copied to LIVE)"),
        (["serve", "--help"], f"(10,000 subscribers, {len(SEGMENTS)} example segments)"),
    ):
        shown = CliRunner().invoke(cli_app, args, env={"COLUMNS": "400"})
        assert shown.exit_code == 0, shown.output
        assert said in shown.stdout and "dozen" not in shown.stdout


async def test_the_demo_loads_every_provider_and_its_segments(
    loaded: dict[str, Any], demo_db: Db
) -> None:
    found = counts(demo_db)
    for collection, least in FILLED.items():
        assert found.get(collection, 0) >= least, (collection, found.get(collection))
    assert found["billing_customers"] == SIZE
    marker = demo_db[MARKER_COLLECTION].find_one({"_id": "demo"})
    assert marker is not None and marker["status"] == "loaded"
    assert marker["subscribers"] == SIZE
    report = loaded["report"]
    assert set(report.segments) == {s.name for s in SEGMENTS}
    assert set(report.live_segments) == {s.name for s in SEGMENTS if s.live}
    assert demo_db["segments"].count_documents({"mode": "LIVE"}) == len(report.live_segments)


async def test_loading_again_loads_nothing(
    loaded: dict[str, Any], demo_settings: Settings, demo_db: Db
) -> None:
    before = counts(demo_db)
    assert demo_settings.mongodb_uri
    again = await load_demo(demo_settings, demo_settings.mongodb_uri, subscribers=SIZE)
    assert not again.loaded
    assert again.segments == loaded["report"].segments
    assert counts(demo_db) == before


def test_the_demo_command_says_it_is_already_loaded(
    loaded: dict[str, Any], demo_settings: Settings, tmp_path: Path, demo_db: Db
) -> None:
    before = counts(demo_db)
    done = run_cli(demo_settings, "demo", "--subscribers", "20", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "already loaded" in done.stderr
    assert counts(demo_db) == before


async def test_the_demo_refuses_a_database_with_other_data(
    mongo_uri: str, database_name: str
) -> None:
    name = f"{database_name}_not_demo"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client[name]["billing_customers"].insert_one({"_id": "cus_real", "email": "a@b.example"})
    try:
        settings = Settings(mongodb_uri=mongo_uri, database=name, auth=False, _env_file=None)  # type: ignore[call-arg]
        with pytest.raises(DemoRefused, match="already holds billing customers"):
            await load_demo(settings, mongo_uri, subscribers=10)
        assert client[name][MARKER_COLLECTION].count_documents({}) == 0
        assert client[name]["billing_customers"].count_documents({}) == 1
    finally:
        client.drop_database(name)
        client.close()


def test_every_segment_has_some_members_but_not_everyone(demo_gql: GraphQLClient) -> None:
    nodes = demo_gql.query("{ segments(first: 50) { totalCount nodes { id name tags } } }")[
        "segments"
    ]["nodes"]
    assert {n["name"] for n in nodes} == {s.name for s in SEGMENTS}
    for node in nodes:  # one at a time: each count walks the whole directory
        total = demo_gql.query(
            "query($id: ID!) { segment(id: $id) { memberCount { members unknown } } }",
            {"id": node["id"]},
        )["segment"]["memberCount"]
        assert 0 < total["members"] < SIZE, (node["name"], total)
        assert total["members"] + total["unknown"] < SIZE, (node["name"], total)
    live = demo_gql.query(
        "{ segments(first: 50) { nodes { name copiedFromId } } }", **{"X-Seggraph-Mode": "LIVE"}
    )["segments"]["nodes"]
    assert {n["name"] for n in live} == {s.name for s in SEGMENTS if s.live}
    assert all(n["copiedFromId"] for n in live)


def test_the_readme_persona_is_in_the_segments_it_describes(demo_gql: GraphQLClient) -> None:
    data = demo_gql.query(
        '{ subscriber(id: "cus_demo_00001") { segments { segment { name } result } } }'
    )
    names = {row["segment"]["name"] for row in data["subscriber"]["segments"]}
    assert {
        "High MRR (> $100)",
        "Annual plans",
        "Has add-ons",
        "Long-time subscribers (> 365 days)",
        "Enterprise companies (CRM)",
    } <= names
    assert "On a free trial" not in names
    trial = demo_gql.query(
        '{ subscriber(id: "cus_demo_00003") { segments { segment { name } } } }'
    )["subscriber"]["segments"]
    assert [row["segment"]["name"] for row in trial] == ["On a free trial"]


class Interrupted(Exception):
    pass


class StopInSegments:
    """Progress that stops the load after a few segments are made (a crash, a Ctrl-C)."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.in_segments = False

    def stage(self, name: str, total: int) -> None:
        self.in_segments = name == "segments"

    def advance(self, count: int) -> None:
        if self.in_segments:
            self.after -= count
            if self.after <= 0:
                raise Interrupted


async def test_an_interrupted_load_is_completed_by_the_next(
    mongo_uri: str, database_name: str
) -> None:
    name = f"{database_name}_demo_resume"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    db = client[name]
    settings = Settings(mongodb_uri=mongo_uri, database=name, auth=False, _env_file=None)  # type: ignore[call-arg]
    try:
        with pytest.raises(Interrupted):
            await load_demo(settings, mongo_uri, subscribers=40, progress=StopInSegments(3))
        marker = db[MARKER_COLLECTION].find_one({"_id": "demo"})
        assert marker is not None and marker["status"] == "loading"
        assert db["segments"].count_documents({}) == 3
        report = await load_demo(settings, mongo_uri, subscribers=500)
        assert report.loaded and report.subscribers == 40  # the size of the interrupted load
        assert db["billing_customers"].count_documents({}) == 40
        assert db["segments"].count_documents({"mode": "TEST"}) == len(SEGMENTS)
        assert db["segments"].count_documents({"mode": "LIVE"}) == len(report.live_segments)
    finally:
        client.drop_database(name)
        client.close()


def test_segments_about_paying_subscriptions_leave_canceled_ones_out(
    demo_gql: GraphQLClient,
) -> None:
    """A canceled subscription is neither "still paying monthly", nor a discounted or an
    add-on subscription worth an offer (QA found canceled customers in these segments)."""
    ids = [f"cus_demo_{i:05d}" for i in range(1, 201)]
    rows = demo_gql.query(
        'query($ids: [ID!]!) { propertyValues(subscriberIds: $ids, keys: ["subscription.status"])'
        " { subscriberId values { value } } }",
        {"ids": ids},
    )["propertyValues"]
    canceled = [r["subscriberId"] for r in rows if r["values"][0]["value"] == "CANCELED"]
    assert canceled  # the data set has some
    watched = {"Gold accounts on monthly plans", "Discounted > 20%", "Has add-ons"}
    for subscriber in canceled:
        answer = demo_gql.query(
            "query($id: ID!) { subscriber(id: $id) { segments { segment { name } } } }",
            {"id": subscriber},
        )["subscriber"]["segments"]
        assert not watched & {row["segment"]["name"] for row in answer}, subscriber


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_the_demo_keeps_cdp_traits_the_operator_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """`serve --demo` declares the demo's CDP traits and events only when they are unset. With
    them in .env it set its own in the environment, which wins over .env: the operator's
    traits were gone from the catalogue."""
    from seggraph_cdp.settings import CdpSettings

    from seggraph.demo.cli import CDP_EVENTS, apply_cdp_defaults
    from seggraph.settings import read_settings

    for name in ("SEGGRAPH_CDP_TRAITS", "SEGGRAPH_CDP_EVENTS"):
        monkeypatch.setenv(name, "")  # so that what apply_cdp_defaults sets is undone after
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    if where == ".env":
        (tmp_path / ".env").write_text("SEGGRAPH_CDP_TRAITS=vip:BOOLEAN\n")
    else:
        monkeypatch.setenv("SEGGRAPH_CDP_TRAITS", "vip:BOOLEAN")
    apply_cdp_defaults()
    cdp = read_settings(CdpSettings)
    assert [t.name for t in cdp.trait_declarations] == ["vip"]
    assert cdp.events == CDP_EVENTS  # not declared: the demo's
