"""CDP properties read through GraphQL: declared traits by type, seen times, event counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from seggraph_cdp.properties import ValueReader
from seggraph_cdp.provider import CdpProvider
from starlette.applications import Starlette

from tests.providers.cdp.conftest import cdp_settings
from tests.providers.cdp.test_ingestion import iso, post


def values(client: httpx.Client, subscriber: str, keys: list[str]) -> dict[str, Any]:
    response = client.post(
        "/graphql",
        json={
            "query": "query($id: ID!, $keys: [String!]!) { subscriber(id: $id) { "
            "properties(keys: $keys) { key value state unknownReason detail provider } } }",
            "variables": {"id": subscriber, "keys": keys},
        },
    )
    body = response.json()
    assert not body.get("errors"), body
    return {row["key"]: row for row in body["data"]["subscriber"]["properties"]}


def test_catalogue_lists_declared_traits_and_configured_events(cdp: httpx.Client) -> None:
    response = cdp.post("/graphql", json={"query": "{ properties { key type provider } }"})
    found = {
        row["key"]: row["type"]
        for row in response.json()["data"]["properties"]
        if row["provider"] == "cdp"
    }
    assert found == {
        "cdp.first_seen": "DATETIME",
        "cdp.last_seen": "DATETIME",
        "cdp.days_since_last_seen": "NUMBER",
        "cdp.trait.plan": "TEXT",
        "cdp.trait.seats": "NUMBER",
        "cdp.trait.vip": "BOOLEAN",
        "cdp.trait.first_name": "TEXT",
        "cdp.trait.renewal": "DATE",
        "cdp.trait.signed_up_at": "DATETIME",
        "cdp.trait.tier": "ENUM",
        "cdp.trait.tags": "LIST",
        "cdp.trait.ltv": "MONEY",
        "cdp.trait.app_version": "SEMVER",
        "cdp.event.order_completed.count_30d": "NUMBER",
        "cdp.event.order_completed.last_at": "DATETIME",
        "cdp.event.signed_up.count_30d": "NUMBER",
        "cdp.event.signed_up.last_at": "DATETIME",
    }


def test_traits_are_read_as_their_declared_types(cdp: httpx.Client) -> None:
    post(
        cdp,
        "identify",
        {
            "userId": "cus_t",
            "traits": {
                "plan": "pro",
                "seats": 12.5,
                "vip": True,
                "firstName": "Ann",
                "renewal": "2026-09-30",
                "signedUpAt": "2025-06-01T10:00:00+02:00",
                "tier": "pro",
                "tags": ["beta", "eu"],
                "ltv": 1200.5,
                "undeclared": "kept but not a property",
            },
        },
    )
    found = values(
        cdp,
        "cus_t",
        [
            "cdp.trait.plan",
            "cdp.trait.seats",
            "cdp.trait.vip",
            "cdp.trait.first_name",
            "cdp.trait.renewal",
            "cdp.trait.signed_up_at",
            "cdp.trait.tier",
            "cdp.trait.tags",
            "cdp.trait.ltv",
        ],
    )
    assert {k: v["state"] for k, v in found.items()} == dict.fromkeys(found, "PRESENT")
    assert found["cdp.trait.plan"]["value"] == "pro"
    assert found["cdp.trait.seats"]["value"] == 12.5
    assert found["cdp.trait.vip"]["value"] is True
    assert found["cdp.trait.first_name"]["value"] == "Ann"
    assert found["cdp.trait.renewal"]["value"] == "2026-09-30"
    assert datetime.fromisoformat(found["cdp.trait.signed_up_at"]["value"]) == datetime(
        2025, 6, 1, 8, tzinfo=UTC
    )
    assert found["cdp.trait.tags"]["value"] == ["beta", "eu"]
    assert found["cdp.trait.ltv"]["provider"] == "cdp"


def test_a_trait_of_the_wrong_type_is_set_and_unknown_in_comparisons(cdp: httpx.Client) -> None:
    """operators.md, presence: a value present but not readable as the declared type is set;
    a condition comparing it is UNKNOWN (a type error). It is never converted."""
    post(cdp, "identify", {"userId": "cus_w", "traits": {"seats": "12", "vip": "yes"}})
    found = values(cdp, "cus_w", ["cdp.trait.seats", "cdp.trait.vip", "cdp.trait.plan"])
    assert found["cdp.trait.seats"]["state"] == "PRESENT"
    assert found["cdp.trait.seats"]["value"] == "12"
    assert found["cdp.trait.seats"]["unknownReason"] == "TYPE_ERROR"
    assert found["cdp.trait.seats"]["detail"].startswith("expected")
    assert found["cdp.trait.vip"]["unknownReason"] == "TYPE_ERROR"
    assert found["cdp.trait.plan"]["state"] == "MISSING"
    assert preview_result(cdp, "cus_w", "cdp.trait.seats IS SET") == "MEMBER"
    assert preview_result(cdp, "cus_w", "cdp.trait.seats > 1") == "UNKNOWN"


def preview_result(client: httpx.Client, subscriber: str, text: str) -> str:
    """What ``previewConditions`` answers for ``text`` about one subscriber."""
    body = client.post(
        "/graphql",
        json={
            "query": "query($id: ID!, $text: String!) { previewConditions(subscriberIds: [$id], "
            "conditionsText: $text) { results { evaluation { result } } } }",
            "variables": {"id": subscriber, "text": text},
        },
    ).json()
    [row] = body["data"]["previewConditions"]["results"]
    result: str = row["evaluation"]["result"]
    return result


def test_a_semver_trait_is_compared_by_semantic_version_precedence(cdp: httpx.Client) -> None:
    """The one bundled way to a SEMVER property: 2.10.0 is after 2.9.1 (not before, as text
    would have it), a pre-release before its release, build metadata ignored; a leading ``v``
    or a non-version is set and UNKNOWN in comparisons (operators.md, Semver)."""
    versions = {
        "cus_v1": "2.10.0",
        "cus_v2": "2.9.1",
        "cus_v3": "2.10.0-beta.1",
        "cus_v4": "2.10.0+build.7",
        "cus_v5": "v2.10.0",
        "cus_v6": "latest",
    }
    for who, version in versions.items():
        post(cdp, "identify", {"userId": who, "traits": {"appVersion": version}})
    answers = {
        who: preview_result(cdp, who, 'cdp.trait.app_version >= "2.10.0"') for who in versions
    }
    assert answers == {
        "cus_v1": "MEMBER",
        "cus_v2": "NOT_MEMBER",
        "cus_v3": "NOT_MEMBER",
        "cus_v4": "MEMBER",
        "cus_v5": "UNKNOWN",
        "cus_v6": "UNKNOWN",
    }
    assert preview_result(cdp, "cus_v4", 'cdp.trait.app_version = "2.10.0"') == "MEMBER"
    assert preview_result(cdp, "cus_v5", "cdp.trait.app_version IS SET") == "MEMBER"
    assert (
        values(cdp, "cus_v5", ["cdp.trait.app_version"])["cdp.trait.app_version"]["unknownReason"]
        == "TYPE_ERROR"
    )


def test_seen_times_and_event_properties(cdp: httpx.Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(days=d) for d in (40, 29, 3, 2)]
    post(
        cdp,
        "batch",
        {
            "batch": [
                {
                    "type": "track",
                    "userId": "cus_e",
                    "event": "Order Completed",
                    "timestamp": iso(at),
                }
                for at in times
            ]
            + [{"type": "identify", "userId": "cus_e", "timestamp": iso(now - timedelta(days=50))}]
        },
    )
    found = values(
        cdp,
        "cus_e",
        [
            "cdp.first_seen",
            "cdp.last_seen",
            "cdp.days_since_last_seen",
            "cdp.event.order_completed.count_30d",
            "cdp.event.order_completed.last_at",
            "cdp.event.signed_up.count_30d",
            "cdp.event.signed_up.last_at",
        ],
    )
    assert datetime.fromisoformat(found["cdp.first_seen"]["value"]) == now - timedelta(days=50)
    assert datetime.fromisoformat(found["cdp.last_seen"]["value"]) == now - timedelta(days=2)
    assert found["cdp.days_since_last_seen"]["value"] == 2
    assert found["cdp.event.order_completed.count_30d"]["value"] == 3
    assert datetime.fromisoformat(found["cdp.event.order_completed.last_at"]["value"]) == (
        now - timedelta(days=2)
    )
    assert found["cdp.event.signed_up.count_30d"]["value"] == 0
    assert found["cdp.event.signed_up.last_at"]["state"] == "MISSING"


def test_a_subscriber_never_seen_has_every_cdp_property_missing(cdp: httpx.Client) -> None:
    found = values(
        cdp,
        "nobody",
        ["cdp.first_seen", "cdp.days_since_last_seen", "cdp.event.signed_up.count_30d"],
    )
    assert {row["state"] for row in found.values()} == {"MISSING"}


def test_segments_use_cdp_properties(cdp: httpx.Client) -> None:
    post(cdp, "track", {"userId": "active", "event": "Signed Up"})
    post(cdp, "identify", {"userId": "dormant", "timestamp": "2020-01-01T00:00:00Z"})
    created = cdp.post(
        "/graphql",
        json={
            "query": 'mutation { createSegment(input: {name: "Recently active", conditions: '
            '{conditions: [{property: "cdp.days_since_last_seen", operator: LTE, value: 7}, '
            '{property: "cdp.event.signed_up.count_30d", operator: GTE, value: 1}]}}) '
            "{ segment { id } userErrors { message } } }"
        },
    ).json()["data"]["createSegment"]
    assert created["userErrors"] == []
    query = (
        "query($id: ID!, $s: [ID!]!) { subscriber(id: $id) { membership(segmentIds: $s) "
        "{ result } } }"
    )
    results = {}
    for who in ("active", "dormant", "nobody"):
        body = cdp.post(
            "/graphql",
            json={"query": query, "variables": {"id": who, "s": [created["segment"]["id"]]}},
        ).json()
        assert not body.get("errors"), body
        results[who] = body["data"]["subscriber"]["membership"][0]["result"]
    assert results == {"active": "MEMBER", "dormant": "NOT_MEMBER", "nobody": "NOT_MEMBER"}


@pytest.mark.parametrize("key", [None, "", "   "])
async def test_without_a_write_key_every_request_is_refused(key: str | None) -> None:
    """A blank key (a deployment template expanding a missing secret to "") is no key: it
    was compared with the blank user name of ``-u ":"`` and let anyone write."""
    provider = CdpProvider(cdp_settings(write_key=key))
    transport = httpx.ASGITransport(app=Starlette(routes=provider.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp") as client:
        for extra in ({"auth": ("", "")}, {"auth": (key or "", "")}, {}):
            body = {"userId": "u", "event": "x", "writeKey": key or ""}
            response = await client.post("/cdp/v1/track", json=body, **extra)  # type: ignore[arg-type]
            assert response.status_code == 401, (extra, response.text)
            assert "SEGGRAPH_CDP_WRITE_KEY" in response.json()["error"]


def test_a_time_far_ahead_counts_as_the_time_the_message_arrived(cdp: httpx.Client) -> None:
    """A client clock in 2099 kept the subscriber last seen "today" (days since last seen
    below zero) and its event in every 30-day count until then."""
    before = datetime.now(UTC)
    post(cdp, "track", {"userId": "cus_f", "event": "Opened", "timestamp": "2099-01-01T00:00:00Z"})
    found = values(cdp, "cus_f", ["cdp.last_seen", "cdp.days_since_last_seen"])
    last_seen = datetime.fromisoformat(found["cdp.last_seen"]["value"])
    assert before - timedelta(seconds=5) <= last_seen <= datetime.now(UTC) + timedelta(seconds=5)
    assert found["cdp.days_since_last_seen"]["value"] == 0


def test_an_integer_beyond_2_53_is_answered_as_a_string_everywhere(cdp: httpx.Client) -> None:
    """A trait 9007199254740993 was answered as a bare JSON number, which a JavaScript client
    reads as 9007199254740992; it is answered as condition values are: a string of the same
    number. Integers a double holds stay numbers."""
    big = 2**53 + 1
    for who, seats in (("cus_big", big), ("cus_neg", -big), ("cus_edge", 2**53 - 1)):
        post(cdp, "identify", {"userId": who, "traits": {"seats": seats, "tags": ["a"]}})
    expected = {"cus_big": str(big), "cus_neg": str(-big), "cus_edge": 2**53 - 1}
    for who, answered in expected.items():
        assert values(cdp, who, ["cdp.trait.seats"])["cdp.trait.seats"]["value"] == answered
    body = cdp.post(
        "/graphql",
        json={
            "query": "query($ids: [ID!]!, $keys: [String!]!) { propertyValues(subscriberIds: "
            "$ids, keys: $keys) { subscriberId values { key value } } previewConditions("
            "subscriberIds: $ids, conditionsText: $text) { results { subscriberId evaluation "
            "{ result explanation { conditions { expected actual } } } } } }".replace(
                "$text", '"cdp.trait.seats > 9007199254740992"'
            ),
            "variables": {"ids": list(expected), "keys": ["cdp.trait.seats"]},
        },
    ).json()
    assert not body.get("errors"), body
    listed = {
        row["subscriberId"]: row["values"][0]["value"] for row in body["data"]["propertyValues"]
    }
    assert listed == expected
    explained = {
        row["subscriberId"]: (
            row["evaluation"]["result"],
            row["evaluation"]["explanation"]["conditions"][0]["actual"],
        )
        for row in body["data"]["previewConditions"]["results"]
    }
    assert explained == {
        "cus_big": ("MEMBER", str(big)),
        "cus_neg": ("NOT_MEMBER", str(-big)),
        "cus_edge": ("NOT_MEMBER", 2**53 - 1),
    }
    # The raw text, as a JavaScript client parses it: no integer beyond 2^53 in it.
    raw = cdp.post(
        "/graphql",
        json={
            "query": '{ subscriber(id: "cus_big") { properties(keys: ["cdp.trait.seats"]) '
            "{ value } } }"
        },
    ).text
    assert f'"value":"{big}"' in raw.replace(" ", "")


def test_last_seen_a_few_minutes_ahead_past_midnight_is_zero_days_ago() -> None:
    """A message up to five minutes ahead of its receipt is kept as sent: received at 23:58,
    sent as 00:02 the next day, it made the subscriber last seen -1 days ago."""
    reader = ValueReader([], {}, zone=UTC, currency="USD")
    now = datetime(2026, 3, 1, 23, 58, tzinfo=UTC)
    profile = {"last_seen": datetime(2026, 3, 2, 0, 2, tzinfo=UTC)}
    assert reader.values(["cdp.days_since_last_seen"], profile, {}, now) == {
        "cdp.days_since_last_seen": 0
    }
    profile = {"last_seen": datetime(2026, 2, 27, 0, 2, tzinfo=UTC)}
    assert reader.values(["cdp.days_since_last_seen"], profile, {}, now) == {
        "cdp.days_since_last_seen": 2
    }
