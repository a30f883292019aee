"""Health checks, the offline GraphiQL page, and how the GraphQL endpoint refuses a request
that is not one it can run (GraphQL over HTTP)."""

from __future__ import annotations

import re

import httpx
import orjson

from seggraph.web.graphiql import ASSET_NAMES
from tests.conftest import GraphQLClient


def test_healthz_and_readyz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_graphiql_page_loads_every_asset_from_seggraph_itself(http: httpx.Client) -> None:
    page = http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls, "the page loads no scripts or styles"
    for url in urls:
        assert url.startswith("/"), f"{url} would need the internet"
        asset = http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert {url.rsplit("/", 1)[1] for url in urls} == set(ASSET_NAMES)
    # The headers pane holds API keys: GraphiQL must not keep it in the browser's storage.
    assert "shouldPersistHeaders: false" in page.text


def test_unknown_asset_is_404(http: httpx.Client) -> None:
    assert http.get("/graphiql-assets/../../etc/passwd").status_code == 404
    assert http.get("/graphiql-assets/evil.js").status_code == 404


def refusal(response: httpx.Response, status: int, code: str) -> str:
    """The message of a refusal answered in GraphQL's errors shape, as GraphQL clients (Apollo,
    urql) read it, after checking its status, content type, code and request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": code, "requestId": response.headers["x-request-id"]}
    message: str = error["message"]
    return message


def test_every_error_a_query_answers_has_its_code_and_the_request_id(gql: GraphQLClient) -> None:
    """Refused arguments, unknown ids, documents that do not validate: each error carries the
    code a client branches on and the id the server's log has the request under."""
    for query, code, message in [
        ("{ segments(first: 1000) { totalCount } }", "OUT_OF_RANGE", "first must be 0..100"),
        (
            '{ subscriber(id: "cus_1") { membership(segmentIds: ["nope"]) { result } } }',
            "NOT_FOUND",
            "no TEST segment 'nope'",
        ),
        ("{ segments { noSuchField } }", "GRAPHQL_VALIDATION_FAILED", "Cannot query field"),
        (
            '{ subscriber(id: "cus_1") { properties(keys: KEYS) { key } } }'.replace(
                "KEYS", str([f"k{i}" for i in range(201)]).replace("'", '"')
            ),
            "TOO_MANY",
            "ask for at most 200 keys at once",
        ),
        ('{ segments(after: "?") { totalCount } }', "INVALID_CURSOR", "not a valid cursor"),
    ]:
        response = gql.http.post("/graphql", json={"query": query})
        assert response.status_code == 200, response.text
        [error] = response.json()["errors"]
        assert error["extensions"] == {
            "code": code,
            "requestId": response.headers["x-request-id"],
        }, query
        assert message in error["message"], error


def test_protocol_refusals_are_graphql_errors_with_a_stable_code(http: httpx.Client) -> None:
    query = {"query": "query A { __typename }"}
    message = refusal(
        http.post("/graphql", content=b"{}", headers={"content-type": "text/plain"}),
        400,
        "BAD_REQUEST",
    )
    assert message == "Unsupported content type"
    # Media types are case-insensitive: JSON in any case is JSON.
    for written in ("Application/JSON", "APPLICATION/JSON; Charset=UTF-8"):
        answered = http.post(
            "/graphql", content=b'{"query": "{ __typename }"}', headers={"content-type": written}
        )
        assert answered.json() == {"data": {"__typename": "Query"}}, written
    message = refusal(http.post("/graphql", json={}), 400, "BAD_REQUEST")
    assert message == "No GraphQL query found in the request"
    # An automatic persisted query (a hash alone): the answer that makes Apollo's and urql's
    # links send the text instead.
    hashed = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}}
    message = refusal(http.post("/graphql", json=hashed), 400, "PERSISTED_QUERY_NOT_SUPPORTED")
    assert message == "PersistedQueryNotSupported"
    # The same by GET, as Apollo's link sends it, from any client that accepts anything (curl's
    # default): the answer, not the GraphiQL page.
    for accept in ("*/*", "text/html", "application/graphql-response+json"):
        by_get = http.get(
            "/graphql",
            params={"extensions": orjson.dumps(hashed["extensions"]).decode()},
            headers={"accept": accept},
        )
        message = refusal(by_get, 400, "PERSISTED_QUERY_NOT_SUPPORTED")
        assert message == "PersistedQueryNotSupported", accept
    assert "<html" in http.get("/graphql", headers={"accept": "text/html"}).text.lower()
    message = refusal(
        http.post("/graphql", json={**query, "operationName": "B"}), 400, "UNKNOWN_OPERATION"
    )
    assert message == 'Unknown operation named "B".'
    message = refusal(
        http.post("/graphql", json=query, headers={"X-Seggraph-Mode": "PROD"}), 400, "BAD_REQUEST"
    )
    assert "TEST or LIVE" in message


def test_a_bad_variables_parameter_on_get_is_named_as_such(http: httpx.Client) -> None:
    params = {"query": "query($n: Int) { segments(first: $n) { totalCount } }"}
    message = refusal(
        http.get("/graphql", params={**params, "variables": "{n: 1}"}), 400, "MALFORMED_JSON"
    )
    assert message.startswith("the variables query parameter is not JSON: ")
    message = refusal(
        http.get("/graphql", params={**params, "extensions": "{"}), 400, "MALFORMED_JSON"
    )
    assert message.startswith("the extensions query parameter is not JSON: ")
    message = refusal(
        http.get("/graphql", params={**params, "variables": "[1]"}), 400, "BAD_REQUEST"
    )
    assert "`variables` must be an object" in message
    ok = http.get("/graphql", params={**params, "variables": '{"n": 1}'})
    assert ok.status_code == 200 and "errors" not in ok.json(), ok.text


def test_a_mutation_by_get_is_405_allowing_post_and_writes_nothing(gql: GraphQLClient) -> None:
    create = 'mutation { createSegment(input: {name: "by get"}) { segment { id } } }'
    response = gql.http.get("/graphql", params={"query": create})
    message = refusal(response, 405, "METHOD_NOT_ALLOWED")
    assert message == "mutations are not allowed when using GET: send them by POST"
    assert response.headers["allow"] == "POST"
    assert gql.query("{ segments { totalCount } }") == {"segments": {"totalCount": 0}}


def test_methods_other_than_get_and_post_are_405(http: httpx.Client) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = http.request(method, "/graphql", json={"query": "{ __typename }"})
        assert "GET and POST" in refusal(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "GET, POST"


SEVERAL = """
query Count { segments { totalCount } }
mutation Create { createSegment(input: {name: "several"}) { segment { name } } }
"""


def test_a_document_of_several_operations_needs_an_operation_name(gql: GraphQLClient) -> None:
    # GraphQL spec §6.1 (GetOperation), in graphql-core's words, answered as a validation
    # error is; nothing runs, whichever operation comes first.
    for document in (SEVERAL, "\n".join(reversed(SEVERAL.strip().splitlines()))):
        response = gql.http.post("/graphql", json={"query": document})
        assert response.json() == {
            "data": None,
            "errors": [
                {
                    "message": "Must provide operation name if query contains multiple operations.",
                    "extensions": {
                        "code": "OPERATION_NAME_REQUIRED",
                        "requestId": response.headers["x-request-id"],
                    },
                }
            ],
        }
    assert gql.query("{ segments { totalCount } }") == {"segments": {"totalCount": 0}}

    named = gql.http.post("/graphql", json={"query": SEVERAL, "operationName": "Create"})
    assert named.json() == {"data": {"createSegment": {"segment": {"name": "several"}}}}
    named = gql.http.post("/graphql", json={"query": SEVERAL, "operationName": "Count"})
    assert named.json() == {"data": {"segments": {"totalCount": 1}}}
    body = gql.execute("fragment F on Query { __typename }")
    assert body["errors"][0]["message"] == "Must provide an operation."


def test_by_get_the_operation_that_would_run_is_the_one_checked(gql: GraphQLClient) -> None:
    mutation_first = "\n".join(reversed(SEVERAL.strip().splitlines()))
    # no name: the request error, not a 405 decided from the first operation (nor a run of it)
    unnamed = gql.http.get("/graphql", params={"query": mutation_first})
    assert unnamed.status_code == 200
    assert unnamed.json()["errors"][0]["extensions"]["code"] == "OPERATION_NAME_REQUIRED"
    named = gql.http.get("/graphql", params={"query": mutation_first, "operationName": "Create"})
    assert refusal(named, 405, "METHOD_NOT_ALLOWED").startswith("mutations are not allowed")
    named = gql.http.get("/graphql", params={"query": mutation_first, "operationName": "Count"})
    assert named.json() == {"data": {"segments": {"totalCount": 0}}}
