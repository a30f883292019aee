"""A small least-recently-used cache, for what the process keeps in memory per key (the
prepared segment sets, the segment store's kept answers)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``maxsize`` entries; putting one more forgets the least recently used. Not
    thread-safe: for one event loop."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The entry (now the most recently used), or ``None``."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def items(self) -> list[tuple[K, V]]:
        """Every entry, least recently used first (looking does not make them used)."""
        return list(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)
