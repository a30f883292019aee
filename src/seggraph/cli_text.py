"""Words the commands print."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, in the plural unless ``number`` is 1: ``1 row``, ``0 rows``,
    ``2 companies`` (``plural`` when adding an ``s`` is not the plural); thousands separated
    (``20,000 values``), as the demo's report writes them."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
