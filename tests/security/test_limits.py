"""Limits: query depth, aliases, tokens, body size and introspection on the GraphQL endpoint (clear
errors, never masked, and the validation cache keeps hitting with them on); page sizes and input
lengths in the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase

from seggraph.api.evaluation.inputs import MAX_CONDITIONS_TEXT
from seggraph.api.validation_cache import VALIDATIONS
from seggraph.domain.context import MAX_SUBJECT_ID
from seggraph.services.evaluation import MAX_EVALUATED_SEGMENTS
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.segments.conftest import SegmentClient, errors_by_path

LIMITS = {
    "max_query_depth": 4,
    "max_aliases": 2,
    "max_query_tokens": 300,
    "max_body_bytes": 4096,
    "introspection": False,
}


@pytest.fixture(scope="module")
def limited(settings: Settings, sync_db: SyncDatabase[dict[str, Any]]) -> Iterator[httpx.Client]:
    server = LiveServer(settings.model_copy(update=LIMITS))
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
    server.stop()


def errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The response's errors, each without its request id (the response's own, checked)."""
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json().get("errors") or []
    for error in found:
        assert error["extensions"].pop("requestId") == response.headers["x-request-id"]
    return found


def ask(http: httpx.Client, query: str) -> httpx.Response:
    return http.post("/graphql", json={"query": query})


# Depth counts levels of fields, the root field being the first: combinator is the fourth level
# here (as deep as the limit of 4 allows) and the fifth there.
SHALLOW = "{ segments { nodes { conditions { combinator } } } }"
DEEP = "{ segments { nodes { conditions { groups { combinator } } } } }"


def test_too_deep_a_query_is_refused_every_time_while_the_validation_cache_hits(
    limited: httpx.Client,
) -> None:
    assert errors(ask(limited, SHALLOW)) == []
    before = (VALIDATIONS.hits, VALIDATIONS.misses)
    for _ in range(3):
        assert errors(ask(limited, SHALLOW)) == []
    after = (VALIDATIONS.hits, VALIDATIONS.misses)
    assert after == (before[0] + 3, before[1])

    refusals = [errors(ask(limited, DEEP)) for _ in range(3)]
    assert refusals[0] == refusals[1] == refusals[2]
    assert refusals[0][0]["message"] == "'anonymous' exceeds maximum operation depth of 4"
    assert (VALIDATIONS.hits, VALIDATIONS.misses) == (after[0] + 2, after[1] + 1)


def test_the_depth_limit_counts_levels_of_fields_through_fragments(limited: httpx.Client) -> None:
    fragments = """
    query Deep { ...Top }
    fragment Top on Query { segments { ...Page } }
    fragment Page on SegmentConnection { nodes { ... on Segment { conditions { ...Group } } } }
    """
    four = fragments + "fragment Group on ConditionGroup { combinator }"
    assert errors(ask(limited, four)) == []
    five = fragments + "fragment Group on ConditionGroup { groups { combinator } }"
    (refused,) = errors(ask(limited, five))
    assert refused["message"] == "'Deep' exceeds maximum operation depth of 4"
    lines = five.splitlines()
    assert refused["locations"] == [  # the fifth level
        {"line": len(lines), "column": lines[-1].index("combinator") + 1}
    ]
    # introspection fields are not counted (GraphiQL's own query is deeper than that)
    assert errors(ask(limited, "{ __typename }")) == []


def test_fragments_spread_many_times_are_counted_once(gql: GraphQLClient) -> None:
    # Each fragment spreads the next twice: 2**40 paths through them, which Strawberry's depth
    # and alias limiters walked one by one (the request never finished, and held the server).
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    document = "{ ...F0 }\n" + chain + "\nfragment F40 on Query { segments { totalCount } }"
    response = gql.http.post("/graphql", json={"query": document}, timeout=10)
    assert response.json() == {"data": {"segments": {"totalCount": 0}}}
    aliased = document.replace("{ segments {", "{ s: segments {")
    response = gql.http.post("/graphql", json={"query": aliased}, timeout=10)
    assert errors(response) == [
        {
            "message": f"{2**40} aliases found. Allowed: 30",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    ]


def test_a_document_too_complex_to_validate_says_so(gql: GraphQLClient) -> None:
    """One field repeated a thousand times spends graphql-core's budget for comparing fields;
    the client was told only "Validation aborted.", which says neither why nor what to do."""
    repeated = "{ segments { " + " ".join(["totalCount"] * 1000) + " } }"
    [error] = gql.execute(repeated)["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["message"].startswith("the document is too complex to check")
    assert "ask each field once" in error["message"]
    # Asked a few times, as a field may be, it is answered.
    assert gql.query("{ segments { totalCount totalCount } }") == {"segments": {"totalCount": 0}}


def test_too_many_aliases_are_refused(limited: httpx.Client) -> None:
    assert errors(ask(limited, "{ a: segments { totalCount } b: segments { totalCount } }")) == []
    refused = errors(ask(limited, "{ a: segments { totalCount } b: tags { tag } c: tags { tag } }"))
    assert [e["message"] for e in refused] == ["3 aliases found. Allowed: 2"]


def test_too_many_tokens_are_refused_before_parsing_finishes(limited: httpx.Client) -> None:
    long = "{ " + " ".join(["a"] * 400) + " }"
    refused = errors(ask(limited, long))
    assert refused[0]["message"] == (
        "Syntax Error: Document contains more than 300 tokens. Parsing aborted."
    )


def test_a_body_over_the_limit_is_refused_with_413(limited: httpx.Client) -> None:
    padding = " " * 5000
    declared = limited.post(
        "/graphql",
        content=('{"query": "{ __typename }"' + padding + "}").encode(),
        headers={"content-type": "application/json"},
    )
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"
    assert "4096 bytes" in declared.json()["errors"][0]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "{ __typename }"'
        for _ in range(10):
            yield b" " * 1000
        yield b"}"

    streamed = limited.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.headers["x-request-id"]
    assert errors(ask(limited, "{ __typename }")) == []  # and the server is fine


def test_introspection_can_be_switched_off(limited: httpx.Client, http: httpx.Client) -> None:
    query = "{ __schema { queryType { name } } }"
    refused = errors(ask(limited, query))
    assert "introspection has been disabled" in refused[0]["message"]
    assert errors(ask(limited, "{ __typename }")) == []
    assert errors(ask(http, query)) == []  # on by default


def test_limit_errors_are_never_masked(limited: httpx.Client) -> None:
    for query in (DEEP, "{ nope }", "{ segments(first: 1000) { totalCount } }"):
        for error in errors(ask(limited, query)):
            assert "Unexpected error" not in error["message"]


def test_defaults_let_ordinary_deep_questions_through(gql: GraphQLClient) -> None:
    # 11 levels: every version of a page of segments, each with its full condition tree (5
    # levels of groups), within the operation size limit too (tests/security/test_query_cost.py)
    query = """{ segments { nodes { history { segment { conditions {
        groups { groups { groups { groups { conditions { property } } } } } } } } } } }"""
    assert gql.query(query) == {"segments": {"nodes": []}}
    # the default, 15, is that many levels of fields, and no more
    fifteen = "{ segments { nodes { conditions { " + "groups { " * 11 + "combinator" + " }" * 15
    assert gql.query(fifteen) == {"segments": {"nodes": []}}
    sixteen = fifteen.replace("{ combinator }", "{ groups { combinator } }")
    refused = gql.execute(sixteen)["errors"]
    assert [e["message"] for e in refused] == ["'anonymous' exceeds maximum operation depth of 15"]


# -- page sizes and input lengths (the tree's depth and size, and regex syntax, are in
# tests/segments/test_model_and_validation.py) ------------------------------------------------


def condition(prop: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"property": prop, "operator": operator, "value": value}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "n" * 201}, {"name": "TOO_LONG"}),
        ({"description": "d" * 2001}, {"description": "TOO_LONG"}),
        ({"tags": ["t" * 65]}, {"tags.0": "TOO_LONG"}),
        ({"tags": [f"t{i}" for i in range(51)]}, {"tags": "TOO_MANY"}),
        (
            {"conditions": {"conditions": [condition("plan.name", "EQ", "x" * 1001)]}},
            {"conditions.conditions.0.value": "TOO_LONG"},
        ),
        (
            {"conditions": {"conditions": [condition("plan.name", "IN", ["x"] * 501)]}},
            {"conditions.conditions.0.value": "TOO_LONG"},
        ),
        (
            {"conditions": {"conditions": [condition("plan.name", "MATCHES", "a" * 1001)]}},
            {"conditions.conditions.0.value": "TOO_LONG"},
        ),
        ({"conditionsText": "x" * (MAX_CONDITIONS_TEXT + 1)}, {"conditionsText": "TOO_LONG"}),
    ],
    ids=["name", "description", "tag", "tags", "value", "list", "regex", "text"],
)
def test_input_lengths_are_clear_user_errors(
    seg: SegmentClient, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    payload = seg.create(**{"name": "ok", **fields})
    assert errors_by_path(payload) == expected
    assert payload["segment"] is None


def test_page_sizes_and_list_arguments_are_bounded(seg: SegmentClient) -> None:
    """Each refusal names its argument and says the bound, with one code per kind of bound
    (a number out of range, a list too long, a text too long), whichever field it is."""
    gql = seg.gql
    tags = ",".join(['"t"'] * 51)
    ids = ",".join(['"x"'] * (MAX_EVALUATED_SEGMENTS + 1))
    segment = seg.create(name="s")["segment"]["id"]
    long_tag = '"' + "t" * 65 + '"'
    for query, message, code in (
        ("{ segments(first: 101) { totalCount } }", "first must be 0..100", "OUT_OF_RANGE"),
        ("{ segments(first: -1) { totalCount } }", "first must be 0..100", "OUT_OF_RANGE"),
        (
            '{ propertyValueSuggestions(key: "plan.name", first: 101) { value } }',
            "first must be 1..100",
            "OUT_OF_RANGE",
        ),
        (
            '{ propertyValueSuggestions(key: "plan.name", first: 0) { value } }',
            "first must be 1..100",
            "OUT_OF_RANGE",
        ),
        (
            "{ segments(filter: {tags: [" + tags + "]}) { totalCount } }",
            "at most 50 tags",
            "TOO_MANY",
        ),
        (
            '{ segments(filter: {search: "' + "s" * 201 + '"}) { totalCount } }',
            "at most 200 characters",
            "TOO_LONG",
        ),
        (
            '{ subscriber(id: "s") { segments(tags: [' + tags + "]) { result } } }",
            "at most 50 tags",
            "TOO_MANY",
        ),
        (
            '{ subscriber(id: "s") { segments(tags: [' + long_tag + "]) { result } } }",
            "at most 64 characters",
            "TOO_LONG",
        ),
        (
            '{ subscriber(id: "s") { membership(segmentIds: [' + ids + "]) { result } } }",
            f"at most {MAX_EVALUATED_SEGMENTS} segments",
            "TOO_MANY",
        ),
    ):
        body = gql.execute(query)
        assert body.get("errors"), query
        error = body["errors"][0]
        assert message in error["message"], (query, body["errors"])
        assert error["extensions"]["code"] == code, (query, error)
    impact = (
        'query($s: Int!) { segmentEditImpact(id: "ID", conditionsText: "subscriber.mrr > 1", '
        "sample: $s) { userErrors { path code message } } }"
    ).replace("ID", segment)
    for sample in (-1, 101):
        refused = gql.query(impact, {"s": sample})["segmentEditImpact"]["userErrors"]
        assert [(e["path"], e["code"]) for e in refused] == [(["sample"], "OUT_OF_RANGE")]
        assert "sample must be 0..100" in refused[0]["message"]


ID_ARGUMENTS = {
    "id": '{ subscriber(id: "ID") { id } }',
    "subscriptionId": '{ subscriber(id: "s", subscriptionId: "ID") { subscriptionId } }',
    "subscriberIds": '{ previewConditions(subscriberIds: ["s", "ID"], conditions: {}) '
    "{ results { subscriberId } } }",
    "subscriberId": '{ segment(id: "SEGMENT") { evaluate(subscriberId: "ID") { result } } }',
    "evaluate.subscriptionId": '{ segment(id: "SEGMENT") { '
    'evaluate(subscriberId: "s", subscriptionId: "ID") { result } } }',
    "propertyValues.subscriberIds": '{ propertyValues(subscriberIds: ["ID"], keys: []) '
    "{ subscriberId } }",
    "customPropertyValues.subscriberId": '{ customPropertyValues(subscriberId: "ID") { key } }',
    "customPropertyValues.subscriptionId": '{ customPropertyValues(subscriptionId: "ID") { key } }',
    "retentionEvents.subscriberId": '{ retentionEvents(subscriberId: "ID") { kind } }',
}


@pytest.mark.parametrize(("argument", "query"), ID_ARGUMENTS.items(), ids=list(ID_ARGUMENTS))
def test_subscriber_and_subscription_ids_are_bounded(
    seg: SegmentClient, argument: str, query: str
) -> None:
    segment = seg.create(name="s")["segment"]["id"]
    query = query.replace("SEGMENT", segment)
    longest = seg.gql.execute(query.replace("ID", "x" * MAX_SUBJECT_ID))
    assert not longest.get("errors"), longest
    refused = seg.gql.execute(query.replace("ID", "x" * (MAX_SUBJECT_ID + 1)))
    name = argument.rpartition(".")[2]
    assert [(e["message"], e["extensions"]["code"]) for e in refused["errors"]] == [
        (f"{name}: an id has at most 256 characters, got 257", "TOO_LONG")
    ]
    assert "x" * 257 not in str(refused)
    # A blank id is refused as the mutations refuse one, not answered as an unknown subscriber.
    for blank in ("", "  "):
        empty = seg.gql.execute(query.replace("ID", blank))
        assert [(e["message"], e["extensions"]["code"]) for e in empty["errors"]] == [
            (f"{name}: an id cannot be blank", "BLANK")
        ]
