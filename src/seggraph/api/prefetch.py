"""Reads an operation will need, started while the request's snapshot is still being read.

Every HTTP request first reads its snapshot of the watched documents (``seggraph.freshness``:
which segments exist, whether the custom-property catalogue changed), and no resolver runs
before that read is back: the executor waits for the request's freshness checks
(:attr:`seggraph.api.context.Context.fresh`). A question about one subscriber would then read
that subscriber's values, a second round trip after the first.

The subscriber's values do not depend on the snapshot, only on which keys are needed. So while
the snapshot is read, :func:`start_reads` looks at what the operation asks of each root
``subscriber(id:)`` field — its sub-fields as the executor will collect them: fragments,
named or inline, and ``@skip``/``@include`` included — and starts reading that subscriber's
values (:meth:`seggraph.services.evaluation.EvaluationService.prefetch`):

- for ``segments`` or ``membership``, the keys the same question (the same tags, the same
  segment ids) needed the last time it was asked, or else the keys the last such question
  needed;
- for ``properties(keys:)``, the keys it names.

When those are all the operation reads and every one of them is known, exactly those keys are
read; otherwise, with every key read with them (their read groups), as the fields' own reads
would ask.

When the fields run, they find the values read or under way, and read only what they need
beyond them. The two round trips overlap; what the request sees is unchanged, since both reads
start after the request did.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import NamedTuple

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
    get_nullable_type,
)
from graphql.execution.collect_fields import CollectedFields, FieldDetails
from graphql.execution.values import VariableValues, get_argument_values

from seggraph.api.context import Context
from seggraph.api.properties.queries import MAX_KEYS
from seggraph.api.subjects import given_id, ids_fit
from seggraph.catalogue import Catalogue
from seggraph.domain.context import EvaluationContext
from seggraph.lru import IdentityCache
from seggraph.services.evaluation import membership_question, segments_question

#: The ``Subscriber`` fields whose answer is an evaluation of segments.
SEGMENT_FIELDS = frozenset({"segments", "membership"})
#: The ``Subscriber`` field whose answer is the values of the keys it names.
PROPERTY_FIELD = "properties"
#: The ``Subscriber`` fields that read no values.
QUIET_FIELDS = frozenset({"id", "subscriptionId", "__typename"})

#: The executor's (memoized) collection of a field group's sub-fields on an object type.
CollectSubfields = Callable[[GraphQLObjectType, list[FieldDetails]], CollectedFields]


def start_reads(
    context: Context,
    root_type: GraphQLObjectType,
    fields: Mapping[str, list[FieldDetails]],
    variables: VariableValues | None,
    collect: CollectSubfields,
) -> Catalogue | None:
    """Start the reads the root ``fields`` of a query will need (see the module's text): the
    catalogue they were started by, or ``None`` when none was started. Should the request's
    freshness checks replace the catalogue meanwhile, the values read by the old one are not
    to be used (:meth:`Context.forget_values`): a provider's answer may depend on its
    definitions. ``collect`` is the executor's own collection of sub-fields, which it
    remembers: the fields' later run collects nothing again."""
    definition = root_type.fields.get("subscriber")
    if definition is None:
        return None
    subscriber_type = get_nullable_type(definition.type)
    if not isinstance(subscriber_type, GraphQLObjectType):
        return None
    catalogue = None
    # Exactly the keys the fields need are read when nothing else in the operation may read
    # values: its root fields are subscribers and __typename, asking nothing but the fields
    # looked at here (see EvaluationService.prefetch).
    complete = all(
        details[0].node.name.value in ("subscriber", "__typename") for details in fields.values()
    )
    for details in fields.values():
        first = details[0]
        if first.node.name.value != "subscriber":
            continue
        collected = collect(subscriber_type, details)
        asked = _asked(context.services.catalogue, subscriber_type, collected, variables)
        if not asked.questions and not asked.keys:
            continue
        try:
            arguments = get_argument_values(
                definition, first.node, variables, first.fragment_variable_values
            )
        except GraphQLError:
            continue  # the field reports it when it runs
        subscription = arguments.get("subscriptionId")
        if not ids_fit(arguments["id"], subscription):
            continue  # refused when the field runs: nothing is read for it
        subscriber = EvaluationContext(
            given_id(arguments["id"]), None if subscription is None else given_id(subscription)
        )
        catalogue = context.services.catalogue
        context.evaluation.prefetch(
            context.mode,
            subscriber,
            questions=asked.questions,
            keys=asked.keys,
            complete=complete and asked.complete,
        )
    return catalogue


class Asked(NamedTuple):
    """What the sub-fields of a ``subscriber`` field ask for."""

    questions: tuple[Hashable, ...]
    """Its questions about segments (``segments_question``, ``membership_question``)."""
    keys: frozenset[str]
    """The known property keys its ``properties`` fields name."""
    complete: bool
    """Whether those are all it reads: no other field that may read values, and every
    question's and key list's arguments understood."""


def _asked(
    catalogue: Catalogue,
    subscriber_type: GraphQLObjectType,
    collected: CollectedFields,
    variables: VariableValues | None,
) -> Asked:
    """What the sub-fields ``collected`` on a subscriber ask for (a field asking for more than
    it may, or with an argument that does not coerce, reads nothing early: it reports its
    error when it runs)."""
    questions: list[Hashable] = []
    keys: set[str] = set()
    complete = True
    for details in collected.grouped_field_set.values():
        first = details[0]
        name = first.node.name.value
        if name in QUIET_FIELDS:
            continue
        if name not in SEGMENT_FIELDS and name != PROPERTY_FIELD:
            complete = False
            continue
        field = subscriber_type.fields[name]
        try:
            if name in SEGMENT_FIELDS:
                questions.append(_question(field, first, variables))
                continue
            arguments = get_argument_values(
                field, first.node, variables, first.fragment_variable_values
            )
        except GraphQLError:
            complete = False
            if name in SEGMENT_FIELDS:
                questions.append(None)  # its keys unknown: the last question's are read
            continue
        named = arguments.get("keys")
        if named and len(named) <= MAX_KEYS:
            keys.update(key for key in named if key in catalogue)
        else:
            complete = False
    return Asked(tuple(questions), frozenset(keys), complete)


#: The question of a segments field whose arguments hold no variable, by the field's node
#: (the parse cache hands out the same nodes for the same document).
_QUESTIONS: IdentityCache[Hashable] = IdentityCache(1024)


def _question(
    field: GraphQLField, details: FieldDetails, variables: VariableValues | None
) -> Hashable:
    """The question a ``segments`` or ``membership`` field asks (``segments_question``,
    ``membership_question``); raises :class:`GraphQLError` when its arguments do not coerce.
    Worked out once per node when no variable feeds it."""
    node = details.node
    constant = details.fragment_variable_values is None
    if constant:
        kept = _QUESTIONS.get((node,))
        if kept is not None:
            return kept
    arguments = get_argument_values(field, node, variables, details.fragment_variable_values)
    if node.name.value == "segments":
        question = segments_question(arguments.get("tags"))
    else:
        question = membership_question(given_id(i) for i in arguments["segmentIds"])
    if constant and not any(_has_variable(argument.value) for argument in node.arguments or ()):
        _QUESTIONS.put((node,), question)
    return question


def _has_variable(value: ValueNode) -> bool:
    """Whether a variable appears anywhere in ``value``. Not graphql-core's
    ``is_const_value_node``: it calls a list constant when *any* item is (``[$tag, "x"]``)."""
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(item.value) for item in value.fields)
    return False
