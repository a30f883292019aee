"""The compiled-segment cache keeps one version per segment: edits do not grow it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from seggraph.domain.conditions import Combinator, Condition, Group, Operator
from seggraph.evaluation import EvaluationOptions, SegmentCompiler
from tests.evaluation.helpers import CATALOGUE


class _Catalogue(dict[str, Any]):
    version = 1


def tree(threshold: int) -> Group:
    return Group(Combinator.ALL, (Condition("n", Operator.GT, Decimal(threshold)),))


def test_a_newer_version_replaces_the_older_ones_of_its_segment() -> None:
    cache = SegmentCompiler(maxsize=100)
    catalogue, options = _Catalogue(CATALOGUE), EvaluationOptions()
    for version in range(1, 51):  # fifty edits of one segment, another segment beside it
        cache.get("edited", version, tree(version), catalogue, options=options)
        cache.get("steady", 1, tree(0), catalogue, options=options)
    assert len(cache) == 2
    latest = cache.get("edited", 50, tree(50), catalogue, options=options)
    assert cache.get("edited", 50, tree(50), catalogue, options=options) is latest
    # A request that still holds an older version compiles it again, without dropping the newer.
    cache.get("edited", 49, tree(49), catalogue, options=options)
    assert cache.get("edited", 50, tree(50), catalogue, options=options) is latest
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0
