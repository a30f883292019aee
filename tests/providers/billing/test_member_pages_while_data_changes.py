"""Paging through a segment's members while the billing data changes between pages (README,
"Paging through members while data changes"): pages are evaluated as they are asked, each after
the subscriber id its cursor names, so a subscriber that is a member throughout is on exactly one
page, whatever the billing webhook adds, deletes or changes meanwhile; and a cursor is not tied
to the segment's version."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import GraphQLClient
from tests.providers.billing.builders import customer, item, subscription
from tests.providers.billing.test_webhook_and_api import CREATE, Webhook, webhook

__all__ = ["webhook"]  # the fixture, used by the tests below

PAGE = """query ($id: ID!, $first: Int!, $after: String) {
  segment(id: $id) { members(first: $first, after: $after) { memberIds endCursor hasNextPage } }
}"""
UPDATE = """mutation ($input: UpdateSegmentInput!) {
  updateSegment(input: $input) { segment { version } userErrors { message } }
}"""
ACTIVE = 'subscriber.status = "ACTIVE"'


def active(webhook: Webhook, ident: str) -> None:
    """A customer with one active subscription: a member of :data:`ACTIVE`."""
    webhook.send("customer.created", customer(ident))
    webhook.send(
        "customer.subscription.created", subscription(f"sub_{ident}", [item("p")], customer=ident)
    )


def cancel(webhook: Webhook, ident: str) -> None:
    """Its subscription canceled (a later event than the one that created it)."""
    webhook.send(
        "customer.subscription.updated",
        subscription(f"sub_{ident}", [item("p")], "canceled", customer=ident),
        int(time.time()) + 1,
    )


def segment(gql: GraphQLClient, text: str) -> str:
    payload = gql.query(CREATE, {"input": {"name": "paged", "conditionsText": text}})
    assert payload["createSegment"]["userErrors"] == []
    segment_id: str = payload["createSegment"]["segment"]["id"]
    return segment_id


def page(gql: GraphQLClient, segment_id: str, first: int, after: str | None) -> dict[str, Any]:
    found: dict[str, Any] = gql.query(PAGE, {"id": segment_id, "first": first, "after": after})[
        "segment"
    ]["members"]
    return found


def test_a_member_throughout_is_on_exactly_one_page_whatever_changes_between_pages(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    for i in range(1, 13):
        active(webhook, f"cus_{i:02d}")
    segment_id = segment(gql, ACTIVE)

    first = page(gql, segment_id, 4, None)
    assert first["memberIds"] == ["cus_01", "cus_02", "cus_03", "cus_04"]
    assert first["hasNextPage"] is True
    # Between the pages: members deleted and canceled on both sides of the cursor, new ones
    # behind it (cus_015 sorts before cus_02) and ahead of it.
    webhook.send("customer.deleted", customer("cus_02"))
    webhook.send("customer.deleted", customer("cus_06"))
    cancel(webhook, "cus_03")
    cancel(webhook, "cus_07")
    active(webhook, "cus_015")
    active(webhook, "cus_055")
    second = page(gql, segment_id, 4, first["endCursor"])
    assert second["memberIds"] == ["cus_05", "cus_055", "cus_08", "cus_09"]
    assert second["hasNextPage"] is True
    webhook.send("customer.deleted", customer("cus_10"))
    active(webhook, "cus_13")
    third = page(gql, segment_id, 4, second["endCursor"])
    assert third == {
        "memberIds": ["cus_11", "cus_12", "cus_13"],
        "endCursor": third["endCursor"],
        "hasNextPage": False,
    }

    listed = first["memberIds"] + second["memberIds"] + third["memberIds"]
    throughout = {f"cus_{i:02d}" for i in range(1, 13)} - {
        "cus_02",
        "cus_03",
        "cus_06",
        "cus_07",
        "cus_10",
    }
    assert sorted(listed) == listed
    assert len(listed) == len(set(listed))
    assert throughout <= set(listed)


def test_the_page_after_the_last_member_left_is_empty_and_ends_where_it_began(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    for i in range(1, 5):
        active(webhook, f"cus_{i:02d}")
    segment_id = segment(gql, ACTIVE)
    first = page(gql, segment_id, 3, None)
    assert first["memberIds"] == ["cus_01", "cus_02", "cus_03"]
    assert first["hasNextPage"] is True  # cus_04, when the page was made
    webhook.send("customer.deleted", customer("cus_04"))  # the last of the directory
    assert page(gql, segment_id, 3, first["endCursor"]) == {
        "memberIds": [],
        "endCursor": first["endCursor"],
        "hasNextPage": False,
    }


def test_a_cursor_continues_after_an_edit_with_the_new_conditions(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """Not tied to the version: the next page is of the new conditions (the README tells a
    client that needs one version's list to ask version with each page)."""
    for i in range(1, 7):
        active(webhook, f"cus_{i:02d}")
    for ident in ("cus_02", "cus_05"):
        cancel(webhook, ident)
    segment_id = segment(gql, ACTIVE)
    first = page(gql, segment_id, 2, None)
    assert first["memberIds"] == ["cus_01", "cus_03"]
    edited = gql.query(
        UPDATE,
        {
            "input": {
                "id": segment_id,
                "expectedVersion": 1,
                "conditionsText": 'subscriber.status = "CANCELED"',
            }
        },
    )["updateSegment"]
    assert edited == {"segment": {"version": 2}, "userErrors": []}
    assert page(gql, segment_id, 2, first["endCursor"])["memberIds"] == ["cus_05"]
