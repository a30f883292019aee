"""Small least-recently-used caches, for what the process keeps in memory per key (the
prepared segment sets, the segment store's kept answers) or per object (the plans and
validations of parsed documents)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


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


class IdentityCache(Generic[V]):
    """At most ``maxsize`` values by the identity of some objects (and a hashable ``extra``),
    least recently used forgotten first: for objects whose hash walks all of them (a parsed
    document and its nodes). The key is the objects' ``id()``; the entry keeps the objects
    alive, so no other object can take one of those ids while it is there.

    A look-up costs about 0.5 µs: for a few per request. The views of segment objects, asked
    for by the hundred per request, keep a plain dict by ``id()`` instead (0.08 µs)."""

    def __init__(self, maxsize: int) -> None:
        self._entries: LruCache[tuple[Hashable, tuple[int, ...]], tuple[tuple[object, ...], V]] = (
            LruCache(maxsize)
        )

    @overload
    def get(self, objects: tuple[object, ...], extra: Hashable = None) -> V | None: ...

    @overload
    def get(self, objects: tuple[object, ...], extra: Hashable, default: D) -> V | D: ...

    def get(self, objects: tuple[object, ...], extra: Hashable = None, default: Any = None) -> Any:
        """The value kept for these very objects and ``extra``, or ``default``."""
        found = self._entries.get((extra, tuple(map(id, objects))))
        return default if found is None else found[1]

    def put(self, objects: tuple[object, ...], value: V, extra: Hashable = None) -> None:
        self._entries.put((extra, tuple(map(id, objects))), (objects, value))

    def __len__(self) -> int:
        return len(self._entries)
