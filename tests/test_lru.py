"""The process's small caches forget the least recently used entry first."""

from __future__ import annotations

import gc
import weakref

import pytest

from seggraph.lru import IdentityCache, LruCache


def test_the_least_recently_used_entry_is_forgotten_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)
    cache.put("a", 10)  # replacing an entry makes it the most recently used too
    cache.put("d", 4)
    assert (cache.get("a"), cache.get("c"), cache.get("d")) == (10, None, 4)
    assert cache.items() == [("a", 10), ("d", 4)]


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LruCache(0)


class Thing:
    """Equal to every other Thing: only identity tells two apart."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thing)

    def __hash__(self) -> int:
        return 0


def test_an_identity_cache_finds_the_very_objects_and_keeps_them_alive() -> None:
    cache: IdentityCache[str | None] = IdentityCache(2)
    a, b = Thing(), Thing()
    cache.put((a,), "a")
    cache.put((a, b), None, extra="pair")
    assert cache.get((a,)) == "a"
    assert cache.get((b,)) is None  # equal, but another object
    assert cache.get((a,), extra="other") is None
    assert cache.get((a, b), "pair", default="missing") is None  # a kept None is found
    assert cache.get((b, a), "pair", default="missing") == "missing"
    # The entry keeps its objects alive, so their ids cannot be taken by new objects.
    alive = weakref.ref(a)
    del a
    gc.collect()
    assert alive() is not None
    c = Thing()
    cache.put((c,), "c")  # the least recently used entry, ("a",), is forgotten
    assert (cache.get((alive(),)), cache.get((c,)), len(cache)) == (None, "c", 2)
