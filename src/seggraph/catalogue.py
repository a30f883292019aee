"""The property catalogue: every property the providers declare, by key.

Built from the providers at start-up (see ``seggraph.plugins``) and refreshed when a provider's
definitions change at run time (custom properties). Validation and evaluation read it; it holds
no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import NamedTuple, TypeVar

from seggraph.domain.properties import PropertyDefinition

#: How many key sets :meth:`Catalogue.with_siblings` and :meth:`Catalogue.partition` each
#: remember (then it starts again): the distinct sets a process asks are the segments' and the
#: clients' key lists.
_KEY_SETS_KEPT = 1024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _remember(answers: dict[K, V], keys: K, answer: V) -> V:
    """``answer`` kept in ``answers`` under ``keys``, the memory emptied first when full."""
    if len(answers) >= _KEY_SETS_KEPT:
        answers.clear()
    answers[keys] = answer
    return answer


class Partition(NamedTuple):
    """Keys by the provider that owns them (see :meth:`Catalogue.partition`)."""

    by_provider: dict[str, tuple[str, ...]]
    unowned: tuple[str, ...]


class DuplicatePropertyError(ValueError):
    """Two providers declared the same key."""

    def __init__(self, key: str, first: str, second: str) -> None:
        super().__init__(
            f"property {key!r} is declared by both {first!r} and {second!r}; "
            "each key must belong to exactly one provider"
        )
        self.key, self.first, self.second = key, first, second


class Catalogue:
    """An immutable snapshot of property definitions, with a version for cache keys."""

    def __init__(self, definitions: Iterable[PropertyDefinition] = (), version: int = 0) -> None:
        by_key: dict[str, PropertyDefinition] = {}
        for definition in definitions:
            existing = by_key.get(definition.key)
            if existing is not None:
                raise DuplicatePropertyError(definition.key, existing.provider, definition.provider)
            by_key[definition.key] = definition
        self._by_key = by_key
        self.version = version
        self._with_siblings: dict[frozenset[str], frozenset[str]] = {}
        self._partitions: dict[tuple[str, ...], Partition] = {}

    def get(self, key: str) -> PropertyDefinition | None:
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[PropertyDefinition]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def as_dict(self) -> dict[str, PropertyDefinition]:
        return dict(self._by_key)

    def by_provider(self, provider: str) -> list[PropertyDefinition]:
        return [d for d in self._by_key.values() if d.provider == provider]

    def with_siblings(self, keys: frozenset[str]) -> frozenset[str]:
        """``keys`` and every other key read with one of them: of the same provider and
        ``read_group`` (unknown keys kept as they are). Remembered per key set: a request
        asks the same set again and again (the keys of the segments it evaluates), and the
        catalogue never changes."""
        found = self._with_siblings.get(keys)
        if found is None:
            groups = {
                (d.provider, d.read_group)
                for key in keys
                if (d := self._by_key.get(key)) is not None
            }
            found = _remember(
                self._with_siblings,
                keys,
                keys
                | {d.key for d in self._by_key.values() if (d.provider, d.read_group) in groups},
            )
        return found

    def partition(self, keys: tuple[str, ...]) -> Partition:
        """``keys`` (distinct) by the provider that owns each, in order, and the keys no
        provider owns. Remembered per key tuple, as :meth:`with_siblings`: every request of
        ``subscriber { segments }`` asks the same tuple."""
        found = self._partitions.get(keys)
        if found is None:
            owned: dict[str, list[str]] = {}
            unowned: list[str] = []
            for key in keys:
                definition = self._by_key.get(key)
                if definition is None:
                    unowned.append(key)
                else:
                    owned.setdefault(definition.provider, []).append(key)
            found = _remember(
                self._partitions,
                keys,
                Partition({p: tuple(k) for p, k in owned.items()}, tuple(unowned)),
            )
        return found

    def replace_provider(
        self, provider: str, definitions: Iterable[PropertyDefinition]
    ) -> Catalogue:
        """A new snapshot where ``provider``'s definitions are replaced (run-time changes)."""
        kept = [d for d in self._by_key.values() if d.provider != provider]
        return Catalogue([*kept, *definitions], version=self.version + 1)
