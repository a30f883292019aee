"""Custom property definitions through GraphQL: create, edit, type changes, delete."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase
from pymongo.errors import PyMongoError
from seggraph_custom.store import CustomStore

from seggraph.settings import Settings
from tests.conftest import GraphQLClient
from tests.providers.custom.conftest import (
    create,
    create_segment,
    delete,
    properties,
    set_values,
    update,
)

Db = SyncDatabase[dict[str, Any]]


def catalogue_entry(gql: GraphQLClient, key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = gql.query(
        "query($key: String!) { property(key: $key) "
        "{ key label type provider enumValues attributes { name value } } }",
        {"key": key},
    )["property"]
    return found


def test_a_new_definition_is_in_the_catalogue_at_once(gql: GraphQLClient) -> None:
    created = create(
        gql,
        key="plan_tier",
        label="Plan tier",
        type="ENUM",
        enumValues=["GOLD", "SILVER"],
        description="From the app",
    )
    assert created["userErrors"] == []
    prop = created["customProperty"]
    assert prop["key"] == "plan_tier" and prop["propertyKey"] == "custom.plan_tier"
    assert prop["object"] == "SUBSCRIBER" and prop["enumValues"] == ["GOLD", "SILVER"]
    assert catalogue_entry(gql, "custom.plan_tier") == {
        "key": "custom.plan_tier",
        "label": "Plan tier",
        "type": "ENUM",
        "provider": "custom",
        "enumValues": ["GOLD", "SILVER"],
        "attributes": [{"name": "object", "value": "SUBSCRIBER"}],
    }
    seats = create(gql, key="seats", label="Seats", type="NUMBER", object="SUBSCRIPTION")
    assert seats["userErrors"] == []
    assert catalogue_entry(gql, "custom.seats")["attributes"] == [  # type: ignore[index]
        {"name": "object", "value": "SUBSCRIPTION"}
    ]
    segment = create_segment(
        gql, [{"property": "custom.plan_tier", "operator": "EQ", "value": "gold"}]
    )
    assert segment["userErrors"] == []
    listed = gql.query("{ customProperties { key } }")["customProperties"]
    assert listed == [{"key": "plan_tier"}, {"key": "seats"}]


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({"key": "Plan", "type": "TEXT"}, ["key"], "INVALID_KEY"),
        ({"key": "1plan", "type": "TEXT"}, ["key"], "INVALID_KEY"),
        ({"key": "plan-tier", "type": "TEXT"}, ["key"], "INVALID_KEY"),
        ({"key": "a" * 65, "type": "TEXT"}, ["key"], "INVALID_KEY"),
        ({"key": "plan", "type": "TEXT", "label": "  "}, ["label"], "BLANK"),
        ({"key": "plan", "type": "ENUM"}, ["enumValues"], "BLANK"),
        ({"key": "plan", "type": "TEXT", "enumValues": ["A"]}, ["enumValues"], "NOT_ALLOWED"),
        (
            {"key": "plan", "type": "ENUM", "enumValues": ["A", "a"]},
            ["enumValues", "1"],
            "DUPLICATE",
        ),
        ({"key": "plan", "type": "TEXT", "description": "d" * 2001}, ["description"], "TOO_LONG"),
    ],
)
def test_bad_definitions_are_refused_and_nothing_is_written(
    gql: GraphQLClient, sync_db: Db, fields: dict[str, Any], path: list[str], code: str
) -> None:
    result = create(gql, **fields)
    assert result["customProperty"] is None
    assert [(e["path"], e["code"]) for e in result["userErrors"]] == [(path, code)]
    assert sync_db["custom_definitions"].count_documents({}) == 0


def test_the_longest_key_is_allowed_and_custom_prefix_is_read(gql: GraphQLClient) -> None:
    assert create(gql, key="a" * 64, type="TEXT")["userErrors"] == []
    assert create(gql, key="custom.b", type="TEXT")["customProperty"]["key"] == "b"


@pytest.mark.parametrize("typed", [" tier ", "\tcustom.tier\n"])
def test_a_key_with_surrounding_whitespace_names_the_property_it_created(
    gql: GraphQLClient, typed: str
) -> None:
    """Created as " tier " (stored tier), the key is read, updated and deleted by any spelling,
    as setting a value reads it."""
    assert create(gql, key=" tier ", type="TEXT")["customProperty"]["key"] == "tier"
    read = gql.query("query($k: String!) { customProperty(key: $k) { key } }", {"k": typed})
    assert read["customProperty"] == {"key": "tier"}
    changed = update(gql, key=typed, label="Tier (edited)")
    assert changed["userErrors"] == [] and changed["customProperty"]["label"] == "Tier (edited)"
    assert delete(gql, typed) == {"deletedKey": "tier", "userErrors": []}
    assert gql.query('{ customProperty(key: "tier") { key } }')["customProperty"] is None


def test_the_catalogue_search_finds_an_accent_typed_either_way(gql: GraphQLClient) -> None:
    assert create(gql, key="creme_level", label="Crème level", type="TEXT")["userErrors"] == []
    for typed in ("crème", "cre\u0300me", "CRE\u0300ME"):
        found = gql.query("query($s: String!) { properties(search: $s) { key } }", {"s": typed})[
            "properties"
        ]
        assert [p["key"] for p in found] == ["custom.creme_level"], typed


def test_a_key_is_taken_once(gql: GraphQLClient) -> None:
    create(gql, key="vip", type="BOOLEAN")
    again = create(gql, key="vip", type="TEXT")
    assert [e["code"] for e in again["userErrors"]] == ["KEY_TAKEN"]


def test_label_and_description_change_and_the_catalogue_follows(gql: GraphQLClient) -> None:
    created = create(gql, key="vip", label="VIP", type="BOOLEAN")["customProperty"]
    create_segment(gql, [{"property": "custom.vip", "operator": "IS_TRUE"}])
    updated = update(gql, key="vip", label="Very important", description="Hand-picked")
    assert updated["userErrors"] == []
    prop = updated["customProperty"]
    assert prop["label"] == "Very important" and prop["description"] == "Hand-picked"
    assert prop["createdAt"] == created["createdAt"] and prop["updatedAt"] >= created["updatedAt"]
    assert catalogue_entry(gql, "custom.vip")["label"] == "Very important"  # type: ignore[index]


def test_an_update_that_changes_nothing_keeps_updated_at(gql: GraphQLClient) -> None:
    """updatedAt says when the definition last changed; a form saved again as it was (or an
    update naming no field) moved it to the moment of the save."""
    created = create(gql, key="tier", type="ENUM", enumValues=["Gold", "Silver"])
    before = created["customProperty"]
    for fields in (
        {},
        {"label": before["label"], "description": "", "type": "ENUM"},
        {"enumValues": ["Gold", "Silver"]},
    ):
        again = update(gql, key="tier", **fields)
        assert again["userErrors"] == [] and again["customProperty"] == before, fields
    changed = update(gql, key="tier", label="Tier")["customProperty"]
    assert changed["label"] == "Tier" and changed["updatedAt"] >= before["updatedAt"]


def test_an_unknown_key_cannot_be_updated_or_deleted(gql: GraphQLClient) -> None:
    assert update(gql, key="ghost", label="x")["userErrors"][0]["code"] == "NOT_FOUND"
    assert delete(gql, "ghost")["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("mode", ["TEST", "LIVE"])
def test_the_type_cannot_change_while_a_segment_uses_the_property(
    gql: GraphQLClient, sync_db: Db, mode: str
) -> None:
    create(gql, key="seats", type="NUMBER")
    nested = gql.query(
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) "
        "{ segment { id } userErrors { message } } }",
        {
            "input": {
                "name": "Deep",
                "conditions": {
                    "combinator": "ANY",
                    "groups": [
                        {
                            "combinator": "ALL",
                            "groups": [
                                {
                                    "conditions": [
                                        {"property": "custom.seats", "operator": "GT", "value": 5}
                                    ]
                                }
                            ],
                        }
                    ],
                },
            }
        },
        **{"X-Seggraph-Mode": mode},
    )["createSegment"]
    assert nested["userErrors"] == []
    before = sync_db["custom_definitions"].find_one({"_id": "seats"})
    refused = update(gql, key="seats", type="TEXT")
    assert refused["customProperty"] is None
    [error] = refused["userErrors"]
    assert error["code"] == "PROPERTY_IN_USE" and error["path"] == ["type"]
    # Asked in TEST: a TEST segment is named, a LIVE one counted (a TEST key, a staging
    # app's, learns no LIVE segment's name).
    if mode == "TEST":
        assert "is used by segments 'Deep' (TEST);" in error["message"]
    else:
        assert "is used by 1 LIVE segment;" in error["message"]
        assert "Deep" not in error["message"]
        in_live = gql.query(
            'mutation { updateCustomProperty(input: {key: "seats", type: TEXT}) '
            "{ userErrors { code message } } }",
            **{"X-Seggraph-Mode": "LIVE"},
        )["updateCustomProperty"]["userErrors"]
        assert "is used by segments 'Deep' (LIVE);" in in_live[0]["message"]
    assert sync_db["custom_definitions"].find_one({"_id": "seats"}) == before
    # label changes are still fine
    assert update(gql, key="seats", label="Seats bought")["userErrors"] == []
    deleted = delete(gql, "seats")
    assert deleted["deletedKey"] is None
    assert deleted["userErrors"][0]["code"] == "PROPERTY_IN_USE"
    assert ("'Deep'" in deleted["userErrors"][0]["message"]) is (mode == "TEST")


def test_archived_segments_count_as_uses(gql: GraphQLClient) -> None:
    create(gql, key="vip", type="BOOLEAN")
    segment = create_segment(gql, [{"property": "custom.vip", "operator": "IS_TRUE"}])
    gql.query(
        "mutation($id: ID!) { archiveSegment(id: $id) { userErrors { message } } }",
        {"id": segment["segment"]["id"]},
    )
    error = update(gql, key="vip", type="TEXT")["userErrors"][0]
    assert error["code"] == "PROPERTY_IN_USE" and "archived" in error["message"]


def test_adding_enum_values_is_allowed_in_use_but_removing_one_is_not(gql: GraphQLClient) -> None:
    create(gql, key="tier", type="ENUM", enumValues=["GOLD", "SILVER"])
    create_segment(gql, [{"property": "custom.tier", "operator": "EQ", "value": "GOLD"}])
    added = update(gql, key="tier", enumValues=["GOLD", "SILVER", "BRONZE"])
    assert added["userErrors"] == []
    assert catalogue_entry(gql, "custom.tier")["enumValues"] == ["GOLD", "SILVER", "BRONZE"]  # type: ignore[index]
    removed = update(gql, key="tier", enumValues=["GOLD"])
    assert removed["userErrors"][0]["code"] == "PROPERTY_IN_USE"


def test_a_refused_change_of_enum_values_points_at_enum_values(
    gql: GraphQLClient, sync_db: Db
) -> None:
    """Removing a value a segment uses was refused at ["type"], a field the input did not
    give; the type's own change is still refused at ["type"]."""
    create(gql, key="qa_enum", type="ENUM", enumValues=["High", "Low"])
    create_segment(gql, [{"property": "custom.qa_enum", "operator": "EQ", "value": "Low"}])
    before = sync_db["custom_definitions"].find_one({"_id": "qa_enum"})
    removed = update(gql, key="qa_enum", enumValues=["High"])
    assert removed["customProperty"] is None
    assert [(e["path"], e["code"]) for e in removed["userErrors"]] == [
        (["enumValues"], "PROPERTY_IN_USE")
    ]
    assert "ENUM values cannot be removed or renamed" in removed["userErrors"][0]["message"]
    retyped = update(gql, key="qa_enum", type="TEXT")
    assert [(e["path"], e["code"]) for e in retyped["userErrors"]] == [
        (["type"], "PROPERTY_IN_USE")
    ]
    both = update(gql, key="qa_enum", type="LIST", enumValues=[])
    assert [(e["path"], e["code"]) for e in both["userErrors"]] == [(["type"], "PROPERTY_IN_USE")]
    assert sync_db["custom_definitions"].find_one({"_id": "qa_enum"}) == before


def test_a_removed_enum_value_a_subscriber_holds_is_refused_at_enum_values(
    gql: GraphQLClient, sync_db: Db
) -> None:
    """With no segment using it, removing a value still held is VALUES_INCOMPATIBLE, at the
    field that removed it."""
    create(gql, key="qa_enum", type="ENUM", enumValues=["High", "Low"])
    set_values(gql, [{"key": "qa_enum", "subscriberId": "qa_5", "value": "Low"}])
    before = list(sync_db["custom_values"].find())
    refused = update(gql, key="qa_enum", enumValues=["High"])
    [error] = refused["userErrors"]
    assert (error["path"], error["code"]) == (["enumValues"], "VALUES_INCOMPATIBLE")
    assert "subscriber qa_5" in error["message"]
    assert list(sync_db["custom_values"].find()) == before


def test_an_unused_property_changes_type_and_its_values_are_converted(
    gql: GraphQLClient, sync_db: Db
) -> None:
    create(gql, key="score", type="TEXT")
    set_values(
        gql,
        [
            {"key": "score", "subscriberId": "cus_1", "value": "42"},
            {"key": "score", "subscriberId": "cus_2", "value": "7.5"},
        ],
    )
    changed = update(gql, key="score", type="NUMBER")
    assert changed["userErrors"] == [] and changed["customProperty"]["type"] == "NUMBER"
    assert catalogue_entry(gql, "custom.score")["type"] == "NUMBER"  # type: ignore[index]
    found = properties(gql, "cus_2", ["custom.score"])["custom.score"]
    assert found["value"] == 7.5 and found["state"] == "PRESENT"
    assert (
        create_segment(gql, [{"property": "custom.score", "operator": "GT", "value": 10}])[
            "userErrors"
        ]
        == []
    )


def test_numbers_become_the_text_they_are_shown_as(gql: GraphQLClient) -> None:
    create(gql, key="amount", type="NUMBER")
    written = {"cus_1": "1e3", "cus_2": 1e20, "cus_3": "2.50", "cus_4": "-0.000125", "cus_5": "0"}
    set_values(gql, [{"key": "amount", "subscriberId": s, "value": v} for s, v in written.items()])
    shown = {s: properties(gql, s, ["custom.amount"])["custom.amount"]["value"] for s in written}
    assert shown == {"cus_1": 1000, "cus_2": 1e20, "cus_3": 2.5, "cus_4": -0.000125, "cus_5": 0}
    assert update(gql, key="amount", type="TEXT")["userErrors"] == []
    text = {s: properties(gql, s, ["custom.amount"])["custom.amount"]["value"] for s in written}
    assert text == {
        "cus_1": "1000",
        "cus_2": "100000000000000000000",
        "cus_3": "2.5",
        "cus_4": "-0.000125",
        "cus_5": "0",
    }


def test_a_list_changed_to_text_and_back_keeps_its_items(gql: GraphQLClient) -> None:
    """LIST to TEXT wrote the items joined with commas, so an item with a comma came back as
    two; text the LIST type would not read back as the same items is now a JSON array."""
    create(gql, key="qa_list", type="LIST")
    lists = {
        "qa_1": ["vip", "beta"],
        "qa_2": ["a,b", "c"],
        "qa_3": [" padded ", ""],
        "qa_4": ["[not json"],
        "qa_5": [],
    }
    written = set_values(
        gql, [{"key": "qa_list", "subscriberId": s, "value": v} for s, v in lists.items()]
    )
    assert written["userErrors"] == []

    def values() -> dict[str, Any]:
        return {s: properties(gql, s, ["custom.qa_list"])["custom.qa_list"]["value"] for s in lists}

    assert values() == lists
    assert update(gql, key="qa_list", type="TEXT")["userErrors"] == []
    assert values() == {
        "qa_1": "vip,beta",
        "qa_2": '["a,b","c"]',
        "qa_3": '[" padded ",""]',
        "qa_4": '["[not json"]',
        "qa_5": "",
    }
    assert update(gql, key="qa_list", type="LIST")["userErrors"] == []
    assert values() == lists


def test_a_type_change_is_refused_when_a_value_cannot_be_converted(
    gql: GraphQLClient, sync_db: Db
) -> None:
    create(gql, key="note", type="TEXT")
    set_values(
        gql,
        [
            {"key": "note", "subscriberId": "cus_1", "value": "12"},
            {"key": "note", "subscriberId": "cus_2", "value": "call back"},
        ],
    )
    before = list(sync_db["custom_values"].find())
    refused = update(gql, key="note", type="NUMBER")
    [error] = refused["userErrors"]
    assert error["code"] == "VALUES_INCOMPATIBLE"
    assert "subscriber cus_2" in error["message"] and "custom.note" in error["message"]
    assert "expected a number" in error["message"]
    assert list(sync_db["custom_values"].find()) == before
    assert sync_db["custom_definitions"].find_one({"_id": "note"})["type"] == "TEXT"  # type: ignore[index]


def update_past_the_time_limit(
    settings: Settings, start_live_server: Any, monkeypatch: pytest.MonkeyPatch, **fields: Any
) -> dict[str, Any]:
    """``update(**fields)`` on a server whose transactions may take 1.5 s, with the values'
    conversion written 2 s late (as many values take on a slow database)."""
    quick = start_live_server(settings.model_copy(update={"database_timeout_seconds": 0.5}))
    real = CustomStore.replace_values

    async def slow(self: CustomStore, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(2)  # longer than the 1.5 s a transaction may take here
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(CustomStore, "replace_values", slow)
    try:
        with httpx.Client(base_url=quick.url, timeout=60) as http:
            return update(GraphQLClient(http), **fields)
    finally:
        monkeypatch.undo()


def test_a_conversion_past_the_transaction_time_limit_is_refused_saying_what_to_do(
    gql: GraphQLClient,
    sync_db: Db,
    settings: Settings,
    start_live_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Converting many values in one transaction can take longer than it may (the embedded
    database took 15 s for 20,000): the answer said DATABASE_UNAVAILABLE, "try again shortly",
    and every retry ran out of time again. It is now a refusal saying why and what to do."""
    create(gql, key="seats_text", type="TEXT")
    set_values(
        gql,
        [{"key": "seats_text", "subscriberId": f"cus_{i}", "value": str(i)} for i in range(3)],
    )
    before = list(sync_db["custom_values"].find())
    refused = update_past_the_time_limit(
        settings, start_live_server, monkeypatch, key="seats_text", type="NUMBER"
    )
    [error] = refused["userErrors"]
    assert (error["path"], error["code"]) == (["type"], "TOO_MANY_VALUES")
    assert "the 3 stored values of custom.seats_text" in error["message"]
    assert "SEGGRAPH_DATABASE_TIMEOUT_SECONDS" in error["message"]
    assert list(sync_db["custom_values"].find()) == before
    assert sync_db["custom_definitions"].find_one({"_id": "seats_text"})["type"] == "TEXT"  # type: ignore[index]


def test_a_conversion_past_the_time_limit_is_refused_at_the_field_that_changed(
    gql: GraphQLClient,
    sync_db: Db,
    settings: Settings,
    start_live_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A form that sends every field, the type as it is and an ENUM value removed, was refused
    at ["type"], a field it did not change (PROPERTY_IN_USE and VALUES_INCOMPATIBLE are at
    ["enumValues"] then, as the README says of every such refusal)."""
    create(gql, key="tier", type="ENUM", enumValues=["GOLD", "SILVER", "BRONZE"])
    set_values(gql, [{"key": "tier", "subscriberId": "cus_1", "value": "GOLD"}])
    refused = update_past_the_time_limit(
        settings,
        start_live_server,
        monkeypatch,
        key="tier",
        type="ENUM",
        enumValues=["GOLD", "SILVER"],
    )
    [error] = refused["userErrors"]
    assert (error["path"], error["code"]) == (["enumValues"], "TOO_MANY_VALUES")
    stored = sync_db["custom_definitions"].find_one({"_id": "tier"})
    assert stored is not None and stored["enum_values"] == ["GOLD", "SILVER", "BRONZE"]


def test_a_refused_type_change_shows_the_values_as_the_api_answers_them(
    gql: GraphQLClient,
) -> None:
    """The message showed the stored form, e.g. "holds Decimal128('3.5')"; a number the API
    answers as text (beyond what a double holds) is shown as that text."""
    create(gql, key="score", type="NUMBER")
    set_values(
        gql,
        [
            {"key": "score", "subscriberId": "cus_1", "value": "3.5"},
            {"key": "score", "subscriberId": "cus_2", "value": 2**70},
        ],
    )
    refused = update(gql, key="score", type="BOOLEAN")
    assert [e["message"] for e in refused["userErrors"]] == [
        "subscriber cus_1: custom.score holds 3.5, which cannot be read as BOOLEAN: expected a "
        "boolean (true, t, 1, yes / false, f, 0, no or blank), got '3.5'",
        f"subscriber cus_2: custom.score holds '{2**70}', which cannot be read as BOOLEAN: "
        "expected a boolean (true, t, 1, yes / false, f, 0, no or blank), "
        f"got '{2**70}'",
    ]
    assert properties(gql, "cus_2", ["custom.score"])["custom.score"]["value"] == str(2**70)


def test_deleting_an_unused_property_removes_it_and_its_values(
    gql: GraphQLClient, sync_db: Db
) -> None:
    create(gql, key="nickname", type="TEXT")
    set_values(gql, [{"key": "nickname", "subscriberId": "cus_1", "value": "Ace"}])
    deleted = delete(gql, "custom.nickname")
    assert deleted == {"deletedKey": "nickname", "userErrors": []}
    assert catalogue_entry(gql, "custom.nickname") is None
    assert sync_db["custom_values"].find_one({"values.nickname": {"$exists": True}}) is None
    refused = create_segment(gql, [{"property": "custom.nickname", "operator": "IS_SET"}])
    assert refused["userErrors"][0]["code"] == "UNKNOWN_PROPERTY"


def test_a_change_saved_is_answered_saved_when_the_catalogue_cannot_be_read_again(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is committed; the worker's read of the catalogue after it failed (the
    database failing just then), and the client was answered INTERNAL_SERVER_ERROR: retrying
    then gave KEY_TAKEN. Now the answer says it was made, and the next request has it."""
    original = CustomStore.all_definitions
    failures = [PyMongoError("the database failed just then")]

    async def failing_once(self: CustomStore, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(CustomStore, "all_definitions", failing_once)
    created = create(gql, key="after_failure", type="NUMBER")
    assert created["userErrors"] == []
    assert created["customProperty"]["propertyKey"] == "custom.after_failure"
    assert failures == []  # the read after the change was the one that failed
    entry = catalogue_entry(gql, "custom.after_failure")
    assert entry is not None and entry["type"] == "NUMBER"
    assert create(gql, key="after_failure", type="NUMBER")["userErrors"][0]["code"] == "KEY_TAKEN"
