"""Creating, reading and listing segments."""

from __future__ import annotations

from dataclasses import dataclass

from seggraph.clock import Clock, utcnow
from seggraph.domain.errors import InputRefused, UserError
from seggraph.domain.segments import Segment
from seggraph.store.segments import SegmentStore

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_TAG = 64
MAX_TAGS = 50
MAX_PAGE = 100


@dataclass(frozen=True)
class SegmentPage:
    edges: list[tuple[str, Segment]]
    has_next_page: bool
    total_count: int


def clean_tags(tags: list[str], errors: list[UserError]) -> tuple[str, ...]:
    """Trim tags and drop case-insensitive repeats, keeping the first spelling."""
    seen: set[str] = set()
    out: list[str] = []
    if len(tags) > MAX_TAGS:
        errors.append(UserError(("tags",), "TOO_MANY", f"at most {MAX_TAGS} tags, got {len(tags)}"))
    for index, raw in enumerate(tags):
        tag = raw.strip()
        if not tag:
            errors.append(UserError(("tags", index), "BLANK", "a tag cannot be blank"))
        elif len(tag) > MAX_TAG:
            errors.append(
                UserError(("tags", index), "TOO_LONG", f"a tag has at most {MAX_TAG} characters")
            )
        elif tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return tuple(out)


class SegmentService:
    def __init__(self, store: SegmentStore, clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock

    async def create(
        self, *, name: str, description: str = "", tags: list[str] | None = None
    ) -> Segment:
        errors: list[UserError] = []
        name = name.strip()
        if not name:
            errors.append(UserError(("name",), "BLANK", "a segment needs a name"))
        elif len(name) > MAX_NAME:
            errors.append(
                UserError(("name",), "TOO_LONG", f"a name has at most {MAX_NAME} characters")
            )
        if len(description) > MAX_DESCRIPTION:
            errors.append(
                UserError(
                    ("description",),
                    "TOO_LONG",
                    f"a description has at most {MAX_DESCRIPTION} characters",
                )
            )
        cleaned = clean_tags(tags or [], errors)
        if errors:
            raise InputRefused(errors)
        return await self.store.insert(
            name=name, description=description.strip(), tags=cleaned, now=self.clock()
        )

    async def get(self, segment_id: str) -> Segment | None:
        return await self.store.get(segment_id)

    async def page(self, *, first: int = 20, after: str | None = None) -> SegmentPage:
        if not 0 <= first <= MAX_PAGE:
            raise InputRefused(
                [UserError(("first",), "OUT_OF_RANGE", f"first must be 0..{MAX_PAGE}")]
            )
        edges, has_next, total = await self.store.page(first=first, after=after)
        return SegmentPage(edges, has_next, total)
