"""The ingestion endpoints over HTTP: authorisation, refusals without side effects, de-dup."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase

from tests.providers.cdp.conftest import WRITE_KEY

Db = SyncDatabase[dict[str, Any]]


def post(client: httpx.Client, kind: str, body: Any, key: str | None = WRITE_KEY) -> httpx.Response:
    """POST as Segment's libraries do: HTTP Basic with the write key and an empty password."""
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    if isinstance(body, bytes):
        return client.post(f"/cdp/v1/{kind}", content=body, headers=headers)
    return client.post(f"/cdp/v1/{kind}", json=body, headers=headers)


def snapshot(db: Db) -> dict[str, list[dict[str, Any]]]:
    return {
        name: list(db[name].find()) for name in ("cdp_events", "cdp_profiles", "cdp_event_latest")
    }


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_identify_and_track_are_stored(cdp: httpx.Client, sync_db: Db) -> None:
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    response = post(
        cdp,
        "identify",
        {"userId": "cus_1", "messageId": "m1", "timestamp": iso(at), "traits": {"plan": "pro"}},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 0, "ignored": 0}
    response = post(
        cdp,
        "track",
        {
            "userId": "cus_1",
            "messageId": "m2",
            "event": "Order Completed",
            "properties": {"total": 30},
            "timestamp": iso(at + timedelta(days=1)),
        },
    )
    assert response.status_code == 200, response.text
    events = {doc["_id"]: doc for doc in sync_db["cdp_events"].find()}
    assert set(events) == {"m1", "m2"}
    assert events["m2"]["event"] == "Order Completed" and events["m2"]["user_id"] == "cus_1"
    profile = sync_db["cdp_profiles"].find_one({"_id": "cus_1"})
    assert profile is not None
    assert profile["traits"] == {"plan": "pro"}
    assert profile["first_seen"] == at and profile["last_seen"] == at + timedelta(days=1)


def test_batch_counts_accepted_duplicates_and_ignored(cdp: httpx.Client, sync_db: Db) -> None:
    batch = {
        "batch": [
            {"type": "identify", "userId": "cus_1", "messageId": "a", "traits": {"seats": 3}},
            {"type": "track", "userId": "cus_1", "messageId": "b", "event": "Signed Up"},
            {"type": "page", "userId": "cus_2", "messageId": "c", "name": "Pricing"},
            {"type": "track", "anonymousId": "anon-1", "messageId": "d", "event": "Signed Up"},
            {"type": "track", "userId": "cus_1", "messageId": "b", "event": "Signed Up"},
        ]
    }
    response = post(cdp, "batch", batch)
    assert response.json() == {"success": True, "accepted": 3, "duplicates": 1, "ignored": 1}
    again = post(cdp, "batch", batch)
    assert again.json() == {"success": True, "accepted": 0, "duplicates": 4, "ignored": 1}
    assert sync_db["cdp_events"].count_documents({}) == 3
    assert sync_db["cdp_profiles"].count_documents({}) == 2


def test_a_repeated_message_changes_nothing(cdp: httpx.Client, sync_db: Db) -> None:
    first = {"userId": "u", "messageId": "same", "traits": {"plan": "pro"}}
    post(cdp, "identify", first)
    before = snapshot(sync_db)
    response = post(cdp, "identify", {**first, "traits": {"plan": "team"}})
    assert response.json()["duplicates"] == 1
    assert snapshot(sync_db) == before


def test_an_older_identify_arriving_late_never_overwrites_a_newer_trait(
    cdp: httpx.Client, sync_db: Db
) -> None:
    now = datetime(2026, 2, 1, tzinfo=UTC)
    post(cdp, "identify", {"userId": "u", "timestamp": iso(now), "traits": {"plan": "team"}})
    post(
        cdp,
        "identify",
        {
            "userId": "u",
            "timestamp": iso(now - timedelta(days=3)),
            "traits": {"plan": "free", "seats": 2},
        },
    )
    profile = sync_db["cdp_profiles"].find_one({"_id": "u"})
    assert profile is not None
    assert profile["traits"] == {"plan": "team", "seats": 2}
    assert profile["first_seen"] == now - timedelta(days=3) and profile["last_seen"] == now


def test_a_trait_sent_with_a_time_before_1970_is_kept(cdp: httpx.Client, sync_db: Db) -> None:
    """A trait the profile did not hold counted as held since 1970-01-01: an identify call
    timestamped earlier (a backfill of old records; times are taken from 0001-01-02) was
    accepted, its time became first_seen, and its traits were dropped, answered missing."""
    post(
        cdp,
        "identify",
        {"userId": "u", "timestamp": "1969-06-01T00:00:00Z", "traits": {"plan": "legacy"}},
    )
    post(
        cdp,
        "identify",
        {"userId": "u", "timestamp": "1950-01-01T00:00:00Z", "traits": {"plan": "older"}},
    )
    profile = sync_db["cdp_profiles"].find_one({"_id": "u"})
    assert profile is not None
    assert profile["traits"] == {"plan": "legacy"}
    assert profile["trait_at"] == {"plan": datetime(1969, 6, 1, tzinfo=UTC)}
    response = cdp.post(
        "/graphql",
        json={
            "query": '{ subscriber(id: "u") { properties(keys: ["cdp.trait.plan"]) { value } } }'
        },
    )
    assert response.json()["data"]["subscriber"]["properties"] == [{"value": "legacy"}]


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Basic " + base64.b64encode(b"wrong_key:").decode(),
        "Bearer " + WRITE_KEY,
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b":" + WRITE_KEY.encode()).decode(),
    ],
    ids=["no header", "wrong key", "bearer", "garbage", "key as password"],
)
def test_a_bad_write_key_is_401_and_writes_nothing(
    cdp: httpx.Client, sync_db: Db, auth: str | None
) -> None:
    post(cdp, "identify", {"userId": "u", "traits": {"plan": "pro"}})
    before = snapshot(sync_db)
    headers = {"authorization": auth} if auth else {}
    for kind, body in (
        ("identify", {"userId": "u", "traits": {"plan": "x"}}),
        ("track", {"userId": "u", "event": "Signed Up"}),
        ("batch", {"batch": [{"type": "track", "userId": "u", "event": "Signed Up"}]}),
    ):
        response = cdp.post(f"/cdp/v1/{kind}", json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json()["success"] is False
    assert snapshot(sync_db) == before


def test_the_password_is_ignored_as_segment_does(cdp: httpx.Client) -> None:
    response = cdp.post(
        "/cdp/v1/track", json={"userId": "u", "event": "x"}, auth=(WRITE_KEY, "anything")
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("kind", "body", "where"),
    [
        ("identify", b"{not json", "JSON"),
        ("identify", b"", "JSON"),
        ("identify", b'{"userId": "u", "traits": {"n": NaN}}', "JSON"),
        ("identify", b'{"userId": "u", "traits": {"name": "\\ud800"}}', "JSON"),  # was a 500
        ("identify", b'{"userId": "u", "traits": ' + b"[" * 2000 + b"]" * 2000 + b"}", "JSON"),
        ("identify", [1, 2], "body"),
        ("identify", {"traits": {"plan": "x"}}, "userId"),
        ("identify", {"userId": "u", "traits": "pro"}, "traits"),
        ("identify", {"userId": "u", "traits": {"$set": 1}}, "traits"),
        ("track", {"userId": "u"}, "event"),
        ("track", {"userId": "u", "event": "x", "timestamp": "last tuesday"}, "timestamp"),
        ("batch", {"batch": []}, "batch"),
        ("batch", {"events": []}, "batch"),
        (
            "batch",
            {
                "batch": [
                    {"type": "identify", "userId": "ok", "traits": {"plan": "x"}},
                    {"type": "track", "userId": "ok", "event": "Signed Up"},
                    {"type": "track", "userId": "bad"},
                ]
            },
            "batch[2].event",
        ),
        ("batch", {"batch": [{"type": "screenshot", "userId": "u"}]}, "batch[0].type"),
    ],
)
def test_malformed_input_is_400_and_writes_nothing(
    cdp: httpx.Client, sync_db: Db, kind: str, body: Any, where: str
) -> None:
    post(cdp, "identify", {"userId": "u", "messageId": "seed", "traits": {"plan": "pro"}})
    before = snapshot(sync_db)
    response = post(cdp, kind, body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert where in response.json()["error"]
    assert snapshot(sync_db) == before


def test_a_body_too_large_is_413_and_writes_nothing(cdp: httpx.Client, sync_db: Db) -> None:
    huge = {"batch": [{"type": "track", "userId": "u", "event": "x" * 150}] * 200}
    response = post(cdp, "batch", huge)
    assert response.status_code == 413
    assert snapshot(sync_db) == {"cdp_events": [], "cdp_profiles": [], "cdp_event_latest": []}


def test_only_post_is_allowed_and_the_refusal_is_json_like_every_other(
    cdp: httpx.Client, sync_db: Db
) -> None:
    """Starlette answered 405 in plain text ("Method Not Allowed")."""
    for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS"):
        for kind in ("identify", "track", "batch"):
            for auth in ((WRITE_KEY, ""), ("wrong", "")):
                response = cdp.request(method, f"/cdp/v1/{kind}", auth=auth, json={})
                assert response.status_code == 405, (method, kind)
                assert response.headers["allow"] == "POST"
                assert response.headers["content-type"] == "application/json"
                assert response.json() == {
                    "success": False,
                    "error": f"/cdp/v1/{kind} takes POST, not {method}",
                }
    head = cdp.head("/cdp/v1/track", auth=(WRITE_KEY, ""))
    assert head.status_code == 405 and head.headers["allow"] == "POST"
    assert snapshot(sync_db) == {"cdp_events": [], "cdp_profiles": [], "cdp_event_latest": []}


def test_the_write_key_may_be_sent_in_the_body_as_segment_allows(
    cdp: httpx.Client, sync_db: Db
) -> None:
    """Segment's HTTP API takes ``writeKey`` in the body from clients that cannot send the
    Basic header (a browser beacon); a wrong one, or a wrong header beside a right one, is
    refused and writes nothing."""
    sent = cdp.post(
        "/cdp/v1/identify",
        json={
            "writeKey": WRITE_KEY,
            "userId": "cus_7",
            "messageId": "b1",
            "traits": {"plan": "pro"},
        },
    )
    assert sent.status_code == 200, sent.text
    batch = cdp.post(
        "/cdp/v1/batch",
        json={
            "writeKey": WRITE_KEY,
            "batch": [{"type": "track", "userId": "cus_7", "event": "Login"}],
        },
    )
    assert batch.status_code == 200 and batch.json()["accepted"] == 1
    before = snapshot(sync_db)
    wrong_key = {"writeKey": "nope", "userId": "cus_7", "traits": {"plan": "free"}}
    wrong_header = {"writeKey": WRITE_KEY, "userId": "cus_7", "traits": {"plan": "free"}}
    for refused in (
        cdp.post("/cdp/v1/identify", json=wrong_key),
        cdp.post("/cdp/v1/identify", json=wrong_header, auth=("nope", "")),
        cdp.post("/cdp/v1/identify", content=b"{not json"),
    ):
        assert refused.status_code == 401, refused.text
        assert refused.json()["success"] is False
    assert snapshot(sync_db) == before
    profile = sync_db["cdp_profiles"].find_one({"_id": "cus_7"})
    assert profile is not None and profile["traits"] == {"plan": "pro"}


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_segments_other_message_types_have_endpoints_and_count_as_activity(
    cdp: httpx.Client, sync_db: Db, kind: str
) -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    response = post(cdp, kind, {"userId": "cus_8", "messageId": f"{kind}-1", "timestamp": iso(at)})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 0, "ignored": 0}
    profile = sync_db["cdp_profiles"].find_one({"_id": "cus_8"})
    assert profile is not None
    assert profile["first_seen"] == at and profile["last_seen"] == at


def test_an_unknown_endpoint_is_a_json_404_naming_the_endpoints(cdp: httpx.Client) -> None:
    """Starlette answered it in plain text ("Not Found")."""
    response = post(cdp, "identity", {"userId": "u"})
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert "/cdp/v1/identify" in response.json()["error"]
