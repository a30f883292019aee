"""GraphQL types of segments, their history and their usages."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from seggraph.api.context import Info
from seggraph.api.direct import direct
from seggraph.api.errors import UserErrorType
from seggraph.api.execution import SharedView
from seggraph.api.segments.conditions import ConditionGroupType
from seggraph.api.subjects import check_id
from seggraph.domain import segments as ds
from seggraph.domain.context import EvaluationContext
from seggraph.textform import print_tree

if TYPE_CHECKING:
    from seggraph.api.evaluation.types import Evaluation, MemberConnection, MemberCount

Mode = strawberry.enum(ds.Mode, description="TEST or LIVE: no query or mutation crosses modes.")
UsageKind = strawberry.enum(ds.UsageKind)
HistoryAction = strawberry.enum(ds.HistoryAction)


@strawberry.type(name="SegmentUsage", description="Another system's reference to a segment.")
class UsageType:
    kind: UsageKind  # type: ignore[valid-type]
    ref_id: str
    name: str
    live: bool
    registered_at: datetime

    @classmethod
    def of(cls, usage: ds.Usage) -> UsageType:
        return cls(
            kind=usage.kind,
            ref_id=usage.ref_id,
            name=usage.name,
            live=usage.live,
            registered_at=usage.registered_at,
        )


@strawberry.type(description="One field that changed between two versions.")
class FieldChange:
    field: str = strawberry.field(description="name, description, tags, conditions or archived.")
    before: str
    after: str


@strawberry.type(name="SegmentVersion", description="One version of a segment: who, when, what.")
class HistoryEntryType:
    version: int
    action: HistoryAction  # type: ignore[valid-type]
    at: datetime
    by: str
    note: str
    changes: list[FieldChange]
    segment: SegmentType = strawberry.field(description="The segment as it was at this version.")

    @classmethod
    def of(cls, entry: ds.HistoryEntry) -> HistoryEntryType:
        return cls(
            version=entry.version,
            action=entry.action,
            at=entry.at,
            by=entry.by,
            note=entry.note,
            changes=[
                FieldChange(field=c.field, before=c.before, after=c.after) for c in entry.changes
            ],
            segment=SegmentType.of(entry.snapshot),
        )


@strawberry.type(
    name="Segment", description="A named, tagged set of conditions over subscriber properties."
)
class SegmentType(SharedView):
    id: strawberry.ID
    mode: Mode  # type: ignore[valid-type]
    name: str
    description: str
    tags: list[str]
    version: int = strawberry.field(
        description="Bumped by every write; pass it as expectedVersion."
    )
    archived: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    copied_from_id: strawberry.ID | None = strawberry.field(
        description="For a copy made by copySegmentToMode: its segment in the other mode."
    )
    domain: strawberry.Private[ds.Segment]

    @strawberry.field(description="The root condition group (nested groups and conditions).")
    def conditions(self) -> ConditionGroupType:
        return ConditionGroupType.of(self.domain.conditions)

    @strawberry.field(description="The conditions in the text form (see docs/text-form.md).")
    def conditions_text(self) -> str:
        return print_tree(self.domain.conditions)

    @strawberry.field(description="Every version, newest first.")
    async def history(self, info: Info) -> list[HistoryEntryType]:
        entries = await info.context.services.segments.history(self.domain.mode, self.domain.id)
        return [HistoryEntryType.of(e) for e in entries]

    @strawberry.field(description="Flows, offer rules and step conditions that use this segment.")
    async def usages(self, info: Info) -> list[UsageType]:
        usages = await info.context.services.segments.usages(self.domain.mode, self.domain.id)
        return [UsageType.of(u) for u in usages]

    @strawberry.field(
        description="Is this subscriber a member? With explain, every evaluated condition "
        "with its expected and actual value, provider and latency."
    )
    @direct
    async def evaluate(
        self,
        info: Info,
        subscriber_id: strawberry.ID,
        subscription_id: strawberry.ID | None = None,
        explain: bool = False,
    ) -> Annotated[Evaluation, strawberry.lazy("seggraph.api.evaluation.types")]:
        from seggraph.api.evaluation.types import Evaluation as EvaluationType

        check_id("subscriberId", subscriber_id)
        check_id("subscriptionId", subscription_id)
        context = EvaluationContext(
            str(subscriber_id), str(subscription_id) if subscription_id else None
        )
        [outcome] = await info.context.evaluation.evaluate(
            self.domain.mode, context, [self.domain], explain=explain
        )
        return EvaluationType.of(self.domain.conditions, outcome.result)

    @strawberry.field(
        description="Members, in the subscriber directory's order; after is the endCursor of "
        "the previous page."
    )
    async def members(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Annotated[MemberConnection, strawberry.lazy("seggraph.api.evaluation.types")] | None:
        from seggraph.api.evaluation.types import MemberConnection as Connection

        info.context.watch_client(info)
        page = await info.context.evaluation.members(
            self.domain.mode, self.domain, first=first, after=after
        )
        return Connection(
            member_ids=[strawberry.ID(i) for i in page.member_ids],
            end_cursor=page.end_cursor,
            has_next_page=page.has_next_page,
            strategy=page.strategy,
            segment=self.domain,
        )

    @strawberry.field(description="How many subscribers are members (over the whole directory).")
    async def member_count(
        self, info: Info
    ) -> Annotated[MemberCount, strawberry.lazy("seggraph.api.evaluation.types")] | None:
        from seggraph.api.evaluation.types import MemberCount as Count

        info.context.watch_client(info)
        totals = await info.context.evaluation.count(self.domain.mode, self.domain)
        return Count(members=totals.members, unknown=totals.unknown, strategy=totals.strategy)

    @classmethod
    def of(cls, segment: ds.Segment) -> SegmentType:
        """The segment's view. Segments are immutable and the store hands out the same object
        while a segment is unchanged (its kept answers), so the view of an object is made once
        and shared: ``subscriber { segments }`` would otherwise build twenty per request."""
        kept = _VIEWS.get(id(segment))
        if kept is not None and kept[0] is segment:
            return kept[1]
        view = cls._of(segment)
        view.share()
        if len(_VIEWS) >= _VIEWS_KEPT:
            _VIEWS.clear()
        _VIEWS[id(segment)] = (segment, view)  # the segment kept alive, so its id stays its own
        return view

    @classmethod
    def _of(cls, segment: ds.Segment) -> SegmentType:
        return cls(
            id=strawberry.ID(segment.id),
            mode=segment.mode,
            name=segment.name,
            description=segment.description,
            tags=list(segment.tags),
            version=segment.version,
            archived=segment.archived,
            created_at=segment.created_at,
            created_by=segment.created_by,
            updated_at=segment.updated_at,
            updated_by=segment.updated_by,
            copied_from_id=strawberry.ID(segment.source_id) if segment.source_id else None,
            domain=segment,
        )


#: Views of segment objects by ``id()``, with the object (see :meth:`SegmentType.of`).
_VIEWS: dict[int, tuple[ds.Segment, SegmentType]] = {}
_VIEWS_KEPT = 4096


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SegmentEdge:
    cursor: str
    node: SegmentType


@strawberry.type
class SegmentConnection:
    edges: list[SegmentEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    @direct
    def nodes(self) -> list[SegmentType]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A tag and how many segments carry it.")
class TagCount:
    tag: str
    count: int


@strawberry.type(description="The result of a segment mutation.")
class SegmentPayload:
    segment: SegmentType | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
    warnings: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description="Written, but worth knowing: live usages affected, empty conditions…",
    )
    current_version: int | None = strawberry.field(
        default=None, description="On a VERSION_CONFLICT: the version now stored."
    )
