"""The root schema, composed from each domain's queries and mutations."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from seggraph.api.custom_properties.mutations import CustomPropertyMutations
from seggraph.api.custom_properties.queries import CustomPropertyQueries
from seggraph.api.evaluation.queries import EvaluationQueries
from seggraph.api.execution import PlainFieldExecutor
from seggraph.api.properties.queries import PropertyQueries
from seggraph.api.retention.mutations import RetentionMutations
from seggraph.api.retention.queries import RetentionQueries
from seggraph.api.security import RequestLimits, SeggraphSchema
from seggraph.api.segments.mutations import SegmentMutations
from seggraph.api.segments.queries import SegmentQueries


@strawberry.type(description="Read segments.")
class Query(
    SegmentQueries,
    EvaluationQueries,
    CustomPropertyQueries,
    PropertyQueries,
    RetentionQueries,
):
    pass


@strawberry.type(
    description="Write segments. Every mutation returns userErrors instead of throwing."
)
class Mutation(
    SegmentMutations,
    CustomPropertyMutations,
    RetentionMutations,
):
    pass


def build_schema() -> strawberry.Schema:
    # PlainFieldExecutor answers plain fields (attributes: leaves and objects) without
    # graphql-core's per-field machinery; see seggraph/api/execution.py.
    # RequestLimits adds the depth, alias, token and introspection limits (and the read-only
    # rule of READ keys) as the same rule classes every time, so ValidationCache keeps hitting.
    return SeggraphSchema(
        query=Query,
        mutation=Mutation,
        execution_context_class=PlainFieldExecutor,
        extensions=[
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            RequestLimits,
        ],
    )


schema = build_schema()


def schema_sdl() -> str:
    """The schema in SDL, as written to ``schema.graphql``."""
    return schema.as_str() + "\n"
