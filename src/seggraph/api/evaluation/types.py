"""GraphQL types of query-time answers: results, explanations, property values, members."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON

from seggraph.api.context import Info
from seggraph.api.enums import described_enum
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
    MEMBER = strawberry.enum_value("MEMBER", description="The root group is TRUE.")
    NOT_MEMBER = strawberry.enum_value("NOT_MEMBER", description="The root group is FALSE.")
    UNKNOWN = strawberry.enum_value(
        "UNKNOWN",
        description="The root group is UNKNOWN: a value it depends on could not be read "
        "(unknownReasons say which and why). Not a member.",
    )

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
    TRUE = strawberry.enum_value("TRUE", description="Holds.")
    FALSE = strawberry.enum_value("FALSE", description="Does not hold.")
    UNKNOWN = strawberry.enum_value(
        "UNKNOWN", description="Cannot be told: a value it depends on could not be read."
    )


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


#: Said of every path into a condition tree.
TREE_PATH = (
    'in the input\'s shape: ["conditions"] is the root group, ["conditions", "groups", "0", '
    '"conditions", "1"] the second condition of its first nested group.'
)


@strawberry.type(description="Why a group has its result.")
class GroupExplanationType:
    path: list[str] = strawberry.field(description=f"Where the group is, {TREE_PATH}")
    combinator: Combinator = strawberry.field(  # type: ignore[valid-type]
        description="How its children combine."
    )
    result: ConditionResult = strawberry.field(description="The group's result.")


@strawberry.type(description="One evaluated condition: what was expected, what was found.")
class ConditionExplanationType:
    path: list[str] = strawberry.field(description=f"Where the condition is, {TREE_PATH}")
    property: str = strawberry.field(description="The condition's property key.")
    operator: Operator = strawberry.field(  # type: ignore[valid-type]
        description="The condition's operator."
    )
    expected: JSON | None = strawberry.field(description=f"The condition's value. {EXACT_NUMBERS}")
    actual: JSON | None = strawberry.field(
        description="The provider's value; null when missing or unknown. For IN_SEGMENT and "
        "NOT_IN_SEGMENT, the referenced segment's result (TRUE, FALSE or UNKNOWN); for "
        "PERCENTAGE, the "
        f"subscriber's bucket (0 to 99.999). {EXACT_NUMBERS}"
    )
    state: PropertyValueState = strawberry.field(
        description="What was found: PRESENT (even when not readable as the property's type), "
        "MISSING, or UNKNOWN."
    )
    result: ConditionResult = strawberry.field(description="The condition's result.")
    unknown_reason: str | None = strawberry.field(
        description="Why the result is UNKNOWN: PROVIDER_ERROR, TIMEOUT, TYPE_ERROR, "
        "CURRENCY_MISMATCH or SEGMENT_UNKNOWN; null when it is not."
    )
    unknown_detail: str | None = strawberry.field(
        description="What went wrong, for a person, when unknownReason is set."
    )
    provider: str | None = strawberry.field(
        description="The provider that answered; null when none was asked (IN_SEGMENT, "
        "NOT_IN_SEGMENT, PERCENTAGE, or a saved condition the catalogue no longer reads)."
    )
    latency_ms: float | None = strawberry.field(
        description="How long that provider's call took, in milliseconds; null when none was asked."
    )
    case_insensitive: bool = strawberry.field(
        description="Whether the condition compares after case folding."
    )
    note: str | None = strawberry.field(
        description="The provider's note on how it derived the value, when it gave one: e.g. "
        "which amounts in another currency a sum left out, or which of the subscriber's "
        "subscriptions a subscription value was read from when it has several and none was "
        "named."
    )


@strawberry.type(description="A condition that made the result UNKNOWN, and why.")
class UnknownReasonType:
    path: list[str] = strawberry.field(description=f"Where the condition is, {TREE_PATH}")
    property: str = strawberry.field(description="The condition's property key.")
    reason: str = strawberry.field(
        description="PROVIDER_ERROR (the provider failed, or the saved condition no longer "
        "fits the catalogue), TIMEOUT, TYPE_ERROR, CURRENCY_MISMATCH or SEGMENT_UNKNOWN (a "
        "referenced segment is UNKNOWN)."
    )
    detail: str = strawberry.field(description="What went wrong, for a person.")
    provider: str | None = strawberry.field(
        description="The provider that answered, when one was asked."
    )


@strawberry.type(description="Every group and every evaluated condition, in tree order.")
class Explanation:
    groups: list[GroupExplanationType] = strawberry.field(
        description="Every group, the root first, in tree order."
    )
    conditions: list[ConditionExplanationType] = strawberry.field(
        description="Every condition, each evaluated (none skipped), in tree order."
    )


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
    result: MembershipResult = strawberry.field(description="MEMBER, NOT_MEMBER or UNKNOWN.")
    unknown_reasons: list[UnknownReasonType] = strawberry.field(
        description="When UNKNOWN: the UNKNOWN conditions the result depends on (those reached "
        "from the root through UNKNOWN groups); else empty."
    )
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
    segment: SegmentType = strawberry.field(description="The segment.")
    result: MembershipResult = strawberry.field(description="The subscriber's result in it.")
    unknown_reasons: list[UnknownReasonType] = strawberry.field(
        description="When UNKNOWN: the UNKNOWN conditions the result depends on; else empty."
    )


@strawberry.type(description="One subscriber's result for the previewed conditions.")
class PreviewRow:
    subscriber_id: strawberry.ID = strawberry.field(description="The subscriber, as asked.")
    evaluation: Evaluation = strawberry.field(description="Its result, and why.")


Strategy = described_enum(
    evaluation_service.Strategy,
    description="How a question about every subscriber was answered. The answers are the "
    "same either way.",
    values={
        "PUSHED_DOWN": "By database queries built from the providers' translations of every "
        "condition (nothing can be UNKNOWN then).",
        "EVALUATED": "By evaluating the subscriber directory in batches, one provider call "
        "per page.",
    },
)


@strawberry.type(
    description="How many subscribers of the whole subscriber directory are members, and how "
    "many are UNKNOWN."
)
class MemberCount:
    members: int = strawberry.field(description="Subscribers whose result is MEMBER.")
    unknown: int = strawberry.field(
        description="Subscribers whose result is UNKNOWN (a provider failed or timed out for "
        "them, or a value could not be read): not counted in members, though some may be "
        "members. 0 when PUSHED_DOWN."
    )
    strategy: Strategy = strawberry.field(  # type: ignore[valid-type]
        description="How the count was made."
    )


@strawberry.type(
    description="A page of a segment's members, in ascending subscriber id order (the "
    "subscriber directory's order)."
)
class MemberConnection:
    member_ids: list[strawberry.ID] = strawberry.field(
        description="The members' subscriber ids, ascending."
    )
    end_cursor: str | None = strawberry.field(
        description="Pass it as after for the next page. Null only when the first page is "
        "empty; an empty later page repeats its after."
    )
    has_next_page: bool = strawberry.field(
        description="Whether more members followed when the page was made (the next page is "
        "empty if they have left since)."
    )
    strategy: Strategy = strawberry.field(  # type: ignore[valid-type]
        description="How the page was found."
    )
    unknown_count: int = strawberry.field(
        description="Subscribers of this page's range (after its after, up to its endCursor; "
        "to the end of the directory on the last page) whose result is UNKNOWN, so not listed: "
        "a provider failing or timing out for them, for one. 0 means the page lists every "
        "member of its range; otherwise an export of every page misses them (ask the page "
        "again later). Always 0 for a page found by a pushed-down query."
    )
    segment: strawberry.Private[Segment]

    @strawberry.field(
        description="How many members the segment has over the whole directory (the same "
        "count as Segment.memberCount, counted once per request however often it is asked); "
        "null, with an error, when it could not be counted."
    )
    async def total_count(self, info: Info) -> int | None:
        info.context.watch_client(info)
        totals = await info.context.evaluation.count(self.segment.mode, self.segment)
        return totals.members


@strawberry.type(description="What an edit would do to a segment's membership, before saving it.")
class EditImpactType:
    evaluated: int = strawberry.field(
        description="Subscribers evaluated: the whole subscriber directory."
    )
    leaving_count: int = strawberry.field(
        description="Members now (MEMBER) who would not be with the new conditions."
    )
    joining_count: int = strawberry.field(
        description="Subscribers not members now who would be with the new conditions."
    )
    unknown_count: int = strawberry.field(
        description="Subscribers UNKNOWN before or after (counted in neither leaving nor joining)."
    )
    sample_leaving: list[strawberry.ID] = strawberry.field(
        description="Up to sample ids of those leaving, in ascending id order (the first found)."
    )
    sample_joining: list[strawberry.ID] = strawberry.field(
        description="Up to sample ids of those joining, in ascending id order (the first found)."
    )
