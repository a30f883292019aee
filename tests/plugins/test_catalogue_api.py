"""The catalogue over GraphQL: properties, one property, value suggestions and providers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from seggraph.domain.conditions import Money
from seggraph.domain.properties import OPERATORS_BY_TYPE, PropertyDefinition, PropertyType
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.plugins.fakes import FakeProvider

PLAN = PropertyDefinition(
    "ledger.plan",
    "Plan",
    PropertyType.ENUM,
    description="The plan of the subscription.",
    enum_values=("Starter", "Growth", "Enterprise"),
)
MRR = PropertyDefinition(
    "ledger.mrr", "Ledger MRR", PropertyType.MONEY, description="Monthly revenue.", currency="EUR"
)
TRIAL = PropertyDefinition("ledger.on_trial", "On trial", PropertyType.BOOLEAN)
#: ``ledger.mrr`` declares EUR (the account currency is USD): a bare 7 is 7 EUR.
LEDGER = {
    "cus_bare": {"ledger.mrr": 7},
    "cus_none": {"ledger.mrr": Money(Decimal(7), None)},
    "cus_usd": {"ledger.mrr": Money(Decimal(7), "USD"), "ledger.plan": "growth"},
}


@pytest.fixture
def gql(settings: Settings, start_live_server: Any) -> Iterator[GraphQLClient]:
    server: LiveServer = start_live_server(
        settings.model_copy(update={"plugins": ["support_tickets"]}),
        extra_plugins=[("ledger", FakeProvider([PLAN, MRR, TRIAL], LEDGER))],
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield GraphQLClient(http)


PROPERTY = """key label namespace type description provider enumValues unit currency operators"""


def test_properties_lists_the_whole_catalogue_by_key(gql: GraphQLClient) -> None:
    keys = [p["key"] for p in gql.query("{ properties { key } }")["properties"]]
    assert keys == sorted(keys)
    assert set(keys) == {
        "ledger.mrr",
        "ledger.on_trial",
        "ledger.plan",
        "support.highest_open_priority",
        "support.last_ticket_at",
        "support.open_tickets",
        "support.satisfaction",
        "support.tags",
        "support.tickets_last_30_days",
    }


def test_properties_filter_by_namespace_and_search(gql: GraphQLClient) -> None:
    def keys(arguments: str) -> list[str]:
        found = gql.query(f"{{ properties({arguments}) {{ key }} }}")["properties"]
        return [p["key"] for p in found]

    assert keys('namespace: "ledger"') == ["ledger.mrr", "ledger.on_trial", "ledger.plan"]
    assert keys('search: "monthly"') == ["ledger.mrr"]
    assert keys('search: "ticket OPEN"') == [
        "support.highest_open_priority",
        "support.open_tickets",
    ]
    assert keys('namespace: "support", search: "plan"') == []


def test_property_has_its_type_description_provider_values_and_operators(
    gql: GraphQLClient,
) -> None:
    plan = gql.query(f'{{ property(key: "ledger.plan") {{ {PROPERTY} }} }}')["property"]
    assert plan == {
        "key": "ledger.plan",
        "label": "Plan",
        "namespace": "ledger",
        "type": "ENUM",
        "description": "The plan of the subscription.",
        "provider": "ledger",
        "enumValues": ["Starter", "Growth", "Enterprise"],
        "unit": None,
        "currency": None,
        "operators": ["EQ", "NEQ", "IN", "NOT_IN", "IS_SET", "IS_NOT_SET"],
    }
    mrr = gql.query(f'{{ property(key: "ledger.mrr") {{ {PROPERTY} }} }}')["property"]
    assert mrr["currency"] == "EUR" and mrr["type"] == "MONEY"
    tickets = gql.query(f'{{ property(key: "support.open_tickets") {{ {PROPERTY} }} }}')
    assert tickets["property"]["unit"] == "tickets"
    assert tickets["property"]["provider"] == "support_tickets"
    assert gql.query('{ property(key: "no.such") { key } }') == {"property": None}


def test_operators_are_derived_from_the_type_for_every_property(gql: GraphQLClient) -> None:
    for found in gql.query("{ properties { type operators } }")["properties"]:
        expected = [o.value for o in OPERATORS_BY_TYPE[PropertyType(found["type"])]]
        assert found["operators"] == expected


def test_value_suggestions_of_an_enum_come_from_its_declared_values(gql: GraphQLClient) -> None:
    def suggest(arguments: str) -> list[dict[str, Any]]:
        query = f"{{ propertyValueSuggestions({arguments}) {{ value label }} }}"
        return gql.query(query)["propertyValueSuggestions"]

    assert suggest('key: "ledger.plan"') == [
        {"value": "Starter", "label": "Starter"},
        {"value": "Growth", "label": "Growth"},
        {"value": "Enterprise", "label": "Enterprise"},
    ]
    assert suggest('key: "ledger.plan", prefix: "gr"') == [{"value": "Growth", "label": "Growth"}]
    assert suggest('key: "ledger.plan", first: 1') == [{"value": "Starter", "label": "Starter"}]
    assert suggest('key: "ledger.on_trial"') == [
        {"value": True, "label": "true"},
        {"value": False, "label": "false"},
    ]
    # A prefix picks among them as among an enum's values, in any case.
    for prefix, expected in (("t", [True]), ("TRU", [True]), ("f", [False]), ("x", [])):
        found = suggest(f'key: "ledger.on_trial", prefix: "{prefix}"')
        assert [s["value"] for s in found] == expected, prefix
    assert suggest('key: "ledger.mrr"') == []


def test_value_suggestions_refuse_unknown_keys_and_silly_sizes(gql: GraphQLClient) -> None:
    body = gql.execute('{ propertyValueSuggestions(key: "no.such") { value } }')
    assert body["errors"][0]["message"] == "unknown property key(s): no.such"
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_PROPERTY"
    body = gql.execute('{ propertyValueSuggestions(key: "ledger.plan", first: 0) { value } }')
    assert body["errors"][0]["message"] == "first must be 1..100, got 0"
    assert body["errors"][0]["extensions"]["code"] == "OUT_OF_RANGE"  # as every page size


def test_providers_show_name_version_status_hooks_and_properties(gql: GraphQLClient) -> None:
    found = gql.query(
        "{ providers { name version status lastError failuresInRow degradedUntil hooks "
        "properties { key type } } }"
    )["providers"]
    by_name = {p["name"]: p for p in found}
    assert by_name["ledger"] == {
        "name": "ledger",
        "version": None,
        "status": "OK",
        "lastError": None,
        "failuresInRow": 0,
        "degradedUntil": None,
        "hooks": ["register_properties", "resolve_properties"],
        "properties": [
            {"key": "ledger.plan", "type": "ENUM"},
            {"key": "ledger.mrr", "type": "MONEY"},
            {"key": "ledger.on_trial", "type": "BOOLEAN"},
        ],
    }
    tickets = by_name["support_tickets"]
    assert tickets["version"] == "0.1.0" and tickets["status"] == "OK"
    assert "resolve_properties" in tickets["hooks"] and len(tickets["properties"]) == 6
    for name, provider in by_name.items():
        if name not in ("ledger", "support_tickets"):
            assert provider["status"] == "DISABLED"
            assert provider["lastError"] == "not in SEGGRAPH_PLUGINS"


def test_property_values_refuse_unknown_keys(gql: GraphQLClient) -> None:
    body = gql.execute('{ propertyValues(subscriberIds: ["a"], keys: ["x.y"]) { subscriberId } }')
    assert body["errors"][0]["message"] == "unknown property key(s): x.y"


def test_a_bare_amount_is_read_in_the_currency_its_property_declares(gql: GraphQLClient) -> None:
    """``ledger.mrr`` declares EUR: a bare 7 (or a Money without a currency) is 7 EUR in its
    answers and for conditions, so ``> 1 EUR`` is met and ``> 1`` (1 USD, the account
    currency) cannot be compared."""
    ids = ["cus_bare", "cus_none", "cus_usd"]
    values = gql.query(
        '{ propertyValues(subscriberIds: ["cus_bare", "cus_none", "cus_usd"], '
        'keys: ["ledger.mrr"]) { subscriberId values { value } } }'
    )["propertyValues"]
    eur, usd = {"amount": 7, "currency": "EUR"}, {"amount": 7, "currency": "USD"}
    assert [row["values"][0]["value"] for row in values] == [eur, eur, usd]
    one = gql.query('{ subscriber(id: "cus_bare") { properties(keys: ["ledger.mrr"]) { value } } }')
    assert one["subscriber"]["properties"] == [{"value": eur}]
    # An ENUM answered in another case is shown as the identifier it names, as it is read.
    plan = gql.query(
        '{ subscriber(id: "cus_usd") { properties(keys: ["ledger.plan"]) { value } } }'
    )
    assert plan["subscriber"]["properties"] == [{"value": "Growth"}]

    def preview(text: str) -> list[tuple[str, Any]]:
        rows = gql.query(
            """query($ids: [ID!]!, $text: String!) { previewConditions(subscriberIds: $ids,
              conditionsText: $text) { results { evaluation { result
              unknownReasons { reason } explanation { conditions { actual } } } } } }""",
            {"ids": ids, "text": text},
        )["previewConditions"]["results"]
        return [
            (
                row["evaluation"]["result"],
                [r["reason"] for r in row["evaluation"]["unknownReasons"]],
                row["evaluation"]["explanation"]["conditions"][0]["actual"],
            )
            for row in rows
        ]

    assert preview("ledger.mrr > 1 EUR") == [
        ("MEMBER", [], eur),
        ("MEMBER", [], eur),
        ("UNKNOWN", ["CURRENCY_MISMATCH"], usd),
    ]
    assert preview("ledger.mrr > 1") == [
        ("UNKNOWN", ["CURRENCY_MISMATCH"], eur),
        ("UNKNOWN", ["CURRENCY_MISMATCH"], eur),
        ("MEMBER", [], usd),
    ]
