"""The validation cache: a document's validation errors kept by the document's identity.

Strawberry's ``ValidationCache`` keeps ``validate_document(schema, document, rules)`` in an
``lru_cache``, which hashes its arguments on every request, and graphql-core's AST nodes
hash every field of every node: the whole document is walked again each time (about 2% of a
``subscriber { segments }`` request whose answer costs nothing, ``bench/README.md`` finding
16). Here the key is the document object itself: ``ParserCache`` (before this extension in the
schema's list) hands out the same ``DocumentNode`` for the same query text and parse options,
so a repeated query finds its entry by the document's identity
(:class:`~seggraph.lru.IdentityCache`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from seggraph.lru import IdentityCache


class ValidationMemo:
    """Validation errors by (schema, document, rules), at most ``maxsize`` documents."""

    def __init__(self, maxsize: int) -> None:
        self._entries: IdentityCache[list[GraphQLError]] = IdentityCache(maxsize)
        #: Validations answered from the cache, and made (to see, and test, that it hits).
        self.hits = 0
        self.misses = 0

    def validate(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: Sequence[type[ASTValidationRule]],
    ) -> list[GraphQLError]:
        rules = tuple(rules)
        errors = self._entries.get((schema, document), rules)
        if errors is not None:
            self.hits += 1
            return errors
        self.misses += 1
        errors = [_said(error) for error in validate_document(schema, document, rules)]
        self._entries.put((schema, document), errors, rules)
        return errors


#: What a client is told when graphql-core gives up validating a document, where it says
#: only "Validation aborted.".
TOO_COMPLEX = (
    "the document is too complex to check: it repeats fields, or spreads fragments, so often "
    "(or nests so deeply) that comparing them ran past the validator's budget; ask each field "
    "once at each place (a field asked twice is answered once) and spread each fragment fewer "
    "times"
)


def _said(error: GraphQLError) -> GraphQLError:
    """``error``, or, for graphql-core giving up (its budget for comparing fields, or for
    shared fragments, spent; or its recursion), an error that says why and what to do, with
    the code ``QUERY_TOO_COMPLEX``."""
    if not isinstance(error, ValidationAbortedError) or error.message != "Validation aborted.":
        return error  # "Too many validation errors, …" says why already
    return GraphQLError(TOO_COMPLEX, extensions={"code": "QUERY_TOO_COMPLEX"})


#: The process's validations (every schema and request: the key names the schema).
VALIDATIONS = ValidationMemo(maxsize=512)


class DocumentValidationCache(SchemaExtension):
    """Validation from :data:`VALIDATIONS`; list it after ``ParserCache``."""

    def on_validate(self) -> Iterator[None]:
        context: Any = self.execution_context
        context.pre_execution_errors = VALIDATIONS.validate(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield
