"""Compile each segment version once: a small thread-safe LRU of compiled segments.

The cache key is ``(segment_id, version, catalogue_version, options)``:

- ``version`` is the segment's stored version, which changes whenever its tree changes, so
  the tree itself need not be hashed;
- ``catalogue_version`` changes whenever a property definition changes (a custom property's
  enum values, say), which can change how a value is read;
- ``options`` (account time zone, currency and clock) are compared by value, the clock by
  identity.
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
    """``get`` returns the compiled segment for a key, compiling it on first use."""

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, CompiledSegment] = OrderedDict()
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
        compiled = compile_segment(root, catalogue, segment_id=segment_id, options=options)
        with self._lock:
            self._entries[key] = compiled
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return compiled

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
