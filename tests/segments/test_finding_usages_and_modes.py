"""Tags and search, usages and the in-use warning, test and live modes, segment references."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import OperationFailure

from seggraph.domain.errors import control_characters
from seggraph.domain.segments import MAX_USAGES
from seggraph.services.segments import tag_filter_errors
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.segments.conftest import PAYLOAD, SegmentClient, errors_by_path, snapshot

REGISTER = """mutation($input: SegmentUsageInput!) { registerSegmentUsage(input: $input) {
  usage { kind refId name live } userErrors { path code message } } }"""
DELETE = (
    "mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { path code message } } }"
)
COPY = f"mutation($id: ID!, $target: Mode!) {{ copySegmentToMode(id: $id, mode: $target) {{ {PAYLOAD} }} }}"
COPY_AT = f"""mutation($id: ID!, $target: Mode!, $expected: Int, $ack: Boolean! = false) {{
  copySegmentToMode(id: $id, mode: $target, expectedVersion: $expected, acknowledgeLiveUsage: $ack)
  {{ {PAYLOAD} }} }}"""
MRR_GT = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 100}]}


def names(page: dict[str, Any]) -> list[str]:
    return [n["name"] for n in page["segments"]["nodes"]]


def test_tag_counts_and_tag_filters(seg: SegmentClient) -> None:
    seg.created(name="a", tags=["VIP", "annual"])
    seg.created(name="b", tags=["vip"])
    seg.created(name="c", tags=["monthly"])
    tags = seg.run("{ tags { tag count } }")["tags"]
    assert {(t["tag"].casefold(), t["count"]) for t in tags} == {
        ("vip", 2),
        ("annual", 1),
        ("monthly", 1),
    }
    assert tags[0]["count"] == 2

    any_of = seg.run('{ segments(filter: {tags: ["Vip", "monthly"]}) { nodes { name } } }')
    assert names(any_of) == ["c", "b", "a"]
    all_of = seg.run(
        '{ segments(filter: {tags: ["vip", "ANNUAL"], tagMatch: ALL}) { nodes { name } } }'
    )
    assert names(all_of) == ["a"]


def test_a_tag_filter_counts_a_tag_in_composed_form_as_it_is_stored(seg: SegmentClient) -> None:
    """A stored tag is at most 64 characters in composed form (NFC); the filter counted the
    characters as sent, so a tag a segment carries, typed with decomposed accents (or Hangul
    as jamo, as some systems send it), was refused as TOO_LONG instead of finding it."""
    accented = "\u00e9" * 40
    hangul = "\ud504\ub9ac\ubbf8\uc5c4" * 16  # 64 syllables, 192 jamo decomposed
    seg.created(name="accented", tags=[accented])
    seg.created(name="hangul", tags=[hangul])
    ask = "query($t: [String!]!) { segments(filter: {tags: $t}) { nodes { name } } }"
    assert names(seg.run(ask, t=["e\u0301" * 40])) == ["accented"]
    assert names(seg.run(ask, t=[unicodedata.normalize("NFD", hangul)])) == ["hangul"]
    assert tag_filter_errors(["e\u0301" * 64], ("tags",)) == []
    too_long = tag_filter_errors(["e\u0301" * 65], ("tags",))
    assert [(e.code, e.path) for e in too_long] == [("TOO_LONG", ("tags", 0))]


def test_text_search_in_name_and_description(seg: SegmentClient) -> None:
    seg.created(name="High MRR annual", description="Big spenders")
    seg.created(name="Trialists", description="On a free trial, high intent")
    seg.created(name="Churn risk")
    assert names(seg.run('{ segments(filter: {search: "high"}) { nodes { name } } }')) == [
        "Trialists",
        "High MRR annual",
    ]
    assert names(seg.run('{ segments(filter: {search: "spend ann"}) { nodes { name } } }')) == [
        "High MRR annual"
    ]
    assert names(seg.run('{ segments(filter: {search: "(.*"}) { nodes { name } } }')) == []


def test_text_search_finds_accents_typed_either_way(seg: SegmentClient) -> None:
    """Names are kept in composed form (NFC), and the search was not: "cafe" and a combining
    acute found nothing in "Café Crème Über"."""
    seg.created(name="Caf\u00e9 Cr\u00e8me \u00dcber")
    seg.created(name="Cafe society")
    search = "query($s: String!) { segments(filter: {search: $s}) { nodes { name } } }"
    for typed in ["caf\u00e9", "cafe\u0301", "CAFE\u0301 cre\u0300me", "u\u0308ber"]:
        assert names(seg.run(search, s=typed)) == ["Caf\u00e9 Cr\u00e8me \u00dcber"], typed
    assert names(seg.run(search, s="cafe")) == ["Cafe society"]
    # 200 characters composed (the most a search holds), 400 as typed: counted as composed
    assert seg.run(search, s="e\u0301" * 200)["segments"]["nodes"] == []


def test_text_search_keeps_the_combining_marks_of_a_word(seg: SegmentClient) -> None:
    """Words were runs of ``\\w``, which leaves combining marks out: the vowel signs of
    Devanagari and Thai cut every word into letters, so "दिन" (day) found "हिन्दी भाषा" (its
    words were द, न, भ, ष, ह) and "สุข" found "สวัสดี ขอบคุณ"."""
    seg.created(name="\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e")  # हिन्दी भाषा
    seg.created(name="\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u0e02\u0e2d\u0e1a\u0e04\u0e38\u0e13")
    search = "query($s: String!) { segments(filter: {search: $s}) { nodes { name } } }"
    hindi, thai = (
        "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
        ("\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u0e02\u0e2d\u0e1a\u0e04\u0e38\u0e13"),
    )
    assert names(seg.run(search, s="\u0926\u093f\u0928")) == []  # दिन
    assert names(seg.run(search, s="\u0e2a\u0e38\u0e02")) == []  # สุข
    assert names(seg.run(search, s="\u0939\u093f\u0928\u094d\u0926\u0940")) == [hindi]
    assert names(seg.run(search, s="\u0939\u093f")) == [hindi]  # the start of हिन्दी
    assert names(seg.run(search, s="\u0e2a\u0e27\u0e31\u0e2a")) == [thai]
    assert names(seg.run(search, s="\u0e02\u0e2d\u0e1a")) == [thai]


def test_text_search_finds_a_turkish_capital_dotted_i_by_its_lowercase_i(
    seg: SegmentClient,
) -> None:
    """Case folding makes İ an i and a combining dot above, which nobody types: "istanbul"
    and "müşterileri" found nothing in "İSTANBUL MÜŞTERİLERİ"."""
    turkish = "\u0130STANBUL M\u00dc\u015eTER\u0130LER\u0130"
    seg.created(name=turkish, description="\u0130zmir")
    seg.created(name="Other")
    search = "query($s: String!) { segments(filter: {search: $s}) { nodes { name } } }"
    for typed in ["istanbul", "m\u00fc\u015fterileri", "izmir", "\u0130stanbul", "ISTANBUL"]:
        assert names(seg.run(search, s=typed)) == [turkish], typed


def test_segments_stored_with_words_found_the_old_way_are_found_after_a_restart(
    seg: SegmentClient,
    sync_db: Database[dict[str, Any]],
    settings: Settings,
    start_live_server: Any,
) -> None:
    """A segment written before words kept their combining marks holds the old words; the
    server gives it the new ones when it starts, so a search finds it as it finds a new one."""
    hindi = "\u0939\u093f\u0928\u094d\u0926\u0940"  # हिन्दी
    created = seg.created(name=f"{hindi} users", description="plain words")
    old_terms = sorted(["\u0939", "\u0928", "\u0926", "users", "plain", "words"])
    sync_db.segments.update_one({"name": f"{hindi} users"}, {"$set": {"search_terms": old_terms}})
    server = start_live_server(settings)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        found = GraphQLClient(http).query(
            "query($s: String!) { segments(filter: {search: $s}) { nodes { id } } }",
            {"s": hindi},
            **{"X-Seggraph-Mode": "TEST"},
        )
    assert [n["id"] for n in found["segments"]["nodes"]] == [created["id"]]
    stored = sync_db.segments.find_one({"name": f"{hindi} users"})
    assert stored is not None and stored["search_terms"] == sorted(
        [hindi, "users", "plain", "words"]
    )


def test_a_segment_whose_text_another_tool_stored_as_null_does_not_stop_start_up(
    seg: SegmentClient,
    sync_db: Database[dict[str, Any]],
    settings: Settings,
    start_live_server: Any,
) -> None:
    """The start-up refresh of search words read a null description as text, and the server
    no longer started; such a segment was served before the refresh existed."""
    seg.created(name="Null description", description="some words")
    sync_db.segments.update_one({"name": "Null description"}, {"$set": {"description": None}})
    server = start_live_server(settings)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        found = GraphQLClient(http).query(
            '{ segments(filter: {search: "null"}) { nodes { name } } }',
            **{"X-Seggraph-Mode": "TEST"},
        )
    assert found["segments"]["nodes"] == [{"name": "Null description"}]
    stored = sync_db.segments.find_one({"name": "Null description"})
    assert stored is not None and stored["search_terms"] == ["description", "null"]


def test_a_segment_stored_decomposed_by_an_older_version_is_found_by_tag_and_search_after_a_restart(
    seg: SegmentClient,
    sync_db: Database[dict[str, Any]],
    settings: Settings,
    start_live_server: Any,
) -> None:
    """Versions before names and tags were kept in composed form (NFC) stored them as typed:
    an é typed as e and an accent, with tag keys only case-folded. A tag filter computes the
    composed key, and a search is composed, so after an upgrade such a segment was found by
    no tag filter (not even by the spelling ``tags`` lists) and no search for its accented
    word; the server gives it the keys and words of today when it starts."""
    decomposed = "Cafe\u0301"  # Café, as e and a combining acute accent
    created = seg.created(name="placeholder", tags=["plain"])
    # The document as the older version wrote it (tags_key: tag.casefold(); words: \w runs).
    sync_db.segments.update_one(
        {"name": "placeholder"},
        {
            "$set": {
                "name": f"{decomposed} lovers",
                "tags": [decomposed, "plain"],
                "tags_key": ["cafe\u0301", "plain"],
                "search_terms": ["cafe", "lovers"],
            }
        },
    )
    server = start_live_server(settings)
    filtered = "query($t: [String!]!) { segments(filter: {tags: $t}) { nodes { id } } }"
    searched = "query($s: String!) { segments(filter: {search: $s}) { nodes { id } } }"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        client = GraphQLClient(http)
        mode = {"X-Seggraph-Mode": "TEST"}
        for tag in ["Caf\u00e9", decomposed, "CAF\u00c9"]:
            found = client.query(filtered, {"t": [tag]}, **mode)["segments"]["nodes"]
            assert [n["id"] for n in found] == [created["id"]], ascii(tag)
        for typed in ["caf\u00e9", decomposed, "lovers"]:
            found = client.query(searched, {"s": typed}, **mode)["segments"]["nodes"]
            assert [n["id"] for n in found] == [created["id"]], ascii(typed)
    stored = sync_db.segments.find_one({"_id": ObjectId(created["id"])})
    assert stored is not None
    assert stored["tags_key"] == ["caf\u00e9", "plain"]
    assert stored["search_terms"] == ["caf\u00e9", "lovers"]
    assert stored["tags"] == [decomposed, "plain"]  # what the user wrote is left as it was


def test_filters_page_with_a_total(seg: SegmentClient) -> None:
    for i in range(5):
        seg.created(name=f"s{i}", tags=["x"] if i % 2 == 0 else [])
    page = seg.run(
        '{ segments(first: 2, filter: {tags: ["x"]}) { totalCount pageInfo { hasNextPage endCursor } nodes { name } } }'
    )
    assert page["segments"]["totalCount"] == 3
    assert names(page) == ["s4", "s2"]
    after = page["segments"]["pageInfo"]["endCursor"]
    rest = seg.run(
        'query($after: String) { segments(first: 2, after: $after, filter: {tags: ["x"]}) { nodes { name } pageInfo { hasNextPage } } }',
        after=after,
    )
    assert names(rest) == ["s0"] and rest["segments"]["pageInfo"]["hasNextPage"] is False
    # A cursor goes on with the listing it came from: the other mode's is refused, as is text
    # that is no cursor, rather than read as a position.
    ask = "query($after: String) { segments(first: 2, after: $after) { nodes { name } } }"
    other_mode = seg.gql.execute(ask, {"after": after}, **{"X-Seggraph-Mode": "LIVE"})
    assert other_mode["data"] is None
    assert (
        "a cursor of the TEST segments listing, not of the LIVE segments one"
        in (other_mode["errors"][0]["message"])
    )
    garbage = seg.gql.execute(ask, {"after": "garbage"})
    assert "not a valid cursor" in garbage["errors"][0]["message"]


def test_the_listing_filters_are_served_by_indexes(sync_db: Database[dict[str, Any]]) -> None:
    keys = [list(ix["key"].keys()) for ix in sync_db.segments.list_indexes()]
    assert ["mode", "archived", "created_at", "_id"] in keys
    assert ["mode", "tags_key", "created_at", "_id"] in keys
    assert ["mode", "search_terms"] in keys


def test_live_usage_refuses_condition_changes_until_acknowledged(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="Routed", conditions=MRR_GT)
    usage = seg.run(
        REGISTER,
        input={
            "segmentId": segment["id"],
            "kind": "FLOW",
            "refId": "flow_1",
            "name": "Main cancel flow",
            "live": True,
        },
    )
    assert usage["registerSegmentUsage"]["usage"] == {
        "kind": "FLOW",
        "refId": "flow_1",
        "name": "Main cancel flow",
        "live": True,
    }
    new_conditions = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 50}]}

    before = snapshot(sync_db)
    refused = seg.update(id=segment["id"], expectedVersion=1, conditions=new_conditions)
    assert errors_by_path(refused) == {"conditions": "SEGMENT_IN_LIVE_USE"}
    assert "Main cancel flow" in refused["userErrors"][0]["message"]
    # The refusal points at the input that holds the conditions, whichever form it is.
    as_text = seg.update(id=segment["id"], expectedVersion=1, conditionsText="subscriber.mrr > 50")
    assert errors_by_path(as_text) == {"conditionsText": "SEGMENT_IN_LIVE_USE"}
    assert snapshot(sync_db) == before

    # Renaming does not change who is in it: no acknowledgement needed.
    assert seg.update(id=segment["id"], expectedVersion=1, name="Routed!")["userErrors"] == []

    accepted = seg.update(
        id=segment["id"], expectedVersion=2, conditions=new_conditions, acknowledgeLiveUsage=True
    )
    assert accepted["userErrors"] == []
    assert [w["code"] for w in accepted["warnings"]] == ["SEGMENT_IN_LIVE_USE"]
    assert "Main cancel flow" in accepted["warnings"][0]["message"]


def test_usages_of_the_segments_that_read_a_segment_guard_its_conditions(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """A segment read through IN_SEGMENT by a segment that live usages route by decides who
    they reach: its conditions are guarded by their usages too, through any depth."""
    base = seg.created(name="Base", conditions=MRR_GT)
    middle = seg.created(name="Middle", conditions=in_segment(base["id"]))
    routed = seg.created(
        name="Routed",
        conditions={
            "conditions": [
                {"property": "segment", "operator": "NOT_IN_SEGMENT", "value": middle["id"]}
            ]
        },
    )
    for segment_id, ref, name, live in (
        (routed["id"], "rule_9", "50% off rule", True),
        (middle["id"], "flow_draft", "Draft flow", False),
    ):
        usage = {"segmentId": segment_id, "kind": "OFFER_RULE", "refId": ref, "name": name}
        seg.run(REGISTER, input={**usage, "live": live})

    before = snapshot(sync_db)
    refused = seg.update(id=base["id"], expectedVersion=1, conditionsText="subscriber.mrr > 5000")
    assert errors_by_path(refused) == {"conditionsText": "SEGMENT_IN_LIVE_USE"}
    message = refused["userErrors"][0]["message"]
    assert "'50% off rule'" in message and f"'Routed' ({routed['id']})" in message
    assert "Draft flow" not in message  # not live: a warning, not a refusal
    assert snapshot(sync_db) == before

    accepted = seg.update(
        id=base["id"],
        expectedVersion=1,
        conditionsText="subscriber.mrr > 5000",
        acknowledgeLiveUsage=True,
    )
    assert accepted["userErrors"] == []
    warned = {w["code"]: w["message"] for w in accepted["warnings"]}
    assert set(warned) == {"SEGMENT_IN_LIVE_USE", "SEGMENT_IN_USE"}
    assert "50% off rule" in warned["SEGMENT_IN_LIVE_USE"]
    assert f"'Middle' ({middle['id']})" in warned["SEGMENT_IN_USE"]

    # A segment that nothing reads and that has no usage of its own changes its conditions
    # with no acknowledgement and no warning.
    alone = seg.created(name="Alone", conditions=MRR_GT)
    edited = seg.update(id=alone["id"], expectedVersion=1, conditionsText="subscriber.mrr > 5")
    assert (edited["userErrors"], edited["warnings"]) == ([], [])


def test_a_usage_not_live_yet_gets_a_warning_when_the_conditions_change(
    seg: SegmentClient,
) -> None:
    """A draft flow will route by the new conditions when it goes live: the edit is saved,
    and says so (the product warns about any flow using the segment)."""
    segment = seg.created(name="Drafted", conditions=MRR_GT)
    seg.run(
        REGISTER,
        input={
            "segmentId": segment["id"],
            "kind": "FLOW",
            "refId": "flow_draft",
            "name": "New cancel flow",
            "live": False,
        },
    )
    renamed = seg.update(id=segment["id"], expectedVersion=1, name="Drafted!")
    assert (renamed["userErrors"], renamed["warnings"]) == ([], [])
    edited = seg.update(id=segment["id"], expectedVersion=2, conditionsText="subscriber.mrr > 50")
    assert edited["userErrors"] == []
    assert [(w["code"], w["path"]) for w in edited["warnings"]] == [
        ("SEGMENT_IN_USE", ["conditionsText"])
    ]
    assert "New cancel flow" in edited["warnings"][0]["message"]


def test_a_segment_in_use_cannot_be_deleted_but_can_be_archived(seg: SegmentClient) -> None:
    segment = seg.created(name="Used")
    seg.run(
        REGISTER,
        input={
            "segmentId": segment["id"],
            "kind": "OFFER_RULE",
            "refId": "rule_9",
            "name": "50% off",
            "live": False,
        },
    )
    refused = seg.run(DELETE, id=segment["id"])["deleteSegment"]
    assert refused["deletedId"] is None
    assert errors_by_path(refused) == {"id": "SEGMENT_IN_USE"}
    assert "50% off" in refused["userErrors"][0]["message"]

    archived = seg.run(
        f"mutation($id: ID!) {{ archiveSegment(id: $id) {{ {PAYLOAD} }} }}", id=segment["id"]
    )
    assert archived["archiveSegment"]["segment"]["archived"] is True
    assert [w["code"] for w in archived["archiveSegment"]["warnings"]] == ["SEGMENT_IN_USE"]

    listed = seg.run(
        "query($id: ID!) { segment(id: $id) { usages { kind refId } } }", id=segment["id"]
    )
    assert listed["segment"]["usages"] == [{"kind": "OFFER_RULE", "refId": "rule_9"}]
    removed = seg.run(
        'mutation($id: ID!) { removeSegmentUsage(segmentId: $id, kind: OFFER_RULE, refId: "rule_9") { userErrors { code } } }',
        id=segment["id"],
    )
    assert removed["removeSegmentUsage"]["userErrors"] == []
    # A reference id is trimmed when registered, so it is when removed: the same text works.
    spaced = {"segmentId": segment["id"], "kind": "FLOW", "refId": " flow_ws ", "name": "ws"}
    assert (
        seg.run(REGISTER, input={**spaced, "live": False})["registerSegmentUsage"]["usage"]["refId"]
        == "flow_ws"
    )
    again = seg.run(
        'mutation($id: ID!) { removeSegmentUsage(segmentId: $id, kind: FLOW, refId: " flow_ws ") '
        "{ userErrors { code } } }",
        id=segment["id"],
    )
    assert again["removeSegmentUsage"]["userErrors"] == []
    assert seg.run(DELETE, id=segment["id"])["deleteSegment"]["deletedId"] == segment["id"]


def test_test_and_live_never_cross_until_copied(seg: SegmentClient) -> None:
    draft = seg.created(name="Draft", conditions=MRR_GT)
    assert seg.get(draft["id"], mode="LIVE") is None
    assert seg.run("{ segments { totalCount } }", mode="LIVE")["segments"]["totalCount"] == 0

    copy = seg.run(COPY, id=draft["id"], target="LIVE")["copySegmentToMode"]
    assert copy["userErrors"] == []
    live = copy["segment"]
    assert live["mode"] == "LIVE" and live["copiedFromId"] == draft["id"]
    assert live["conditions"] == draft["conditions"]

    # An edit in TEST is invisible in LIVE until copied again.
    edited = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 300}]}
    seg.update(id=draft["id"], expectedVersion=1, conditions=edited)
    assert seg.get(live["id"], mode="LIVE")["conditions"] == draft["conditions"]  # type: ignore[index]
    # Copying again updates the counterpart: from the version of it you saw, as updateSegment.
    stale = seg.run(COPY, id=draft["id"], target="LIVE")["copySegmentToMode"]
    assert errors_by_path(stale) == {"expectedVersion": "VERSION_CONFLICT"}
    assert stale["currentVersion"] == 1 and live["id"] in stale["userErrors"][0]["message"]
    again = seg.run(COPY_AT, id=draft["id"], target="LIVE", expected=1)["copySegmentToMode"]
    again = again["segment"]
    assert again["id"] == live["id"] and again["version"] == 2
    assert again["conditions"]["conditions"][0]["value"] == 300
    history = seg.run(
        "query($id: ID!) { segment(id: $id) { history { version action note } } }",
        mode="LIVE",
        id=live["id"],
    )["segment"]["history"]
    assert [h["action"] for h in history] == ["COPIED", "COPIED"]
    # and TEST-mode reads of the LIVE id find nothing
    assert seg.get(live["id"], mode="TEST") is None


def test_a_bad_mode_header_is_a_clear_400(seg: SegmentClient) -> None:
    response = seg.gql.http.post(
        "/graphql",
        json={"query": "{ segments { totalCount } }"},
        headers={"X-Seggraph-Mode": "PROD"},
    )
    assert response.status_code == 400
    assert "TEST or LIVE" in response.text


def in_segment(segment_id: str) -> dict[str, Any]:
    return {"conditions": [{"property": "segment", "operator": "IN_SEGMENT", "value": segment_id}]}


def test_segment_references_stay_in_mode_and_never_cycle(seg: SegmentClient) -> None:
    a = seg.created(name="A", conditions=MRR_GT)
    b = seg.created(name="B", conditions=in_segment(a["id"]))
    c = seg.created(name="C", conditions=in_segment(b["id"]))

    cycle = seg.update(id=a["id"], expectedVersion=1, conditions=in_segment(c["id"]))
    assert errors_by_path(cycle) == {"conditions.conditions.0.value": "REFERENCE_CYCLE"}
    message = cycle["userErrors"][0]["message"]
    assert a["id"] in message and b["id"] in message and c["id"] in message
    self_ref = seg.update(id=a["id"], expectedVersion=1, conditions=in_segment(a["id"]))
    assert errors_by_path(self_ref) == {"conditions.conditions.0.value": "REFERENCE_CYCLE"}

    # Every condition naming the segment at fault is pointed at, and only those.
    d = seg.created(name="D", conditions=MRR_GT)
    nested = seg.update(
        id=a["id"],
        expectedVersion=1,
        conditions={
            "conditions": [MRR_GT["conditions"][0]],
            "groups": [{"combinator": "ANY", **in_segment(c["id"])}, in_segment(d["id"])],
        },
    )
    assert errors_by_path(nested) == {"conditions.groups.0.conditions.0.value": "REFERENCE_CYCLE"}

    live_a = seg.created(mode="LIVE", name="Live A")
    cross = seg.create(name="cross", conditions=in_segment(live_a["id"]))
    assert errors_by_path(cross) == {"conditions.conditions.0.value": "UNKNOWN_SEGMENT"}
    # Refused as an id of no segment is: the refusal does not tell that it is a LIVE one.
    nowhere = seg.create(name="nowhere", conditions=in_segment("0" * 24))
    assert cross["userErrors"][0]["message"] == nowhere["userErrors"][0]["message"].replace(
        "0" * 24, live_a["id"]
    )
    assert "is a LIVE segment" not in cross["userErrors"][0]["message"]

    referenced = seg.run(DELETE, id=a["id"])["deleteSegment"]
    assert errors_by_path(referenced) == {"id": "SEGMENT_REFERENCED"}
    # Archiving it is allowed, with a warning naming the segment that still reads it.
    archived = seg.run(
        f"mutation($id: ID!) {{ archiveSegment(id: $id) {{ {PAYLOAD} }} }}", id=b["id"]
    )["archiveSegment"]
    assert archived["segment"]["archived"] is True
    assert [(w["path"], w["code"]) for w in archived["warnings"]] == [
        (["id"], "SEGMENT_REFERENCED")
    ]
    assert c["id"] in archived["warnings"][0]["message"]
    seg.run(f"mutation($id: ID!) {{ unarchiveSegment(id: $id) {{ {PAYLOAD} }} }}", id=b["id"])

    # Copying C to LIVE needs B (and so A) there first.
    refused = seg.run(COPY, id=c["id"], target="LIVE")["copySegmentToMode"]
    assert errors_by_path(refused) == {"id": "REFERENCE_NOT_COPIED"}
    live_a2 = seg.run(COPY, id=a["id"], target="LIVE")["copySegmentToMode"]["segment"]
    live_b = seg.run(COPY, id=b["id"], target="LIVE")["copySegmentToMode"]["segment"]
    assert live_b["conditions"]["conditions"][0]["value"] == live_a2["id"]


def test_tags_are_counted_folded_as_the_tag_filter_folds_them(seg: SegmentClient) -> None:
    seg.created(name="a", tags=["Straße", "Rétention-ü"])
    seg.created(name="b", tags=["STRASSE", "RÉTENTION-Ü"])
    seg.created(name="c", tags=["strasse"])
    tags = seg.run("{ tags { tag count } }")["tags"]
    assert tags == [{"tag": "Straße", "count": 3}, {"tag": "Rétention-ü", "count": 2}]
    for tag in tags:  # each listed tag finds as many segments as it counts
        found = seg.run(
            "query($t: String!) { segments(filter: {tags: [$t]}) { totalCount } }", t=tag["tag"]
        )
        assert found["segments"]["totalCount"] == tag["count"]


def test_a_refused_usage_reports_every_problem_at_once(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    before = snapshot(sync_db)
    refused = seg.run(
        REGISTER,
        input={
            "segmentId": "000000000000000000000000",
            "kind": "FLOW",
            "refId": " ",
            "name": "n" * 201,
            "live": True,
        },
    )["registerSegmentUsage"]
    assert errors_by_path(refused) == {
        "segmentId": "NOT_FOUND",
        "refId": "INVALID",
        "name": "TOO_LONG",
    }
    assert snapshot(sync_db) == before


def test_a_usage_s_ref_id_and_name_are_measured_trimmed_as_they_are_stored(
    seg: SegmentClient,
) -> None:
    """The 200-character bounds were checked before trimming: a refId or name of 199
    characters sent with spaces around was refused, though what is stored is trimmed."""
    segment = seg.created(name="Used")
    ref_id, name = "r" * 199, "n" * 200
    registered = seg.run(
        REGISTER,
        input={
            "segmentId": segment["id"],
            "kind": "FLOW",
            "refId": f"  {ref_id}  ",
            "name": f" {name} ",
        },
    )["registerSegmentUsage"]
    assert registered["userErrors"] == []
    assert registered["usage"] == {"kind": "FLOW", "refId": ref_id, "name": name, "live": False}
    # Past the bound once trimmed, it still is refused.
    refused = seg.run(
        REGISTER,
        input={
            "segmentId": segment["id"],
            "kind": "FLOW",
            "refId": f" {'r' * 201} ",
            "name": f" {'n' * 201} ",
        },
    )["registerSegmentUsage"]
    assert errors_by_path(refused) == {"refId": "INVALID", "name": "TOO_LONG"}


def test_a_live_usage_registered_again_as_not_live_says_so(seg: SegmentClient) -> None:
    """Registering again updates the usage: turning a live one off silently dropped the
    guard on the segment's conditions."""
    register = """mutation($input: SegmentUsageInput!) { registerSegmentUsage(input: $input) {
      usage { live registeredAt } userErrors { code } warnings { path code message } } }"""
    segment = seg.created(name="Guarded", conditions=MRR_GT)
    usage = {"segmentId": segment["id"], "kind": "FLOW", "refId": "flow_9", "name": "Cancel"}
    first = seg.run(register, input={**usage, "live": True})["registerSegmentUsage"]
    assert first["warnings"] == []
    off = seg.run(register, input={**usage, "live": False})["registerSegmentUsage"]
    assert off["usage"]["live"] is False
    assert [(w["path"], w["code"]) for w in off["warnings"]] == [(["live"], "USAGE_NO_LONGER_LIVE")]
    assert "Cancel" in off["warnings"][0]["message"]
    again = seg.run(register, input={**usage, "live": False})["registerSegmentUsage"]
    assert again["warnings"] == []
    # The answer shows the time it was first registered, as Segment.usages does.
    assert (
        off["usage"]["registeredAt"]
        == again["usage"]["registeredAt"]
        == first["usage"]["registeredAt"]
    )
    listed = seg.run(
        "query($id: ID!) { segment(id: $id) { usages { registeredAt } } }", id=segment["id"]
    )
    assert listed["segment"]["usages"] == [{"registeredAt": first["usage"]["registeredAt"]}]


def test_segments_asked_by_id_at_once_are_read_together_each_as_alone(
    seg: SegmentClient, gql: GraphQLClient, live_server: LiveServer
) -> None:
    """A request's aliased segment(id:) fields are read in one query, so that the counts and
    member pages below them are asked together; each answers as it does alone: an id asked
    twice, in capitals, not an id, another mode's segment's, one that names nothing."""
    test = seg.created(name="In test")
    live = seg.created("LIVE", name="In live")
    asked = {
        "a": test["id"],
        "b": test["id"].upper(),
        "c": "nope",
        "d": live["id"],
        "e": "0" * 24,
        "f": test["id"],
    }
    document = (
        "{ " + " ".join(f'{k}: segment(id: "{i}") {{ name }}' for k, i in asked.items()) + " }"
    )
    reads = live_server.app.state.services.segments.reads
    before = reads.runs
    answer = gql.query(document)
    assert reads.runs == before + 1
    found = {"name": "In test"}
    assert answer == {"a": found, "b": found, "c": None, "d": None, "e": None, "f": found}
    for key, segment_id in asked.items():
        alone = gql.query(f'{{ segment(id: "{segment_id}") {{ name }} }}')["segment"]
        assert alone == answer[key], key


def test_a_segment_holds_at_most_max_usages(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """Usages had no bound, while `segment { usages }` answers them all and the query cost
    estimate counted 100: 150 registered answered 150 per segment of a page."""
    segment = seg.created(name="Popular", conditions=MRR_GT)

    def usage(n: int) -> dict[str, Any]:
        return {"segmentId": segment["id"], "kind": "FLOW", "refId": f"flow_{n}", "name": "F"}

    for start in range(0, MAX_USAGES, 25):  # aliased, 25 a request
        fields = " ".join(
            f"u{n}: registerSegmentUsage(input: $u{n}) {{ userErrors {{ code }} }}"
            for n in range(start, start + 25)
        )
        variables = " ".join(f"$u{n}: SegmentUsageInput!" for n in range(start, start + 25))
        answer = seg.gql.query(
            f"mutation({variables}) {{ {fields} }}",
            {f"u{n}": usage(n) for n in range(start, start + 25)},
        )
        assert all(a["userErrors"] == [] for a in answer.values())
    before = snapshot(sync_db)
    refused = seg.run(REGISTER, input=usage(MAX_USAGES))["registerSegmentUsage"]
    assert errors_by_path(refused) == {"segmentId": "TOO_MANY"}
    message = refused["userErrors"][0]["message"]
    assert f"would hold {MAX_USAGES + 1} usages in TEST with this one" in message
    assert snapshot(sync_db) == before
    # Registering one of them again is an update, not one more.
    assert seg.run(REGISTER, input=usage(0))["registerSegmentUsage"]["userErrors"] == []
    listed = seg.gql.query(
        "query($id: ID!) { segment(id: $id) { usages { refId } } }", {"id": segment["id"]}
    )
    assert len(listed["segment"]["usages"]) == MAX_USAGES
    removed = seg.gql.query(
        f'mutation {{ removeSegmentUsage(segmentId: "{segment["id"]}", kind: FLOW, '
        'refId: "flow_0") { userErrors { code } } }'
    )
    assert removed["removeSegmentUsage"]["userErrors"] == []
    assert seg.run(REGISTER, input=usage(MAX_USAGES))["registerSegmentUsage"]["userErrors"] == []


@pytest.mark.parametrize("check", ["delete_marks", "count_usages"])
def test_a_new_usage_whose_checks_fail_is_removed_and_answered_an_error(
    seg: SegmentClient,
    live_server: LiveServer,
    sync_db: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    check: str,
) -> None:
    """The database fails while a new usage is checked after it is written (its segment
    still there, not being deleted; the segment's usages counted): the client is answered
    an error, so the usage is not kept (unchecked, it could name a segment deleted
    meanwhile), and registering it again works."""
    segment_id = seg.created(name="Used")["id"]
    store = live_server.app.state.services.segments.store
    original = getattr(store, check)
    failed: list[bool] = []

    async def failing(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise OperationFailure("injected failure", code=2)
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, check, failing)
    usage = {"segmentId": segment_id, "kind": "FLOW", "refId": "flow_1", "name": "F", "live": True}
    refused = seg.gql.execute(REGISTER, {"input": usage})
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert sync_db.segment_usages.count_documents({}) == 0
    registered = seg.run(REGISTER, input=usage)["registerSegmentUsage"]
    assert registered["userErrors"] == []
    assert sync_db.segment_usages.count_documents({}) == 1


def test_removing_a_usage_of_no_segment_is_refused_at_segment_id(seg: SegmentClient) -> None:
    """removeSegmentUsage's segmentId says "in the request's mode (else NOT_FOUND)", but a
    segment that does not exist (or is of the other mode) was answered at refId, as if the
    segment had only no such usage: a form showed the error beside the wrong field."""
    remove = (
        "mutation($id: ID!, $ref: String!) { removeSegmentUsage(segmentId: $id, kind: FLOW, "
        "refId: $ref) { userErrors { path code message } } }"
    )
    live_id = seg.created("LIVE", name="Live one")["id"]
    for missing in ("0" * 24, live_id):
        refused = seg.run(remove, id=missing, ref="flow_1")["removeSegmentUsage"]
        assert errors_by_path(refused) == {"segmentId": "NOT_FOUND"}
        assert f"there is no TEST segment '{missing}'" in refused["userErrors"][0]["message"]
    # A segment that exists without that usage: the usage is what is not found.
    segment_id = seg.created(name="Used")["id"]
    refused = seg.run(remove, id=segment_id, ref="flow_1")["removeSegmentUsage"]
    assert errors_by_path(refused) == {"refId": "NOT_FOUND"}


def test_a_usage_with_control_characters_is_refused_and_a_stored_one_can_be_removed(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="Used")
    before = snapshot(sync_db)
    refused = seg.run(
        REGISTER,
        input={
            "segmentId": segment["id"],
            "kind": "FLOW",
            "refId": "flow_\x1b[31m",
            "name": "Winback\nWARNING forged log line\x00",
            "live": False,
        },
    )["registerSegmentUsage"]
    assert refused["usage"] is None
    assert errors_by_path(refused) == {"refId": "CONTROL_CHARACTERS", "name": "CONTROL_CHARACTERS"}
    messages = {e["path"][0]: e["message"] for e in refused["userErrors"]}
    assert "U+001B" in messages["refId"]
    assert "U+0000, U+000A" in messages["name"]
    assert snapshot(sync_db) == before
    # A bidirectional override is refused as in a segment's name.
    assert errors_by_path(
        seg.run(
            REGISTER,
            input={"segmentId": segment["id"], "kind": "FLOW", "refId": "f", "name": "a\u202eb"},
        )["registerSegmentUsage"]
    ) == {"name": "CONTROL_CHARACTERS"}

    # A usage an earlier version stored with one is still found, and removed, by its refId.
    sync_db["segment_usages"].insert_one(
        {
            "mode": "TEST",
            "segment_id": segment["id"],
            "kind": "FLOW",
            "ref_id": "old\x1bflow",
            "name": "old\nname",
            "live": False,
            "registered_at": datetime.now(UTC),
        }
    )
    removed = seg.run(
        "mutation($id: ID!, $ref: String!) { removeSegmentUsage(segmentId: $id, kind: FLOW, "
        "refId: $ref) { userErrors { code } } }",
        id=segment["id"],
        ref="old\x1bflow",
    )["removeSegmentUsage"]
    assert removed["userErrors"] == []
    assert sync_db["segment_usages"].count_documents({}) == 0


def test_a_usage_stored_with_control_characters_is_named_with_them_escaped(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """Usages an earlier version stored with an escape or a newline in their refId (refused
    since) were named with it raw in SEGMENT_IN_USE: a terminal showing the message or the
    log was recoloured, a line forged. The refId's controls are escaped; other text is not."""
    segment = seg.created(name="Used")

    def stored(ref_id: str, name: str) -> None:
        sync_db["segment_usages"].insert_one(
            {
                "mode": "TEST",
                "segment_id": segment["id"],
                "kind": "FLOW",
                "ref_id": ref_id,
                "name": name,
                "live": False,
                "registered_at": datetime.now(UTC),
            }
        )

    stored("old\x1b[31mflow", "")
    stored("flow\nWARNING forged\u202e", "Winback\nforged")
    stored('réf_"l\'été"_日本', "Café «Ünïcode» 日本")
    refused = seg.run(DELETE, id=segment["id"])["deleteSegment"]
    assert errors_by_path(refused) == {"id": "SEGMENT_IN_USE"}
    message = refused["userErrors"][0]["message"]
    assert control_characters(message) == ""
    assert "FLOW 'old\\x1b[31mflow' (old\\x1b[31mflow)" in message
    assert "FLOW 'Winback\\nforged' (flow\\nWARNING forged\\u202e)" in message
    assert "FLOW 'Café «Ünïcode» 日本' (réf_\"l'été\"_日本)" in message
