"""The first slice of segments, through GraphQL over HTTP into the database and back."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pymongo.database import Database

from tests.conftest import GraphQLClient

CREATE = """
mutation Create($input: CreateSegmentInput!) {
  createSegment(input: $input) {
    segment { id name description tags createdAt updatedAt }
    userErrors { path code message }
  }
}
"""

LIST = """
query List($first: Int!, $after: String) {
  segments(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name } }
  }
}
"""


def create(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = gql.query(CREATE, {"input": fields})["createSegment"]
    return payload


def test_create_then_read_back(gql: GraphQLClient, sync_db: Database[dict[str, Any]]) -> None:
    payload = create(gql, name="  High MRR ", description="MRR over $100", tags=["Retention"])
    assert payload["userErrors"] == []
    segment = payload["segment"]
    assert segment["name"] == "High MRR"
    assert segment["tags"] == ["Retention"]

    read = gql.query(
        "query($id: ID!) { segment(id: $id) { id name description tags createdAt } }",
        {"id": segment["id"]},
    )
    assert read["segment"] == {
        k: segment[k] for k in ("id", "name", "description", "tags", "createdAt")
    }
    assert sync_db.segments.count_documents({}) == 1


def test_unknown_and_malformed_ids_read_as_null(gql: GraphQLClient) -> None:
    for segment_id in ("000000000000000000000000", "not-an-id"):
        assert gql.query("query($id: ID!) { segment(id: $id) { id } }", {"id": segment_id}) == {
            "segment": None
        }


def test_a_segment_id_with_surrounding_whitespace_names_the_segment(gql: GraphQLClient) -> None:
    """As an IN_SEGMENT value with the same spaces does: a query, an edit impact, membership,
    and every mutation taking a segment id find it."""
    segment = create(gql, name="Everyone", conditionsText="")["segment"]["id"]
    padded = f" {segment}\t"
    read = gql.query(
        "query($id: ID!, $value: JSON) { segment(id: $id) { id } "
        'subscriber(id: "cus_1") { membership(segmentIds: [$id]) { segment { id } result } } '
        'segmentEditImpact(id: $id, conditionsText: "") { userErrors { code } } '
        'previewConditions(subscriberIds: ["cus_1"], conditions: {conditions: [{property: '
        '"segment", operator: IN_SEGMENT, value: $value}]}) { results { evaluation { result } } '
        "userErrors { code } } }",
        {"id": padded, "value": padded},
    )
    assert read["segment"] == {"id": segment}
    assert read["subscriber"]["membership"] == [{"segment": {"id": segment}, "result": "MEMBER"}]
    assert read["segmentEditImpact"]["userErrors"] == []
    assert read["previewConditions"] == {
        "results": [{"evaluation": {"result": "MEMBER"}}],
        "userErrors": [],
    }
    errors = "userErrors { path code message }"
    mutations = [
        f'updateSegment(input: {{id: $id, expectedVersion: 1, description: "d"}}) {{ {errors} }}',
        f'registerSegmentUsage(input: {{segmentId: $id, kind: FLOW, refId: "f"}}) {{ {errors} }}',
        f'removeSegmentUsage(segmentId: $id, kind: FLOW, refId: "f") {{ {errors} }}',
        f"archiveSegment(id: $id) {{ {errors} }}",
        f"unarchiveSegment(id: $id) {{ {errors} }}",
        f"restoreSegmentVersion(id: $id, version: 1, expectedVersion: 4) {{ {errors} }}",
        f"duplicateSegment(id: $id) {{ {errors} }}",
        f"deleteSegment(id: $id) {{ deletedId {errors} }}",
    ]
    for mutation in mutations:
        answer = gql.query(f"mutation($id: ID!) {{ {mutation} }}", {"id": padded})
        [payload] = answer.values()
        assert payload["userErrors"] == [], mutation
    assert payload["deletedId"] == segment


def test_tags_are_trimmed_and_unique_case_insensitively(gql: GraphQLClient) -> None:
    payload = create(gql, name="Tagged", tags=[" vip ", "VIP", "annual", "Vip"])
    assert payload["segment"]["tags"] == ["vip", "annual"]


def test_refused_input_names_the_field_and_writes_nothing(
    gql: GraphQLClient, sync_db: Database[dict[str, Any]]
) -> None:
    payload = create(gql, name="   ", tags=["ok", " "])
    assert payload["segment"] is None
    assert {(tuple(e["path"]), e["code"]) for e in payload["userErrors"]} == {
        (("name",), "BLANK"),
        (("tags", "1"), "BLANK"),
    }
    assert sync_db.segments.count_documents({}) == 0


def test_segments_are_listed_newest_first_with_cursor_pagination(gql: GraphQLClient) -> None:
    ids = [create(gql, name=f"segment {i}")["segment"]["id"] for i in range(5)]
    first = gql.query(LIST, {"first": 2})["segments"]
    assert first["totalCount"] == 5
    assert [e["node"]["id"] for e in first["edges"]] == ids[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True

    seen = [e["node"]["id"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after:
        page = gql.query(LIST, {"first": 2, "after": after})["segments"]
        seen += [e["node"]["id"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert seen == ids[::-1]


def test_an_empty_later_page_of_segments_keeps_its_place(gql: GraphQLClient) -> None:
    """An empty page after a cursor (first: 0, or past the last) answers its after as
    endCursor: a client continuing from it goes on where it was. Its endCursor was null, so
    after `first: 0` (hasNextPage true) the next page started over from the newest."""
    ids = [create(gql, name=f"segment {i}")["segment"]["id"] for i in range(4)]
    newest_first = ids[::-1]
    first = gql.query(LIST, {"first": 2})["segments"]
    after = first["pageInfo"]["endCursor"]

    empty = gql.query(LIST, {"first": 0, "after": after})["segments"]
    assert empty["edges"] == []
    assert empty["pageInfo"] == {"hasNextPage": True, "endCursor": after}
    following = gql.query(LIST, {"first": 2, "after": empty["pageInfo"]["endCursor"]})["segments"]
    assert [e["node"]["id"] for e in following["edges"]] == newest_first[2:]

    last = following["pageInfo"]["endCursor"]
    past = gql.query(LIST, {"first": 2, "after": last})["segments"]
    assert past["pageInfo"] == {"hasNextPage": False, "endCursor": last}
    # The first page empty: nothing to continue after, so null (from the newest again).
    assert gql.query(LIST, {"first": 0})["segments"]["pageInfo"] == {
        "hasNextPage": True,
        "endCursor": None,
    }


def forged(stamp: str) -> str:
    """A cursor of the TEST segments listing at ``stamp``, as a client could make one."""
    raw = json.dumps([stamp, "0" * 24, "TEST segments"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        # Times no BSON date holds once in UTC: they were sent to the database, a 500.
        forged("0001-01-01T00:00:00+14:00"),
        forged("9999-12-31T23:59:59-14:00"),
    ],
)
def test_a_forged_cursor_is_a_clear_error(gql: GraphQLClient, cursor: str) -> None:
    create(gql, name="listed")  # an empty cursor listed the first page as if none was given
    body = gql.execute(LIST, {"first": 2, "after": cursor})
    assert body["errors"][0]["message"].startswith("not a valid cursor")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_queries_work_by_get(gql: GraphQLClient) -> None:
    create(gql, name="by get")
    response = gql.http.get("/graphql", params={"query": "{ segments { totalCount } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"segments": {"totalCount": 1}}}


def test_mutations_are_refused_by_get(gql: GraphQLClient) -> None:
    response = gql.http.get(
        "/graphql",
        params={"query": 'mutation { createSegment(input: {name: "x"}) { segment { id } } }'},
    )
    assert response.status_code >= 400
