"""Hypothesis on condition inputs over GraphQL: any tree of any JSON values, too deep or too
large ones included, gets a segment or userErrors from createSegment and results or userErrors
from previewConditions, never an unexpected error. (Any text given to the text form's parser:
tests/textform/test_roundtrip.py.)"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from seggraph.domain.conditions import Operator
from tests.segments.conftest import TEST_PROPERTIES, SegmentClient
from tests.textform.test_roundtrip import _grammarish as grammarish

CREATE = """mutation($c: ConditionGroupInput) { createSegment(input: {name: "fuzz", conditions: $c}) {
  segment { id conditionsText conditions { combinator conditions { property operator value } } }
  userErrors { path code message } } }"""
PREVIEW = """query($c: ConditionGroupInput) {
  previewConditions(subscriberIds: ["sub_1", "sub_2"], conditions: $c) {
    results { subscriberId evaluation { result explanation { conditions { path result } } } }
    userErrors { path code message } } }"""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", " ", "100", "1e400", "-0", "YEAR", "month", "2026-02-30", "1.2.3",
                     "2026-01-31T10:00:00+01:00", "(", "\\1", "USD", "é" * 1001]),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["amount", "currency", "unit", "x"]), inner, max_size=3),
    ),
    max_leaves=8,
)
properties = st.one_of(
    st.sampled_from([p.key for p in TEST_PROPERTIES]),
    st.sampled_from(["subscriber.bucket", "segment", "nope.nope", "", "subscriber.mrr "]),
    st.text(max_size=10),
)
operators = st.sampled_from([*(o.value for o in Operator), "NOT_AN_OPERATOR"])


@st.composite
def condition_inputs(draw: st.DrawFn) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "property": draw(properties),
        "operator": draw(operators),
    }
    if draw(st.booleans()):
        condition["value"] = draw(json_values)
    if draw(st.booleans()):
        condition["caseInsensitive"] = draw(st.booleans())
    return condition


def group_inputs(levels: int) -> st.SearchStrategy[dict[str, Any]]:
    """Groups up to ``levels`` deep (past the limit of 5), with at times a bad combinator."""
    nested = st.lists(group_inputs(levels - 1), max_size=2) if levels > 1 else st.just([])
    return st.fixed_dictionaries(
        {},
        optional={
            "combinator": st.sampled_from(["ALL", "ANY", "NONE"] * 5 + ["XOR"]),
            "conditions": st.lists(condition_inputs(), max_size=4),
            "groups": nested,
        },
    )


def no_unexpected_errors(body: dict[str, Any]) -> None:
    for error in body.get("errors") or []:
        # variables that do not fit the input types are refused before anything runs
        assert error["message"].startswith("Variable '$c' has invalid value"), error
        assert "extensions" not in error or error["extensions"].get("code") != (
            "INTERNAL_SERVER_ERROR"
        ), error


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=group_inputs(7))
def test_any_condition_tree_is_saved_or_refused_with_user_errors(
    seg: SegmentClient, tree: dict[str, Any]
) -> None:
    created = seg.gql.execute(CREATE, {"c": tree})
    no_unexpected_errors(created)
    if created.get("errors"):
        event("create: refused by the input types")
    else:
        payload = created["data"]["createSegment"]
        event("create: saved" if payload["segment"] else "create: userErrors")
        assert (payload["segment"] is None) == bool(payload["userErrors"]), payload
        for error in payload["userErrors"]:
            assert error["path"] and error["path"][0] == "conditions" and error["message"]

    previewed = seg.gql.execute(PREVIEW, {"c": tree})
    no_unexpected_errors(previewed)
    if not previewed.get("errors"):
        preview = previewed["data"]["previewConditions"]
        event("preview: results" if preview["results"] else "preview: userErrors")
        assert bool(preview["results"]) != bool(preview["userErrors"]), preview


PREVIEW_TEXT = """query($t: String) {
  previewConditions(subscriberIds: ["sub_1"], conditionsText: $t) {
    results { evaluation { result } } userErrors { path code message } } }"""


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.one_of(st.text(), grammarish))
def test_any_conditions_text_is_evaluated_or_refused_with_user_errors(
    seg: SegmentClient, text: str
) -> None:
    """The parser's own property tests are in tests/textform/test_roundtrip.py; this sends the
    same kind of text through GraphQL."""
    body = seg.gql.execute(PREVIEW_TEXT, {"t": text})
    assert not body.get("errors"), body
    preview = body["data"]["previewConditions"]
    assert bool(preview["results"]) != bool(preview["userErrors"]), preview
    for error in preview["userErrors"]:
        assert error["path"] == ["conditionsText"] or error["path"][0] == "conditionsText"
