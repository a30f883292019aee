"""Percentage buckets: a stable number in ``[0, 100)`` per (segment, subscriber).

The bucket is the first 8 hex digits of SHA-1 of ``"<segment id>:<subscriber id>"`` read as an
integer, modulo 100,000, divided by 1,000. It depends on nothing else, so a subscriber keeps its
bucket while a segment's percentage grows: in at 10% means in at 20%.
"""

from __future__ import annotations

import hashlib
from decimal import Context, Decimal


def bucket_index(segment_id: str, subscriber_id: str) -> int:
    """The bucket in thousandths: an integer in ``[0, 100000)``."""
    digest = hashlib.sha1(f"{segment_id}:{subscriber_id}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % 100_000


def bucket_of(segment_id: str, subscriber_id: str) -> Decimal:
    """The bucket, exactly (``Decimal("12.345")``)."""
    return Decimal(bucket_index(segment_id, subscriber_id)).scaleb(-3)


def threshold_of(percentage: Decimal) -> Decimal:
    """``percentage`` in thousandths, exactly, so that ``bucket < percentage`` is
    ``bucket_index < threshold`` (an exact int/Decimal comparison; no float anywhere)."""
    digits = len(percentage.as_tuple().digits)
    return percentage.scaleb(3, context=Context(prec=max(28, digits + 8)))
