"""GraphQL types of segments, their history and their usages."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from seggraph.api.context import Info
from seggraph.api.direct import direct
from seggraph.api.enums import described_enum
from seggraph.api.errors import UserErrorType
from seggraph.api.execution import SharedView
from seggraph.api.segments.conditions import ConditionGroupType
from seggraph.api.subjects import check_id, check_optional_id
from seggraph.coalescing import retrieve_outcome
from seggraph.domain import segments as ds
from seggraph.domain.context import EvaluationContext
from seggraph.services.segments import MAX_HISTORY_PAGE
from seggraph.textform import print_tree

#: Said of every payload's userErrors.
USER_ERRORS = "Why the input was refused, each problem found; empty when it was accepted."
SUBSCRIBER_ID = strawberry.argument(
    description="The subscriber's id (its billing customer id), trimmed as every id is: at "
    "most 256 characters (else TOO_LONG) and not blank (else BLANK); not looked up first."
)
SUBSCRIPTION_ID = strawberry.argument(
    description="One of the subscriber's subscriptions, to read subscription properties "
    "from, trimmed as every id is: at most 256 characters (else TOO_LONG) and not blank (else "
    "BLANK); not looked up first (not checked to be the subscriber's: one that is not is "
    "missing to billing, and read as named by custom properties). Omitted: "
    "each provider picks the subscriber's primary one."
)

if TYPE_CHECKING:
    from seggraph.api.evaluation.types import Evaluation, MemberConnection, MemberCount

#: Who wrote, as history and a segment's createdBy and updatedBy say it (README "Who.").
ACTOR_FORMAT = (
    'With an API key: "key:<id> (<name>)" ("key:<id>" for a key without a name), prefixed by '
    'the X-Seggraph-Actor header when a client acts for one of its users ("alice via '
    'key:<id> (<name>)"); with auth off, that header alone, or "anonymous".'
)

Mode = described_enum(
    ds.Mode,
    description="The mode a segment, its history and its usages belong to. A request works "
    "in one mode, its API key's; only copySegmentToMode reads the other. Property values, "
    "custom properties and retention events are the same in both modes.",
    values={
        "TEST": "For trying segments out: the mode of sg_test_ keys.",
        "LIVE": "What live customers are routed by: the mode of sg_live_ keys.",
    },
)
UsageKind = described_enum(
    ds.UsageKind,
    description="What kind of thing uses a segment (registerSegmentUsage).",
    values={
        "FLOW": "A flow, such as a cancellation flow.",
        "OFFER_RULE": "An offer rule: which retention offer to make.",
        "STEP_CONDITION": "The condition of one step of a flow.",
    },
)
HistoryAction = described_enum(
    ds.HistoryAction,
    description="What the write of a version did.",
    values={
        "CREATED": "createSegment made the segment (version 1).",
        "UPDATED": "updateSegment changed it.",
        "DUPLICATED": "duplicateSegment made it as a copy of another segment of its mode "
        "(version 1; note names the original).",
        "ARCHIVED": "archiveSegment archived it.",
        "UNARCHIVED": "unarchiveSegment brought it back.",
        "RESTORED": "restoreSegmentVersion wrote an old version again (note says which).",
        "COPIED": "copySegmentToMode created or updated it from the other mode's segment "
        "(note names that segment and its version).",
        "DELETED": "deleteSegment deleted it. Kept in the database only: no query reaches a "
        "deleted segment.",
    },
)


@strawberry.type(
    name="SegmentUsage",
    description="Another system's reference to a segment, recorded by registerSegmentUsage; "
    "one per segment, kind and refId.",
)
class UsageType:
    kind: UsageKind = strawberry.field(  # type: ignore[valid-type]
        description="What uses the segment."
    )
    ref_id: str = strawberry.field(
        description="The flow's, offer rule's or step's own id (1 to 200 characters, trimmed)."
    )
    name: str = strawberry.field(
        description="Its name, for people (at most 200 characters; may be empty)."
    )
    live: bool = strawberry.field(
        description="Whether it routes live customers: changing the conditions of the segment "
        "then needs acknowledgeLiveUsage (SEGMENT_IN_LIVE_USE otherwise), and so does changing "
        "the conditions of a segment it reads through IN_SEGMENT, at any depth."
    )
    registered_at: datetime = strawberry.field(
        description="When it was first registered. Registering it again updates name and "
        "live, and keeps this time."
    )

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
    before: str = strawberry.field(
        description="The field before this version, as text: name and description as they "
        'were, tags joined with ", ", conditions in the text form (docs/text-form.md), '
        'archived as "archived" or "active". Empty when there was no previous version (or '
        "the field was empty)."
    )
    after: str = strawberry.field(description="The field at this version, as text, as before.")


@strawberry.type(name="SegmentVersion", description="One version of a segment: who, when, what.")
class HistoryEntryType:
    version: int = strawberry.field(description="The version this write made (1 for the first).")
    action: HistoryAction = strawberry.field(  # type: ignore[valid-type]
        description="What the write did."
    )
    at: datetime = strawberry.field(description="When it was written (UTC).")
    by: str = strawberry.field(description=f"Who wrote it. {ACTOR_FORMAT}")
    note: str = strawberry.field(
        description='Where the content came from: "from <segment id>" (DUPLICATED), '
        '"restored version <n>" (RESTORED), "copied from <mode> segment <id> version <n>" '
        "(COPIED); empty for the other actions."
    )
    changes: list[FieldChange] = strawberry.field(
        description="Each field that differs from the previous version (every non-empty one "
        "when there was none); empty when none does (DELETED)."
    )
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
    id: strawberry.ID = strawberry.field(description="Its id: 24 hexadecimal characters.")
    mode: Mode = strawberry.field(  # type: ignore[valid-type]
        description="The mode it belongs to (the request's)."
    )
    name: str = strawberry.field(description="Trimmed, 1 to 200 characters.")
    description: str = strawberry.field(
        description="Trimmed, at most 2,000 characters; empty when it has none."
    )
    tags: list[str] = strawberry.field(
        description="At most 50, each trimmed and 1 to 64 characters, unique "
        "case-insensitively (the first spelling kept), in the order given."
    )
    version: int = strawberry.field(
        description=(
            "Bumped by every write that changes something; pass it as expectedVersion. A number "
            "is never used twice (a write undone after it was saved leaves a gap)."
        )
    )
    archived: bool = strawberry.field(
        description="Archived: left out of segments (unless filter.archived says so), tags and "
        "Subscriber.segments; still evaluated when asked for by id or referenced by IN_SEGMENT."
    )
    created_at: datetime = strawberry.field(description="When version 1 was written (UTC).")
    created_by: str = strawberry.field(description=f"Who wrote version 1. {ACTOR_FORMAT}")
    updated_at: datetime = strawberry.field(
        description="When the current version was written (UTC)."
    )
    updated_by: str = strawberry.field(description=f"Who wrote the current version. {ACTOR_FORMAT}")
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

    @strawberry.field(
        description="Its newest versions, newest first: at most first of them, below "
        "beforeVersion when it is given. For the next page, pass the last version answered "
        "as beforeVersion; fewer than first answered means there are no more."
    )
    async def history(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(
                description=f"How many versions: 1 to {MAX_HISTORY_PAGE}, default 100 (else "
                "OUT_OF_RANGE)."
            ),
        ] = 100,
        before_version: Annotated[
            int | None,
            strawberry.argument(
                description="Only versions below this one (the last version of the "
                "previous page), at least 1 (else OUT_OF_RANGE); omitted, or past the newest: "
                "from the newest."
            ),
        ] = None,
    ) -> list[HistoryEntryType]:
        entries = await info.context.services.segments.history(
            self.domain.mode, self.domain.id, first=first, before_version=before_version
        )
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
        subscriber_id: Annotated[strawberry.ID, SUBSCRIBER_ID],
        subscription_id: Annotated[strawberry.ID | None, SUBSCRIPTION_ID] = None,
        explain: Annotated[
            bool,
            strawberry.argument(
                description="Also list every group and condition with what it found "
                "(explanation); default false."
            ),
        ] = False,
    ) -> Annotated[Evaluation, strawberry.lazy("seggraph.api.evaluation.types")]:
        from seggraph.api.evaluation.types import Evaluation as EvaluationType

        context = EvaluationContext(
            check_id("subscriberId", subscriber_id),
            check_optional_id("subscriptionId", subscription_id),
        )
        [outcome] = await info.context.evaluation.evaluate(
            self.domain.mode, context, [self.domain], explain=explain
        )
        return EvaluationType.of(self.domain.conditions, outcome.result)

    @strawberry.field(
        description="Its members (subscribers whose result is MEMBER), a page at a time in "
        "ascending subscriber id order (the subscriber directory's order). Null, with an error "
        "at this field, when the page could not be made (a refused argument, the directory "
        "provider failing: PROVIDER_ERROR or TIMEOUT, naming the provider): the rest of the "
        "answer stands. A subscriber whose result is UNKNOWN "
        "is on no page and raises no error, whatever made it so: a property provider failing "
        "or timing out during the walk leaves the page short of the members it would list "
        "(the page's unknownCount and memberCount's unknown count them; asked again, the page "
        "is made afresh)."
    )
    async def members(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(
                description="How many members on the page: 0 to 500, default 50 (else "
                "OUT_OF_RANGE)."
            ),
        ] = 50,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="The endCursor of the previous page of this segment's members; "
                "omitted: from the start. Any other cursor is refused (INVALID_CURSOR). The page "
                "lists the members after the subscriber id the cursor names, evaluated now: "
                "pages are not a snapshot, so one who stays a member throughout is on exactly "
                "one page, and the cursor is not tied to the segment's version (after an edit, "
                "the next page is of the new conditions: ask version with each page to notice)."
            ),
        ] = None,
    ) -> Annotated[MemberConnection, strawberry.lazy("seggraph.api.evaluation.types")] | None:
        from seggraph.api.evaluation.types import MemberConnection as Connection

        info.context.watch_client(info)
        evaluation = info.context.evaluation
        asked = evaluation.members(self.domain.mode, self.domain, first=first, after=after)
        if _selects(info, "totalCount"):
            # Asked with the page, so that both are made in one walk (the count would
            # otherwise be asked once the page is answered, and walk again).
            page = await _with_count(asked, evaluation.count(self.domain.mode, self.domain))
        else:
            page = await asked
        return Connection(
            member_ids=[strawberry.ID(i) for i in page.member_ids],
            end_cursor=page.end_cursor,
            has_next_page=page.has_next_page,
            strategy=page.strategy,
            unknown_count=page.unknown,
            segment=self.domain,
        )

    @strawberry.field(
        description="How many subscribers are members (over the whole directory). Null, with "
        "an error at this field (TIMEOUT or PROVIDER_ERROR, naming the provider), when the "
        "count could not be made: the rest of the answer stands."
    )
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


@strawberry.type(description="Where a page of segments ends (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more segments follow.")
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, to pass as after for the next page. Null only "
        "when the first page is empty; an empty later page (first: 0, or past the last) "
        "repeats its after."
    )


@strawberry.type(description="One segment of a page, with its cursor (Relay).")
class SegmentEdge:
    cursor: str = strawberry.field(
        description="An opaque position: pass it as after to continue after this segment."
    )
    node: SegmentType = strawberry.field(description="The segment.")


@strawberry.type(description="A page of segments, newest first (Relay cursor pagination).")
class SegmentConnection:
    edges: list[SegmentEdge] = strawberry.field(description="The page's segments with cursors.")
    page_info: PageInfo = strawberry.field(description="Whether more follow, and from where.")
    total_count: int = strawberry.field(
        description="How many segments the filter matches, over all pages."
    )

    @strawberry.field(description="The page's segments, without cursors.")
    @direct
    def nodes(self) -> list[SegmentType]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A tag and how many segments carry it.")
class TagCount:
    tag: str = strawberry.field(
        description="The tag, spelled as its oldest segment spells it (tags are compared "
        "case-insensitively)."
    )
    count: int = strawberry.field(description="How many segments carry it.")


@strawberry.type(description="The result of a segment mutation.")
class SegmentPayload:
    segment: SegmentType | None = strawberry.field(
        default=None,
        description="The segment as written (or as it is, when nothing needed "
        "writing); null when refused.",
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )
    warnings: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description="Written, but worth knowing: live usages affected (SEGMENT_IN_LIVE_USE, "
        "SEGMENT_IN_USE), an archived segment still used or read (SEGMENT_IN_USE, "
        "SEGMENT_REFERENCED), empty conditions (EMPTY_CONDITIONS) or an empty group "
        "(EMPTY_GROUP), a copy's PERCENTAGE sample (COPY_BUCKETS).",
    )
    current_version: int | None = strawberry.field(
        default=None, description="On a VERSION_CONFLICT: the version now stored."
    )


T = TypeVar("T")


def _selects(info: Info, name: str) -> bool:
    """Whether the field's selection asks for the field ``name`` (through fragments), with no
    directive on the way that could leave it out."""
    raw = info._raw_info
    pending: list[SelectionSetNode | None] = [node.selection_set for node in raw.field_nodes]
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections if selection_set is not None else ():
            if selection.directives:
                continue
            if isinstance(selection, FieldNode):
                if selection.name.value == name:
                    return True
            elif isinstance(selection, FragmentSpreadNode):
                fragment = raw.fragments.get(selection.name.value)
                if fragment is not None and not fragment.directives:
                    pending.append(fragment.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
    return False


async def _with_count(asked: Coroutine[Any, Any, T], count: Coroutine[Any, Any, Any]) -> T:
    """``asked``'s answer once ``count`` has ended too; the count's outcome is left to the field
    that shows it, which asks for the same count again (counted once per request). Both run
    at once, so that they are asked together; either is cancelled when this ends first."""
    tasks = [asyncio.ensure_future(asked), asyncio.ensure_future(count)]
    try:
        answer: T = await tasks[0]
        await asyncio.wait(tasks[1:])
        return answer
    finally:
        for task in tasks:
            task.cancel()
            task.add_done_callback(retrieve_outcome)
