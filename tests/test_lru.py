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


def test_an_identity_cache_finds_the_very_objects() -> None:
    cache: IdentityCache[str | None] = IdentityCache(2)
    a, b = Thing(), Thing()
    cache.put((a,), "a")
    cache.put((a, b), None, extra="pair")
    assert cache.get((a,)) == "a"
    assert cache.get((b,)) is None  # equal, but another object
    assert cache.get((a,), extra="other") is None
    assert cache.get((a, b), "pair", default="missing") is None  # a kept None is found
    assert cache.get((b, a), "pair", default="missing") == "missing"
    c = Thing()
    cache.put((c,), "c")  # the least recently used entry, ("a",), is forgotten
    assert (cache.get((a,)), cache.get((c,)), len(cache)) == (None, "c", 2)


def test_an_identity_cache_keeps_nothing_alive_and_forgets_what_is_gone() -> None:
    cache: IdentityCache[str] = IdentityCache(8)
    a, b = Thing(), Thing()
    cache.put((a,), "a")
    cache.put((a, b), "pair")
    alive = weakref.ref(a)
    del a
    gc.collect()
    assert alive() is None
    assert len(cache) == 2  # until the next put
    cache.put((b,), "b")
    assert (cache.get((b,)), len(cache)) == ("b", 1)


def test_an_object_taking_the_id_of_one_gone_finds_nothing() -> None:
    cache: IdentityCache[str] = IdentityCache(8)
    a = Thing()
    cache.put((a,), "a")
    gone = id(a)
    del a
    # A new object of the same size, made at once, usually takes the freed memory, and its id.
    others = [Thing() for _ in range(100)]
    taken = [thing for thing in others if id(thing) == gone]
    assert taken, "no new object took the id (the allocator changed?)"
    assert cache.get((taken[0],)) is None


def test_an_identity_cache_holds_objects_that_take_no_weak_reference() -> None:
    cache: IdentityCache[str] = IdentityCache(8)
    key = (1, "x")  # a tuple takes no weak reference: held as it is
    cache.put((key,), "tuple")
    assert cache.get((key,)) == "tuple"


def test_a_weighed_cache_keeps_its_entries_within_their_weight() -> None:
    """The parse cache weighs each document by its text: the least recently used go until
    the rest weigh at most the budget, and one heavier than the budget is not kept."""
    cache: LruCache[str, int] = LruCache(10, max_weight=10, weight=lambda key, _: len(key))
    cache.put("aaaa", 1)
    cache.put("bbbb", 2)
    assert cache.get("aaaa") == 1  # now the most recently used
    cache.put("ccc", 3)  # 11 > 10: "bbbb" goes
    assert (cache.get("bbbb"), cache.held, len(cache)) == (None, 7, 2)
    cache.put("x" * 11, 4)  # heavier than the budget alone
    assert (cache.get("x" * 11), cache.held) == (None, 7)
    cache.put("ccc", 5)  # put again: weighed once
    assert (cache.get("ccc"), cache.held, len(cache)) == (5, 7, 2)
