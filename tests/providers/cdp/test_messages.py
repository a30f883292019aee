"""Reading Segment's identify / track / batch shapes (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from seggraph_cdp.messages import BadMessage, parse_request
from seggraph_cdp.settings import CdpSettings, parse_events, parse_traits, slugify

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_identify_reads_user_traits_and_time() -> None:
    [message] = parse_request(
        {
            "userId": "cus_1",
            "messageId": "m1",
            "timestamp": "2026-02-01T10:00:00Z",
            "traits": {"plan": "pro", "seats": 3},
        },
        "identify",
        NOW,
    )
    assert message.user_id == "cus_1" and message.message_id == "m1"
    assert message.timestamp == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert message.traits == {"plan": "pro", "seats": 3}


def test_clock_skew_is_corrected_like_segment() -> None:
    [message] = parse_request(
        {
            "userId": "u",
            "event": "Signed Up",
            "originalTimestamp": "2026-03-01T11:00:00Z",
            "sentAt": "2026-03-01T11:30:00Z",
        },
        "track",
        NOW,
    )
    assert message.timestamp == NOW - timedelta(minutes=30)


def test_missing_times_mean_received_now_and_missing_message_id_is_generated() -> None:
    [message] = parse_request({"userId": 42, "event": "x"}, "track", NOW)
    assert message.timestamp == NOW and message.user_id == "42"
    assert message.message_id.startswith("seggraph-")


def test_batch_reads_each_type_and_anonymous_messages_have_no_user() -> None:
    messages = parse_request(
        {
            "batch": [
                {"type": "identify", "userId": "a", "traits": {"x": 1}},
                {"type": "track", "userId": "a", "event": "E"},
                {"type": "page", "userId": "a", "name": "Home"},
                {"type": "track", "anonymousId": "anon", "event": "E"},
            ]
        },
        "batch",
        NOW,
    )
    assert [m.type for m in messages] == ["identify", "track", "page", "track"]
    assert messages[3].user_id is None


@pytest.mark.parametrize(
    ("body", "kind", "where"),
    [
        ([], "identify", "body"),
        ({"traits": {}}, "identify", "userId"),
        ({"userId": "u", "traits": []}, "identify", "traits"),
        ({"userId": "u", "traits": {"a.b": 1}}, "identify", "traits"),
        ({"userId": "u"}, "track", "event"),
        ({"userId": "u", "event": "  "}, "track", "event"),
        ({"userId": "u", "event": "e", "properties": 3}, "track", "properties"),
        ({"userId": "u", "event": "e", "timestamp": "yesterday"}, "track", "timestamp"),
        ({"userId": True, "event": "e"}, "track", "userId"),
        ({"batch": []}, "batch", "batch"),
        ({"batch": "x"}, "batch", "batch"),
        ({"batch": [{"userId": "u"}]}, "batch", "batch[0].type"),
        ({"batch": [{"type": "track", "userId": "u", "event": "e"}, 5]}, "batch", "batch[1]"),
    ],
)
def test_bad_messages_are_refused_with_where(body: Any, kind: str, where: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse_request(body, kind, NOW)
    assert caught.value.where == where


def test_trait_and_event_declarations() -> None:
    traits = parse_traits('{"plan": "text", "tier": {"type": "ENUM", "values": ["FREE", "PRO"]}}')
    assert [(t.name, t.type.value, t.enum_values) for t in traits] == [
        ("plan", "TEXT", ()),
        ("tier", "ENUM", ("FREE", "PRO")),
    ]
    assert parse_events('{"orders": "Order Completed"}') == {"orders": "Order Completed"}
    assert slugify("Order Completed!") == "order_completed"


@pytest.mark.parametrize(
    "traits",
    ["plan", "plan:TEXTY", "a.b:TEXT", "plan:TEXT,plan:NUMBER", '{"tier": "ENUM"}', "{"],
)
def test_bad_trait_declarations_stop_start_up(traits: str) -> None:
    with pytest.raises(ValueError):
        CdpSettings(traits=traits, _env_file=None)  # type: ignore[call-arg]


def test_clashing_event_slugs_stop_start_up() -> None:
    with pytest.raises(ValueError):
        CdpSettings(events="Order Completed,order-completed", _env_file=None)  # type: ignore[call-arg]


def test_trait_keys_are_snake_case_and_may_name_another_trait() -> None:
    traits = parse_traits(
        '{"firstName": "TEXT", "company": {"type": "TEXT", "trait": "companyName"}}'
    )
    assert [(t.name, t.trait) for t in traits] == [
        ("first_name", "firstName"),
        ("company", "companyName"),
    ]
    with pytest.raises(ValueError, match="declared once"):
        parse_traits("firstName:TEXT,first_name:NUMBER")


def test_days_since_last_seen_counts_calendar_days_in_the_account_time_zone() -> None:
    from zoneinfo import ZoneInfo

    from seggraph_cdp.properties import DAYS_SINCE_LAST_SEEN, ValueReader

    reader = ValueReader((), {}, zone=ZoneInfo("Asia/Tokyo"), currency="USD")
    profile = {"last_seen": datetime(2026, 3, 1, 14, 59, tzinfo=UTC)}  # 23:59 on Mar 1 in Tokyo
    now = datetime(2026, 3, 1, 15, 1, tzinfo=UTC)  # 00:01 on Mar 2 in Tokyo
    assert reader.values([DAYS_SINCE_LAST_SEEN], profile, {}, now) == {DAYS_SINCE_LAST_SEEN: 1}
    utc = ValueReader((), {}, zone=ZoneInfo("UTC"), currency="USD")
    assert utc.values([DAYS_SINCE_LAST_SEEN], profile, {}, now) == {DAYS_SINCE_LAST_SEEN: 0}
