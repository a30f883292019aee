"""The order in which to evaluate segments that reference each other.

``IN_SEGMENT`` conditions read the referenced segment's result from the caller, so the caller
evaluates segments in a topological order — references first — and never recurses. Saving a
cycle is refused upstream; this module refuses one again, naming it, should one slip through,
or (for a caller that must answer anyway) breaks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from seggraph.evaluation.errors import ReferenceCycleError


class References(Protocol):
    @property
    def segment_refs(self) -> frozenset[str]: ...


def evaluation_order(
    segments: Mapping[str, References], *, break_cycles: bool = False
) -> list[str]:
    """The ids of ``segments`` with every segment after the segments it references.

    References to ids not in ``segments`` are ignored here (evaluating them gives UNKNOWN with
    reason ``SEGMENT_UNKNOWN`` unless the caller supplies their results). The order is
    deterministic: it follows ``segments``' iteration order and sorted reference ids. Raises
    :class:`ReferenceCycleError` on a cycle; with ``break_cycles``, a reference that would
    close one is passed over instead, so the segment making it finds no result for it (UNKNOWN)
    and the rest of the cycle follows from that.
    """
    order: list[str] = []
    done: set[str] = set()
    for start in segments:
        if start in done:
            continue
        # Iterative depth-first search; ``stack`` holds (id, references still to visit) and is
        # also the current path, for naming a cycle.
        on_path: dict[str, int] = {start: 0}
        stack: list[tuple[str, list[str]]] = [(start, _refs(segments, start))]
        while stack:
            current, pending = stack[-1]
            if not pending:
                stack.pop()
                del on_path[current]
                done.add(current)
                order.append(current)
                continue
            ref = pending.pop()
            if ref in done:
                continue
            if ref in on_path:
                if break_cycles:
                    continue
                path = [segment for segment, _ in stack[on_path[ref] :]]
                raise ReferenceCycleError([*path, ref])
            on_path[ref] = len(stack)
            stack.append((ref, _refs(segments, ref)))
    return order


def _refs(segments: Mapping[str, References], segment_id: str) -> list[str]:
    """References still to visit, popped from the end: reversed sorted order visits them sorted."""
    refs = (ref for ref in segments[segment_id].segment_refs if ref in segments)
    return sorted(refs, reverse=True)
