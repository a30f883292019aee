"""The root schema, composed from each domain's queries and mutations."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter

from seggraph.api.account.queries import AccountQueries
from seggraph.api.custom_properties.mutations import CustomPropertyMutations
from seggraph.api.custom_properties.queries import CustomPropertyQueries
from seggraph.api.deadlines import bound_mutations
from seggraph.api.direct import install_direct_resolvers
from seggraph.api.evaluation.queries import EvaluationQueries
from seggraph.api.execution import PlainFieldExecutor
from seggraph.api.properties.queries import PropertyQueries
from seggraph.api.retention.mutations import RetentionMutations
from seggraph.api.retention.queries import RetentionQueries
from seggraph.api.scalars import SCALARS
from seggraph.api.security import ParsedOperationChoice, RequestLimits, SeggraphSchema
from seggraph.api.segments.mutations import SegmentMutations
from seggraph.api.segments.queries import SegmentQueries
from seggraph.api.validation_cache import DocumentValidationCache


@strawberry.type(
    description="Everything there is to read: segments (in the request's mode, its API key's) "
    "with their history, usages, members and counts; subscribers' memberships, explanations "
    "and property values; previews of unsaved conditions and edit impacts; the property "
    "catalogue and its providers; custom properties and their values; retention events; the "
    "account's settings (currency, time zone, limits) and the request's mode. "
    "A subscriber, subscription or segment id an argument names is trimmed of surrounding "
    "whitespace, as every write of one trims it (inner whitespace is kept; a subscriber or "
    "subscription id blank once trimmed is refused: BLANK). Property values, custom "
    "properties and retention events are the same in both modes. An argument refused (out of "
    "range, too many, too long, an unknown property or segment, a bad cursor) is a GraphQL "
    "error in errors, with its extensions.code (OUT_OF_RANGE, TOO_MANY, TOO_LONG, "
    "UNKNOWN_PROPERTY, NOT_FOUND, INVALID_CURSOR, BAD_ARGUMENT, …); previewConditions and "
    "segmentEditImpact answer refused conditions in their userErrors. "
    "An operation that may answer more than SEGGRAPH_MAX_QUERY_OBJECTS objects (each list "
    "counted at the size its arguments ask for, times its parents') or start more than "
    "SEGGRAPH_MAX_QUERY_WALKS walks over every subscriber is refused before anything runs "
    "(QUERY_TOO_LARGE)."
)
class Query(
    SegmentQueries,
    EvaluationQueries,
    CustomPropertyQueries,
    PropertyQueries,
    RetentionQueries,
    AccountQueries,
):
    pass


@strawberry.type(
    description="Every write: segments and their usages (in the request's mode), custom "
    "properties and their values, retention events. A segment or subscriber id a mutation "
    "names is trimmed of surrounding whitespace, as IN_SEGMENT values and the ids a query "
    "names are. With API keys, mutations need a WRITE "
    "key: a READ key's document with a mutation is refused (FORBIDDEN) before anything runs. "
    "Input a mutation refuses is answered in its payload's userErrors, with nothing written; what "
    "GraphQL itself refuses in a document, its arguments or variables (a wrong type, a "
    "missing required field, a malformed DateTime) is a GraphQL error in errors, as is an "
    "unexpected failure."
)
class Mutation(
    SegmentMutations,
    CustomPropertyMutations,
    RetentionMutations,
):
    pass


class RememberingNameConverter(NameConverter):
    """Strawberry's name converter, remembering each name it converts: Strawberry converts
    the name of every argument of every resolver call again (``convert_arguments``), a
    regular-expression substitution each time."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        found = self._names.get(name)
        if found is None:
            found = self._names[name] = super().apply_naming_config(name)
        return found


def build_schema() -> SeggraphSchema:
    # PlainFieldExecutor answers plain fields (attributes: leaves and objects) without
    # graphql-core's per-field machinery; see seggraph/api/execution.py.
    # RequestLimits adds the depth, alias, token and introspection limits (and the read-only
    # rule of READ keys) as the same rule classes every time, so the validation cache keeps
    # hitting; it finds a document by identity, so it comes after ParserCache.
    # ParsedOperationChoice is ParserCache refusing a document of several operations without
    # operationName (GraphQL spec §6.1) as soon as it is parsed, before anything looks at "the"
    # operation.
    # Resolvers marked @direct are then called by graphql-core without Strawberry's per-call
    # wrapper (seggraph/api/direct.py).
    built = SeggraphSchema(
        query=Query,
        mutation=Mutation,
        execution_context_class=PlainFieldExecutor,
        # DateTime refuses what it cannot read in words of its own (seggraph/api/scalars.py).
        config=StrawberryConfig(name_converter=RememberingNameConverter(), scalar_map=SCALARS),
        extensions=[
            ParsedOperationChoice,
            DocumentValidationCache,
            RequestLimits,
        ],
    )
    built.direct_resolvers = install_direct_resolvers(built)
    # Each mutation's database work within the database timeout (seggraph/api/deadlines.py).
    bound_mutations(built)
    return built


schema = build_schema()


def schema_sdl() -> str:
    """The schema in SDL, as written to ``schema.graphql``."""
    return schema.as_str() + "\n"
