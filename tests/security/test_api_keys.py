"""API keys: made and revoked by the CLI, kept only as a hash, and on every GraphQL request they
decide the mode, the actor, and whether mutations are allowed."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase

from seggraph.db import Database
from seggraph.domain.api_keys import Role, parse_key
from seggraph.domain.segments import Mode
from seggraph.services.api_keys import ApiKeyService
from seggraph.settings import Settings
from seggraph.store.api_keys import ApiKeyStore
from tests.security.conftest import KeyMaker, bearer, run_cli

CREATE = """mutation($name: String!) { createSegment(input: {name: $name}) {
  segment { id createdBy history { by } } userErrors { code } } }"""
COUNT = "{ segments(filter: {archived: ALL}) { totalCount nodes { name } } }"


def post(http: httpx.Client, query: str, headers: dict[str, str], **variables: Any) -> Any:
    return http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def test_a_key_shows_its_mode_is_shown_once_and_stored_only_as_a_hash(
    make_key: KeyMaker, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    test_key, live_key = make_key("test", "write", "ci"), make_key("live", "read")
    assert test_key.startswith("sg_test_") and live_key.startswith("sg_live_")
    parsed = parse_key(test_key)
    assert parsed is not None and len(parsed.secret) == 64  # 32 random bytes
    stored = sync_db["api_keys"].find_one({"_id": parsed.key_id})
    assert stored is not None
    assert stored["secret_sha256"] == hashlib.sha256(parsed.secret.encode()).hexdigest()
    assert (stored["mode"], stored["role"], stored["name"]) == ("TEST", "WRITE", "ci")
    assert stored["revoked_at"] is None
    every_value = json.dumps(list(sync_db["api_keys"].find()), default=str)
    assert parsed.secret not in every_value and test_key not in every_value


def test_a_key_s_mode_and_role_are_taken_in_any_case(
    make_key: KeyMaker, auth_settings: Settings, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """`keys list` shows TEST and WRITE, and `keys create --mode TEST` was refused ("'TEST' is
    not one of 'test', 'live'")."""
    key = make_key("TEST", "Write", "capitals")
    assert key.startswith("sg_test_")
    parsed = parse_key(key)
    assert parsed is not None
    stored = sync_db["api_keys"].find_one({"_id": parsed.key_id})
    assert stored is not None and (stored["mode"], stored["role"]) == ("TEST", "WRITE")
    assert make_key("Live", "READ").startswith("sg_live_")
    refused = run_cli(auth_settings, "keys", "create", "--mode", "staging", "--role", "read")
    assert refused.exit_code == 2 and "'staging' is not one of 'test', 'live'" in refused.output


def test_keys_list_shows_no_secret_and_revoke_marks_the_key(
    make_key: KeyMaker, auth_settings: Settings
) -> None:
    key = make_key("live", "read", "dashboard")
    key_id = key.split("_")[2]
    listed = run_cli(auth_settings, "keys", "list", "--json")
    assert listed.exit_code == 0, listed.output
    row = next(k for k in json.loads(listed.stdout) if k["id"] == key_id)
    assert row["mode"] == "LIVE" and row["role"] == "READ" and row["name"] == "dashboard"
    assert key.split("_")[3] not in listed.stdout
    table = run_cli(auth_settings, "keys", "list")
    assert key_id in table.stdout and "dashboard" in table.stdout

    revoked = run_cli(auth_settings, "keys", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert key_id not in run_cli(auth_settings, "keys", "list", "--json").stdout
    everything = json.loads(run_cli(auth_settings, "keys", "list", "--all", "--json").stdout)
    assert next(k for k in everything if k["id"] == key_id)["revoked_at"] is not None
    unknown = run_cli(auth_settings, "keys", "revoke", "000000000000")
    assert unknown.exit_code == 1 and "no key" in unknown.output


def test_revoking_a_revoked_key_says_so_and_keeps_the_first_time(
    make_key: KeyMaker, auth_settings: Settings
) -> None:
    key_id = make_key(name="twice").split("_")[2]
    first = run_cli(auth_settings, "keys", "revoke", key_id)
    assert first.exit_code == 0 and f"revoked key {key_id};" in first.output

    def revoked_at() -> str:
        listed = json.loads(run_cli(auth_settings, "keys", "list", "--all", "--json").stdout)
        found: str = next(k for k in listed if k["id"] == key_id)["revoked_at"]
        return found

    when = revoked_at()
    again = run_cli(auth_settings, "keys", "revoke", key_id)
    assert again.exit_code == 0, again.output
    assert f"key {key_id} was already revoked" in again.output
    assert "nothing changed" in again.output and "revoked key" not in again.output
    assert revoked_at() == when


@pytest.mark.parametrize(
    "name", ["two\nlines", "\x1b[31mred\x1b[0m", "tab\there", "bell\x07", "del\x7f", "c1\x9b"]
)
def test_a_key_name_with_control_characters_is_refused(
    auth_settings: Settings, sync_db: SyncDatabase[dict[str, Any]], name: str
) -> None:
    """The name was stored and echoed raw: a newline broke the listing, an escape sequence
    reached the terminal."""
    before = sync_db["api_keys"].count_documents({})
    refused = run_cli(
        auth_settings, "keys", "create", "--mode", "test", "--role", "read", "--name", name
    )
    assert refused.exit_code == 2
    assert "a key name cannot hold control characters" in refused.output
    assert refused.stdout == "" and "\x1b" not in refused.output
    assert sync_db["api_keys"].count_documents({}) == before


def test_a_key_name_is_shown_as_written_not_as_markup(auth_settings: Settings) -> None:
    name = "[bold]ops[/bold] [red]"
    made = run_cli(
        auth_settings, "keys", "create", "--mode", "test", "--role", "read", "--name", name
    )
    assert made.exit_code == 0 and f"({name})" in made.output
    assert name in run_cli(auth_settings, "keys", "list").stdout


@pytest.mark.parametrize("shape", ["Bearer {}", "{}x", "{upper}", "{0}\n{0}", "sg_live{cut}"])
def test_revoke_never_repeats_a_key_it_cannot_read(
    make_key: KeyMaker, auth_settings: Settings, shape: str
) -> None:
    """A whole key mistyped or pasted with `Bearer ` was said back in full ("there is no key
    'Bearer sg_test_…_<secret>'"): its secret on the terminal and in whatever records it."""
    key = make_key(name="pasted")
    secret = key.split("_")[3]
    given = shape.format(key, upper=key.upper(), cut=key.removeprefix("sg_test")[:-1])
    refused = run_cli(auth_settings, "keys", "revoke", given)
    assert refused.exit_code == 1, refused.output
    flat = refused.output.replace("\n", "")
    assert secret[:16] not in flat.lower() and secret[-16:] not in flat.lower()
    assert "there is no key" in refused.output and "not repeated" in refused.output
    unknown = run_cli(auth_settings, "keys", "revoke", "00000000000f")
    assert unknown.exit_code == 1 and "there is no key '00000000000f'" in unknown.output


def test_revoke_help_names_the_key_id_part(auth_settings: Settings) -> None:
    """Markdown help ate <mode>: "(the part after sg__)"."""
    shown = run_cli(auth_settings, "keys", "revoke", "--help")
    assert shown.exit_code == 0
    assert "(the part after sg_<mode>_), or the whole key" in shown.stdout


def test_every_graphql_request_needs_a_valid_key(
    auth_http: httpx.Client, make_key: KeyMaker
) -> None:
    key = make_key()
    parsed = parse_key(key)
    assert parsed is not None
    wrong_secret = key[:-4] + ("0000" if not key.endswith("0000") else "1111")
    unknown_id = f"sg_test_{'0' * 12}_{parsed.secret}"
    other_prefix = key.replace("sg_test_", "sg_live_")
    for headers in (
        {},
        {"Authorization": key},  # no scheme
        {"Authorization": "Basic " + key},
        bearer("nonsense"),
        bearer(wrong_secret),
        bearer(unknown_id),
        bearer(other_prefix),
    ):
        response = post(auth_http, COUNT, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == 'Bearer realm="seggraph"'
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "seggraph keys create" in error["message"] or "not valid" in error["message"]
    # GET queries need one too
    assert auth_http.get("/graphql", params={"query": COUNT}).status_code == 401
    ok = auth_http.get("/graphql", params={"query": COUNT}, headers=bearer(key))
    assert ok.status_code == 200 and "errors" not in ok.json()


def test_the_key_decides_the_mode_of_everything_it_reads_and_writes(
    auth_http: httpx.Client, make_key: KeyMaker, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    sync_db["segments"].delete_many({})
    test_key, live_key = make_key("test"), make_key("live")
    created = post(auth_http, CREATE, bearer(test_key), name="Only in test").json()
    segment = created["data"]["createSegment"]["segment"]
    assert sync_db["segments"].find_one({"name": "Only in test"})["mode"] == "TEST"

    in_test = post(auth_http, COUNT, bearer(test_key)).json()["data"]["segments"]
    in_live = post(auth_http, COUNT, bearer(live_key)).json()["data"]["segments"]
    assert in_test["totalCount"] == 1 and in_live["totalCount"] == 0
    by_id = "query($id: ID!) { segment(id: $id) { name } }"
    assert post(auth_http, by_id, bearer(live_key), id=segment["id"]).json()["data"] == {
        "segment": None
    }
    # Naming the key's own mode is fine; naming the other one is refused, and nothing runs.
    same = post(auth_http, COUNT, bearer(test_key, **{"X-Seggraph-Mode": "test"}))
    assert same.status_code == 200 and same.json()["data"]["segments"]["totalCount"] == 1
    other = post(auth_http, CREATE, bearer(test_key, **{"X-Seggraph-Mode": "LIVE"}), name="x")
    assert other.status_code == 403
    error = other.json()["errors"][0]
    assert error["extensions"]["code"] == "WRONG_MODE"
    assert "works in TEST mode only" in error["message"]
    # A header that names no mode is malformed, as it is without auth: not the other mode.
    malformed = post(auth_http, CREATE, bearer(test_key, **{"X-Seggraph-Mode": "PROD"}), name="x")
    assert malformed.status_code == 400
    error = malformed.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "must be TEST or LIVE, got 'PROD'" in error["message"]
    assert sync_db["segments"].count_documents({}) == 1


COPY = """mutation($id: ID!, $mode: Mode!) { copySegmentToMode(id: $id, mode: $mode) {
  segment { id name } userErrors { path code message } } }"""


def test_a_copy_is_written_only_with_a_key_of_the_mode_it_writes(
    auth_http: httpx.Client, make_key: KeyMaker, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """A TEST key (a staging app's) must not change what LIVE customers are routed by: it wrote
    LIVE segments through copySegmentToMode. A LIVE write key promotes the TEST segment."""
    sync_db["segments"].delete_many({})
    test_key, live_key = make_key("test"), make_key("live")
    created = post(auth_http, CREATE, bearer(test_key), name="Promoted").json()
    tested = created["data"]["createSegment"]["segment"]["id"]

    refused = post(auth_http, COPY, bearer(test_key), id=tested, mode="LIVE").json()
    payload = refused["data"]["copySegmentToMode"]
    assert payload["segment"] is None
    assert [(e["path"], e["code"]) for e in payload["userErrors"]] == [(["mode"], "WRONG_MODE")]
    assert "with a LIVE write key" in payload["userErrors"][0]["message"]
    assert sync_db["segments"].count_documents({"mode": "LIVE"}) == 0

    promoted = post(auth_http, COPY, bearer(live_key), id=tested, mode="LIVE").json()
    copy = promoted["data"]["copySegmentToMode"]
    assert copy["userErrors"] == [] and copy["segment"]["name"] == "Promoted"
    live = sync_db["segments"].find_one({"mode": "LIVE"})
    assert live is not None and live["source_id"] == tested


PREVIEW_IN_SEGMENT = """query($id: JSON!) { previewConditions(subscriberIds: ["cus_1"],
  conditions: {combinator: ALL, conditions: [{property: "segment", operator: IN_SEGMENT,
  value: $id}]}) { userErrors { path code message } } }"""


def test_a_reference_refusal_does_not_tell_a_test_key_which_ids_are_live_segments(
    auth_http: httpx.Client, make_key: KeyMaker, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """A TEST READ key (a staging app's) cannot read LIVE segments, nor copy them: an
    IN_SEGMENT naming a LIVE segment's id was refused with "is a LIVE segment", so a preview
    told it which ids are LIVE segments. It is now refused as an id of no segment is."""
    sync_db["segments"].delete_many({})
    live_key, test_reader = make_key("live"), make_key("test", "read")
    created = post(auth_http, CREATE, bearer(live_key), name="Live only").json()
    live_id = created["data"]["createSegment"]["segment"]["id"]
    nowhere = "0" * 24

    def refusal(segment_id: str) -> dict[str, Any]:
        body = post(auth_http, PREVIEW_IN_SEGMENT, bearer(test_reader), id=segment_id).json()
        [error] = body["data"]["previewConditions"]["userErrors"]
        assert error["code"] == "UNKNOWN_SEGMENT"
        return dict(error, message=error["message"].replace(segment_id, "<id>"))

    assert refusal(live_id) == refusal(nowhere)
    assert "is a LIVE segment" not in refusal(live_id)["message"]


def test_history_names_the_key_and_whom_its_client_acts_for(
    auth_http: httpx.Client, make_key: KeyMaker
) -> None:
    key = make_key(name="flow-builder")
    key_id = key.split("_")[2]
    mine = post(auth_http, CREATE, bearer(key), name="By the key").json()
    segment = mine["data"]["createSegment"]["segment"]
    assert segment["createdBy"] == f"key:{key_id} (flow-builder)"
    assert segment["history"] == [{"by": f"key:{key_id} (flow-builder)"}]
    headers = bearer(key, **{"X-Seggraph-Actor": "alice"})
    for_alice = post(auth_http, CREATE, headers, name="A").json()
    assert for_alice["data"]["createSegment"]["segment"]["createdBy"] == (
        f"alice via key:{key_id} (flow-builder)"
    )


def test_a_read_key_reads_but_cannot_run_a_mutation_and_nothing_is_written(
    auth_http: httpx.Client, make_key: KeyMaker, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    read_key = make_key("test", "read")
    before = sync_db["segments"].count_documents({})
    assert post(auth_http, COUNT, bearer(read_key)).json()["data"]["segments"] is not None
    refused = post(auth_http, CREATE, bearer(read_key), name="Not allowed")
    assert refused.status_code == 200
    body = refused.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "READ role" in body["errors"][0]["message"]
    # a mutation hidden behind an operation name or beside a query is refused all the same
    mixed = (
        'query Q { segments { totalCount } } mutation M { deleteSegment(id: "x") { deletedId } }'
    )
    for name, code in (("M", "FORBIDDEN"), ("Q", "FORBIDDEN"), (None, "OPERATION_NAME_REQUIRED")):
        response = auth_http.post(
            "/graphql", json={"query": mixed, "operationName": name}, headers=bearer(read_key)
        )
        assert response.json()["data"] is None
        assert response.json()["errors"][0]["extensions"]["code"] == code, name
    assert sync_db["segments"].count_documents({}) == before


def test_a_revoked_key_is_refused(
    auth_http: httpx.Client, make_key: KeyMaker, auth_settings: Settings
) -> None:
    key = make_key()
    assert post(auth_http, COUNT, bearer(key)).status_code == 200
    assert run_cli(auth_settings, "keys", "revoke", key).exit_code == 0  # the whole key works too
    assert post(auth_http, COUNT, bearer(key)).status_code == 401


async def test_a_checked_key_is_trusted_for_the_cache_time_then_checked_again(
    auth_settings: Settings,
) -> None:
    """Revocation latency: a process that checked a key trusts it for cache_seconds."""
    assert auth_settings.mongodb_uri
    database = Database(auth_settings.mongodb_uri, auth_settings.database)
    try:
        now = [1000.0]
        server = ApiKeyService(ApiKeyStore(database.db), cache_seconds=5, monotonic=lambda: now[0])
        cli = ApiKeyService(ApiKeyStore(database.db), cache_seconds=0)  # another process
        key, full = await cli.create(Mode.LIVE, Role.WRITE, "cached")
        assert await server.authenticate(full) == key
        await cli.revoke(key.id)
        now[0] += 4.9
        assert await server.authenticate(full) == key  # within the cache time
        now[0] += 0.2
        assert await server.authenticate(full) is None  # checked again: revoked
        assert await server.authenticate(full[:-1] + "x") is None
    finally:
        await database.close()


async def test_a_checked_key_under_the_other_modes_prefix_is_refused(
    auth_settings: Settings,
) -> None:
    """A LIVE key's id and secret relabelled ``sg_test_`` are refused, even while the real key
    is trusted from the cache (the prefix is part of what was checked)."""
    assert auth_settings.mongodb_uri
    database = Database(auth_settings.mongodb_uri, auth_settings.database)
    try:
        server = ApiKeyService(ApiKeyStore(database.db), cache_seconds=60)
        for mode, other in ((Mode.LIVE, "test"), (Mode.TEST, "live")):
            key, full = await server.create(mode, Role.WRITE, "relabelled")
            relabelled = re.sub(r"^sg_(live|test)_", f"sg_{other}_", full)
            assert relabelled != full
            assert await server.authenticate(relabelled) is None  # the cache cold
            assert await server.authenticate(full) == key  # the real key, now cached
            assert await server.authenticate(relabelled) is None  # the cache warm
            await server.revoke(key.id)  # this process forgets its check at once
            assert await server.authenticate(full) is None
    finally:
        await database.close()


def test_pages_health_checks_and_ingestion_routes_need_no_api_key(
    auth_http: httpx.Client,
) -> None:
    assert auth_http.get("/healthz").status_code == 200
    assert auth_http.get("/readyz").status_code == 200
    page = auth_http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The ingestion routes answer with their own checks (their own secrets), not ours:
    webhook = auth_http.post("/webhooks/billing", content=b"{}")
    assert webhook.status_code in (400, 503) and "UNAUTHENTICATED" not in webhook.text
    cdp = auth_http.post("/cdp/v1/identify", json={"userId": "u1"})
    assert cdp.status_code == 401 and "UNAUTHENTICATED" not in cdp.text
    assert cdp.json()["success"] is False


def test_every_response_carries_a_request_id(auth_http: httpx.Client, make_key: KeyMaker) -> None:
    responses = [
        auth_http.get("/healthz"),
        auth_http.post("/graphql", json={"query": COUNT}),
        post(auth_http, COUNT, bearer(make_key())),
        auth_http.get("/no/such/route"),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)
    given = auth_http.get("/healthz", headers={"X-Request-Id": "trace-1234-abcd"})
    assert given.headers["x-request-id"] == "trace-1234-abcd"
    odd = auth_http.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert odd.headers["x-request-id"] != "<script>"


ACCOUNT = "{ account { mode currency timeZone } }"


def test_the_account_says_the_mode_of_the_key_and_needs_one_as_every_read_does(
    auth_http: httpx.Client, make_key: KeyMaker
) -> None:
    """A frontend shows which mode it works in from the key it was given: a LIVE key's
    requests are LIVE whatever the frontend assumed."""
    assert post(auth_http, ACCOUNT, {}).status_code == 401
    assert auth_http.get("/graphql", params={"query": ACCOUNT}).status_code == 401
    for mode, role in (("test", "read"), ("test", "write"), ("live", "read"), ("live", "write")):
        response = post(auth_http, ACCOUNT, bearer(make_key(mode, role)))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "data": {"account": {"mode": mode.upper(), "currency": "USD", "timeZone": "UTC"}}
        }
    # the key decides: a header naming the other mode is refused as for every read
    refused = post(auth_http, ACCOUNT, bearer(make_key("live"), **{"X-Seggraph-Mode": "TEST"}))
    assert refused.status_code == 403
