"""Query-time questions: membership, explanations, previews, property values, edit impact."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

from seggraph.api.context import Info
from seggraph.api.direct import direct
from seggraph.api.errors import UserErrorType, user_errors
from seggraph.api.evaluation.inputs import MAX_CONDITIONS_TEXT, conditions_input
from seggraph.api.evaluation.types import (
    EditImpactType,
    Evaluation,
    MembershipResult,
    PreviewRow,
    SegmentMembership,
    reasons_of,
)
from seggraph.api.properties.queries import MAX_KEYS, check_keys
from seggraph.api.properties.types import PropertyValue
from seggraph.api.segments.conditions import ConditionGroupInput
from seggraph.api.segments.types import SUBSCRIBER_ID, SUBSCRIPTION_ID, USER_ERRORS, SegmentType
from seggraph.api.subjects import check_id, check_ids, check_optional_id, given_id
from seggraph.domain.context import EvaluationContext
from seggraph.domain.errors import InputRefused, check_first, check_range
from seggraph.domain.segments import Segment
from seggraph.evaluation import MISSING, ResolvedValue, Truth
from seggraph.services.evaluation import (
    MAX_EVALUATED_SEGMENTS,
    MAX_PREVIEW_SUBSCRIBERS,
    SegmentOutcome,
    membership_question,
    segments_question,
)
from seggraph.services.segments import draft_bucket_warnings

#: The most ids segmentEditImpact lists of those leaving and of those joining.
MAX_IMPACT_SAMPLE = 100

CONDITIONS = strawberry.argument(
    description="The conditions as a tree (a root group); give this or conditionsText, not both "
    "(else AMBIGUOUS in userErrors; neither: REQUIRED)."
)
CONDITIONS_TEXT = strawberry.argument(
    description="Or the conditions in the text form (docs/text-form.md), at most "
    f"{MAX_CONDITIONS_TEXT:,} characters (else TOO_LONG in userErrors), refused with its line "
    "and column when it does not parse (PARSE_ERROR). Errors and warnings about a condition "
    'are at its path in the tree the text reads as: ["conditionsText", "groups", "0", '
    '"conditions", "1"].'
)


def as_resolved(value: object) -> ResolvedValue:
    return value if isinstance(value, ResolvedValue) else ResolvedValue(value)


def _memberships(outcomes: list[SegmentOutcome], members_only: bool) -> list[SegmentMembership]:
    return [_membership(o) for o in outcomes if not members_only or o.result.truth is Truth.TRUE]


def _membership(outcome: SegmentOutcome) -> SegmentMembership:
    """The outcome's view. One without unknown reasons says nothing but the segment and the
    result, so it is made once per segment object and result and shared, as the segment's view
    is (:meth:`SegmentType.of`): ``subscriber { segments }`` would otherwise make twenty per
    request."""
    segment, result = outcome.segment, outcome.result
    if result.unknown_reasons:
        return SegmentMembership(
            segment=SegmentType.of(segment),
            result=MembershipResult.of(result.truth),
            unknown_reasons=reasons_of(segment.conditions, result.unknown_reasons),
        )
    key = (id(segment), result.truth)
    kept = _KNOWN.get(key)
    if kept is not None and kept[0] is segment:
        return kept[1]
    view = SegmentMembership(
        segment=SegmentType.of(segment),
        result=MembershipResult.of(result.truth),
        unknown_reasons=[],
    )
    view.share()
    if len(_KNOWN) >= _KNOWN_KEPT:
        _KNOWN.clear()
    _KNOWN[key] = (segment, view)  # the segment kept alive, so its id stays its own
    return view


#: Shared views of known results by (``id()`` of the segment object, truth), with the object.
_KNOWN: dict[tuple[int, Truth], tuple[Segment, SegmentMembership]] = {}
_KNOWN_KEPT = 8192


@strawberry.type(
    description="A subscriber (and optionally one of its subscriptions) at query time."
)
class Subscriber:
    id: strawberry.ID = strawberry.field(description="The subscriber's id, as asked (trimmed).")
    subscription_id: strawberry.ID | None = strawberry.field(
        description="The subscription asked about; null: each provider reads the subscriber's "
        "primary one."
    )

    @property
    def context(self) -> EvaluationContext:
        return EvaluationContext(
            str(self.id), str(self.subscription_id) if self.subscription_id else None
        )

    @strawberry.field(description="Property values, with the provider that supplied each.")
    @direct
    async def properties(
        self,
        info: Info,
        keys: Annotated[
            list[str],
            strawberry.argument(
                description=f"Property keys of the catalogue, answered in their order: at most "
                f"{MAX_KEYS} (else TOO_MANY); an unknown key is refused (UNKNOWN_PROPERTY)."
            ),
        ],
    ) -> list[PropertyValue]:
        if len(keys) > MAX_KEYS:
            raise GraphQLError(
                f"ask for at most {MAX_KEYS} keys at once", extensions={"code": "TOO_MANY"}
            )
        catalogue = info.context.services.catalogue
        check_keys(catalogue, keys)
        values = await info.context.evaluation.values.resolve([self.context], frozenset(keys))
        row = values.get(self.context, {})
        return [
            PropertyValue.of(
                key,
                as_resolved(row.get(key, MISSING)),
                catalogue.get(key),
                info.context.services.evaluation_options,
            )
            for key in keys
        ]

    @strawberry.field(
        description="The segments this subscriber belongs to, newest first (every active "
        f"segment is evaluated, at most {MAX_EVALUATED_SEGMENTS}, the most a mode holds: with "
        "more, made before that limit held, filter by tags, else TOO_MANY). With "
        "includeNonMembers, every result is listed."
    )
    @direct
    async def segments(
        self,
        info: Info,
        tags: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Only the active segments carrying at least one of these tags "
                "(case-insensitively): at most 50 (else TOO_MANY), each at most 64 characters "
                "(else TOO_LONG); omitted or empty: every active segment."
            ),
        ] = None,
        first: Annotated[
            int,
            strawberry.argument(
                description=f"At most this many results: 0 to {MAX_EVALUATED_SEGMENTS}, "
                "default 100 (else OUT_OF_RANGE)."
            ),
        ] = 100,
        include_non_members: Annotated[
            bool,
            strawberry.argument(
                description="List NOT_MEMBER and UNKNOWN results too; default false (members only)."
            ),
        ] = False,
    ) -> list[SegmentMembership]:
        ctx = info.context
        check_first(first, MAX_EVALUATED_SEGMENTS)
        targets = await ctx.evaluation.segments_for(ctx.mode, tags=tags or ())
        outcomes = await ctx.evaluation.evaluate(
            ctx.mode, self.context, targets, question=segments_question(tags)
        )
        return _memberships(outcomes, members_only=not include_non_members)[:first]

    @strawberry.field(
        description="This subscriber's result in each of the given segments, in their order."
    )
    @direct
    async def membership(
        self,
        info: Info,
        segment_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description="Ids of segments of the request's mode (archived ones included): "
                f"at most {MAX_EVALUATED_SEGMENTS} (else TOO_MANY); an id with no segment is "
                "refused (NOT_FOUND)."
            ),
        ],
    ) -> list[SegmentMembership]:
        ctx = info.context
        ids = [given_id(i) for i in segment_ids]
        targets = await ctx.evaluation.segments_for(ctx.mode, segment_ids=ids)
        outcomes = await ctx.evaluation.evaluate(
            ctx.mode, self.context, targets, question=membership_question(ids)
        )
        return _memberships(outcomes, members_only=False)


@strawberry.type(description="The result of previewConditions.")
class PreviewPayload:
    results: list[PreviewRow] = strawberry.field(
        default_factory=list,
        description="One row per subscriber asked, in their order; empty when refused.",
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )
    warnings: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description="Evaluated, but worth knowing: e.g. EMPTY_CONDITIONS (matches everyone, or "
        "no one), EMPTY_GROUP (a group without conditions, TRUE or FALSE for everyone), "
        "DRAFT_BUCKETS (a PERCENTAGE condition's buckets are drawn for the draft, "
        "not for the segment it will be saved as).",
    )


@strawberry.type(description="The result of segmentEditImpact.")
class EditImpactPayload:
    impact: EditImpactType | None = strawberry.field(
        default=None, description="What the edit would do; null when refused."
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )


@strawberry.type
class EvaluationQueries:
    @strawberry.field(description="A subscriber, to ask about its properties and segments.")
    @direct
    def subscriber(
        self,
        id: Annotated[strawberry.ID, SUBSCRIBER_ID],
        subscription_id: Annotated[strawberry.ID | None, SUBSCRIPTION_ID] = None,
    ) -> Subscriber:
        subscription = check_optional_id("subscriptionId", subscription_id)
        return Subscriber(
            id=strawberry.ID(check_id("id", id)),
            subscription_id=None if subscription is None else strawberry.ID(subscription),
        )

    @strawberry.field(
        description="Evaluate unsaved conditions (a tree or text) for some subscribers, so a "
        "segment can be tested before it is saved."
    )
    async def preview_conditions(
        self,
        info: Info,
        subscriber_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description=f"The subscribers to evaluate: at most {MAX_PREVIEW_SUBSCRIBERS} "
                "(else TOO_MANY in userErrors), each id at most 256 characters (else a "
                "TOO_LONG error)."
            ),
        ],
        conditions: Annotated[ConditionGroupInput | None, CONDITIONS] = None,
        conditions_text: Annotated[str | None, CONDITIONS_TEXT] = None,
        explain: Annotated[
            bool,
            strawberry.argument(
                description="Explain each result (every group and condition); default true."
            ),
        ] = True,
    ) -> PreviewPayload:
        ctx = info.context
        ids = check_ids("subscriberIds", subscriber_ids)
        try:
            root, prefix = conditions_input(conditions, conditions_text, required=True)
            assert root is not None
            tree, errors, warnings = await ctx.services.segments.validate_conditions(
                ctx.mode, root, segment_id=None, prefix=prefix
            )
            if errors:
                raise InputRefused(errors)
            warnings += draft_bucket_warnings(tree, prefix)
            rows = await ctx.evaluation.preview(
                ctx.mode, tree, [EvaluationContext(i) for i in ids], explain=explain
            )
        except InputRefused as refused:
            return PreviewPayload(user_errors=user_errors(list(refused.errors)))
        return PreviewPayload(
            results=[
                PreviewRow(
                    subscriber_id=strawberry.ID(c.subscriber_id), evaluation=Evaluation.of(tree, r)
                )
                for c, r in rows
            ],
            warnings=user_errors(warnings),
        )

    @strawberry.field(
        description="How many current members would leave and how many non-members would "
        "join if the segment had these conditions, with a sample of each. It walks the "
        "subscriber directory: the directory provider failing is an error (PROVIDER_ERROR or "
        "TIMEOUT, naming the provider)."
    )
    async def segment_edit_impact(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The segment to edit, in the request's mode (else NOT_FOUND in "
                "userErrors)."
            ),
        ],
        conditions: Annotated[ConditionGroupInput | None, CONDITIONS] = None,
        conditions_text: Annotated[str | None, CONDITIONS_TEXT] = None,
        sample: Annotated[
            int,
            strawberry.argument(
                description=f"How many ids of those leaving and of those joining to list: 0 to "
                f"{MAX_IMPACT_SAMPLE}, default 10 (else OUT_OF_RANGE in userErrors)."
            ),
        ] = 10,
    ) -> EditImpactPayload:
        ctx = info.context
        try:
            check_range("sample", sample, 0, MAX_IMPACT_SAMPLE)
            segment = await ctx.services.segments.require(ctx.mode, given_id(id))
            root, prefix = conditions_input(conditions, conditions_text, required=True)
            assert root is not None
            tree, errors, _ = await ctx.services.segments.validate_conditions(
                ctx.mode, root, segment_id=segment.id, prefix=prefix
            )
            if errors:
                raise InputRefused(errors)
            ctx.watch_client(info)
            impact = await ctx.evaluation.edit_impact(ctx.mode, segment, tree, sample)
        except InputRefused as refused:
            return EditImpactPayload(user_errors=user_errors(list(refused.errors)))
        return EditImpactPayload(
            impact=EditImpactType(
                evaluated=impact.evaluated,
                leaving_count=impact.leaving_count,
                joining_count=impact.joining_count,
                unknown_count=impact.unknown_count,
                sample_leaving=[strawberry.ID(i) for i in impact.leaving],
                sample_joining=[strawberry.ID(i) for i in impact.joining],
            )
        )
