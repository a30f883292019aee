"""The billing provider in the running server: the signed webhook, property values through
GraphQL, and the retention event mutation (real HTTP, real database)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from pymongo.database import Database as SyncDatabase
from seggraph_billing.ingest import sign, signature_header

from tests.conftest import GraphQLClient
from tests.providers.billing.builders import (
    coupon,
    customer,
    discount,
    invoice,
    item,
    price,
    product,
    subscription,
)
from tests.providers.billing.conftest import SECRET

URL = "/webhooks/billing"


def envelope(kind: str, obj: dict[str, Any], created: int | None = None, ident: str = "") -> bytes:
    created = created if created is not None else int(time.time())
    body = {
        "id": ident or f"evt_{kind}_{obj.get('id')}_{created}",
        "object": "event",
        "api_version": "2024-06-20",
        "type": kind,
        "created": created,
        "livemode": False,
        "data": {"object": obj},
    }
    return orjson.dumps(body)


class Webhook:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(
        self, payload: bytes, header: str | None = None, *, timestamp: int | None = None
    ) -> httpx.Response:
        stamp = timestamp if timestamp is not None else int(time.time())
        headers = {"content-type": "application/json"}
        signature = header if header is not None else signature_header(payload, SECRET, stamp)
        if signature:
            headers["stripe-signature"] = signature
        return self.http.post(URL, content=payload, headers=headers)

    def send(self, kind: str, obj: dict[str, Any], created: int | None = None) -> str:
        response = self.post(envelope(kind, obj, created))
        assert response.status_code == 200, response.text
        outcome: str = response.json()["outcome"]
        return outcome


def billing_state(sync_db: SyncDatabase[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {
        name: list(sync_db[name].find({}, {"_seggraph.w": 0}))
        for name in sorted(sync_db.list_collection_names())
        if name.startswith("billing_")
    }


@pytest.fixture
def webhook(gql: GraphQLClient, http: httpx.Client) -> Webhook:
    """The live server's billing webhook, on an empty database."""
    return Webhook(http)


def seed(webhook: Webhook) -> None:
    t = int(time.time()) - 60
    webhook.send("product.created", product("prod_pro", "Pro"), t)
    webhook.send("price.created", price("year_120", 12000, "year", product="prod_pro"), t)
    webhook.send("price.created", price("seats_5", 500, "month", product="prod_pro"), t)
    webhook.send("coupon.created", coupon("pct25", percent_off=25), t)
    webhook.send("customer.created", customer("cus_1"), t)


# --- the signature and the envelope ----------------------------------------------------------------


def test_a_signed_event_is_applied_once(
    webhook: Webhook, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    payload = envelope("customer.created", customer("cus_1"), ident="evt_1")
    first = webhook.post(payload)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "id": "evt_1", "outcome": "applied"}
    assert sync_db["billing_customers"].count_documents({"_id": "cus_1"}) == 1
    before = billing_state(sync_db)
    # Stripe retries: the same event id again (even with another body) changes nothing.
    again = webhook.post(envelope("customer.deleted", customer("cus_1"), ident="evt_1"))
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert billing_state(sync_db) == before


def test_any_of_several_signatures_may_match(webhook: Webhook) -> None:
    payload = envelope("customer.created", customer("cus_1"))
    stamp = int(time.time())
    header = f"t={stamp},v1={'0' * 64},v0={'1' * 64},v1={sign(payload, SECRET, stamp)}"
    assert webhook.post(payload, header).status_code == 200


def refusals() -> list[Any]:
    payload = envelope("customer.created", customer("cus_1"))
    now = int(time.time())
    good = sign(payload, SECRET, now)
    return [
        pytest.param(payload, "", 400, "MISSING_SIGNATURE", id="no header"),
        pytest.param(payload, f"v1={good}", 400, "BAD_SIGNATURE_HEADER", id="no timestamp"),
        pytest.param(payload, f"t={now}", 400, "BAD_SIGNATURE_HEADER", id="no v1"),
        pytest.param(payload, f"t=soon,v1={good}", 400, "BAD_SIGNATURE_HEADER", id="bad t"),
        pytest.param(
            payload,
            f"t={now},v1={sign(payload, 'whsec_other', now)}",
            401,
            "BAD_SIGNATURE",
            id="another secret",
        ),
        pytest.param(
            payload.replace(b"cus_1", b"cus_2"),
            f"t={now},v1={good}",
            401,
            "BAD_SIGNATURE",
            id="body changed",
        ),
        pytest.param(
            payload,
            f"t={now + 1},v1={good}",
            401,
            "BAD_SIGNATURE",
            id="timestamp changed",
        ),
        pytest.param(
            payload,
            f"t={now - 400},v1={sign(payload, SECRET, now - 400)}",
            400,
            "STALE_TIMESTAMP",
            id="stale",
        ),
        pytest.param(
            payload,
            f"t={now + 400},v1={sign(payload, SECRET, now + 400)}",
            400,
            "STALE_TIMESTAMP",
            id="from the future",
        ),
    ]


@pytest.mark.parametrize(("payload", "header", "status", "code"), refusals())
def test_bad_signatures_are_refused_and_change_nothing(
    webhook: Webhook,
    sync_db: SyncDatabase[dict[str, Any]],
    payload: bytes,
    header: str,
    status: int,
    code: str,
) -> None:
    response = webhook.post(payload, header)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert all(not docs for docs in billing_state(sync_db).values())


MALFORMED = [
    pytest.param(b"{not json", "MALFORMED_JSON", id="not JSON"),
    pytest.param(b"[1, 2]", "MALFORMED_EVENT", id="not an object"),
    pytest.param(
        orjson.dumps({"type": "customer.created", "created": 1, "data": {"object": {}}}),
        "MALFORMED_EVENT",
        id="no id",
    ),
    pytest.param(
        orjson.dumps(
            {
                "id": "evt_1",
                "type": "customer.created",
                "created": "yesterday",
                "data": {"object": {"id": "cus_1"}},
            }
        ),
        "MALFORMED_EVENT",
        id="created not a timestamp",
    ),
    pytest.param(
        orjson.dumps({"id": "evt_1", "type": "customer.created", "created": 1, "data": {}}),
        "MALFORMED_EVENT",
        id="no data.object",
    ),
    pytest.param(
        envelope("customer.created", {"object": "customer", "email": "a@example.com"}),
        "MALFORMED_OBJECT",
        id="customer without id",
    ),
    pytest.param(
        envelope("customer.subscription.created", {"object": "subscription", "id": "sub_1"}),
        "MALFORMED_OBJECT",
        id="subscription without customer",
    ),
    pytest.param(
        envelope("customer.subscription.updated", customer("cus_1")),
        "MALFORMED_OBJECT",
        id="object of the wrong type",
    ),
    pytest.param(
        envelope("customer.discount.created", {"object": "discount", "coupon": "pct25"}),
        "MALFORMED_OBJECT",
        id="discount without owner",
    ),
    pytest.param(
        envelope("customer.created", customer("cus_1"), created=2**64 - 1),
        "MALFORMED_EVENT",
        id="created beyond 64 bits",
    ),
]


@pytest.mark.parametrize(("payload", "code"), MALFORMED)
def test_malformed_bodies_are_refused_and_change_nothing(
    webhook: Webhook, sync_db: SyncDatabase[dict[str, Any]], payload: bytes, code: str
) -> None:
    response = webhook.post(payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert all(not docs for docs in billing_state(sync_db).values())


def _nested(levels: int) -> dict[str, Any]:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(levels - 1):
        inner["x"] = {}
        inner = inner["x"]
    return deep


UNSTORABLE = [
    pytest.param(
        "customer.created",
        customer("cus_1", balance=18446744073709551615),
        "balance is 18446744073709551615, beyond MongoDB's 64-bit integers",
        id="integer beyond 64 bits",
    ),
    pytest.param(
        "customer.updated",
        customer("cus_1", metadata={"k\x00": "v"}),
        "the field name 'k\\x00' in metadata has a NUL character",
        id="NUL in a field name",
    ),
    pytest.param(
        "customer.discount.created",
        discount("pct25") | {"customer": "cus_1", "end": 2**63},
        "end is 9223372036854775808",
        id="discount with an integer beyond 64 bits",
    ),
    pytest.param(
        "customer.subscription.created",
        subscription("sub_1", [item("year_120")]) | {"$inc": {"a": 1}},
        "the field name '$inc' starts with '$'",
        id="top-level field name starting with $",
    ),
    pytest.param(
        "invoice.paid",
        invoice("in_1", 100) | {"lines": _nested(100)},  # 101 levels with the invoice
        "nested more than 100 levels deep",
        id="nested beyond 100 levels",
    ),
]


@pytest.mark.parametrize(("kind", "obj", "problem"), UNSTORABLE)
def test_an_object_mongodb_cannot_store_is_refused_as_malformed(
    webhook: Webhook,
    sync_db: SyncDatabase[dict[str, Any]],
    kind: str,
    obj: dict[str, Any],
    problem: str,
) -> None:
    """JSON allows what BSON does not: such an event is refused as a malformed object (400,
    naming the value), not a 500 that Stripe would retry for days, and nothing is written."""
    response = webhook.post(envelope(kind, obj, ident="evt_bad"))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "MALFORMED_OBJECT"
    assert error["message"].startswith("data.object: cannot be stored: ")
    assert problem in error["message"]
    assert all(not docs for docs in billing_state(sync_db).values())
    # The event was not recorded: once corrected it is applied.
    good = webhook.post(envelope("customer.created", customer("cus_1"), ident="evt_bad"))
    assert good.status_code == 200 and good.json()["outcome"] == "applied"


def test_only_post_and_only_reasonable_sizes(webhook: Webhook, http: httpx.Client) -> None:
    for method in ("GET", "PUT", "DELETE"):
        refused = http.request(method, URL)
        assert refused.status_code == 405, method
        assert refused.headers["allow"] == "POST"
        assert refused.json()["error"]["code"] == "METHOD_NOT_ALLOWED"  # JSON, as every error
    huge = envelope("customer.created", customer("cus_1") | {"padding": "x" * 1_100_000})
    response = webhook.post(huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once past the limit
        for _ in range(40):
            yield b" " * 65_536

    streamed = http.post(URL, content=chunks(), headers={"stripe-signature": "t=1,v1=00"})
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "TOO_LARGE"


def test_unused_event_types_are_acknowledged(
    webhook: Webhook, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    assert webhook.send("charge.succeeded", {"id": "ch_1", "object": "charge"}) == "ignored"
    assert sync_db["billing_webhook_events"].count_documents({"outcome": "ignored"}) == 1


def test_out_of_order_delivery_keeps_the_newest_state(webhook: Webhook) -> None:
    seed(webhook)
    t = int(time.time()) - 30
    newer = subscription("sub_1", [item("year_120")], "past_due")
    older = subscription("sub_1", [item("year_120")], "active")
    assert webhook.send("customer.subscription.updated", newer, t + 10) == "applied"
    assert webhook.send("customer.subscription.updated", older, t) == "stale"


# --- values through GraphQL --------------------------------------------------------------------------

PROPERTIES_QUERY = """
query ($id: ID!, $sub: ID, $keys: [String!]!) {
  subscriber(id: $id, subscriptionId: $sub) {
    properties(keys: $keys) { key value state unknownReason detail provider }
  }
}
"""


def property_values(
    gql: GraphQLClient, subscriber: str, keys: list[str], subscription: str | None = None
) -> dict[str, Any]:
    data = gql.query(PROPERTIES_QUERY, {"id": subscriber, "sub": subscription, "keys": keys})
    out = {}
    for value in data["subscriber"]["properties"]:
        assert value["provider"] == "billing", value
        out[value["key"]] = value["value"] if value["state"] == "PRESENT" else value["state"]
    return out


def test_billing_properties_are_in_the_catalogue(gql: GraphQLClient) -> None:
    data = gql.query("{ properties { key type provider enumValues } }")
    billing = {p["key"]: p for p in data["properties"] if p["provider"] == "billing"}
    assert len(billing) == 26
    assert billing["subscriber.mrr"]["type"] == "MONEY"
    assert billing["plan.interval"]["enumValues"] == ["DAY", "WEEK", "MONTH", "YEAR"]
    assert billing["subscriber.status"]["enumValues"] == [
        "ACTIVE",
        "CANCELED",
        "SAVED",
        "REACTIVATED",
    ]


# --- retention events through GraphQL ----------------------------------------------------------------

RECORD = """
mutation ($input: RecordRetentionEventInput!) {
  recordRetentionEvent(input: $input) {
    retentionEvent { id subscriberId kind offerId couponId at }
    userErrors { path code message }
  }
}
"""


def test_a_condition_editor_is_offered_the_catalogue_s_names_and_ids(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """Plan and add-on names (a price's nickname, else its product's name) and ids, product
    names and ids and coupon ids are suggested from the catalogue, by prefix, any case."""
    seed(webhook)
    t = int(time.time()) - 60
    named = price("month_9", 900, "month", product="prod_pro", nickname="Pro monthly")
    webhook.send("price.created", named, t)
    webhook.send("product.created", product("prod_gone", "Promo"), t)
    webhook.send("product.deleted", {**product("prod_gone", "Promo"), "deleted": True}, t + 1)

    def suggested(key: str, prefix: str = "", first: int = 10) -> list[Any]:
        data = gql.query(
            "query($key: String!, $prefix: String!, $first: Int!) {"
            " propertyValueSuggestions(key: $key, prefix: $prefix, first: $first) { value } }",
            {"key": key, "prefix": prefix, "first": first},
        )
        return [row["value"] for row in data["propertyValueSuggestions"]]

    assert suggested("plan.name") == ["Pro", "Pro monthly"]  # two prices name no nickname
    assert suggested("plan.name", "pro m") == ["Pro monthly"]
    assert suggested("addon.name", "PRO", first=1) == ["Pro"]
    assert suggested("plan.id", "y") == ["year_120"]
    assert suggested("product.name", "pr") == ["Pro"]  # the deleted product is not offered
    assert suggested("product.id") == ["prod_pro"]
    assert suggested("subscription.active_coupon_id") == ["pct25"]
    assert suggested("plan.interval", "m") == ["MONTH"]  # an ENUM: seggraph's own
    assert suggested("plan.name", "(*") == []  # the prefix is text, not a pattern


def test_record_retention_events(webhook: Webhook, gql: GraphQLClient) -> None:
    seed(webhook)
    webhook.send("customer.subscription.created", subscription("sub_1", [item("year_120")]))
    saved = gql.query(
        RECORD,
        {
            "input": {
                "subscriberId": "cus_1",
                "kind": "SAVED",
                "offerId": "offer_1",
                "couponId": "pct25",
                "at": "2026-01-02T03:04:05+00:00",
            }
        },
    )["recordRetentionEvent"]
    assert saved["userErrors"] == []
    event = saved["retentionEvent"]
    assert event["kind"] == "SAVED" and event["offerId"] == "offer_1"
    assert event["couponId"] == "pct25" and event["at"].startswith("2026-01-02T03:04:05")
    gql.query(RECORD, {"input": {"subscriberId": "cus_1", "kind": "CANCELED"}})
    listed = gql.query('{ retentionEvents(subscriberId: "cus_1") { kind offerId } }')
    assert listed["retentionEvents"] == [
        {"kind": "CANCELED", "offerId": None},
        {"kind": "SAVED", "offerId": "offer_1"},
    ]


def test_refused_retention_events_answer_user_errors(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    seed(webhook)
    refused = gql.query(RECORD, {"input": {"subscriberId": "cus_nobody", "kind": "SAVED"}})[
        "recordRetentionEvent"
    ]
    assert refused["retentionEvent"] is None
    assert {(tuple(e["path"]), e["code"]) for e in refused["userErrors"]} == {
        (("subscriberId",), "UNKNOWN_SUBSCRIBER"),
        (("offerId",), "BLANK"),
    }
    assert sync_db["billing_retention_events"].count_documents({}) == 0


RECORD_ONCE = """
mutation ($input: RecordRetentionEventInput!) {
  recordRetentionEvent(input: $input) {
    retentionEvent { id kind offerId at recordedAt idempotencyKey }
    replayed
    userErrors { path code message }
  }
}
"""


def test_a_retry_with_the_idempotency_key_answers_the_event_recorded_and_records_nothing(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """A flow that sends its save again after a timeout (the outcome unknown) must not record a
    second save; a retry without at asks for the same event though the clock moved on."""
    seed(webhook)
    saved = {"subscriberId": "cus_1", "kind": "SAVED", "offerId": "offer_1", "idempotencyKey": "k1"}
    first = gql.query(RECORD_ONCE, {"input": saved})["recordRetentionEvent"]
    assert first["userErrors"] == [] and first["replayed"] is False
    assert first["retentionEvent"]["idempotencyKey"] == "k1"
    time.sleep(0.01)
    again = gql.query(RECORD_ONCE, {"input": {**saved, "offerId": " offer_1 "}})
    assert again["recordRetentionEvent"]["replayed"] is True
    assert again["recordRetentionEvent"]["retentionEvent"] == first["retentionEvent"]
    assert sync_db["billing_retention_events"].count_documents({}) == 1
    # Another key is another event.
    other = gql.query(RECORD_ONCE, {"input": {**saved, "idempotencyKey": "k2"}})
    assert other["recordRetentionEvent"]["replayed"] is False
    assert sync_db["billing_retention_events"].count_documents({}) == 2
    # With at given, a retry gives the same at (to the millisecond) to be the same event.
    timed = {**saved, "idempotencyKey": "k3", "at": "2026-01-02T03:04:05.123+00:00"}
    recorded = gql.query(RECORD_ONCE, {"input": timed})["recordRetentionEvent"]
    retried = gql.query(
        RECORD_ONCE, {"input": {**timed, "at": "2026-01-02T04:04:05.123456+01:00"}}
    )["recordRetentionEvent"]
    assert retried["replayed"] is True
    assert retried["retentionEvent"]["id"] == recorded["retentionEvent"]["id"]
    assert sync_db["billing_retention_events"].count_documents({}) == 3


def test_a_retry_after_its_customer_was_deleted_is_answered_the_event_recorded(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """The key was looked up after the input's checks, so a retry whose customer was deleted
    meanwhile was refused UNKNOWN_SUBSCRIBER: the flow learnt nothing of the save it made."""
    seed(webhook)
    saved = {"subscriberId": "cus_1", "kind": "CANCELED", "idempotencyKey": "before-delete"}
    first = gql.query(RECORD_ONCE, {"input": saved})["recordRetentionEvent"]
    assert first["userErrors"] == []
    assert webhook.send("customer.deleted", customer("cus_1")) == "applied"
    again = gql.query(RECORD_ONCE, {"input": saved})["recordRetentionEvent"]
    assert again["userErrors"] == [] and again["replayed"] is True
    assert again["retentionEvent"]["id"] == first["retentionEvent"]["id"]
    # Without a key, or with a new one, the customer is unknown now.
    fresh = gql.query(RECORD_ONCE, {"input": {**saved, "idempotencyKey": "after-delete"}})
    codes = [e["code"] for e in fresh["recordRetentionEvent"]["userErrors"]]
    assert codes == ["UNKNOWN_SUBSCRIBER"]
    assert sync_db["billing_retention_events"].count_documents({}) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"offerId": "offer_2"},
        {"kind": "CANCELED", "offerId": None},
        {"couponId": "pct25"},
        {"at": "2026-01-02T03:04:05+00:00"},  # the first call took the time of recording
    ],
)
def test_an_idempotency_key_sent_with_another_event_is_refused_and_writes_nothing(
    webhook: Webhook,
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    change: dict[str, Any],
) -> None:
    seed(webhook)
    saved = {"subscriberId": "cus_1", "kind": "SAVED", "offerId": "offer_1", "idempotencyKey": "k"}
    gql.query(RECORD_ONCE, {"input": saved})
    refused = gql.query(RECORD_ONCE, {"input": {**saved, **change}})["recordRetentionEvent"]
    assert refused["retentionEvent"] is None and refused["replayed"] is False
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [
        (["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")
    ]
    assert sync_db["billing_retention_events"].count_documents({}) == 1


def test_calls_with_one_idempotency_key_at_once_record_one_event(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    seed(webhook)
    saved = {"subscriberId": "cus_1", "kind": "CANCELED", "idempotencyKey": "at-once"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: gql.query(RECORD_ONCE, {"input": saved}), range(8)))
    events = [a["recordRetentionEvent"] for a in answers]
    assert all(e["userErrors"] == [] for e in events)
    assert len({e["retentionEvent"]["id"] for e in events}) == 1
    assert sorted(e["replayed"] for e in events) == [False] + [True] * 7
    assert sync_db["billing_retention_events"].count_documents({}) == 1


@pytest.mark.parametrize(("key", "code"), [("", "BLANK"), ("  ", "BLANK"), ("k" * 257, "TOO_LONG")])
def test_a_blank_or_long_idempotency_key_is_refused(
    webhook: Webhook,
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    key: str,
    code: str,
) -> None:
    seed(webhook)
    refused = gql.query(
        RECORD_ONCE, {"input": {"subscriberId": "cus_1", "kind": "CANCELED", "idempotencyKey": key}}
    )["recordRetentionEvent"]
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [(["idempotencyKey"], code)]
    assert sync_db["billing_retention_events"].count_documents({}) == 0


def test_a_retention_event_answers_the_times_it_stores(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """MongoDB keeps milliseconds: the answer said .261474 where the event read back said
    .261000."""
    seed(webhook)
    fields = "{ at recordedAt }"
    answered = []
    for at in ("2026-01-02T03:04:05.261474+00:00", None):
        recorded = gql.query(
            f"mutation ($input: RecordRetentionEventInput!) {{ recordRetentionEvent(input: "
            f"$input) {{ retentionEvent {fields} userErrors {{ code }} }} }}",
            {"input": {"subscriberId": "cus_1", "kind": "CANCELED", "at": at}},
        )["recordRetentionEvent"]
        assert recorded["userErrors"] == []
        answered.append(recorded["retentionEvent"])
    assert answered[0]["at"] == "2026-01-02T03:04:05.261000+00:00"
    listed = gql.query(f'{{ retentionEvents(subscriberId: "cus_1") {fields} }}')
    assert listed["retentionEvents"] == answered[::-1]


def test_retention_event_ids_are_bounded(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    seed(webhook)
    refused = gql.query(
        RECORD,
        {
            "input": {
                "subscriberId": "c" * 257,
                "kind": "SAVED",
                "offerId": "o" * 5000,
                "couponId": "p" * 257,
            }
        },
    )["recordRetentionEvent"]
    assert refused["retentionEvent"] is None
    assert [(e["path"], e["code"], e["message"]) for e in refused["userErrors"]] == [
        (["subscriberId"], "TOO_LONG", "subscriberId has at most 256 characters, got 257"),
        (["offerId"], "TOO_LONG", "offerId has at most 256 characters, got 5000"),
        (["couponId"], "TOO_LONG", "couponId has at most 256 characters, got 257"),
    ]
    assert sync_db["billing_retention_events"].count_documents({}) == 0
    longest = {"subscriberId": "cus_1", "kind": "SAVED", "offerId": "o" * 256, "couponId": "p"}
    assert gql.query(RECORD, {"input": longest})["recordRetentionEvent"]["userErrors"] == []


def test_a_retention_event_time_out_of_the_calendar_is_a_user_error(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """0001-01-01T00:00:00+01:00 (year 0 in UTC) and 9999-12-31T23:59:59-01:00 (year 10000)
    were an INTERNAL_SERVER_ERROR; 0001-01-01T00:00:00Z was taken, though it is no day in New
    York. The earliest time taken is the CDP's."""
    seed(webhook)
    earliest = (
        "at must be 0001-01-02T00:00:00+00:00 or later (the first time that is a calendar day "
        "in every time zone)"
    )
    for at, code, message in (
        ("0001-01-01T00:00:00+01:00", "OUT_OF_RANGE", earliest),
        ("0001-01-01T00:00:00Z", "OUT_OF_RANGE", earliest),
        ("0001-01-01T23:59:59.999Z", "OUT_OF_RANGE", earliest),
        ("9999-12-31T23:59:59-01:00", "IN_FUTURE", "at must not be in the future"),
        ("9999-12-31T23:59:59Z", "IN_FUTURE", "at must not be in the future"),
    ):
        body = gql.execute(
            RECORD, {"input": {"subscriberId": "cus_1", "kind": "CANCELED", "at": at}}
        )
        assert "errors" not in body, body
        refused = body["data"]["recordRetentionEvent"]
        assert refused == {
            "retentionEvent": None,
            "userErrors": [{"path": ["at"], "code": code, "message": message}],
        }, at
    assert sync_db["billing_retention_events"].count_documents({}) == 0
    taken = gql.query(
        RECORD,
        {"input": {"subscriberId": "cus_1", "kind": "CANCELED", "at": "0001-01-02T00:00:00Z"}},
    )["recordRetentionEvent"]
    assert (
        taken["userErrors"] == [] and taken["retentionEvent"]["at"] == "0001-01-02T00:00:00+00:00"
    )


def test_retention_events_refuse_a_first_out_of_range(webhook: Webhook, gql: GraphQLClient) -> None:
    """first: -1 answered [] and first: 10000 answered 500 events, without a word."""
    seed(webhook)
    gql.query(RECORD, {"input": {"subscriberId": "cus_1", "kind": "CANCELED"}})
    for first in (-1, 501):
        body = gql.execute(
            'query($first: Int!) { retentionEvents(subscriberId: "cus_1", first: $first) '
            "{ kind } }",
            {"first": first},
        )
        assert body["data"] is None
        [error] = body["errors"]
        assert error["message"] == f"first must be 0..500, got {first}"
        assert error["extensions"]["code"] == "OUT_OF_RANGE"
        assert len(error["extensions"]["requestId"]) == 16
    for first, count in ((0, 0), (500, 1)):
        listed = gql.query(
            'query($first: Int!) { retentionEvents(subscriberId: "cus_1", first: $first) '
            "{ kind } }",
            {"first": first},
        )["retentionEvents"]
        assert len(listed) == count


def test_discount_and_invoice_events_reach_the_values(webhook: Webhook, gql: GraphQLClient) -> None:
    seed(webhook)
    t = int(time.time()) - 20
    sub = subscription("sub_1", [item("year_120", kind="plan"), item("seats_5", 2, kind="addon")])
    webhook.send("customer.subscription.created", sub, t)
    webhook.send(
        "customer.discount.created",
        discount("pct25") | {"customer": "cus_1", "subscription": "sub_1"},
        t + 1,
    )
    webhook.send("invoice.paid", invoice("in_1", 22000, subscription="sub_1"), t + 2)
    webhook.send("invoice.paid", invoice("in_2", 5000), t + 3)
    keys = [
        "subscriber.mrr",
        "subscriber.ltv",
        "subscriber.status",
        "subscription.mrr",
        "subscription.ltv",
        "subscription.active_coupon_id",
        "subscription.discount_percentage",
        "plan.interval",
        "plan.name",
        "addon.id",
        "subscriber.active_offer_id",
    ]
    got = property_values(gql, "cus_1", keys)
    assert got["subscription.active_coupon_id"] == "pct25"
    assert got["plan.interval"] == "YEAR"
    assert got["plan.name"] == "Pro"
    assert got["addon.id"] == ["seats_5"]
    assert got["subscriber.status"] == "ACTIVE"
    assert got["subscriber.active_offer_id"] == "MISSING"
    # (10 + 2 × 5) × 0.75 = 15; LTV 220 + 50.
    assert money(got["subscriber.mrr"]) == (Decimal("15.00"), "USD")
    assert money(got["subscription.mrr"]) == (Decimal("15.00"), "USD")
    assert money(got["subscriber.ltv"]) == (Decimal("270.00"), "USD")
    assert money(got["subscription.ltv"]) == (Decimal("220.00"), "USD")
    unknown = property_values(gql, "cus_nobody", ["subscriber.mrr", "plan.id"])
    assert unknown == {"subscriber.mrr": "MISSING", "plan.id": "MISSING"}


def test_a_discount_end_in_milliseconds_is_unknown_through_the_api(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """A discount whose end is in milliseconds (a day that has passed) was taken for one with
    no end: the API answered the discounted MRR and the coupon as in force. It is UNKNOWN."""
    seed(webhook)
    t = int(time.time()) - 20
    webhook.send("customer.subscription.created", subscription("sub_1", [item("seats_5")]), t)
    ended_ms = (int(time.time()) - 86400) * 1000
    webhook.send(
        "customer.discount.created",
        discount("pct25") | {"customer": "cus_1", "subscription": "sub_1", "end": ended_ms},
        t + 1,
    )
    keys = ["subscriber.mrr", "subscription.active_coupon_id", "subscription.discount_percentage"]
    data = gql.query(PROPERTIES_QUERY, {"id": "cus_1", "sub": None, "keys": keys})
    for row in data["subscriber"]["properties"]:
        assert row["state"] == "UNKNOWN", row
        assert row["unknownReason"] == "PROVIDER_ERROR", row
        assert "end of discount 'di_pct25' is " in row["detail"], row
    # The same discount with its end in seconds has ended: no discount, the full price.
    webhook.send(
        "customer.discount.updated",
        discount("pct25") | {"customer": "cus_1", "subscription": "sub_1", "end": ended_ms // 1000},
        t + 2,
    )
    got = property_values(gql, "cus_1", keys)
    assert money(got["subscriber.mrr"]) == (Decimal("5.00"), "USD")
    assert got["subscription.active_coupon_id"] == "MISSING"


def test_a_created_in_milliseconds_makes_the_primary_subscription_unknown_through_the_api(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """Two live subscriptions, the newer one's ``created`` in milliseconds: it ranked as the
    oldest, so the API answered the other one's plan. Which one is primary is not known."""
    seed(webhook)
    t = int(time.time()) - 20
    newer = subscription("sub_new", [item("seats_5")]) | {"created": (t - 10) * 1000}
    older = subscription("sub_old", [item("year_120")], created="2025-01-01T00:00:00")
    webhook.send("customer.subscription.created", newer, t)
    webhook.send("customer.subscription.created", older, t)
    data = gql.query(PROPERTIES_QUERY, {"id": "cus_1", "sub": None, "keys": ["plan.id"]})
    (row,) = data["subscriber"]["properties"]
    assert (row["state"], row["unknownReason"]) == ("UNKNOWN", "PROVIDER_ERROR"), row
    assert "created of subscription 'sub_new' is " in row["detail"], row
    named = property_values(gql, "cus_1", ["plan.id"], subscription="sub_new")
    assert named == {"plan.id": "seats_5"}


def money(value: Any) -> tuple[Decimal, str]:
    """A MONEY value as the API renders it (a JSON number and a currency)."""
    return Decimal(str(value["amount"])), value["currency"]


# --- a segment over billing properties, end to end ---------------------------------------------------

CREATE = """
mutation ($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } userErrors { path code message } }
}
"""
MEMBERSHIP = """
query ($id: ID!, $segments: [ID!]!) {
  subscriber(id: $id) { membership(segmentIds: $segments) { result } }
}
"""


def test_segment_membership_from_webhook_data(webhook: Webhook, gql: GraphQLClient) -> None:
    seed(webhook)
    webhook.send("customer.created", customer("cus_2"))
    webhook.send("customer.subscription.created", subscription("sub_1", [item("year_120", 12)]))
    webhook.send(
        "customer.subscription.created",
        subscription("sub_2", [item("seats_5")], customer="cus_2"),
    )
    created = gql.query(
        CREATE,
        {
            "input": {
                "name": "Yearly, MRR over 100",
                "conditionsText": 'subscriber.mrr > 100 AND plan.interval = "YEAR" '
                "AND subscription.will_renew IS TRUE",
            }
        },
    )["createSegment"]
    assert created["userErrors"] == []
    segment = created["segment"]["id"]

    def result(subscriber: str) -> str:
        data = gql.query(MEMBERSHIP, {"id": subscriber, "segments": [segment]})
        outcome: str = data["subscriber"]["membership"][0]["result"]
        return outcome

    assert result("cus_1") == "MEMBER"  # 12 × 120 / 12 = 120 a month, yearly
    assert result("cus_2") != "MEMBER"  # 5 a month
    webhook.send(
        "customer.subscription.updated",
        subscription("sub_1", [item("year_120", 12)], cancel_at_period_end=True),
        int(time.time()) + 1,
    )
    assert result("cus_1") != "MEMBER"


def test_one_request_reads_keys_of_every_read_group(webhook: Webhook, gql: GraphQLClient) -> None:
    """A segment over the customer and subscription keys, and in the same request the keys
    read from invoices and retention events (other read groups, asked when a field reads
    them): every value is right whichever field asks first."""
    seed(webhook)
    webhook.send("customer.subscription.created", subscription("sub_1", [item("year_120", 12)]))
    webhook.send("invoice.paid", invoice("in_1", 12000, subscription="sub_1"))
    gql.query(RECORD, {"input": {"subscriberId": "cus_1", "kind": "SAVED", "offerId": "o1"}})
    created = gql.query(
        CREATE,
        {"input": {"name": "Yearly", "conditionsText": 'plan.interval = "YEAR"'}},
    )["createSegment"]
    segment = created["segment"]["id"]
    data = gql.query(
        """
        query ($id: ID!, $segments: [ID!]!, $keys: [String!]!) {
          subscriber(id: $id) {
            membership(segmentIds: $segments) { result }
            properties(keys: $keys) { key value }
          }
        }
        """,
        {
            "id": "cus_1",
            "segments": [segment],
            "keys": ["subscriber.ltv", "subscriber.status", "subscriber.mrr"],
        },
    )["subscriber"]
    assert data["membership"] == [{"result": "MEMBER"}]
    values = {v["key"]: v["value"] for v in data["properties"]}
    assert values["subscriber.ltv"] == {"amount": 120, "currency": "USD"}
    assert values["subscriber.status"] == "SAVED"
    assert values["subscriber.mrr"] == {"amount": 120, "currency": "USD"}


def test_the_catalogue_says_which_billing_amounts_are_in_the_account_currency(
    gql: GraphQLClient,
) -> None:
    """Subscriber-level sums add only amounts in the account currency, so they declare it;
    a subscription's amounts and a coupon's are in their own currency, which varies between
    subscribers: null (each value carries its currency)."""
    found = gql.query("{ properties { key type currency } }")["properties"]
    billing = {
        p["key"]: p["currency"]
        for p in found
        if p["type"] == "MONEY" and p["key"].split(".")[0] in ("subscriber", "subscription")
    }
    assert billing == {
        "subscriber.mrr": "USD",
        "subscriber.ltv": "USD",
        "subscription.mrr": None,
        "subscription.ltv": None,
        "subscription.discount_fixed_amount": None,
    }


def test_a_date_time_that_does_not_parse_is_refused_in_words_for_the_client(
    webhook: Webhook, gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    seed(webhook)
    expected = "expected an ISO-8601 date-time such as 2026-01-31T09:30:00Z, got "
    literal = 'mutation { recordRetentionEvent(input: {subscriberId: "cus_1", kind: CANCELED, at: AT}) { userErrors { code } } }'
    for at, shown in (
        ('"not a date"', "'not a date'"),
        ("5", "5"),
        ('"2026-13-01"', "'2026-13-01'"),
    ):
        body = gql.execute(literal.replace("AT", at))
        column = literal.index("AT") + 1
        [error] = body["errors"]
        assert body["data"] is None
        assert error["extensions"].pop("requestId")
        assert error == {
            "message": expected + shown,
            "locations": [{"line": 1, "column": column}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    body = gql.execute(
        RECORD, {"input": {"subscriberId": "cus_1", "kind": "CANCELED", "at": "not a date"}}
    )
    assert [e["message"] for e in body["errors"]] == [
        "Variable '$input' has invalid value at .at: " + expected + "'not a date'"
    ]
    assert sync_db["billing_retention_events"].count_documents({}) == 0
    written = gql.query(literal.replace("AT", '"2026-01-31T09:30:00Z"'))
    assert written["recordRetentionEvent"]["userErrors"] == []


def test_an_amount_left_out_of_a_sum_is_said_in_the_explanation_and_the_values(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """properties.md: subscriber-level sums add only amounts in the account currency; "others
    are left out, and an explanation says so"."""
    seed(webhook)
    webhook.send("price.created", price("eur_10", 1000, "month", currency="eur"))
    webhook.send("customer.subscription.created", subscription("sub_usd", [item("seats_5")]))
    webhook.send(
        "customer.subscription.created",
        subscription("sub_eur", [item("eur_10")], currency="eur"),
    )
    created = gql.query(
        CREATE, {"input": {"name": "Over 1", "conditionsText": "subscriber.mrr > 1"}}
    )["createSegment"]
    explained = gql.query(
        'query($id: ID!) { segment(id: $id) { evaluate(subscriberId: "cus_1", explain: true) {'
        " result explanation { conditions { property actual note } } } } }",
        {"id": created["segment"]["id"]},
    )["segment"]["evaluate"]
    assert explained["result"] == "MEMBER"
    [condition] = explained["explanation"]["conditions"]
    assert condition["actual"] == {"amount": 5, "currency": "USD"}
    assert "sub_eur" in condition["note"] and "left out" in condition["note"]
    values = gql.query(
        '{ subscriber(id: "cus_1") { properties(keys: ["subscriber.mrr", "plan.interval"]) '
        "{ key note } } }"
    )["subscriber"]["properties"]
    assert "EUR" in values[0]["note"] and "left out" in values[0]["note"]
    # The sum's note is the sum's: plan.interval says only which subscription it read.
    assert values[1]["note"] is not None and "left out" not in values[1]["note"]
    assert "sub_usd" in values[1]["note"]


def test_an_explanation_says_which_subscription_was_read(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """A subscriber with two subscriptions, asked about without a subscriptionId: billing and
    custom properties read the primary one, and the explanation (and each value's note) says
    which, so a result can be understood; a subscription named is read without a note, one of
    another subscriber is said to be none of this one's by billing (which answers it missing)
    and read as named by custom properties, as the README says; one subscription is no
    question."""
    seed(webhook)
    webhook.send("customer.created", customer("cus_2"))
    webhook.send("customer.created", customer("cus_3"))
    old = subscription("sub_old", [item("year_120")], created="2025-01-01T00:00:00")
    new = subscription("sub_new", [item("seats_5")], created="2025-06-01T00:00:00")
    other = subscription("sub_other", [item("seats_5")], customer="cus_2")
    only = subscription("sub_only", [item("seats_5")], customer="cus_3")
    for sent in (old, new, other, only):
        webhook.send("customer.subscription.created", sent)
    created = gql.query(
        "mutation($input: CreateCustomPropertyInput!) { createCustomProperty(input: $input) "
        "{ userErrors { code } } }",
        {
            "input": {
                "key": "seat_cap",
                "label": "Seat cap",
                "type": "NUMBER",
                "object": "SUBSCRIPTION",
            }
        },
    )["createCustomProperty"]
    assert created["userErrors"] == []
    written = gql.query(
        "mutation($values: [CustomPropertyValueInput!]!) { setCustomPropertyValues(values: "
        "$values) { userErrors { code } } }",
        {
            "values": [
                {"key": "seat_cap", "subscriptionId": ident, "value": cap}
                for ident, cap in (
                    ("sub_old", 5),
                    ("sub_new", 50),
                    ("sub_other", 500),
                    ("sub_only", 70),
                )
            ]
        },
    )["setCustomPropertyValues"]
    assert written["userErrors"] == []
    segment = gql.query(
        CREATE,
        {
            "input": {
                "name": "Seats plan",
                "conditionsText": 'plan.id = "seats_5" AND custom.seat_cap >= 10',
            }
        },
    )["createSegment"]["segment"]["id"]

    def explained(subscriber: str, sub: str | None) -> tuple[str, list[tuple[Any, Any]]]:
        found = gql.query(
            "query($id: ID!, $who: ID!, $sub: ID) { segment(id: $id) { evaluate(subscriberId: "
            "$who, subscriptionId: $sub, explain: true) { result explanation { conditions "
            "{ actual note } } } } }",
            {"id": segment, "who": subscriber, "sub": sub},
        )["segment"]["evaluate"]
        rows = [(c["actual"], c["note"]) for c in found["explanation"]["conditions"]]
        return found["result"], rows

    result, rows = explained("cus_1", None)
    assert result == "MEMBER"
    assert [actual for actual, _ in rows] == ["seats_5", 50]
    for _, note in rows:  # the same words from both providers
        assert note == (
            "read subscription sub_new, the primary one of the subscriber's 2 (no "
            "subscriptionId was given)"
        )
    assert explained("cus_1", "sub_old") == ("NOT_MEMBER", [("year_120", None), (5, None)])
    result, rows = explained("cus_1", "sub_other")
    assert result == "NOT_MEMBER"
    [(plan, plan_note), (cap, cap_note)] = rows
    assert plan is None and "sub_other is not one of this subscriber's" in plan_note
    assert (cap, cap_note) == (500, None)
    assert explained("cus_3", None) == ("MEMBER", [("seats_5", None), (70, None)])
    values = gql.query(
        '{ subscriber(id: "cus_1") { properties(keys: ["subscriber.mrr", "subscription.mrr", '
        '"custom.seat_cap"]) { key note } } }'
    )["subscriber"]["properties"]
    assert values[0] == {"key": "subscriber.mrr", "note": None}  # every subscription's sum
    assert all("sub_new" in value["note"] for value in values[1:])


# --- a subscription with more items than its event embeds ---------------------------------------


def twelve_items() -> list[dict[str, Any]]:
    """A yearly plan of 120 and eleven seats of 5 a month: an MRR of 10 + 11 × 5 = 65."""
    return [item("year_120", kind="plan")] + [
        item("seats_5", kind="addon", id=f"si_seat_{n}") for n in range(11)
    ]


def as_stripe_embeds(sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription as Stripe sends it in an event: the first 10 items of its list."""
    items = sub["items"]["data"]
    sub["items"] = {
        "object": "list",
        "data": items[:10],
        "has_more": len(items) > 10,
        "total_count": len(items),
        "url": f"/v1/subscription_items?subscription={sub['id']}",
    }
    return sub


def test_items_left_out_of_an_event_make_the_amounts_unknown_not_wrong(
    webhook: Webhook, gql: GraphQLClient
) -> None:
    """Stripe embeds the first 10 items of a subscription in its events (``has_more``): the
    MRR of those 10 (10 + 9 × 5 = 55) was answered as the subscriber's, and the add-ons
    lacked two. They are UNKNOWN with the reason, so a segment over them is UNKNOWN, not a
    wrong member; the plan, named by an embedded item, is known. An event with every item
    (or an import of them) makes them known again."""
    seed(webhook)
    t = int(time.time()) - 20
    sent = as_stripe_embeds(subscription("sub_1", twelve_items()))
    assert webhook.send("customer.subscription.created", sent, t) == "applied"
    keys = ["subscriber.mrr", "subscription.mrr", "addon.id", "plan.id", "plan.interval"]
    data = gql.query(PROPERTIES_QUERY, {"id": "cus_1", "sub": None, "keys": keys})
    got = {v["key"]: v for v in data["subscriber"]["properties"]}
    for key in ("subscriber.mrr", "subscription.mrr", "addon.id"):
        assert got[key]["state"] == "UNKNOWN", got[key]
        assert got[key]["unknownReason"] == "PROVIDER_ERROR"
        assert "'sub_1' has 12 items and only 10 are stored" in got[key]["detail"]
    assert got["plan.id"]["value"] == "year_120" and got["plan.interval"]["value"] == "YEAR"

    created = gql.query(
        CREATE, {"input": {"name": "MRR over 60", "conditionsText": "subscriber.mrr > 60"}}
    )["createSegment"]
    segment = created["segment"]["id"]
    member = gql.query(MEMBERSHIP, {"id": "cus_1", "segments": [segment]})
    assert member["subscriber"]["membership"] == [{"result": "UNKNOWN"}]

    complete = subscription("sub_1", twelve_items())
    complete["items"] |= {"has_more": False, "total_count": 12}
    assert webhook.send("customer.subscription.updated", complete, t + 1) == "applied"
    got = property_values(gql, "cus_1", keys)
    assert money(got["subscriber.mrr"]) == (Decimal("65.00"), "USD")
    assert got["addon.id"] == ["seats_5"] * 11
    member = gql.query(MEMBERSHIP, {"id": "cus_1", "segments": [segment]})
    assert member["subscriber"]["membership"] == [{"result": "MEMBER"}]
