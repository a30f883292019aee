"""Building MongoDB filter documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def all_of(*filters: Mapping[str, Any]) -> dict[str, Any]:
    """One filter matching the documents every one of ``filters`` matches.

    Fields that no two filters share are merged into one flat document; only the clauses on a
    field already taken (and the filters' own ``$and`` lists) go into a top-level ``$and``.
    MongoDB's planner treats both forms alike, but some MongoDB-compatible servers do not
    look inside ``$and`` for an index: the embedded database scans the whole collection for
    ``{$and: [directory, {_id: {$in: ids}}]}`` (about 6 s for 200 ids among 20,000 customers)
    and uses the ``_id`` index for the same clauses flat (0.04 s; ``bench/README.md``,
    finding 23).
    """
    merged: dict[str, Any] = {}
    rest: list[Any] = []
    for one in filters:
        for key, clause in one.items():
            if key == "$and":
                rest.extend(clause)
            elif key in merged:
                rest.append({key: clause})
            else:
                merged[key] = clause
    if rest:
        merged["$and"] = rest
    return merged
