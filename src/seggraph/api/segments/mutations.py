"""Segment mutations: they validate first, write nothing when refused, and return userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from seggraph.api.context import Info
from seggraph.api.errors import UserErrorType, user_errors
from seggraph.api.evaluation.inputs import conditions_input
from seggraph.api.segments.conditions import ConditionGroupInput
from seggraph.api.segments.types import (
    USER_ERRORS,
    Mode,
    SegmentPayload,
    SegmentType,
    UsageKind,
    UsageType,
)
from seggraph.api.subjects import given_id
from seggraph.domain import segments as ds
from seggraph.domain.conditions import Group
from seggraph.domain.errors import InputRefused, PathPart, UserError
from seggraph.services.segments import MAX_EVALUATED_SEGMENTS, VersionConflict, WriteResult

ACKNOWLEDGE = strawberry.argument(
    description="Required to change the conditions of a segment that live usages route by, "
    "its own or those of the segments that read it through IN_SEGMENT (else "
    "SEGMENT_IN_LIVE_USE)."
)
SEGMENT_ID = strawberry.argument(
    description="The segment's id, in the request's mode (else NOT_FOUND)."
)
OPTIONAL_VERSION = strawberry.argument(
    description="The version you loaded; when given, a stale one is refused with "
    "VERSION_CONFLICT and currentVersion. Omitted: not checked."
)
NAME = (
    "Trimmed, 1 to 200 characters (else BLANK, TOO_LONG), without control characters (else "
    "CONTROL_CHARACTERS)."
)
DESCRIPTION = (
    "Trimmed, at most 2,000 characters (else TOO_LONG); line breaks and tabs are kept, other "
    "control characters refused (CONTROL_CHARACTERS)."
)
TAGS = (
    "At most 50 (else TOO_MANY), each trimmed and 1 to 64 characters without control "
    "characters (else BLANK, TOO_LONG, CONTROL_CHARACTERS, at the tag); repeats (compared "
    "case-insensitively) are dropped, keeping the first spelling."
)
#: Said of every conditionsText input of a mutation.
CONDITIONS_TEXT = (
    "at most 200,000 characters (else TOO_LONG), refused with its line and column when it "
    "does not parse (PARSE_ERROR); not with conditions (else AMBIGUOUS). Errors about a "
    'condition are at its path in the tree the text reads as: ["conditionsText", "groups", '
    '"0", "conditions", "1"].'
)


def mode_full(path: str) -> str:
    """What a mutation that adds an active segment says about the limit (refused at ``path``)."""
    return (
        f"A mode holds at most {MAX_EVALUATED_SEGMENTS} active (not archived) segments, what "
        "subscriber { segments } evaluates at once: past them this is refused with TOO_MANY "
        f"(at {path}) and nothing is written; archive or delete segments first."
    )


FULL_AT_INPUT = mode_full("[]")
FULL_AT_ID = mode_full('["id"]')
FULL_AT_MODE = mode_full('["mode"]')


@strawberry.input(description="A new segment, in the request's mode.")
class CreateSegmentInput:
    name: str = strawberry.field(description=NAME)
    description: str = strawberry.field(default="", description=f"{DESCRIPTION} Default empty.")
    tags: list[str] = strawberry.field(default_factory=list, description=TAGS)
    conditions: ConditionGroupInput | None = strawberry.field(
        default=None, description="The root group; omitted: an empty ALL group."
    )
    conditions_text: str | None = strawberry.field(
        default=None,
        description=f"Or the conditions in the text form (docs/text-form.md): {CONDITIONS_TEXT}",
    )


@strawberry.input(description="Change any of name, description, tags and conditions.")
class UpdateSegmentInput:
    id: strawberry.ID = strawberry.field(
        description="The segment's id, in the request's mode (else NOT_FOUND)."
    )
    expected_version: int = strawberry.field(
        description="The version you loaded; a stale one is refused with VERSION_CONFLICT "
        "and currentVersion."
    )
    name: str | None = strawberry.field(default=None, description=f"{NAME} Null: unchanged.")
    description: str | None = strawberry.field(
        default=None, description=f"{DESCRIPTION} Null: unchanged."
    )
    tags: list[str] | None = strawberry.field(
        default=None, description=f"The new tags, replacing them all. {TAGS} Null: unchanged."
    )
    conditions: ConditionGroupInput | None = strawberry.field(
        default=None,
        description="The new root group, replacing the conditions. Null (and no "
        "conditionsText): unchanged.",
    )
    conditions_text: str | None = strawberry.field(
        default=None,
        description="Or the new conditions in the text form (docs/text-form.md): "
        f"{CONDITIONS_TEXT}",
    )
    acknowledge_live_usage: bool = strawberry.field(
        default=False,
        description="Required to change the conditions of a segment that live usages route "
        "by, its own or those of the segments that read it through IN_SEGMENT (else "
        "SEGMENT_IN_LIVE_USE).",
    )


@strawberry.input(
    description="A usage to record; registering one that exists (same segment, kind and "
    "refId) updates its name and live."
)
class SegmentUsageInput:
    segment_id: strawberry.ID = strawberry.field(
        description="The segment used, in the request's mode (else NOT_FOUND)."
    )
    kind: UsageKind = strawberry.field(  # type: ignore[valid-type]
        description="What uses it."
    )
    ref_id: str = strawberry.field(
        description="The flow's, offer rule's or step's own id, trimmed: 1 to 200 characters "
        "(else INVALID), without control characters (else CONTROL_CHARACTERS)."
    )
    name: str = strawberry.field(
        default="",
        description="Its name, for people, trimmed: at most 200 characters (else TOO_LONG), "
        "without control characters (else CONTROL_CHARACTERS); default empty.",
    )
    live: bool = strawberry.field(
        default=False,
        description="Whether it routes live customers; default false. Changing the "
        "conditions of a segment with a live usage needs acknowledgeLiveUsage.",
    )


@strawberry.type(description="The result of registerSegmentUsage or removeSegmentUsage.")
class SegmentUsagePayload:
    usage: UsageType | None = strawberry.field(
        default=None, description="The usage registered; null when refused, and after a removal."
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )
    warnings: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description="Written, but worth knowing: USAGE_NO_LONGER_LIVE when a live usage is "
        "registered again as not live (the segment's conditions then change without "
        "acknowledgeLiveUsage).",
    )


@strawberry.type(description="The result of deleteSegment.")
class DeleteSegmentPayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the segment deleted; null when refused."
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )
    current_version: int | None = strawberry.field(
        default=None, description="On a VERSION_CONFLICT: the version now stored."
    )


async def _segment_write(work: Callable[[], Awaitable[WriteResult]]) -> SegmentPayload:
    try:
        result = await work()
    except InputRefused as refused:
        return SegmentPayload(user_errors=user_errors(list(refused.errors)))
    except VersionConflict as conflict:
        return SegmentPayload(
            user_errors=user_errors([conflict.as_user_error()]), current_version=conflict.current
        )
    return SegmentPayload(
        segment=SegmentType.of(result.segment), warnings=user_errors(result.warnings)
    )


def _conditions_of(
    tree: ConditionGroupInput | None, text: str | None
) -> tuple[Group | None, tuple[PathPart, ...], list[UserError]]:
    """The input's conditions, the path their errors go under, and the errors of conditions
    that could not be read (text that does not parse, both forms given): the service reports
    those with every other problem of the input, rather than alone."""
    try:
        root, prefix = conditions_input(tree, text, required=False)
    except InputRefused as refused:
        return None, ("conditionsText",), list(refused.errors)
    return root, prefix, []


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(description=f"Create a segment in the request's mode. {FULL_AT_INPUT}")
    async def create_segment(
        self,
        info: Info,
        input: Annotated[CreateSegmentInput, strawberry.argument(description="The segment.")],
    ) -> SegmentPayload:
        ctx = info.context

        async def work() -> WriteResult:
            root, prefix, refused = _conditions_of(input.conditions, input.conditions_text)
            return await ctx.services.segments.create(
                ctx.mode,
                ctx.actor,
                name=input.name,
                description=input.description,
                tags=input.tags,
                conditions=root,
                conditions_prefix=prefix,
                refused=refused,
            )

        return await _segment_write(work)

    @strawberry.mutation(
        description="Edit a segment; an edit that changes something bumps its version, one "
        "that changes nothing (a form saved again as it was) answers the segment as it is."
    )
    async def update_segment(
        self,
        info: Info,
        input: Annotated[UpdateSegmentInput, strawberry.argument(description="The changes.")],
    ) -> SegmentPayload:
        ctx = info.context

        async def work() -> WriteResult:
            root, prefix, refused = _conditions_of(input.conditions, input.conditions_text)
            return await ctx.services.segments.update(
                ctx.mode,
                ctx.actor,
                given_id(input.id),
                expected_version=input.expected_version,
                name=input.name,
                description=input.description,
                tags=input.tags,
                conditions=root,
                conditions_prefix=prefix,
                acknowledge_live_usage=input.acknowledge_live_usage,
                refused=refused,
            )

        return await _segment_write(work)

    @strawberry.mutation(
        description='Copy a segment (named "NAME (copy)" unless a name is given); the copy is '
        f"active. Its conditions must be valid now (else their errors, at id, naming the "
        "condition: a property gone, a limit lowered since it was saved); nothing is written. "
        f"{FULL_AT_ID} PERCENTAGE buckets are drawn per segment id, so a copy with a "
        "PERCENTAGE condition selects a different sample than its segment: the payload warns "
        "(COPY_BUCKETS)."
    )
    async def duplicate_segment(
        self,
        info: Info,
        id: Annotated[strawberry.ID, SEGMENT_ID],
        name: Annotated[
            str | None,
            strawberry.argument(
                description="The copy's name (trimmed, 1 to 200 characters, else BLANK or "
                'TOO_LONG); omitted: "NAME (copy)", NAME shortened to fit.'
            ),
        ] = None,
    ) -> SegmentPayload:
        ctx = info.context
        return await _segment_write(
            lambda: ctx.services.segments.duplicate(ctx.mode, ctx.actor, given_id(id), name)
        )

    @strawberry.mutation(
        description="Archive a segment: allowed while usages or other segments' IN_SEGMENT "
        "conditions name it, which keep evaluating it, with a warning (SEGMENT_IN_USE, "
        "SEGMENT_REFERENCED). Archiving an archived segment answers it as it is."
    )
    async def archive_segment(
        self,
        info: Info,
        id: Annotated[strawberry.ID, SEGMENT_ID],
        expected_version: Annotated[int | None, OPTIONAL_VERSION] = None,
    ) -> SegmentPayload:
        ctx = info.context
        return await _segment_write(
            lambda: ctx.services.segments.set_archived(
                ctx.mode, ctx.actor, given_id(id), True, expected_version
            )
        )

    @strawberry.mutation(description=f"Bring an archived segment back. {FULL_AT_ID}")
    async def unarchive_segment(
        self,
        info: Info,
        id: Annotated[strawberry.ID, SEGMENT_ID],
        expected_version: Annotated[int | None, OPTIONAL_VERSION] = None,
    ) -> SegmentPayload:
        ctx = info.context
        return await _segment_write(
            lambda: ctx.services.segments.set_archived(
                ctx.mode, ctx.actor, given_id(id), False, expected_version
            )
        )

    @strawberry.mutation(
        description="Write a new version equal to an old one (the rules of updateSegment: "
        "expectedVersion, and acknowledgeLiveUsage to change conditions live usages route by)."
    )
    async def restore_segment_version(
        self,
        info: Info,
        id: Annotated[strawberry.ID, SEGMENT_ID],
        version: Annotated[
            int,
            strawberry.argument(
                description="The version to restore (SegmentVersion.version in its "
                "history; else NOT_FOUND)."
            ),
        ],
        expected_version: Annotated[
            int,
            strawberry.argument(
                description="The version you loaded (the current one); a stale one is "
                "refused with VERSION_CONFLICT and currentVersion."
            ),
        ],
        acknowledge_live_usage: Annotated[bool, ACKNOWLEDGE] = False,
    ) -> SegmentPayload:
        ctx = info.context
        return await _segment_write(
            lambda: ctx.services.segments.restore(
                ctx.mode,
                ctx.actor,
                given_id(id),
                version,
                expected_version,
                acknowledge_live_usage=acknowledge_live_usage,
            )
        )

    @strawberry.mutation(
        description="Copy a segment of the other mode into mode, creating its one counterpart "
        "there or updating it: the segment copied from it there, or else the one it was copied "
        "from (the rules of updateSegment: expectedVersion, and acknowledgeLiveUsage to change "
        "conditions live usages route by; a counterpart already holding the copy is answered "
        "unchanged). id is the segment copied, in the mode other than mode. With API keys, the "
        "copy is written with a write key of mode (a LIVE key promotes a TEST segment): a key "
        "writes only in its own mode. A new copy is archived when its segment is, else active. "
        f"{FULL_AT_MODE} Updating the counterpart adds none (an archived copy neither). "
        "PERCENTAGE buckets are drawn per segment id, so a copy with a PERCENTAGE condition "
        "selects a different sample than its segment: the payload warns (COPY_BUCKETS). A "
        "segment with several copies in mode (made before seggraph kept one per segment) is "
        "refused (DUPLICATE_COPIES): delete all but one."
    )
    async def copy_segment_to_mode(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The segment to copy: a segment of the mode other than mode "
                "(else NOT_FOUND). When its IN_SEGMENT / NOT_IN_SEGMENT conditions name a "
                "segment with no counterpart in mode yet, it is refused (REFERENCE_NOT_COPIED): "
                "copy those first."
            ),
        ],
        mode: Annotated[
            Mode,  # type: ignore[valid-type]
            strawberry.argument(
                description="The mode to copy into: LIVE to promote a TEST segment, TEST to "
                "copy a LIVE one back. With API keys, the request's key must be of this mode "
                "(else WRONG_MODE)."
            ),
        ],
        expected_version: Annotated[
            int | None,
            strawberry.argument(
                description="The counterpart's version you loaded, to update it; left out "
                "when there is no counterpart yet. A stale one, or none while a counterpart "
                "that differs exists, is refused with VERSION_CONFLICT and currentVersion."
            ),
        ] = None,
        acknowledge_live_usage: Annotated[bool, ACKNOWLEDGE] = False,
    ) -> SegmentPayload:
        ctx = info.context
        target = ds.Mode(mode)
        if ctx.api_key is not None and ctx.api_key.mode is not target:
            wrong = UserError(
                ("mode",),
                "WRONG_MODE",
                f"this is a {ctx.api_key.mode.value} key, and a key writes only in its own mode: "
                f"copy into {target.value} with a {target.value} write key (the copy reads "
                f"its segment from {target.other.value})",
            )
            return SegmentPayload(user_errors=user_errors([wrong]))
        return await _segment_write(
            lambda: ctx.services.segments.copy_to_mode(
                target.other,
                ctx.actor,
                given_id(id),
                target,
                expected_version=expected_version,
                acknowledge_live_usage=acknowledge_live_usage,
            )
        )

    @strawberry.mutation(
        description="Delete a segment; refused while a usage (SEGMENT_IN_USE) or another "
        "segment's IN_SEGMENT condition (SEGMENT_REFERENCED) names it, while another request "
        "deletes it (DELETE_IN_PROGRESS), and when its checks and its write took more than "
        "30 s (DELETE_TIMED_OUT; nothing deleted, ask again)."
    )
    async def delete_segment(
        self,
        info: Info,
        id: Annotated[strawberry.ID, SEGMENT_ID],
        expected_version: Annotated[int | None, OPTIONAL_VERSION] = None,
    ) -> DeleteSegmentPayload:
        ctx = info.context
        try:
            deleted = await ctx.services.segments.delete(
                ctx.mode, ctx.actor, given_id(id), expected_version
            )
        except InputRefused as refused:
            return DeleteSegmentPayload(user_errors=user_errors(list(refused.errors)))
        except VersionConflict as conflict:
            return DeleteSegmentPayload(
                user_errors=user_errors([conflict.as_user_error()]),
                current_version=conflict.current,
            )
        return DeleteSegmentPayload(deleted_id=strawberry.ID(deleted.id))

    @strawberry.mutation(
        description="Record that a flow, offer rule or step uses a segment (registering the "
        f"same kind and refId again updates it); a segment holds at most {ds.MAX_USAGES} usages in "
        "a mode (TOO_MANY past them)."
    )
    async def register_segment_usage(
        self,
        info: Info,
        input: Annotated[SegmentUsageInput, strawberry.argument(description="The usage.")],
    ) -> SegmentUsagePayload:
        ctx = info.context
        try:
            usage, warnings = await ctx.services.segments.register_usage(
                ctx.mode,
                given_id(input.segment_id),
                ds.UsageKind(input.kind),
                input.ref_id,
                input.name,
                input.live,
            )
        except InputRefused as refused:
            return SegmentUsagePayload(user_errors=user_errors(list(refused.errors)))
        return SegmentUsagePayload(usage=UsageType.of(usage), warnings=user_errors(warnings))

    @strawberry.mutation(description="Remove a usage recorded by registerSegmentUsage.")
    async def remove_segment_usage(
        self,
        info: Info,
        segment_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The segment used, in the request's mode (else NOT_FOUND)."
            ),
        ],
        kind: Annotated[
            UsageKind,  # type: ignore[valid-type]
            strawberry.argument(description="The usage's kind, as registered."),
        ],
        ref_id: Annotated[
            str,
            strawberry.argument(
                description="The usage's refId, as registered (trimmed); none such: NOT_FOUND."
            ),
        ],
    ) -> SegmentUsagePayload:
        ctx = info.context
        try:
            await ctx.services.segments.remove_usage(
                ctx.mode, given_id(segment_id), ds.UsageKind(kind), ref_id
            )
        except InputRefused as refused:
            return SegmentUsagePayload(user_errors=user_errors(list(refused.errors)))
        return SegmentUsagePayload()
