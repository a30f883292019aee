"""GraphQL-level protection: operation limits, read-only keys, the choice of the operation, and
masked unexpected errors.

Limits (``SEGGRAPH_MAX_QUERY_DEPTH``, ``_MAX_ALIASES``, ``_MAX_QUERY_TOKENS``,
``SEGGRAPH_INTROSPECTION``) and the read-only rule of READ keys are graphql-core validation
rules, so a refused document gets ordinary validation errors and runs no resolver. Each rule
class is made once per limit value and reused: Strawberry's ``ValidationCache`` keys its cache by
(schema, document, rules), so per-request rule classes would make every lookup miss.

Errors a client can act on (validation, limits, ``GraphQLError`` raised on purpose) are shown as
they are; anything else is replaced by "Unexpected error; request id …" and logged with its
traceback under that id.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    ValidationContext,
)
from graphql.language.parser import parse
from graphql.validation import NoSchemaIntrospectionCustomRule, ValidationRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.types import ExecutionContext

from seggraph.api.direct import DirectResolvers
from seggraph.db import database_unavailable
from seggraph.domain.api_keys import Role
from seggraph.domain.errors import InputRefused
from seggraph.lru import LruCache
from seggraph.plugins.manager import ProviderCallError
from seggraph.services.segments import VersionConflict
from seggraph.settings import Settings
from seggraph.store.pagination import BadCursor
from seggraph.web.middleware import unavailable_message

log = logging.getLogger("seggraph.errors")

T = TypeVar("T")

UNEXPECTED = "INTERNAL_SERVER_ERROR"
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"


@dataclass(frozen=True)
class GraphQLLimits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    introspection: bool

    @classmethod
    def of(cls, settings: Settings) -> GraphQLLimits:
        return cls(
            settings.max_query_depth,
            settings.max_aliases,
            settings.max_query_tokens,
            settings.introspection,
        )

    @classmethod
    def defaults(cls) -> GraphQLLimits:
        fields = Settings.model_fields
        return cls(
            fields["max_query_depth"].default,
            fields["max_aliases"].default,
            fields["max_query_tokens"].default,
            fields["introspection"].default,
        )


class ReadOnlyKeyRule(ValidationRule):
    """Refuses mutations: the request's API key has the READ role."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        if node.operation is OperationType.MUTATION:
            self.report_error(
                GraphQLError(
                    "this API key has the READ role: mutations need a key with the WRITE role",
                    node,
                    extensions={"code": "FORBIDDEN"},
                )
            )


#: Introspection fields: they and what is below them are not counted as levels (GraphiQL's
#: own introspection query is deeper than a sensible limit).
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def fill_fragment_values(
    context: ValidationContext, value: Callable[[SelectionSetNode], T], values: dict[str, T]
) -> None:
    """Puts ``value(selection_set)`` of every fragment of the document in ``values``, each
    computed once, after the fragments it spreads: ``value`` reads theirs from ``values`` (one
    in a cycle with it is missing, and graphql-core refuses the cycle). Without recursion: a
    chain of fragments spreading each other is as long as the document allows."""
    fragments = {
        d.name.value: d
        for d in context.document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }

    def spread_in(name: str) -> Iterator[str]:
        return (s.name.value for s in context.get_fragment_spreads(fragments[name].selection_set))

    started: set[str] = set()
    for first in fragments:
        if first in started:
            continue
        started.add(first)
        stack = [(first, spread_in(first))]
        while stack:
            name, spreads = stack[-1]
            for spread in spreads:
                if spread in fragments and spread not in started:
                    started.add(spread)
                    stack.append((spread, spread_in(spread)))
                    break
            else:  # every fragment it spreads has its value
                stack.pop()
                values[name] = value(fragments[name].selection_set)


class FieldLevels:
    """How many levels of fields the selection sets of one document hold: ``{ a }`` one,
    ``{ a { b } }`` two, a fragment's fields counted where it is spread (and not at all in
    :data:`INTROSPECTION_ROOTS`).

    Each fragment is counted once (:func:`fill_fragment_values`): a document whose fragments spread
    others several times (``fragment A on Query { ...B ...B }``, and so on) costs one pass,
    where Strawberry's ``QueryDepthLimiter`` walked every path through them, exponentially
    many. Recursion follows only the nesting of a selection set, which the parser bounds."""

    def __init__(self, context: ValidationContext) -> None:
        self.context = context
        self.of_fragment: dict[str, int] = {}
        fill_fragment_values(context, self.of, self.of_fragment)

    def of(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        return max((self.of_node(node) for node in selection_set.selections), default=0)

    def of_node(self, node: SelectionNode) -> int:
        if isinstance(node, FieldNode):
            if node.name.value in INTROSPECTION_ROOTS:
                return 0
            return 1 + self.of(node.selection_set)
        if isinstance(node, InlineFragmentNode):
            return self.of(node.selection_set)
        if isinstance(node, FragmentSpreadNode):
            return self.of_fragment.get(node.name.value, 0)  # unknown: refused by graphql-core
        return 0

    def first_beyond(self, selection_set: SelectionSetNode, levels: int) -> FieldNode | None:
        """The first field more than ``levels`` levels down ``selection_set``, if any."""
        current: SelectionSetNode | None = selection_set
        while current is not None:
            node = next((n for n in current.selections if self.of_node(n) > levels), None)
            if node is None:
                return None
            if isinstance(node, FieldNode):
                if levels == 0:
                    return node
                current, levels = node.selection_set, levels - 1
            elif isinstance(node, InlineFragmentNode):
                current = node.selection_set
            else:
                assert isinstance(node, FragmentSpreadNode)
                fragment = self.context.get_fragment(node.name.value)
                current = fragment.selection_set if fragment is not None else None
        return None


@functools.cache
def _depth_rule(max_depth: int) -> type[ASTValidationRule]:
    """The rule refusing an operation with more than ``max_depth`` levels of fields
    (``SEGGRAPH_MAX_QUERY_DEPTH``, counted by :class:`FieldLevels`). Strawberry's
    ``QueryDepthLimiter`` counts the root fields as depth 0, so it let ``max_depth + 1`` levels
    through."""

    class MaxDepthRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            levels = FieldLevels(context)
            for operation in context.document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                if levels.of(operation.selection_set) <= max_depth:
                    continue
                name = operation.name.value if operation.name else "anonymous"
                self.report_error(
                    GraphQLError(
                        f"'{name}' exceeds maximum operation depth of {max_depth}",
                        levels.first_beyond(operation.selection_set, max_depth),
                    )
                )

    return MaxDepthRule


class AliasCount:
    """How many aliased fields the selection sets of one document hold, a fragment's counted
    each time it is spread (as Strawberry's ``MaxAliasesLimiter`` counts them), yet each
    fragment walked once (:func:`fill_fragment_values`) where Strawberry's walked every path
    through the fragments, exponentially many."""

    def __init__(self, context: ValidationContext) -> None:
        self.of_fragment: dict[str, int] = {}
        fill_fragment_values(context, self.of, self.of_fragment)

    def of(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        count = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                count += (node.alias is not None) + self.of(node.selection_set)
            elif isinstance(node, InlineFragmentNode):
                count += self.of(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                count += self.of_fragment.get(node.name.value, 0)
        return count


@functools.cache
def _alias_rule(max_aliases: int) -> type[ASTValidationRule]:
    """The rule refusing a document with more than ``max_aliases`` aliased fields
    (``SEGGRAPH_MAX_ALIASES``, counted by :class:`AliasCount`), in Strawberry's words."""

    class MaxAliasesRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            count = AliasCount(context)
            total = sum(
                count.of(d.selection_set)
                for d in context.document.definitions
                if isinstance(d, OperationDefinitionNode)
            )
            if total > max_aliases:
                self.report_error(GraphQLError(f"{total} aliases found. Allowed: {max_aliases}"))

    return MaxAliasesRule


def validation_rules(
    limits: GraphQLLimits, *, read_only: bool
) -> tuple[type[ASTValidationRule], ...]:
    """The extra rules of a request; the same classes every time for the same limits."""
    rules = [_depth_rule(limits.max_depth), _alias_rule(limits.max_aliases)]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    if read_only:
        rules.append(ReadOnlyKeyRule)
    return tuple(rules)


class RequestLimits(SchemaExtension):
    """The limits of the running process (read from the request's services) and the read-only
    rule of READ keys, applied before parsing and validation."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        services = getattr(context, "services", None)
        settings = getattr(services, "settings", None)
        limits = GraphQLLimits.of(settings) if settings is not None else GraphQLLimits.defaults()
        key = getattr(context, "api_key", None)
        read_only = key is not None and key.role is Role.READ
        self.execution_context.parse_options["max_tokens"] = limits.max_tokens
        self.execution_context.validation_rules = (
            *self.execution_context.validation_rules,
            *validation_rules(limits, read_only=read_only),
        )
        yield


#: graphql-core's words for a request that names no operation when its document does not hold
#: exactly one (``GetOperation``, GraphQL spec §6.1).
SEVERAL_OPERATIONS = "Must provide operation name if query contains multiple operations."
NO_OPERATION = "Must provide an operation."


#: The most characters of query text the parsed documents kept hold together (documents
#: longer than that are parsed for each request). A parsed document costs about 100 bytes of
#: memory a character of its text, and up to 550 for one with a token every character or two:
#: a count of documents alone (Strawberry's ``ParserCache``, 512) let 512 documents of
#: ``SEGGRAPH_MAX_QUERY_TOKENS`` tokens stay, 3 GB from 600 requests of 20 KB.
KEPT_DOCUMENT_CHARACTERS = 200_000
#: The most documents kept, however short.
KEPT_DOCUMENTS = 512


#: A parsed document's key: its query text and parse options.
DocumentKey = tuple[str, tuple[tuple[str, Any], ...]]


class ParsedDocuments:
    """Parsed documents by query text and parse options, least recently used forgotten first,
    at most ``documents`` of them holding ``characters`` characters of text together (a
    longer text is parsed every time): a :class:`~seggraph.lru.LruCache` weighing each by its
    text. The caches keyed by a document's identity (validation, cost, plans) keep nothing
    alive (:class:`~seggraph.lru.IdentityCache`): this is what bounds them."""

    def __init__(
        self, characters: int = KEPT_DOCUMENT_CHARACTERS, documents: int = KEPT_DOCUMENTS
    ) -> None:
        self.characters = characters
        self._entries: LruCache[DocumentKey, DocumentNode] = LruCache(
            documents, max_weight=characters, weight=_text_length
        )

    @property
    def held(self) -> int:
        """Characters of the kept documents' texts."""
        return self._entries.held

    def __call__(self, query: str, **options: Any) -> DocumentNode:
        key = (query, tuple(sorted(options.items())))
        found = self._entries.get(key)
        if found is None:
            found = parse(query, **options)
            self._entries.put(key, found)
        return found

    def __len__(self) -> int:
        return len(self._entries)


def _text_length(key: DocumentKey, _: DocumentNode) -> int:
    return len(key[0])


#: The process's parsed documents (every schema and request).
PARSED = ParsedDocuments()


class ParsedOperationChoice(ParserCache):
    """Strawberry's ``ParserCache`` (documents parsed once, here kept in :data:`PARSED`), then
    GraphQL's ``GetOperation`` for a request without ``operationName``: a document with
    several operations, or none, is a request error (:data:`SEVERAL_OPERATIONS`,
    :data:`NO_OPERATION`), answered like a validation error. Strawberry would run the first
    operation instead.

    Checked right after parsing, before Strawberry decides from the operation whether the HTTP
    method allows it (a mutation by GET is refused) and before validation (where a READ key's
    mutation is refused): both look at the operation that runs, the named one or the only one.
    A name the document does not have is Strawberry's refusal (``UNKNOWN_OPERATION``). One
    extension for both: an extension of its own cost every request several µs."""

    def __init__(self) -> None:
        super().__init__()
        self.cached_parse_document = PARSED

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        document = self.cached_parse_document(context.query, **context.parse_options)
        context.graphql_document = document
        # Strawberry's ExecutionContext.operation_name falls back to the first operation's
        # name; the name the request gave is kept beside it.
        if context._provided_operation_name is None:
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if operations == 0:
                raise GraphQLError(NO_OPERATION, extensions={"code": "NO_OPERATION"})
            if operations > 1:
                raise GraphQLError(
                    SEVERAL_OPERATIONS, extensions={"code": "OPERATION_NAME_REQUIRED"}
                )
        yield


def is_database_unavailable(error: GraphQLError) -> bool:
    return database_unavailable(error.original_error)


#: Exceptions whose message is written for the client: refused input, and a provider the
#: question cannot do without (named, as ``providers { lastError }`` names it anyway).
SHOWN_AS_IS: tuple[type[Exception], ...] = (
    GraphQLError,
    InputRefused,
    VersionConflict,
    BadCursor,
    ProviderCallError,
)


def is_unexpected(error: GraphQLError) -> bool:
    """Raised by a bug or an outage rather than on purpose: validation, limit and coercion
    errors have no original error, and the API's own refusals are :data:`SHOWN_AS_IS`."""
    original = error.original_error
    return original is not None and not isinstance(original, SHOWN_AS_IS)


def code_of(error: GraphQLError) -> str:
    """The ``code`` of an error the client is shown as it is: its own, or its refusal's."""
    found = (error.extensions or {}).get("code")
    if isinstance(found, str):
        return found
    original = error.original_error
    if isinstance(original, InputRefused) and original.errors:
        return original.errors[0].code
    if isinstance(original, VersionConflict):
        return "VERSION_CONFLICT"
    if isinstance(original, BadCursor):
        return "INVALID_CURSOR"
    if isinstance(original, ProviderCallError):
        return "TIMEOUT" if original.timed_out else "PROVIDER_ERROR"
    # Raised by graphql-core: the document (no path) or a field's arguments and variables.
    return "GRAPHQL_VALIDATION_FAILED" if error.path is None else "BAD_REQUEST"


def _shown(error: GraphQLError, request_id: str) -> GraphQLError:
    """``error`` with its ``code`` and the request's id, as every error carries them."""
    extensions = {**(error.extensions or {}), "code": code_of(error), "requestId": request_id}
    return GraphQLError(
        error.message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        extensions,
    )


def masked(errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
    """``errors`` as a client may see them, each with its ``code`` and the request id:
    unexpected ones replaced by a message naming only the request id (the database being
    unavailable is said as such)."""
    out: list[GraphQLError] = []
    for error in errors:
        if not is_unexpected(error):
            out.append(_shown(error, request_id))
            continue
        if is_database_unavailable(error):
            message = unavailable_message(request_id)
            code = DATABASE_UNAVAILABLE
        else:
            message = f"Unexpected error; request id {request_id}"
            code = UNEXPECTED
        out.append(
            GraphQLError(
                message,
                error.nodes,
                error.source,
                error.positions,
                error.path,
                extensions={"code": code, "requestId": request_id},
            )
        )
    return out


def log_errors(errors: list[GraphQLError], request_id: str) -> None:
    """Unexpected errors with their traceback, an unavailable database with its reason, both
    under the request id the client was told; errors the client caused are not logged."""
    for error in errors:
        if not is_unexpected(error):
            continue
        original = error.original_error
        assert original is not None
        where = ".".join(map(str, error.path or ())) or "(operation)"
        if is_database_unavailable(error):
            log.warning("request %s: database unavailable at %s: %s", request_id, where, original)
        else:
            log.error(
                "request %s: unexpected error at %s",
                request_id,
                where,
                exc_info=(type(original), original, original.__traceback__),
            )


class SeggraphSchema(strawberry.Schema):
    """Strawberry's schema, logging errors with the request id instead of every error."""

    #: The fields :func:`~seggraph.api.direct.install_direct_resolvers` made direct (set by
    #: ``build_schema``).
    direct_resolvers: DirectResolvers | None = None

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context is not None else None
        log_errors(errors, str(getattr(context, "request_id", "") or "-"))
