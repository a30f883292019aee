"""Reads an operation will need, started while the request's snapshot is still being read.

Every HTTP request first reads its snapshot of the watched documents (``seggraph.freshness``:
which segments exist, whether the custom-property catalogue changed), and no resolver runs
before that read is back: the executor waits for the request's freshness checks
(:attr:`seggraph.api.context.Context.fresh`). A question about one subscriber's segments
then reads that subscriber's values, a second round trip after the first.

The subscriber's values do not depend on the snapshot, only on which keys the segments need.
So while the snapshot is read, :func:`start_reads` looks at the operation's root fields and,
for ``subscriber(id:) { segments … }`` or ``{ membership … }``, starts reading that
subscriber's values for the keys the last such question needed
(:meth:`seggraph.services.evaluation.EvaluationService.prefetch`). When the segments are
known, the evaluation finds the values read or under way and reads only what it needs beyond
them. The two round trips overlap; what the request sees is unchanged, since both reads start
after the request did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphql import GraphQLError, GraphQLObjectType
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.values import VariableValues, get_argument_values
from graphql.language import FieldNode

from seggraph.api.context import Context
from seggraph.catalogue import Catalogue
from seggraph.domain.context import EvaluationContext

#: The ``Subscriber`` fields whose answer is an evaluation of segments.
SEGMENT_FIELDS = frozenset({"segments", "membership"})


def start_reads(
    context: Context,
    root_type: GraphQLObjectType,
    fields: Mapping[str, Sequence[FieldDetails]],
    variables: VariableValues | None,
) -> Catalogue | None:
    """Start the reads the root ``fields`` of a query will need (see the module's text): the
    catalogue they were started by, or ``None`` when none was started. Should the request's
    freshness checks replace the catalogue meanwhile, the values read by the old one are not
    to be used (:meth:`Context.forget_values`): a provider's answer may depend on its
    definitions."""
    definition = root_type.fields.get("subscriber")
    if definition is None:
        return None
    catalogue = None
    for details in fields.values():
        node = details[0].node
        if node.name.value != "subscriber" or not _asks_segments(node):
            continue
        try:
            arguments = get_argument_values(definition, node, variables)
        except GraphQLError:
            continue  # the field reports it when it runs
        subscription = arguments.get("subscriptionId")
        subscriber = EvaluationContext(
            str(arguments["id"]), None if subscription is None else str(subscription)
        )
        catalogue = context.services.catalogue
        context.evaluation.prefetch(context.mode, subscriber)
    return catalogue


def _asks_segments(node: FieldNode) -> bool:
    """Whether the field's own selection asks for an evaluation of segments (fragments are
    not looked into: the reads are then made when the segments are known, as without this)."""
    selection_set = node.selection_set
    if selection_set is None:
        return False
    return any(
        isinstance(selection, FieldNode) and selection.name.value in SEGMENT_FIELDS
        for selection in selection_set.selections
    )
