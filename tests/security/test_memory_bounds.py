"""What the process keeps in memory is bounded by its own numbers, not by what clients send:
distinct requests, by the thousand, leave the structures they fill at their bounds."""

from __future__ import annotations

import itertools
from typing import Any

from seggraph.evaluation import nodes
from tests.conftest import GraphQLClient

PREVIEW = """query($tree: ConditionGroupInput!) {
  previewConditions(subscriberIds: ["cus_1"], conditions: $tree) {
    userErrors { code message }
    results { subscriberId evaluation { result } }
  }
}"""

#: A condition of each shape a generated group answers (``nodes._CHILD_SOURCE``), "call"
#: being one without a shortcut.
CONDITION_OF_SHAPE: dict[str, dict[str, Any]] = {
    "predicate": {"property": "subscriber.active_coupon_id", "operator": "EQ", "value": "x"},
    "numeric": {"property": "subscriber.days_since_saved", "operator": "GT", "value": 3},
    "money": {"property": "subscriber.mrr", "operator": "GT", "value": 3},
    "table": {"property": "subscription.is_free_trial", "operator": "IS_TRUE"},
    "call": {"property": "subscriber.active_coupon_id", "operator": "IS_SET"},
}


def test_drafts_of_ever_new_group_shapes_keep_the_generated_group_code_bounded(
    gql: GraphQLClient,
) -> None:
    """Each group of two to eight children gets code generated for its combinator and its
    children's shapes; a client's drafts can ask for over a million such sequences, and each
    one's code was kept for the life of the process (about 6 KB each)."""
    sequences = itertools.product(sorted(CONDITION_OF_SHAPE), repeat=nodes._MAX_UNROLLED)
    wanted = nodes.FACTORIES_KEPT + 200
    per_request = 12  # twelve groups of eight: 96 conditions, within the 100 allowed
    for _ in range(-(-wanted // per_request)):
        groups = [
            {"combinator": "ANY", "conditions": [CONDITION_OF_SHAPE[s] for s in shapes]}
            for shapes in itertools.islice(sequences, per_request)
        ]
        answer = gql.query(PREVIEW, {"tree": {"combinator": "NONE", "groups": groups}})
        preview = answer["previewConditions"]
        assert preview["userErrors"] == []
        # No billing data: every condition is FALSE on its missing value, so is every group.
        [row] = preview["results"]
        assert row == {"subscriberId": "cus_1", "evaluation": {"result": "MEMBER"}}
        assert len(nodes._FACTORIES) <= nodes.FACTORIES_KEPT
