"""Splitting a sequence into consecutive slices (``itertools.batched`` arrives in Python
3.12; seggraph supports 3.11)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of ``size`` (the last one may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
