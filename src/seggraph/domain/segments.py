"""The segment aggregate as the services see it (no Mongo documents, no GraphQL types)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from seggraph.domain.conditions import EMPTY_ROOT, Group


class Mode(StrEnum):
    """Every segment, usage and history entry belongs to exactly one mode."""

    TEST = "TEST"
    LIVE = "LIVE"

    @property
    def other(self) -> Mode:
        return Mode.LIVE if self is Mode.TEST else Mode.TEST


class UsageKind(StrEnum):
    FLOW = "FLOW"
    OFFER_RULE = "OFFER_RULE"
    STEP_CONDITION = "STEP_CONDITION"


class HistoryAction(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DUPLICATED = "DUPLICATED"
    ARCHIVED = "ARCHIVED"
    UNARCHIVED = "UNARCHIVED"
    RESTORED = "RESTORED"
    COPIED = "COPIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    mode: Mode
    name: str
    description: str
    tags: tuple[str, ...]
    conditions: Group
    version: int
    archived: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    source_id: str | None = None
    """For a copy made by ``copySegmentToMode``: the segment in the other mode it came from."""
    versions_used: int = 0
    """The highest version number ever written for this segment, written versions that were
    then undone included (a reference cycle or a deleted reference found after the write);
    0 when none is above ``version``. Numbers are never used twice, so one version number is
    always one content: what is kept per version (compiled segments) stays right, and an
    ``expectedVersion`` taken from an undone write conflicts rather than matching a later,
    different write of the same number."""

    @property
    def next_version(self) -> int:
        """The number the next write of this segment takes."""
        return max(self.version, self.versions_used) + 1


_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def canonical_id(segment_id: str) -> str:
    """A segment id as it is stored and as usages, references and copies name it: an
    ObjectId's 24 hex digits in lowercase. Reads accept them in any case, so every write takes
    this form; any other text names no segment and is kept as it is (for the refusal)."""
    return segment_id.lower() if _OBJECT_ID.fullmatch(segment_id) else segment_id


#: The usages one segment holds in a mode: as many as ``segment { usages }`` answers (and the
#: query cost estimate counts), and more than any segment's routing needs.
MAX_USAGES = 100


@dataclass(frozen=True, slots=True)
class Usage:
    """A reference from another system (a cancellation flow, an offer rule…) to a segment."""

    segment_id: str
    mode: Mode
    kind: UsageKind
    ref_id: str
    name: str
    live: bool
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One readable difference between two versions."""

    field: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    segment_id: str
    mode: Mode
    version: int
    action: HistoryAction
    at: datetime
    by: str
    changes: tuple[FieldChange, ...]
    snapshot: Segment
    note: str = ""


@dataclass(frozen=True, slots=True)
class SegmentDraft:
    """The editable fields of a segment, validated."""

    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    conditions: Group = field(default_factory=lambda: EMPTY_ROOT)


def tag_key(tag: str) -> str:
    """What two tags that are the same have in common: trimmed, case-folded, in composed form
    (``Straße`` and ``STRASSE``; ``é`` typed as one character or as ``e`` and an accent)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", tag.strip()).casefold())
