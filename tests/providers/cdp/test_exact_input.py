"""Input that is valid JSON but that the store could not take as it was read: numbers no double
holds, times beyond the calendar, field names with NUL. Each was a 500 that stored nothing (the
good messages of its batch included); each is now stored exactly or refused with the documented
400 naming the message and field, and a refused request stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import httpx
import pytest
from bson import Decimal128
from pymongo.database import Database as SyncDatabase
from seggraph_cdp.plugin import CdpPlugin

from seggraph.settings import Settings
from tests.conftest import empty_collections
from tests.providers.cdp.conftest import cdp_settings
from tests.providers.cdp.test_ingestion import post, snapshot
from tests.providers.cdp.test_properties import preview_result, values
from tests.providers.servers import PluginServer

Db = SyncDatabase[dict[str, Any]]


def assert_refused(
    client: httpx.Client, db: Db, kind: str, body: bytes | dict[str, Any], where: str
) -> str:
    """``body`` is refused with a 400 naming ``where`` and nothing of it is stored."""
    post(client, "identify", {"userId": "seed", "messageId": "seed", "traits": {"plan": "pro"}})
    before = snapshot(db)
    response = post(client, kind, body)
    assert response.status_code == 400, response.text
    refusal = response.json()
    assert refusal["success"] is False
    error: str = refusal["error"]
    assert error.startswith(f"{where}: "), error
    assert snapshot(db) == before
    return error


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "12345678901234567890.5",  # 21 significant digits: the double is 12345678901234567168
        "0.10000000000000001",  # the double is 0.1
        "123456789012345678901234567890",  # an integer beyond 64 bits
        "9223372036854775808",  # 2^63, the first integer beyond 64 bits
        "-9223372036854775809",
        "1234567890123456789012345678901.234",  # 34 significant digits, the most kept
    ],
)
def test_a_number_no_double_holds_is_stored_exactly_and_read_back(
    cdp: httpx.Client, number: str
) -> None:
    body = b'{"userId": "cus_n", "traits": {"seats": %s}}' % number.encode()
    response = post(cdp, "identify", body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    found = values(cdp, "cus_n", ["cdp.trait.seats"])["cdp.trait.seats"]
    assert found["state"] == "PRESENT" and found["unknownReason"] is None
    # Answered as condition values are: a string of the same number when no double holds it.
    assert Decimal(found["value"]) == Decimal(number)
    # A NUMBER: compared exactly (an approximation would not be EQ, nor above the number below).
    assert preview_result(cdp, "cus_n", f"cdp.trait.seats = {number}") == "MEMBER"
    with localcontext(prec=40):
        below = Decimal(number) - Decimal("0.001")
    assert preview_result(cdp, "cus_n", f"cdp.trait.seats > {below:f}") == "MEMBER"


def test_a_number_in_a_list_or_object_trait_is_answered_as_it_was_sent(cdp: httpx.Client) -> None:
    """Not of the declared type (a LIST of strings), so answered as sent, with the type error
    naming the numbers as they were read (not as their storage type)."""
    body = b'{"userId": "cus_l", "traits": {"tags": [0.10000000000000001, {"a": 1e-30}]}}'
    assert post(cdp, "identify", body).status_code == 200
    found = values(cdp, "cus_l", ["cdp.trait.tags"])["cdp.trait.tags"]
    assert found["value"] == ["0.10000000000000001", {"a": 1e-30}]
    assert found["unknownReason"] == "TYPE_ERROR"
    assert "Decimal128" not in found["detail"], found["detail"]


def test_an_event_property_no_double_holds_is_stored_exactly(
    cdp: httpx.Client, sync_db: Db
) -> None:
    body = (
        b'{"userId": "cus_e", "event": "Order Completed", "messageId": "e1", "properties": '
        b'{"amount": 0.10000000000000001, "items": [{"sku": 123456789012345678901234567890}]}}'
    )
    response = post(cdp, "track", body)
    assert response.status_code == 200, response.text
    found = values(cdp, "cus_e", ["cdp.event.order_completed.count_30d"])
    assert found["cdp.event.order_completed.count_30d"]["value"] == 1
    stored = sync_db["cdp_events"].find_one({"_id": "e1"})
    assert stored is not None
    assert stored["properties"] == {
        "amount": Decimal128("0.10000000000000001"),
        "items": [{"sku": Decimal128("123456789012345678901234567890")}],
    }


@pytest.mark.parametrize(
    ("kind", "body", "where"),
    [
        ("identify", b'{"userId": "u", "traits": {"seats": 1e400}}', "traits.seats"),
        ("identify", b'{"userId": "u", "traits": {"seats": -1e400}}', "traits.seats"),
        ("identify", b'{"userId": "u", "traits": {"seats": %s}}' % (b"9" * 40), "traits.seats"),
        (  # 35 significant digits: one more than a Decimal128 keeps
            "identify",
            b'{"userId": "u", "traits": {"seats": 0.12345678901234567890123456789012345}}',
            "traits.seats",
        ),
        (
            "identify",
            b'{"userId": "u", "traits": {"address": {"geo": [1, 2e400]}}}',
            "traits.address.geo[1]",
        ),
        (
            "track",
            b'{"userId": "u", "event": "Order Completed", "properties": {"amount": 1e400}}',
            "properties.amount",
        ),
        (
            "track",
            b'{"userId": "u", "event": "E", "properties": {"items": [{"price": 1e400}]}}',
            "properties.items[0].price",
        ),
        (  # the good messages before it are not stored either (all or nothing)
            "batch",
            b'{"batch": [{"type": "identify", "userId": "ok", "traits": {"seats": 2}},'
            b' {"type": "track", "userId": "ok", "event": "Signed Up"},'
            b' {"type": "track", "userId": "ok", "event": "E", "properties": {"n": 1e400}}]}',
            "batch[2].properties.n",
        ),
    ],
)
def test_a_number_that_cannot_be_kept_exactly_is_refused_naming_the_field(
    cdp: httpx.Client, sync_db: Db, kind: str, body: bytes, where: str
) -> None:
    error = assert_refused(cdp, sync_db, kind, body, where)
    assert "cannot be stored exactly" in error and "34 digits" in error


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "where"),
    [
        (  # year 0 in UTC
            "identify",
            {"userId": "u", "traits": {"plan": "x"}, "timestamp": "0001-01-01T00:00:00+01:00"},
            "timestamp",
        ),
        (  # year 10000 in UTC
            "identify",
            {"userId": "u", "traits": {"plan": "x"}, "timestamp": "9999-12-31T23:59:59-01:00"},
            "timestamp",
        ),
        (  # a day before year 1 in New York: every CDP property of the subscriber then failed
            "track",
            {"userId": "u", "event": "Signed Up", "timestamp": "0001-01-01T02:00:00Z"},
            "timestamp",
        ),
        (
            "track",
            {
                "userId": "u",
                "event": "Login",
                "originalTimestamp": "0001-01-01T00:00:00Z",
                "sentAt": "9999-12-31T00:00:00Z",
            },
            "originalTimestamp",
        ),
        (
            "track",
            {"userId": "u", "event": "E", "sentAt": "9999-12-31T23:59:59-01:00"},
            "sentAt",
        ),
        (
            "batch",
            {
                "batch": [
                    {"type": "identify", "userId": "ok", "traits": {"plan": "x"}},
                    {"type": "track", "userId": "ok", "event": "E"},
                ],
                "sentAt": "0001-01-01T00:00:00+14:00",
            },
            "sentAt",
        ),
        (
            "batch",
            {
                "batch": [
                    {"type": "identify", "userId": "ok", "traits": {"plan": "x"}},
                    {"type": "track", "userId": "u", "event": "E", "timestamp": "0001-01-01"},
                ]
            },
            "batch[1].timestamp",
        ),
    ],
)
def test_a_time_out_of_range_is_refused_naming_the_field(
    cdp: httpx.Client, sync_db: Db, kind: str, body: dict[str, Any], where: str
) -> None:
    assert "out of range" in assert_refused(cdp, sync_db, kind, body, where)


def test_a_clock_skew_beyond_the_calendar_is_not_corrected(cdp: httpx.Client) -> None:
    """receivedAt - (sentAt - originalTimestamp) is before year 1: the client's clock is no
    guide, so the time is originalTimestamp as sent (as when there is no sentAt)."""
    response = post(
        cdp,
        "track",
        {
            "userId": "cus_s",
            "event": "Signed Up",
            "originalTimestamp": "2026-01-05T09:30:00Z",
            "sentAt": "9999-12-30T00:00:00Z",
        },
    )
    assert response.status_code == 200, response.text
    found = values(cdp, "cus_s", ["cdp.last_seen", "cdp.event.signed_up.last_at"])
    for key in ("cdp.last_seen", "cdp.event.signed_up.last_at"):
        assert datetime.fromisoformat(found[key]["value"]) == datetime(
            2026, 1, 5, 9, 30, tzinfo=UTC
        )


def test_the_earliest_time_is_read_in_a_time_zone_behind_utc(
    settings: Settings, sync_db: Db
) -> None:
    """The first accepted time is a calendar day in every zone, so reading it never fails."""
    empty_collections(sync_db, "cdp_")
    zone = settings.model_copy(update={"timezone": "America/New_York"})
    server = PluginServer(zone, [("cdp", CdpPlugin(cdp_settings()))])
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            sent = {"userId": "cus_old", "event": "Signed Up", "timestamp": "0001-01-02T00:00:00Z"}
            assert post(client, "track", sent).status_code == 200
            found = values(client, "cus_old", ["cdp.last_seen", "cdp.days_since_last_seen"])
    finally:
        server.stop()
    assert {row["state"] for row in found.values()} == {"PRESENT"}
    assert datetime.fromisoformat(found["cdp.last_seen"]["value"]) == datetime(1, 1, 2, tzinfo=UTC)
    assert found["cdp.days_since_last_seen"]["value"] > 730_000


# --- field names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "where"),
    [
        ("identify", b'{"userId": "u", "traits": {"pl\\u0000an": "x"}}', "traits"),
        ("identify", b'{"userId": "u", "traits": {"a": {"zi\\u0000p": 1}}}', "traits.a"),
        ("identify", b'{"userId": "u", "traits": {"tags": [{"\\u0000": 1}]}}', "traits.tags[0]"),
        ("track", b'{"userId": "u", "event": "E", "properties": {"p\\u0000": 1}}', "properties"),
        (
            "batch",
            b'{"batch": [{"type": "identify", "userId": "ok", "traits": {"plan": "x"}},'
            b' {"type": "identify", "userId": "ok", "traits": {"pl\\u0000an": "x"}}]}',
            "batch[1].traits",
        ),
    ],
)
def test_a_field_name_with_nul_is_refused_naming_the_field(
    cdp: httpx.Client, sync_db: Db, kind: str, body: bytes, where: str
) -> None:
    assert "NUL" in assert_refused(cdp, sync_db, kind, body, where)


def test_dots_and_dollars_below_trait_names_are_stored_as_sent(
    cdp: httpx.Client, sync_db: Db
) -> None:
    """Only a trait name is a field path of the profile (so '.' and a leading '$' are refused
    there); names inside a trait value or in event properties are stored as they were sent."""
    traits = {"address": {"$city": "Oslo", "zip.code": "0150"}}
    properties = {"$revenue": 3, "a.b": {"$c.d": [1]}}
    assert post(cdp, "identify", {"userId": "d", "messageId": "i", "traits": traits}).is_success
    track = {"userId": "d", "messageId": "t", "event": "E", "properties": properties}
    assert post(cdp, "track", track).is_success
    profile = sync_db["cdp_profiles"].find_one({"_id": "d"})
    assert profile is not None and profile["traits"] == traits
    event = sync_db["cdp_events"].find_one({"_id": "t"})
    assert event is not None and event["properties"] == properties
