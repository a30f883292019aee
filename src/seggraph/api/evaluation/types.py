"""GraphQL types of query-time answers: results, explanations, property values, members."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON

from seggraph.api.context import Info
from seggraph.api.execution import SharedView
from seggraph.api.properties.types import PropertyValueState, json_value
from seggraph.api.segments.conditions import EXACT_NUMBERS, Combinator, Operator
from seggraph.api.segments.types import SegmentType
from seggraph.domain.conditions import Group
from seggraph.domain.errors import PathPart
from seggraph.domain.segments import Segment
from seggraph.evaluation import (
    ConditionExplanation,
    EvaluationResult,
    GroupExplanation,
    Truth,
    UnknownCause,
)
from seggraph.services import evaluation as evaluation_service
from seggraph.validation.conditions import child_path


@strawberry.enum(description="MEMBER only when the root is TRUE; UNKNOWN is never a member.")
class MembershipResult(Enum):
    MEMBER = "MEMBER"
    NOT_MEMBER = "NOT_MEMBER"
    UNKNOWN = "UNKNOWN"

    #: By identity, as :class:`~seggraph.evaluation.truth.Truth` (each answer of
    #: ``subscriber { segments }`` looks its result up in the enum's output table).
    __hash__ = object.__hash__

    @classmethod
    def of(cls, truth: Truth) -> MembershipResult:
        return _MEMBERSHIP_OF[truth]


_MEMBERSHIP_OF = {
    Truth.TRUE: MembershipResult.MEMBER,
    Truth.FALSE: MembershipResult.NOT_MEMBER,
    Truth.UNKNOWN: MembershipResult.UNKNOWN,
}


@strawberry.enum(description="TRUE, FALSE or UNKNOWN (three-valued logic).")
class ConditionResult(Enum):
    TRUE = "TRUE"
    FALSE = "FALSE"
    UNKNOWN = "UNKNOWN"


def input_path(root: Group, path: tuple[PathPart, ...]) -> list[str]:
    """An explanation path (``conditions, children, i, …``) in the input's shape
    (``conditions, groups, 1, conditions, 0``)."""
    out: list[str] = ["conditions"]
    node: object = root
    parts = list(path[1:])
    while parts:
        parts.pop(0)  # "children"
        index = int(parts.pop(0))
        assert isinstance(node, Group)
        out += [str(p) for p in child_path(node, index)]
        node = node.children[index]
    return out


@strawberry.type(description="Why a group has its result.")
class GroupExplanationType:
    path: list[str]
    combinator: Combinator  # type: ignore[valid-type]
    result: ConditionResult


@strawberry.type(description="One evaluated condition: what was expected, what was found.")
class ConditionExplanationType:
    path: list[str]
    property: str
    operator: Operator  # type: ignore[valid-type]
    expected: JSON | None = strawberry.field(description=f"The condition's value. {EXACT_NUMBERS}")
    actual: JSON | None = strawberry.field(
        description=f"The provider's value; null when missing or unknown. {EXACT_NUMBERS}"
    )
    state: PropertyValueState
    result: ConditionResult
    unknown_reason: str | None = strawberry.field(
        description="PROVIDER_ERROR, TIMEOUT, TYPE_ERROR, CURRENCY_MISMATCH or SEGMENT_UNKNOWN."
    )
    unknown_detail: str | None
    provider: str | None
    latency_ms: float | None
    case_insensitive: bool
    note: str | None = strawberry.field(
        description="The provider's note on how it derived the value, when it gave one: e.g. "
        "which amounts in another currency a sum left out."
    )


@strawberry.type(description="A condition that made the result UNKNOWN, and why.")
class UnknownReasonType:
    path: list[str]
    property: str
    reason: str
    detail: str
    provider: str | None


@strawberry.type(description="Every group and every evaluated condition, in tree order.")
class Explanation:
    groups: list[GroupExplanationType]
    conditions: list[ConditionExplanationType]


def explanation_of(root: Group, tree: GroupExplanation) -> Explanation:
    groups: list[GroupExplanationType] = []
    conditions: list[ConditionExplanationType] = []

    def walk(node: GroupExplanation | ConditionExplanation) -> None:
        path = input_path(root, node.path)
        if isinstance(node, GroupExplanation):
            groups.append(
                GroupExplanationType(
                    path=path, combinator=node.combinator, result=ConditionResult(node.result.name)
                )
            )
            for child in node.children:
                walk(child)
            return
        conditions.append(
            ConditionExplanationType(
                path=path,
                property=node.property,
                operator=node.operator,
                expected=json_value(node.expected),
                actual=json_value(node.actual),
                state=PropertyValueState(node.state.value),
                result=ConditionResult(node.result.name),
                unknown_reason=node.unknown.reason.value if node.unknown else None,
                unknown_detail=node.unknown.detail if node.unknown else None,
                provider=node.provider,
                latency_ms=node.latency_ms,
                case_insensitive=node.case_insensitive,
                note=node.note,
            )
        )

    walk(tree)
    return Explanation(groups=groups, conditions=conditions)


def reasons_of(root: Group, causes: tuple[UnknownCause, ...]) -> list[UnknownReasonType]:
    return [
        UnknownReasonType(
            path=input_path(root, c.path),
            property=c.property,
            reason=c.reason.value,
            detail=c.detail,
            provider=c.provider,
        )
        for c in causes
    ]


@strawberry.type(description="A segment's answer for one subscriber.")
class Evaluation:
    result: MembershipResult
    unknown_reasons: list[UnknownReasonType]
    explanation: Explanation | None = strawberry.field(description="Only when explain: true.")

    @classmethod
    def of(cls, root: Group, result: EvaluationResult) -> Evaluation:
        return cls(
            result=MembershipResult.of(result.truth),
            unknown_reasons=reasons_of(root, result.unknown_reasons),
            explanation=explanation_of(root, result.explanation) if result.explanation else None,
        )


@strawberry.type(description="A segment and the subscriber's result in it.")
class SegmentMembership(SharedView):
    segment: SegmentType
    result: MembershipResult
    unknown_reasons: list[UnknownReasonType]


@strawberry.type
class PreviewRow:
    subscriber_id: strawberry.ID
    evaluation: Evaluation


Strategy = strawberry.enum(
    evaluation_service.Strategy,
    description="PUSHED_DOWN: answered by database queries built from the providers' "
    "translations of every condition; EVALUATED: by evaluating the subscriber directory in "
    "batches. The answers are the same either way.",
)


@strawberry.type(description="How many subscribers are members, and how many are UNKNOWN.")
class MemberCount:
    members: int
    unknown: int
    strategy: Strategy  # type: ignore[valid-type]


@strawberry.type(description="A page of members, in ascending subscriber id order.")
class MemberConnection:
    member_ids: list[strawberry.ID]
    end_cursor: str | None
    has_next_page: bool
    strategy: Strategy  # type: ignore[valid-type]
    segment: strawberry.Private[Segment]

    @strawberry.field(
        description="How many members the segment has over the whole directory (the same "
        "count as Segment.memberCount, counted once per request however often it is asked)."
    )
    async def total_count(self, info: Info) -> int | None:
        info.context.watch_client(info)
        totals = await info.context.evaluation.count(self.segment.mode, self.segment)
        return totals.members


@strawberry.type(description="What an edit would do to a segment's membership, before saving it.")
class EditImpactType:
    evaluated: int
    leaving_count: int
    joining_count: int
    unknown_count: int = strawberry.field(description="Subscribers UNKNOWN before or after.")
    sample_leaving: list[strawberry.ID]
    sample_joining: list[strawberry.ID]
