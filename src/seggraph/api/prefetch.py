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

- for ``segments`` or ``membership``, the keys the last such question needed;
- for ``properties(keys:)``, the keys it names.

When the fields run, they find the values read or under way, and read only what they need
beyond them. The two round trips overlap; what the request sees is unchanged, since both reads
start after the request did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from graphql import GraphQLError, GraphQLObjectType, get_nullable_type
from graphql.execution.collect_fields import CollectedFields, FieldDetails
from graphql.execution.values import VariableValues, get_argument_values

from seggraph.api.context import Context
from seggraph.api.properties.queries import MAX_KEYS
from seggraph.api.subjects import ids_fit
from seggraph.catalogue import Catalogue
from seggraph.domain.context import EvaluationContext

#: The ``Subscriber`` fields whose answer is an evaluation of segments.
SEGMENT_FIELDS = frozenset({"segments", "membership"})
#: The ``Subscriber`` field whose answer is the values of the keys it names.
PROPERTY_FIELD = "properties"

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
    for details in fields.values():
        first = details[0]
        if first.node.name.value != "subscriber":
            continue
        collected = collect(subscriber_type, details)
        segments, keys = _asked(context.services.catalogue, subscriber_type, collected, variables)
        if not segments and not keys:
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
            str(arguments["id"]), None if subscription is None else str(subscription)
        )
        catalogue = context.services.catalogue
        context.evaluation.prefetch(context.mode, subscriber, segments=segments, keys=keys)
    return catalogue


def _asked(
    catalogue: Catalogue,
    subscriber_type: GraphQLObjectType,
    collected: CollectedFields,
    variables: VariableValues | None,
) -> tuple[bool, frozenset[str]]:
    """Whether the sub-fields ``collected`` on a subscriber ask for an evaluation of segments,
    and the known property keys they name (a field asking for more than it may, or with an
    argument that does not coerce, reads nothing early: it reports its error when it runs)."""
    segments = False
    keys: set[str] = set()
    for details in collected.grouped_field_set.values():
        first = details[0]
        name = first.node.name.value
        if name in SEGMENT_FIELDS:
            segments = True
        elif name == PROPERTY_FIELD:
            try:
                named = get_argument_values(
                    subscriber_type.fields[PROPERTY_FIELD],
                    first.node,
                    variables,
                    first.fragment_variable_values,
                ).get("keys")
            except GraphQLError:
                continue
            if named and len(named) <= MAX_KEYS:
                keys.update(key for key in named if key in catalogue)
    return segments, frozenset(keys)
