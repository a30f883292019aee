"""Compile each segment version once: a small thread-safe LRU of compiled segments.

The cache key is ``(segment_id, version, catalogue_version, options)``:

- ``version`` is the segment's stored version, which changes whenever its tree changes, so
  the tree itself need not be hashed;
- ``catalogue_version`` changes whenever a property definition changes (a custom property's
  enum values, say), which can change how a value is read;
- ``options`` (account time zone, currency and clock) are compared by value, the clock by
  identity.

Compiling a newer version of a segment drops the entries of its older versions, which no
request asks for again: the cache's memory follows the number of segments, not of edits.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from seggraph.domain.conditions import Group
from seggraph.evaluation.compiler import CompiledSegment, PropertyLookup, compile_segment
from seggraph.evaluation.context import EvaluationOptions

CacheKey = tuple[str, Hashable, Hashable, EvaluationOptions]


class SegmentCompiler:
    """``get`` returns the compiled segment for a key, compiling it on first use. The segments
    are saved ones, compiled leniently (:func:`compile_segment`): a condition the catalogue can
    no longer read is UNKNOWN rather than an error."""

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, CompiledSegment] = OrderedDict()
        self._by_segment: dict[str, set[CacheKey]] = {}
        self._lock = threading.Lock()

    def get(
        self,
        segment_id: str,
        version: Hashable,
        root: Group,
        catalogue: PropertyLookup,
        *,
        options: EvaluationOptions,
        catalogue_version: Hashable | None = None,
    ) -> CompiledSegment:
        """The compiled segment. ``catalogue_version`` defaults to ``catalogue.version`` (what
        :class:`seggraph.catalogue.Catalogue` has); pass it for a catalogue without one."""
        if catalogue_version is None:
            catalogue_version = getattr(catalogue, "version", None)
            if catalogue_version is None:
                raise ValueError("catalogue_version is required for a catalogue without .version")
        key: CacheKey = (segment_id, version, catalogue_version, options)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        # Compile outside the lock; two threads may compile the same key once each, harmlessly.
        compiled = compile_segment(
            root, catalogue, segment_id=segment_id, options=options, lenient=True
        )
        with self._lock:
            keys = self._by_segment.setdefault(segment_id, set())
            for old in [k for k in keys if _superseded(k[1], version)]:
                keys.discard(old)
                self._entries.pop(old, None)
            keys.add(key)
            self._entries[key] = compiled
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                evicted, _ = self._entries.popitem(last=False)
                left = self._by_segment.get(evicted[0])
                if left is not None:
                    left.discard(evicted)
                    if not left:
                        del self._by_segment[evicted[0]]
        return compiled

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_segment.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _superseded(old: Hashable, new: Hashable) -> bool:
    """``old`` is an earlier version than ``new`` (or, for versions that do not order, another
    one)."""
    try:
        return bool(old < new)  # type: ignore[operator]
    except TypeError:
        return old != new
