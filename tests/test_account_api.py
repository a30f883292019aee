"""``account``: the settings a frontend renders and edits conditions with (currency, time zone,
limits) and the request's mode, as the server runs with them: what it answers is what the
server then enforces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seggraph.catalogue import Catalogue
from seggraph.services import segments as segment_service
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.segments.conftest import CREATE

LIMITS = """maxConditions maxConditionDepth maxListItems maxTextLength maxPatternLength
  maxRelativeAmount maxConditionsTextLength maxNameLength maxDescriptionLength maxTags
  maxTagLength maxActiveSegments"""
ACCOUNT = f"{{ account {{ currency currencyMinorUnits timeZone mode limits {{ {LIMITS} }} }} }}"
PREVIEW = """query($conditions: ConditionGroupInput, $text: String) {
  previewConditions(subscriberIds: [], conditions: $conditions, conditionsText: $text) {
    userErrors { path code message } } }"""


def account(gql: GraphQLClient, **headers: str) -> dict[str, Any]:
    found: dict[str, Any] = gql.query(ACCOUNT, **headers)["account"]
    return found


def refusals(gql: GraphQLClient, **variables: Any) -> list[str]:
    """The codes previewConditions refuses these conditions with (none: accepted)."""
    payload = gql.query(PREVIEW, variables)["previewConditions"]
    return [error["code"] for error in payload["userErrors"]]


def tree(conditions: list[dict[str, Any]], depth: int = 1) -> dict[str, Any]:
    """An ALL group holding ``conditions``, nested ``depth`` levels deep (the root is 1)."""
    group: dict[str, Any] = {"combinator": "ALL", "conditions": conditions}
    for _ in range(depth - 1):
        group = {"combinator": "ALL", "groups": [group]}
    return group


def mrr(value: Any) -> dict[str, Any]:
    return {"property": "subscriber.mrr", "operator": "GT", "value": value}


def test_the_account_follows_the_settings_the_server_runs_with(
    settings: Settings, start_live_server: Callable[..., LiveServer]
) -> None:
    """A frontend hard-coded USD, UTC and 100 conditions: an operator's JPY account in
    Auckland, allowing 7 conditions 3 levels deep, was rendered and edited wrongly."""
    server = start_live_server(
        settings.model_copy(
            update={
                "currency": "JPY",
                "timezone": "Pacific/Auckland",
                "max_conditions": 7,
                "max_condition_depth": 3,
            }
        )
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        gql = GraphQLClient(http)
        found = account(gql)
        assert (found["currency"], found["currencyMinorUnits"]) == ("JPY", 0)
        assert found["timeZone"] == "Pacific/Auckland"
        assert found["mode"] == "TEST"
        assert account(gql, **{"X-Seggraph-Mode": "live"})["mode"] == "LIVE"
        limits = found["limits"]
        assert (limits["maxConditions"], limits["maxConditionDepth"]) == (7, 3)
        # ... and those are what the server enforces: a bare amount is in yen (no decimals),
        assert refusals(gql, conditions=tree([mrr(100)])) == []
        assert refusals(gql, conditions=tree([mrr("100.5")])) == ["INVALID_MONEY"]
        # the condition and depth limits are these ones.
        assert refusals(gql, conditions=tree([mrr(i + 1) for i in range(7)])) == []
        too_many = tree([mrr(i + 1) for i in range(8)])
        assert refusals(gql, conditions=too_many) == ["TOO_MANY_CONDITIONS"]
        assert refusals(gql, conditions=tree([mrr(1)], depth=3)) == []
        assert refusals(gql, conditions=tree([mrr(1)], depth=4)) == ["TOO_DEEP"]


@pytest.fixture
def catalogue(live_server: LiveServer) -> Any:
    from tests.segments.conftest import TEST_PROPERTIES

    services = live_server.app.state.services
    real = services.catalogue
    services.catalogue = Catalogue(TEST_PROPERTIES)
    yield
    services.catalogue = real


def test_each_limit_answered_is_the_one_enforced(
    gql: GraphQLClient, catalogue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frontend checking a segment before saving does it with the numbers the server
    refuses by: at each limit a segment is accepted, one past it refused."""
    monkeypatch.setattr(segment_service, "MAX_EVALUATED_SEGMENTS", 2)
    limits = account(gql)["limits"]
    assert limits["maxActiveSegments"] == 2

    def condition(operator: str, value: Any, key: str = "plan.name") -> dict[str, Any]:
        return tree([{"property": key, "operator": operator, "value": value}])

    text, pattern, items = (
        limits["maxTextLength"],
        limits["maxPatternLength"],
        limits["maxListItems"],
    )
    for at, past in (
        (condition("EQ", "x" * text), condition("EQ", "x" * (text + 1))),
        (condition("IN", ["x" * text]), condition("IN", ["x" * (text + 1)])),
        (condition("MATCHES", "x" * pattern), condition("MATCHES", "x" * (pattern + 1))),
        (condition("IN", ["x"] * items), condition("IN", ["x"] * (items + 1))),
        (
            condition("CONTAINS_ANY", ["x"] * items, "addon.id"),
            condition("CONTAINS_ANY", ["x"] * (items + 1), "addon.id"),
        ),
    ):
        assert refusals(gql, conditions=at) == []
        assert refusals(gql, conditions=past) == ["TOO_LONG"]
    amount = limits["maxRelativeAmount"]
    for given, expected in ((amount, []), (amount + 1, ["INVALID_VALUE"])):
        relative = condition("IN_LAST", {"amount": given, "unit": "DAY"}, "cdp.last_seen")
        assert refusals(gql, conditions=relative) == expected
    length = limits["maxConditionsTextLength"]
    padded = 'plan.name = "x"'.ljust(length)
    assert refusals(gql, text=padded) == []
    assert refusals(gql, text=padded + " ") == ["TOO_LONG"]

    def created(**fields: Any) -> list[str]:
        payload = gql.query(CREATE, {"input": fields})["createSegment"]
        if payload["segment"] is not None:
            gql.query(
                "mutation($id: ID!) { archiveSegment(id: $id) { userErrors { code } } }",
                {"id": payload["segment"]["id"]},
            )
        return [error["code"] for error in payload["userErrors"]]

    name, description = limits["maxNameLength"], limits["maxDescriptionLength"]
    tags, tag = limits["maxTags"], limits["maxTagLength"]
    for at, past, code in (
        ({"name": "n" * name}, {"name": "n" * (name + 1)}, "TOO_LONG"),
        ({"description": "d" * description}, {"description": "d" * (description + 1)}, "TOO_LONG"),
        (
            {"tags": [f"t{i}" for i in range(tags)]},
            {"tags": [f"t{i}" for i in range(tags + 1)]},
            "TOO_MANY",
        ),
        ({"tags": ["t" * tag]}, {"tags": ["t" * (tag + 1)]}, "TOO_LONG"),
    ):
        assert created(**{"name": "at", **at}) == []
        assert created(**{"name": "past", **past}) == [code]

    gql.query(CREATE, {"input": {"name": "one"}})
    gql.query(CREATE, {"input": {"name": "two"}})
    assert [
        e["code"]
        for e in gql.query(CREATE, {"input": {"name": "three"}})["createSegment"]["userErrors"]
    ] == ["TOO_MANY"]
