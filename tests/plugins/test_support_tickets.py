"""The example plugin, installed and discovered by its entry point, end to end over HTTP: its
ingestion route, its values, its suggestions and its condition translation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.database import Database as SyncDatabase
from pymongo.errors import OperationFailure
from seggraph_support_tickets.plugin import TOKEN_VARIABLE, SupportTicketsPlugin
from seggraph_support_tickets.store import COLLECTION, TicketStore

from seggraph.db import Database
from seggraph.domain.conditions import Condition, Operator
from seggraph.plugins import SubscriberFilter
from seggraph.plugins.manager import PluginManager
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer

TOKEN = "s3cret-token"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def server(
    settings: Settings,
    start_live_server: Any,
    sync_db: SyncDatabase[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LiveServer]:
    sync_db[COLLECTION].delete_many({})
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    yield start_live_server(settings.model_copy(update={"plugins": ["support_tickets"]}))


def post(url: str, body: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/support-tickets/tickets", json=body, headers=headers, timeout=30)


def iso(days_ago: int) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


TICKETS = {
    "tickets": [
        {
            "id": "T-1",
            "subscriber_id": "cus_1",
            "status": "open",
            "priority": "high",
            "tags": ["Billing", "refund"],
            "created_at": iso(3),
        },
        {
            "id": "T-2",
            "subscriber_id": "cus_1",
            "status": "solved",
            "priority": "URGENT",
            "tags": ["bug"],
            "created_at": iso(45),
            "satisfaction": 3,
        },
        {
            "id": "T-3",
            "subscriber_id": "cus_2",
            "status": "closed",
            "created_at": iso(1),
            "satisfaction": 4,
        },
    ]
}


def test_tickets_posted_to_its_route_become_property_values(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    assert post(server.url, TICKETS, token=None).status_code == 401
    assert post(server.url, TICKETS, token="wrong").status_code == 401
    refused = post(server.url, {"tickets": [{"id": "T-9", "status": "lost"}]})
    assert refused.status_code == 400
    assert refused.json()["error"]["problems"] == [
        "tickets[0].subscriber_id: required, a non-empty string",
        "tickets[0].status: one of open, pending, solved, closed",
        "tickets[0].created_at: an ISO 8601 date-time with an offset",
    ]
    assert sync_db[COLLECTION].count_documents({}) == 0  # nothing half-written

    written = post(server.url, TICKETS)
    assert written.status_code == 200 and written.json() == {"written": 3, "stale": 0}

    with httpx.Client(base_url=server.url, timeout=30) as http:
        gql = GraphQLClient(http)
        data = gql.query(
            """{ propertyValues(subscriberIds: ["cus_1", "cus_2", "cus_3"], keys: [
                 "support.open_tickets", "support.tickets_last_30_days", "support.tags",
                 "support.highest_open_priority", "support.satisfaction",
                 "support.last_ticket_at"]) { subscriberId values { key state value } } }"""
        )
        rows = {
            row["subscriberId"]: {v["key"]: (v["state"], v["value"]) for v in row["values"]}
            for row in data["propertyValues"]
        }
        assert rows["cus_1"] == {
            "support.open_tickets": ("PRESENT", 1),
            "support.tickets_last_30_days": ("PRESENT", 1),
            "support.tags": ("PRESENT", ["billing", "bug", "refund"]),
            "support.highest_open_priority": ("PRESENT", "HIGH"),
            "support.satisfaction": ("PRESENT", 3),
            "support.last_ticket_at": ("PRESENT", iso(3)),
        }
        assert rows["cus_2"]["support.highest_open_priority"] == ("MISSING", None)
        assert rows["cus_2"]["support.satisfaction"] == ("PRESENT", 4)
        assert rows["cus_3"] == {
            "support.open_tickets": ("PRESENT", 0),
            "support.tickets_last_30_days": ("PRESENT", 0),
            "support.tags": ("PRESENT", []),
            "support.highest_open_priority": ("MISSING", None),
            "support.satisfaction": ("MISSING", None),
            "support.last_ticket_at": ("MISSING", None),
        }

        suggestions = gql.query(
            '{ propertyValueSuggestions(key: "support.tags", prefix: "B") { value } }'
        )
        assert suggestions["propertyValueSuggestions"] == [{"value": "billing"}, {"value": "bug"}]
        # Case-insensitive as casefold() is: "STRAß" starts "strasse" (a database's
        # case-insensitive match does not say so).
        folded = {"id": "T-4", "subscriber_id": "cus_4", "tags": ["strasse"], "created_at": iso(1)}
        assert post(server.url, {"tickets": [folded]}).status_code == 200
        for prefix in ("STRAß", "straß", "Strass"):
            found = gql.query(
                f'{{ propertyValueSuggestions(key: "support.tags", prefix: "{prefix}") {{ value }} }}'
            )
            assert found["propertyValueSuggestions"] == [{"value": "strasse"}], prefix
        priorities = gql.query(
            '{ propertyValueSuggestions(key: "support.highest_open_priority", prefix: "h") '
            "{ value } }"
        )
        assert priorities["propertyValueSuggestions"] == [{"value": "HIGH"}]


def test_the_route_answers_503_until_a_token_is_configured(
    settings: Settings, start_live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    server = start_live_server(settings.model_copy(update={"plugins": ["support_tickets"]}))
    response = post(server.url, TICKETS)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "NOT_CONFIGURED"


def test_the_token_is_read_from_a_dotenv_file_as_every_setting(
    settings: Settings,
    start_live_server: Any,
    sync_db: SyncDatabase[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """README: settings are environment variables or a .env file in the working directory. The
    token alone was read from the environment only, so the route answered 503 with it in .env."""
    sync_db[COLLECTION].delete_many({})
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    (tmp_path / ".env").write_text(f"{TOKEN_VARIABLE}={TOKEN}\n")
    monkeypatch.chdir(tmp_path)
    server = start_live_server(settings.model_copy(update={"plugins": ["support_tickets"]}))
    assert post(server.url, TICKETS, token="wrong").status_code == 401
    response = post(server.url, TICKETS)
    assert response.status_code == 200, response.text
    assert response.json() == {"written": len(TICKETS["tickets"]), "stale": 0}


def test_a_blank_token_is_no_token(
    settings: Settings, start_live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template expanding a missing secret to blanks: the route says it is not configured
    (it answered 401 to every request, as if a token were set)."""
    monkeypatch.setenv(TOKEN_VARIABLE, "  ")
    server = start_live_server(settings.model_copy(update={"plugins": ["support_tickets"]}))
    response = post(server.url, TICKETS, token=None)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "NOT_CONFIGURED"


def test_conditions_on_tags_translate_into_a_mongodb_query() -> None:
    """Tags are stored lower-cased: a case-sensitive value is looked up as written (so
    "Billing" finds nothing, as evaluation says), a case-insensitive one by every lower-case
    spelling that case-folds like it ("ß" folds to "ss"); what no query over ticket documents
    can say exactly is declined. Answers are compared with evaluation in
    tests/query_time/test_pushdown.py."""
    manager = PluginManager(Settings(_env_file=None, plugins=[]))  # type: ignore[call-arg]
    manager.add_plugin(SupportTicketsPlugin(), name="support_tickets")
    catalogue = manager.build_catalogue()

    def translated(condition: Condition) -> SubscriberFilter | None:
        return manager.condition_filter(catalogue, condition)

    tags = "support.tags"
    assert translated(Condition(tags, Operator.CONTAINS_ANY, ("Billing", "bug"))) == (
        SubscriberFilter(COLLECTION, {"tags": {"$in": ["Billing", "bug"]}}, "subscriber_id")
    )
    assert translated(Condition(tags, Operator.CONTAINS_ANY, ("BOSS",), True)) == (
        SubscriberFilter(
            COLLECTION,
            {"tags": {"$in": ["boss", "bosſ", "boß", "boſs", "boſſ"]}},
            "subscriber_id",
        )
    )
    assert translated(Condition(tags, Operator.CONTAINS_ALL, ("Refund", "REFUND"), True)) == (
        SubscriberFilter(COLLECTION, {"tags": {"$in": ["refund"]}}, "subscriber_id")
    )
    declined = [
        Condition(tags, Operator.CONTAINS_ALL, ("billing", "refund")),
        Condition(tags, Operator.CONTAINS_NONE, ("billing",)),
        Condition(tags, Operator.IS_EMPTY, None),
        Condition(tags, Operator.CONTAINS_ANY, ("s" * 12,), True),  # too many spellings
        Condition("support.open_tickets", Operator.GT, 2),
    ]
    for condition in declined:
        assert translated(condition) is None, condition


def refused_problems(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID"
    problems: list[str] = error["problems"]
    return problems


def ticket(**fields: Any) -> dict[str, Any]:
    return {
        "id": "T-1",
        "subscriber_id": "cus_1",
        "status": "open",
        "priority": "HIGH",
        "created_at": iso(1),
        **fields,
    }


def test_a_created_at_outside_what_a_date_holds_in_utc_is_refused_naming_it(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """Valid ISO 8601 with an offset, but before year 1 or after 9999 once in UTC: a 500
    (OverflowError) before."""
    response = post(
        server.url,
        {
            "tickets": [
                ticket(),
                ticket(id="T-2", created_at="0001-01-01T00:00:00+01:00"),
                ticket(id="T-3", created_at="9999-12-31T23:30:00-01:00"),
            ]
        },
    )
    problems = refused_problems(response)
    assert [p.split(":")[0] for p in problems] == ["tickets[1].created_at", "tickets[2].created_at"]
    assert "out of range" in problems[0]
    assert sync_db[COLLECTION].count_documents({}) == 0  # nothing half-written

    # The first instant that is a day in every time zone (the CDP's earliest time too) is
    # stored, and read back as the same instant.
    edge = post(
        server.url,
        {
            "tickets": [
                ticket(id="T-4", subscriber_id="cus_4", created_at="0001-01-02T01:00:00+01:00")
            ]
        },
    )
    assert edge.status_code == 200 and edge.json() == {"written": 1, "stale": 0}
    stored = {d["_id"]: d["created_at"] for d in sync_db[COLLECTION].find()}
    assert stored == {"T-4": datetime(1, 1, 2, 0, 0, tzinfo=UTC)}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        data = GraphQLClient(http).query(
            """{ propertyValues(subscriberIds: ["cus_4"], keys: ["support.last_ticket_at"])
                 { subscriberId values { state value } } }"""
        )
    assert {row["subscriberId"]: row["values"] for row in data["propertyValues"]} == {
        "cus_4": [{"state": "PRESENT", "value": "0001-01-02T00:00:00+00:00"}],
    }


def test_a_created_at_before_the_first_day_in_every_time_zone_is_refused(
    settings: Settings,
    start_live_server: Any,
    sync_db: SyncDatabase[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's earliest created_at, 0001-01-01T00:00:00+00:00, was taken; in New York it
    is in year 0, and support.last_ticket_at answered TYPE_ERROR for good. The bound is the
    CDP's: from 0001-01-02T00:00:00 in UTC, a day in every time zone."""
    sync_db[COLLECTION].delete_many({})
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    server = start_live_server(
        settings.model_copy(update={"plugins": ["support_tickets"], "timezone": "America/New_York"})
    )
    first = ticket(id="T-1", subscriber_id="cus_1", created_at="0001-01-01T00:00:00+00:00")
    last = ticket(id="T-2", subscriber_id="cus_1", created_at="0001-01-01T23:59:59.999999+00:00")
    assert refused_problems(post(server.url, {"tickets": [first, last]})) == [
        f"tickets[{i}].created_at: out of range; in UTC it must fall between "
        "0001-01-02T00:00:00 (the first time that is a calendar day in every time zone) and "
        "9999-12-31T23:59:59"
        for i in (0, 1)
    ]
    assert sync_db[COLLECTION].count_documents({}) == 0
    earliest = ticket(id="T-3", subscriber_id="cus_1", created_at="0001-01-02T00:00:00+00:00")
    assert post(server.url, {"tickets": [earliest]}).json() == {"written": 1, "stale": 0}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        data = GraphQLClient(http).query(
            """{ propertyValues(subscriberIds: ["cus_1"], keys: ["support.last_ticket_at"])
                 { values { state value } } }"""
        )
    # Shown in the account zone (New York's local mean time then, -04:56:02): a day of year 1.
    assert data["propertyValues"] == [
        {"values": [{"state": "PRESENT", "value": "0001-01-01T19:03:58-04:56:02"}]}
    ]


def test_a_ticket_created_in_the_future_is_refused_naming_it(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """It would count among the last 30 days' tickets, and be the latest, long after it was
    sent; a few minutes ahead is the helpdesk's clock skew, and taken."""
    ahead = datetime.now(UTC) + timedelta(minutes=1)
    response = post(
        server.url,
        {
            "tickets": [
                ticket(id="T-1", created_at=ahead.isoformat()),
                ticket(id="T-2", created_at=(NOW + timedelta(days=10)).isoformat()),
                ticket(id="T-3", created_at="9999-12-31T22:59:59-01:00"),
            ]
        },
    )
    problems = refused_problems(response)
    assert [p.split(":")[0] for p in problems] == ["tickets[1].created_at", "tickets[2].created_at"]
    assert all("in the future" in p for p in problems)
    assert sync_db[COLLECTION].count_documents({}) == 0
    taken = post(server.url, {"tickets": [ticket(id="T-1", created_at=ahead.isoformat())]})
    assert taken.status_code == 200 and taken.json() == {"written": 1, "stale": 0}


def test_satisfaction_is_the_average_not_rounded_to_cents(server: LiveServer) -> None:
    """Rounded to cents (half to even), 4.125 read as 4.12 and 1.333... as 1.33: neither was
    at least its own average, or above 1.33."""
    ratings = {"cus_a": [5, 5, 5, 5, 5, 4, 2, 2], "cus_b": [1, 1, 2]}
    sent = [
        ticket(id=f"{who}-{i}", subscriber_id=who, status="solved", satisfaction=rating)
        for who, given in ratings.items()
        for i, rating in enumerate(given)
    ]
    assert post(server.url, {"tickets": sent}).status_code == 200
    with httpx.Client(base_url=server.url, timeout=30) as http:
        data = GraphQLClient(http).query(
            """query($text: String!) {
                 previewConditions(subscriberIds: ["cus_a", "cus_b"], conditionsText: $text)
                 { results { subscriberId evaluation { result } } userErrors { message } } }""",
            {
                "text": "(support.satisfaction >= 4.125 AND support.satisfaction < 4.2) OR "
                "(support.satisfaction > 1.33 AND support.satisfaction < 1.34)"
            },
        )["previewConditions"]
    assert data["userErrors"] == []
    assert {r["subscriberId"]: r["evaluation"]["result"] for r in data["results"]} == {
        "cus_a": "MEMBER",
        "cus_b": "MEMBER",
    }


def test_a_body_nested_too_deeply_is_refused_as_any_malformed_json(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """json raised RecursionError, which was not caught: a 500."""
    url = f"{server.url}/support-tickets/tickets"
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    malformed = httpx.post(url, content=b'{"tickets": [', headers=headers, timeout=30)
    deep = httpx.post(
        url,
        content=b'{"tickets":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        headers=headers,
        timeout=30,
    )
    assert refused_problems(malformed) == ["the body is not JSON"]
    assert refused_problems(deep) == ["the body is not JSON"]
    half_surrogate = httpx.post(
        url,
        content=b'{"tickets": [{"id": "T-1", "subscriber_id": "\\ud800"}]}',
        headers=headers,
        timeout=30,
    )
    assert refused_problems(half_surrogate) == ["the body is not JSON"]
    assert sync_db[COLLECTION].count_documents({}) == 0


@pytest.fixture
def limited_server(
    settings: Settings,
    start_live_server: Any,
    sync_db: SyncDatabase[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> LiveServer:
    sync_db[COLLECTION].delete_many({})
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    limits = {"plugins": ["support_tickets"], "max_body_bytes": 4096}
    server: LiveServer = start_live_server(settings.model_copy(update=limits))
    return server


def test_a_body_over_seggraphs_body_limit_is_refused_with_413(
    limited_server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """The route took a body of any size (a 10 MB one was read and written); it now has
    SEGGRAPH_MAX_BODY_BYTES, GraphQL's limit, whether the size is declared or not."""
    url = f"{limited_server.url}/support-tickets/tickets"
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    big = {"tickets": [ticket(tags=["x" * 60 for _ in range(70)])]}
    declared = httpx.post(url, json=big, headers=headers, timeout=30)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "BODY_TOO_LARGE"
    assert "4096 bytes" in declared.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"tickets": [{"id": "T-1", "subscriber_id": "cus_1", "created_at": "%s"}]' % (
            iso(1).encode()
        )
        for _ in range(10):
            yield b" " * 1000
        yield b"}"

    streamed = httpx.post(url, content=chunks(), headers=headers, timeout=30)
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "BODY_TOO_LARGE"
    assert sync_db[COLLECTION].count_documents({}) == 0

    small = httpx.post(url, json={"tickets": [ticket()]}, headers=headers, timeout=30)
    assert small.status_code == 200 and small.json() == {"written": 1, "stale": 0}


def test_a_subscriber_id_longer_than_any_id_seggraph_takes_is_refused_naming_it(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """README: an id has at most 256 characters wherever it comes in; 300 were stored."""
    response = post(server.url, {"tickets": [ticket(), ticket(id="T-2", subscriber_id="s" * 257)]})
    assert refused_problems(response) == [
        "tickets[1].subscriber_id: at most 256 characters, got 257"
    ]
    assert sync_db[COLLECTION].count_documents({}) == 0

    longest = post(server.url, {"tickets": [ticket(id="T-2", subscriber_id="s" * 256)]})
    assert longest.status_code == 200
    assert sync_db[COLLECTION].find_one({"_id": "T-2"})["subscriber_id"] == "s" * 256  # type: ignore[index]


def test_ticket_ids_and_tags_are_bounded_as_seggraph_s_ids_and_text_values(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """A 200,000-character tag was stored and offered by propertyValueSuggestions, though no
    condition may hold a text value of more than 1,000 characters; a ticket id had no bound.
    Now an id has at most 256 characters (as every id), a tag 1,000 (as a text value), a
    ticket 500 tags (as a condition's list of values)."""
    response = post(
        server.url,
        {
            "tickets": [
                ticket(),
                ticket(id="T" * 257),
                ticket(id="T-3", tags=["billing", "x" * 200_000, " " + "Y" * 1001 + " "]),
                ticket(id="T-4", tags=[f"t{i}" for i in range(501)]),
            ]
        },
    )
    assert refused_problems(response) == [
        "tickets[1].id: at most 256 characters, got 257",
        "tickets[2].tags[1]: at most 1000 characters, got 200000",
        "tickets[2].tags[2]: at most 1000 characters, got 1001",
        "tickets[3].tags: at most 500 tags, got 501",
    ]
    assert sync_db[COLLECTION].count_documents({}) == 0
    with httpx.Client(base_url=server.url, timeout=30) as http:
        suggested = GraphQLClient(http).query(
            '{ propertyValueSuggestions(key: "support.tags", prefix: "x") { value } }'
        )
    assert suggested["propertyValueSuggestions"] == []

    longest = ticket(id="T" * 256, tags=[" " + "X" * 1000 + " ", *(f"t{i}" for i in range(499))])
    assert post(server.url, {"tickets": [longest]}).json() == {"written": 1, "stale": 0}
    stored = sync_db[COLLECTION].find_one({"_id": "T" * 256})
    assert stored is not None and len(stored["tags"]) == 500 and "x" * 1000 in stored["tags"]
    # Tags are counted as stored: 600 entries that are 10 tags in any case are 10.
    repeated = ticket(id="T-5", tags=[f"T{i % 10}" if i % 2 else f"t{i % 10}" for i in range(600)])
    assert post(server.url, {"tickets": [repeated]}).json() == {"written": 1, "stale": 0}


def test_only_a_bearer_token_opens_the_route(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """The token alone, without the Bearer scheme, was accepted."""
    url = f"{server.url}/support-tickets/tickets"
    body = {"tickets": [ticket()]}
    for header in (TOKEN, f"Basic {TOKEN}", f"Token {TOKEN}", f"Bearer{TOKEN}", "Bearer"):
        response = httpx.post(url, json=body, headers={"authorization": header}, timeout=30)
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"].startswith("Bearer ")
    assert sync_db[COLLECTION].count_documents({}) == 0

    for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}"):  # the scheme is case-insensitive
        response = httpx.post(url, json=body, headers={"authorization": header}, timeout=30)
        assert response.status_code == 200, header
    assert sync_db[COLLECTION].count_documents({}) == 1


def test_other_methods_get_a_json_405_like_every_other_refusal(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """Starlette answered 405 in plain text ("Method Not Allowed")."""
    url = f"{server.url}/support-tickets/tickets"
    for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS"):
        for token in (TOKEN, "wrong"):
            response = httpx.request(
                method,
                url,
                json={"tickets": [ticket()]},
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 405, method
            assert response.headers["allow"] == "POST"
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == {
                "code": "METHOD_NOT_ALLOWED",
                "message": f"/support-tickets/tickets takes POST, not {method}",
            }
    head = httpx.head(url, timeout=30)
    assert head.status_code == 405 and head.headers["allow"] == "POST"
    assert sync_db[COLLECTION].count_documents({}) == 0


def test_a_ticket_sent_twice_in_one_request_is_stored_once_as_sent_the_second_time(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """As a ticket sent again in a later request replaces the stored one; the answer said
    {"written": 2} for the one ticket stored (and which one won was up to the database)."""
    first = ticket(status="open", priority="LOW", tags=["first"])
    second = ticket(id=" T-1 ", status="solved", priority="URGENT", tags=["second"])
    response = post(server.url, {"tickets": [first, second, ticket(id="T-2")]})
    assert response.status_code == 200 and response.json() == {"written": 2, "stale": 0}
    stored = {d["_id"]: d for d in sync_db[COLLECTION].find()}
    assert sorted(stored) == ["T-1", "T-2"]
    assert (stored["T-1"]["status"], stored["T-1"]["priority"], stored["T-1"]["tags"]) == (
        "solved",
        "URGENT",
        ["second"],
    )


async def test_a_request_writes_every_ticket_or_none(
    settings: Settings, sync_db: SyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's promise: a write that fails in its middle (the server stopping, say, here
    after the first ticket) leaves none of the request's tickets. One unordered bulk write
    outside a transaction kept what it had written."""
    sync_db[COLLECTION].delete_many({})
    assert settings.mongodb_uri
    database = Database(settings.mongodb_uri, settings.database)
    store = TicketStore(database)
    real = AsyncCollection.bulk_write

    async def fails_after_the_first(self: AsyncCollection[Any], requests: Any, **kw: Any) -> Any:
        await real(self, requests[:1], **kw)
        raise OperationFailure("the server stopped in the middle of the write")

    monkeypatch.setattr(AsyncCollection, "bulk_write", fails_after_the_first)
    tickets = [
        {"id": f"T-{n}", "subscriber_id": "cus_1", "status": "open", "tags": []} for n in (1, 2)
    ]
    try:
        with pytest.raises(OperationFailure):
            await store.upsert(tickets, NOW)
        assert sync_db[COLLECTION].count_documents({}) == 0
        monkeypatch.undo()
        assert await store.upsert(tickets, NOW) == (2, 0)
        assert sync_db[COLLECTION].count_documents({}) == 2
    finally:
        await database.close()


OPEN_TICKETS = (
    '{ subscriber(id: "cus_1") { properties(keys: ["support.open_tickets"]) { value } } }'
)


def open_tickets(url: str) -> Any:
    with httpx.Client(base_url=url, timeout=30) as http:
        [value] = GraphQLClient(http).query(OPEN_TICKETS)["subscriber"]["properties"]
    return value["value"]


def test_a_late_older_state_of_a_ticket_does_not_undo_a_newer_one(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """A helpdesk's webhooks arrive out of order: the update that solved a ticket, then the
    older one that opened it. Without updated_at the ticket went back to open, and the
    subscriber counted an open ticket it does not have."""
    solved = ticket(status="solved", updated_at=iso(0))
    opened = ticket(status="open", updated_at=(NOW - timedelta(hours=2)).isoformat())
    assert post(server.url, {"tickets": [solved]}).json() == {"written": 1, "stale": 0}
    assert post(server.url, {"tickets": [opened]}).json() == {"written": 0, "stale": 1}
    assert sync_db[COLLECTION].find_one({"_id": "T-1"})["status"] == "solved"
    assert open_tickets(server.url) == 0
    # The same time again is written (the later arrival wins), as is a newer one.
    reopened = ticket(status="pending", updated_at=iso(0))
    assert post(server.url, {"tickets": [reopened]}).json() == {"written": 1, "stale": 0}
    assert sync_db[COLLECTION].find_one({"_id": "T-1"})["status"] == "pending"
    # In one request, the newer of two states is kept, whichever comes first.
    later = (NOW + timedelta(minutes=1)).isoformat()
    both = [ticket(status="closed", updated_at=later), ticket(status="open", updated_at=iso(0))]
    assert post(server.url, {"tickets": both}).json() == {"written": 1, "stale": 0}
    assert sync_db[COLLECTION].find_one({"_id": "T-1"})["status"] == "closed"
    # A ticket sent without updated_at replaces the stored one, and has no time to defend.
    assert post(server.url, {"tickets": [ticket(status="open")]}).json()["written"] == 1
    assert post(server.url, {"tickets": [opened | {"status": "solved"}]}).json()["written"] == 1
    assert sync_db[COLLECTION].find_one({"_id": "T-1"})["status"] == "solved"


def test_an_updated_at_that_is_no_time_is_refused_naming_it(
    server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    refused = post(
        server.url,
        {
            "tickets": [
                ticket(updated_at="yesterday"),
                ticket(id="T-2", updated_at="2026-01-05T10:00:00"),
                ticket(id="T-3", updated_at=(NOW + timedelta(hours=1)).isoformat()),
            ]
        },
    )
    assert refused.status_code == 400
    problems = refused.json()["error"]["problems"]
    assert problems[:2] == [
        "tickets[0].updated_at: an ISO 8601 date-time with an offset",
        "tickets[1].updated_at: an ISO 8601 date-time with an offset",
    ]
    assert problems[2].startswith("tickets[2].updated_at: in the future")
    assert sync_db[COLLECTION].count_documents({}) == 0
