"""Custom property values through GraphQL: one and in bulk, refusals, reading them back."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database as SyncDatabase

from tests.conftest import GraphQLClient
from tests.providers.custom.conftest import (
    create,
    create_segment,
    properties,
    set_value,
    set_values,
)

Db = SyncDatabase[dict[str, Any]]


@pytest.fixture
def defined(gql: GraphQLClient) -> GraphQLClient:
    for fields in (
        {"key": "vip", "type": "BOOLEAN"},
        {"key": "seats", "type": "NUMBER"},
        {"key": "nickname", "type": "TEXT"},
        {"key": "renews_on", "type": "DATE"},
        {"key": "tier", "type": "ENUM", "enumValues": ["GOLD", "SILVER"]},
        {"key": "tags", "type": "LIST"},
        {"key": "seat_cap", "type": "NUMBER", "object": "SUBSCRIPTION"},
    ):
        assert create(gql, **fields)["userErrors"] == []
    return gql


ALL_KEYS = [
    "custom.vip",
    "custom.seats",
    "custom.nickname",
    "custom.renews_on",
    "custom.tier",
    "custom.tags",
]


def test_values_of_every_type_are_coerced_stored_and_read(defined: GraphQLClient) -> None:
    result = set_values(
        defined,
        [
            {"key": "vip", "subscriberId": "cus_1", "value": "Yes"},
            {"key": "custom.seats", "subscriberId": "cus_1", "value": "12.50"},
            {"key": "nickname", "subscriberId": "cus_1", "value": " Ace "},
            {"key": "renews_on", "subscriberId": "cus_1", "value": "2026-09-30"},
            {"key": "tier", "subscriberId": "cus_1", "value": "gold"},
            {"key": "tags", "subscriberId": "cus_1", "value": "beta, eu"},
            {"key": "vip", "subscriberId": "cus_2", "value": ""},
            {"key": "seats", "subscriberId": "cus_2", "value": 3},
            {"key": "tags", "subscriberId": "cus_2", "value": ["a", "b"]},
        ],
    )
    assert result == {"written": 9, "removed": 0, "userErrors": []}
    one = properties(defined, "cus_1", ALL_KEYS)
    assert {k: v["value"] for k, v in one.items()} == {
        "custom.vip": True,
        "custom.seats": 12.5,
        "custom.nickname": " Ace ",
        "custom.renews_on": "2026-09-30",
        "custom.tier": "GOLD",
        "custom.tags": ["beta", "eu"],
    }
    assert {v["provider"] for v in one.values()} == {"custom"}
    two = properties(defined, "cus_2", ALL_KEYS)
    assert two["custom.vip"]["value"] is False and two["custom.seats"]["value"] == 3
    assert two["custom.nickname"]["state"] == "MISSING"
    listed = defined.query(
        '{ customPropertyValues(subscriberId: "cus_1") { key propertyKey value } }'
    )["customPropertyValues"]
    assert [row["key"] for row in listed] == [
        "nickname",
        "renews_on",
        "seats",
        "tags",
        "tier",
        "vip",
    ]


def test_a_refused_bulk_write_writes_nothing_and_names_subscriber_key_and_why(
    defined: GraphQLClient, sync_db: Db
) -> None:
    set_values(defined, [{"key": "seats", "subscriberId": "cus_1", "value": 1}])
    before = list(sync_db["custom_values"].find())
    result = set_values(
        defined,
        [
            {"key": "seats", "subscriberId": "cus_1", "value": 5},
            {"key": "vip", "subscriberId": "cus_2", "value": "maybe"},
            {"key": "ghost", "subscriberId": "cus_3", "value": 1},
            {"key": "renews_on", "subscriberId": "cus_4", "value": "30/09/2026"},
            {"key": "tier", "subscriberId": "cus_5", "value": "BRONZE"},
            {"key": "seats", "subscriberId": "  ", "value": 1},
            {"key": "seats", "subscriptionId": "sub_1", "value": 1},
            {"key": "seat_cap", "subscriberId": "cus_7", "value": 1},
        ],
    )
    assert result["written"] == 0
    assert [(e["path"], e["code"], e["message"]) for e in result["userErrors"]] == [
        (
            ["values", "1", "value"],
            "INVALID_VALUE",
            "subscriber cus_2: custom.vip: expected a boolean (true, t, 1, yes / false, f, 0, "
            "no or blank), got 'maybe'",
        ),
        (
            ["values", "2", "key"],
            "UNKNOWN_PROPERTY",
            "subscriber cus_3: there is no custom property custom.ghost",
        ),
        (
            ["values", "3", "value"],
            "INVALID_VALUE",
            "subscriber cus_4: custom.renews_on: expected a date YYYY-MM-DD, got '30/09/2026'",
        ),
        (
            ["values", "4", "value"],
            "INVALID_VALUE",
            "subscriber cus_5: custom.tier: expected one of GOLD, SILVER, got 'BRONZE'",
        ),
        (
            ["values", "5", "subscriberId"],
            "INVALID_ID",
            "custom.seats describes a subscriber: a subscriber id of 1 to 256 characters is "
            "required",
        ),
        (
            ["values", "6", "subscriptionId"],
            "WRONG_OBJECT",
            "custom.seats describes a subscriber: give a subscriber id, not a subscription id",
        ),
        (
            ["values", "7", "subscriberId"],
            "WRONG_OBJECT",
            "custom.seat_cap describes a subscription: give a subscription id, not a subscriber id",
        ),
    ]
    assert list(sync_db["custom_values"].find()) == before


def test_a_value_without_its_id_or_value_is_reported_with_every_other_problem(
    defined: GraphQLClient, sync_db: Db
) -> None:
    """A value missing its id (or with both ids) or its value used to be all that came back:
    the unknown keys, wrong objects and bad values of the same request were reported only once
    those were fixed. Now every problem of every value comes back at once, in input order."""
    set_values(defined, [{"key": "seats", "subscriberId": "cus_1", "value": 1}])
    before = list(sync_db["custom_values"].find())
    result = set_values(
        defined,
        [
            {"key": "seats", "subscriberId": "cus_1", "value": 5},
            {"key": "seats", "value": 2},
            {"key": "ghost", "subscriberId": "cus_3", "value": 1},
            {"key": "seats", "subscriberId": "cus_4"},
            {"key": "seats", "subscriptionId": "sub_1", "value": 1},
            {"key": "vip", "subscriberId": "cus_5", "value": "maybe"},
            {"key": "seats", "subscriberId": "x" * 257, "value": 1},
            {"key": "seats", "subscriberId": "cus_6", "subscriptionId": "sub_6", "value": "many"},
            {"key": "ghost", "subscriberId": " "},
        ],
    )
    assert result["written"] == 0
    assert [(e["path"], e["code"], e["message"]) for e in result["userErrors"]] == [
        (
            ["values", "1", "subscriberId"],
            "INVALID_ID",
            "give exactly one of subscriberId and subscriptionId",
        ),
        (
            ["values", "2", "key"],
            "UNKNOWN_PROPERTY",
            "subscriber cus_3: there is no custom property custom.ghost",
        ),
        (["values", "3", "value"], "BLANK", "a value is required (null removes the value)"),
        (
            ["values", "4", "subscriptionId"],
            "WRONG_OBJECT",
            "custom.seats describes a subscriber: give a subscriber id, not a subscription id",
        ),
        (
            ["values", "5", "value"],
            "INVALID_VALUE",
            "subscriber cus_5: custom.vip: expected a boolean (true, t, 1, yes / false, f, 0, "
            "no or blank), got 'maybe'",
        ),
        (
            ["values", "6", "subscriberId"],
            "INVALID_ID",
            "custom.seats describes a subscriber: a subscriber id of 1 to 256 characters is "
            "required",
        ),
        (
            ["values", "7", "subscriberId"],
            "INVALID_ID",
            "give exactly one of subscriberId and subscriptionId",
        ),
        (["values", "7", "value"], "INVALID_VALUE", "custom.seats: expected a number, got 'many'"),
        (["values", "8", "key"], "UNKNOWN_PROPERTY", "there is no custom property custom.ghost"),
        (
            ["values", "8", "subscriberId"],
            "INVALID_ID",
            "a subscriber id of 1 to 256 characters is required",
        ),
        (["values", "8", "value"], "BLANK", "a value is required (null removes the value)"),
    ]
    assert list(sync_db["custom_values"].find()) == before
    one = set_value(defined, {"key": "ghost", "value": "x"})
    assert [(e["path"], e["code"]) for e in one["userErrors"]] == [
        (["input", "key"], "UNKNOWN_PROPERTY"),
        (["input", "subscriberId"], "INVALID_ID"),
    ]


def test_one_value_is_set_and_null_removes_it(defined: GraphQLClient) -> None:
    assert set_value(defined, {"key": "nickname", "subscriberId": "cus_1", "value": "Ace"}) == {
        "written": 1,
        "removed": 0,
        "userErrors": [],
    }
    refused = set_value(defined, {"key": "seats", "subscriberId": "cus_1", "value": "many"})
    assert refused["userErrors"] == [
        {
            "path": ["input", "value"],
            "code": "INVALID_VALUE",
            "message": "subscriber cus_1: custom.seats: expected a number, got 'many'",
        }
    ]
    removed = set_value(defined, {"key": "nickname", "subscriberId": "cus_1", "value": None})
    assert removed == {"written": 0, "removed": 1, "userErrors": []}
    assert properties(defined, "cus_1", ["custom.nickname"])["custom.nickname"]["state"] == (
        "MISSING"
    )


def test_later_values_win_within_one_request(defined: GraphQLClient) -> None:
    result = set_values(
        defined,
        [
            {"key": "seats", "subscriberId": "cus_1", "value": 1},
            {"key": "seats", "subscriberId": "cus_1", "value": None},
            {"key": "seats", "subscriberId": "cus_2", "value": 5},
            {"key": "seats", "subscriberId": "cus_1", "value": 2},
            {"key": "seats", "subscriberId": "cus_2", "value": None},
        ],
    )
    assert properties(defined, "cus_1", ["custom.seats"])["custom.seats"]["value"] == 2
    assert properties(defined, "cus_2", ["custom.seats"])["custom.seats"]["state"] == "MISSING"
    # What the answer counts is what is stored: one value written, one removed.
    assert result == {"written": 1, "removed": 1, "userErrors": []}


def test_subscription_properties_read_the_named_or_primary_subscription(
    defined: GraphQLClient, sync_db: Db
) -> None:
    sync_db["billing_subscriptions"].insert_many(
        [
            {"_id": "sub_old", "customer": "cus_1", "status": "active", "created": 100},
            {"_id": "sub_new", "customer": "cus_1", "status": "active", "created": 200},
            {"_id": "sub_gone", "customer": "cus_1", "status": "canceled", "created": 300},
        ]
    )
    set_values(
        defined,
        [
            {"key": "seat_cap", "subscriptionId": "sub_old", "value": 5},
            {"key": "seat_cap", "subscriptionId": "sub_new", "value": 50},
        ],
    )
    assert properties(defined, "cus_1", ["custom.seat_cap"])["custom.seat_cap"]["value"] == 50
    named = properties(defined, "cus_1", ["custom.seat_cap"], subscription="sub_old")
    assert named["custom.seat_cap"]["value"] == 5
    assert properties(defined, "cus_9", ["custom.seat_cap"])["custom.seat_cap"]["state"] == (
        "MISSING"
    )
    listed = defined.query('{ customPropertyValues(subscriptionId: "sub_new") { key value } }')[
        "customPropertyValues"
    ]
    assert listed == [{"key": "seat_cap", "value": 50}]


def test_the_primary_subscription_is_found_whatever_form_created_takes(
    defined: GraphQLClient, sync_db: Db
) -> None:
    """Billing imports may store ``created`` as Unix seconds or as an ISO date-time: compared
    as written, seconds beside a string made every value of the batch a provider error, and
    two strings with different offsets were ordered as text (05:00-08:00 is 13:00 UTC, after
    10:00+00:00)."""
    sync_db["billing_subscriptions"].insert_many(
        [
            {"_id": "sub_seconds", "customer": "cus_2", "status": "active", "created": 1764806400},
            {
                "_id": "sub_utc",
                "customer": "cus_2",
                "status": "active",
                "created": "2026-12-04T10:00:00+00:00",
            },
            {
                "_id": "sub_pacific",
                "customer": "cus_2",
                "status": "active",
                "created": "2026-12-04T05:00:00-08:00",
            },
        ]
    )
    set_values(
        defined,
        [
            {"key": "seat_cap", "subscriptionId": "sub_seconds", "value": 1},
            {"key": "seat_cap", "subscriptionId": "sub_utc", "value": 2},
            {"key": "seat_cap", "subscriptionId": "sub_pacific", "value": 3},
        ],
    )
    found = properties(defined, "cus_2", ["custom.seat_cap"])["custom.seat_cap"]
    assert (found["state"], found["value"]) == ("PRESENT", 3)


def test_a_created_that_is_no_time_makes_the_primary_subscription_unknown(
    defined: GraphQLClient, sync_db: Db
) -> None:
    """A ``created`` in milliseconds (or text) ranked its subscription as the oldest, so a
    subscription property read the other one's value by a guess. When the choice turns on
    it, the property is UNKNOWN; a subscriber property and a named subscription read as usual,
    and a canceled subscription's unreadable ``created`` does not matter beside a live one."""
    sync_db["billing_subscriptions"].insert_many(
        [
            {"_id": "sub_ms", "customer": "cus_3", "status": "active", "created": 1796428800000},
            {"_id": "sub_s", "customer": "cus_3", "status": "active", "created": 1764806400},
            {"_id": "sub_live", "customer": "cus_4", "status": "active", "created": 1764806400},
            {"_id": "sub_gone", "customer": "cus_4", "status": "canceled", "created": "soon"},
        ]
    )
    set_values(
        defined,
        [
            {"key": "seat_cap", "subscriptionId": "sub_ms", "value": 1},
            {"key": "seat_cap", "subscriptionId": "sub_s", "value": 2},
            {"key": "seat_cap", "subscriptionId": "sub_live", "value": 3},
            {"key": "seats", "subscriberId": "cus_3", "value": 7},
        ],
    )
    found = properties(defined, "cus_3", ["custom.seat_cap", "custom.seats"])
    cap = found["custom.seat_cap"]
    assert (cap["state"], cap["unknownReason"]) == ("UNKNOWN", "PROVIDER_ERROR"), cap
    assert "created of subscription 'sub_ms' is 1796428800000" in cap["detail"]
    assert found["custom.seats"]["value"] == 7
    named = properties(defined, "cus_3", ["custom.seat_cap"], subscription="sub_ms")
    assert named["custom.seat_cap"]["value"] == 1
    live = properties(defined, "cus_4", ["custom.seat_cap"])["custom.seat_cap"]
    assert (live["state"], live["value"]) == ("PRESENT", 3)


def test_segments_evaluate_custom_values(defined: GraphQLClient) -> None:
    set_values(
        defined,
        [
            {"key": "vip", "subscriberId": "cus_1", "value": "t"},
            {"key": "tier", "subscriberId": "cus_1", "value": "GOLD"},
            {"key": "vip", "subscriberId": "cus_2", "value": "no"},
        ],
    )
    segment = create_segment(
        defined,
        [
            {"property": "custom.vip", "operator": "IS_TRUE"},
            {"property": "custom.tier", "operator": "IN", "value": ["GOLD", "SILVER"]},
        ],
    )
    assert segment["userErrors"] == []
    query = (
        "query($id: ID!, $s: [ID!]!) { subscriber(id: $id) { membership(segmentIds: $s) "
        "{ result } } }"
    )
    results = {
        who: defined.query(query, {"id": who, "s": [segment["segment"]["id"]]})["subscriber"][
            "membership"
        ][0]["result"]
        for who in ("cus_1", "cus_2", "cus_3")
    }
    assert results == {"cus_1": "MEMBER", "cus_2": "NOT_MEMBER", "cus_3": "NOT_MEMBER"}


def test_too_many_values_in_one_request_are_refused(defined: GraphQLClient) -> None:
    values = [{"key": "seats", "subscriberId": f"c{i}", "value": i} for i in range(5001)]
    result = set_values(defined, values)
    assert result["written"] == 0 and result["userErrors"][0]["code"] == "TOO_MANY"


@pytest.mark.parametrize("value", ["1e7000", "1e400", 10**40, "9" * 35, "1e-40"])
def test_a_number_beyond_34_digits_is_refused_and_nothing_is_written(
    defined: GraphQLClient, sync_db: Db, value: Any
) -> None:
    before = list(sync_db["custom_values"].find())
    result = set_value(defined, {"key": "seats", "subscriberId": "cus_1", "value": value})
    assert result["written"] == 0
    [error] = result["userErrors"]
    assert error["code"] == "INVALID_VALUE" and "at most 34 digits" in error["message"]
    assert list(sync_db["custom_values"].find()) == before


def test_a_large_number_reads_back_exactly(defined: GraphQLClient) -> None:
    for value, answered in (
        ("9" * 34, "9" * 34),
        (2**63, str(2**63)),
        (2**60, str(2**60)),  # stored as an int64: was answered as a bare number
        (2**53 - 1, 2**53 - 1),
        ("0.5", 0.5),
    ):
        assert (
            set_value(defined, {"key": "seats", "subscriberId": "cus_1", "value": value})["written"]
            == 1
        )
        assert properties(defined, "cus_1", ["custom.seats"])["custom.seats"]["value"] == answered


def test_numbers_in_json_variables_are_read_exactly(defined: GraphQLClient) -> None:
    """A JSON integer of any size and a fraction no double holds keep every digit (a double
    would have rounded them without a word); a fraction a double holds is that number."""
    for raw, answered in (
        (b"123456789012345678901234567890", "123456789012345678901234567890"),
        (b"0.1000000000000000055511151231257827", "0.1000000000000000055511151231257827"),
        (b"99.95", 99.95),
    ):
        body = (
            b'{"query": "mutation($v: JSON) { setCustomPropertyValue(input: {key: \\"seats\\", '
            b'subscriberId: \\"cus_1\\", value: $v}) { written } }", "variables": {"v": '
            + raw
            + b"}}"
        )
        response = defined.http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.json() == {"data": {"setCustomPropertyValue": {"written": 1}}}
        assert properties(defined, "cus_1", ["custom.seats"])["custom.seats"]["value"] == answered
