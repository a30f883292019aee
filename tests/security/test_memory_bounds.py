"""What the process keeps in memory is bounded by its own numbers, not by what clients send:
distinct requests, by the thousand, leave the structures they fill at their bounds."""

from __future__ import annotations

import gc
import itertools
from typing import Any

from graphql import DocumentNode

from seggraph.api.security import PARSED
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


def test_documents_by_the_hundred_keep_no_more_text_parsed_than_the_parse_cache_holds(
    gql: GraphQLClient,
) -> None:
    """The parse cache held 512 documents however long, and the caches keyed by a document's
    identity (validation, cost, plans, each up to 1,024 entries) kept theirs alive too: 600
    requests of 20 KB kept 3 GB. Now only the parse cache keeps documents, at most
    ``PARSED.characters`` characters of them."""
    marker = "# memory-bounds "
    padding = "#" + "x" * 4_000 + "\n"
    query = "{ segments(first: 1) { totalCount nodes { id name } } }"
    count = 2 * PARSED.characters // len(padding)
    for i in range(count):
        answer = gql.query(f"{marker}{i}\n{padding}{query}")
        assert answer == {"segments": {"totalCount": 0, "nodes": []}}
    gc.collect()
    kept = [
        document
        for document in gc.get_objects()
        if isinstance(document, DocumentNode)
        and document.loc is not None
        and document.loc.source.body.startswith(marker)
    ]
    assert kept, "the parse cache keeps recent documents"
    assert sum(len(document.loc.source.body) for document in kept) <= PARSED.characters
