"""Small least-recently-used caches, for what the process keeps in memory per key (the
prepared segment sets, the segment store's kept answers) or per object (the plans and
validations of parsed documents)."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")
_Ref = weakref.ref


class LruCache(Generic[K, V]):
    """At most ``maxsize`` entries; putting one more forgets the least recently used. Not
    thread-safe: for one event loop.

    With ``weight`` (an entry's weight, from its key and value), the entries weigh at most
    ``max_weight`` together too: the least recently used are forgotten until they do, and an
    entry heavier than ``max_weight`` alone is not kept."""

    def __init__(
        self,
        maxsize: int,
        *,
        max_weight: int | None = None,
        weight: Callable[[K, V], int] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if (max_weight is None) != (weight is None):
            raise ValueError("max_weight and weight go together")
        self.maxsize = maxsize
        self.max_weight = max_weight
        self._weight = weight
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.held = 0
        """The kept entries' weight together (0 without ``weight``)."""

    def get(self, key: K) -> V | None:
        """The entry (now the most recently used), or ``None``."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        if self._weight is None or self.max_weight is None:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
            return
        weight = self._weight(key, value)
        self.discard(key)
        if weight > self.max_weight:
            return
        self._entries[key] = value
        self.held += weight
        while len(self._entries) > self.maxsize or self.held > self.max_weight:
            old_key, old_value = self._entries.popitem(last=False)
            self.held -= self._weight(old_key, old_value)

    def peek(self, key: K) -> V | None:
        """The entry, or ``None``, without making it the most recently used."""
        return self._entries.get(key)

    def discard(self, key: K) -> None:
        found = self._entries.pop(key, None)
        if found is not None and self._weight is not None:
            self.held -= self._weight(key, found)

    def items(self) -> list[tuple[K, V]]:
        """Every entry, least recently used first (looking does not make them used)."""
        return list(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)


class IdentityCache(Generic[V]):
    """At most ``maxsize`` values by the identity of some objects (and a hashable ``extra``),
    least recently used forgotten first: for objects whose hash walks all of them (a parsed
    document and its nodes). The key is the objects' ``id()``.

    An entry does not keep its objects alive: it holds weak references to them (strong ones
    to an object that takes none), and is found only while they are the very objects it was
    put for, so an object taking the id of one gone finds nothing. What keeps a parsed
    document alive is the parse cache alone; an entry for a document it forgot is forgotten
    at the next :meth:`put`. Keeping them alive had let each cache of 1,024 entries hold
    1,024 documents of up to ``SEGGRAPH_MAX_QUERY_TOKENS`` tokens each (5 MB apiece) when the
    parse cache held 512.

    A look-up costs about 0.7 µs: for a few per request. The views of segment objects, asked
    for by the hundred per request, keep a plain dict by ``id()`` instead (0.08 µs)."""

    def __init__(self, maxsize: int) -> None:
        self._entries: LruCache[tuple[Hashable, tuple[int, ...]], tuple[tuple[object, ...], V]] = (
            LruCache(maxsize)
        )
        #: The keys of entries one of whose objects is gone (appended from whichever thread
        #: collects it: a list's append is atomic), dropped at the next put.
        self._gone: list[tuple[Hashable, tuple[int, ...]]] = []

    @overload
    def get(self, objects: tuple[object, ...], extra: Hashable = None) -> V | None: ...

    @overload
    def get(self, objects: tuple[object, ...], extra: Hashable, default: D) -> V | D: ...

    def get(self, objects: tuple[object, ...], extra: Hashable = None, default: Any = None) -> Any:
        """The value kept for these very objects and ``extra``, or ``default``."""
        found = self._entries.get((extra, tuple(map(id, objects))))
        if found is None:
            return default
        refs, value = found
        for ref, item in zip(refs, objects, strict=True):  # these very objects, not others
            if (ref() if ref.__class__ is _Ref else ref) is not item:
                return default
        return value

    def put(self, objects: tuple[object, ...], value: V, extra: Hashable = None) -> None:
        while self._gone:
            old = self._gone.pop()
            found = self._entries.peek(old)
            if found is not None and not _alive(found[0]):
                self._entries.discard(old)
        key = (extra, tuple(map(id, objects)))
        gone_keys = self._gone  # not self: the references' callbacks keep no cycle

        def gone(_: object) -> None:
            gone_keys.append(key)

        self._entries.put(key, (tuple(_weakly(item, gone) for item in objects), value))

    def __len__(self) -> int:
        return len(self._entries)


def _weakly(item: object, gone: Callable[[object], None]) -> object:
    """A weak reference to ``item`` calling ``gone`` when it goes, or ``item`` itself when it
    takes no weak reference."""
    try:
        return weakref.ref(item, gone)
    except TypeError:
        return item


def _alive(refs: tuple[Any, ...]) -> bool:
    return all(ref() is not None for ref in refs if ref.__class__ is _Ref)
