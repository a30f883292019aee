"""The GraphQL executor: graphql-core's, with a short path for plain leaf fields.

Most fields of an answer are plain attributes (a segment's ``id``, ``name``, ``tags``, a
membership's ``result``): Strawberry resolves them with ``getattr`` and no ``info``, yet
graphql-core still builds a ``Path``, a ``GraphQLResolveInfo`` and goes through
``complete_value`` for each of them, which is most of the time a page of segments takes (see
``bench/README.md``, "Findings: the service", item 11). For such a field this executor reads
the attribute and coerces it directly.

The short path only ever answers a field the ordinary way would answer without an error: a
field whose attribute is missing, raises, is ``None`` where the type forbids it, or does not
coerce is handed to graphql-core's own ``execute_field``, which resolves it again and reports
the error exactly as it would have (``tests/test_execution.py`` compares the two executors
answer by answer). With field middleware (a schema extension's ``resolve`` hook) nothing takes
the short path, since middleware must see every field.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF

#: The name of the resolver Strawberry gives a field with no resolver, no extension and no
#: exception handler; it reads the attribute and ignores ``info``
#: (``GraphQLCoreConverter.from_resolver``). Other default resolvers need ``info``.
STRAWBERRY_BASIC = "_get_basic_result"

#: Returned by :meth:`Leaf.complete` when the ordinary path must answer the field.
_ORDINARY = object()


@dataclass(frozen=True, slots=True)
class Leaf:
    """How to answer one plain leaf field: its resolver, and the shape of its type."""

    read: Callable[[Any], Any]
    coerce: Callable[[Any], Any]
    nullable: bool
    is_list: bool

    def complete(self, source: Any) -> Any:
        """The field's completed value, or :data:`_ORDINARY` when anything is unusual."""
        try:
            value = self.read(source)
            if value is None:
                return None if self.nullable else _ORDINARY
            if value is Undefined or isinstance(value, Exception):
                return _ORDINARY
            if not self.is_list:
                coerced = self.coerce(value)
                return _ORDINARY if coerced is None or coerced is Undefined else coerced
            if not isinstance(value, list | tuple):
                return _ORDINARY
            out = [self.coerce(item) for item in value]
        except Exception:  # noqa: BLE001 - the ordinary path raises it again, located
            return _ORDINARY
        for coerced in out:
            if coerced is None or coerced is Undefined:
                return _ORDINARY
        return out


def leaf_of(field: GraphQLField) -> Leaf | None:
    """A :class:`Leaf` for a field Strawberry resolves by attribute alone (no resolver, no
    extension, no arguments) whose type is a scalar or enum, or a list of non-null ones."""
    resolve = field.resolve
    if resolve is None or getattr(resolve, "__name__", "") != STRAWBERRY_BASIC or field.args:
        return None
    kind: GraphQLOutputType = field.type
    nullable = not isinstance(kind, GraphQLNonNull)
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    is_list = isinstance(kind, GraphQLList)
    if is_list:
        assert isinstance(kind, GraphQLList)
        item = kind.of_type
        if not isinstance(item, GraphQLNonNull):
            return None  # a null item is allowed there: left to the ordinary path
        kind = item.of_type
    if not is_leaf_type(kind):
        return None
    assert isinstance(kind, GraphQLLeafType)
    return Leaf(_reader(field, resolve), kind.coerce_output_value, nullable, is_list)


def _reader(field: GraphQLField, resolve: Callable[..., Any]) -> Callable[[Any], Any]:
    """What Strawberry's basic resolver does: ``default_resolver(source, python_name)``, the
    default resolver being ``getattr`` unless the schema's config names another."""
    definition = (field.extensions or {}).get(DEFINITION_BACKREF)
    name = getattr(definition, "python_name", None)
    if isinstance(name, str) and getattr(definition, "default_resolver", None) is getattr:
        return operator.attrgetter(name)
    return functools.partial(resolve, info=None)


class _Leaves:
    """The plain leaf fields of each object type of one schema, found when first needed."""

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str, Leaf]] = {}

    def of(self, parent_type: GraphQLObjectType) -> dict[str, Leaf]:
        found = self._by_type.get(parent_type.name)
        if found is None:
            found = {}
            for name, field in parent_type.fields.items():
                leaf = leaf_of(field)
                if leaf is not None:
                    found[name] = leaf
            self._by_type[parent_type.name] = found
        return found


_LEAVES: weakref.WeakKeyDictionary[GraphQLSchema, _Leaves] = weakref.WeakKeyDictionary()


def leaves_of(schema: GraphQLSchema) -> _Leaves:
    leaves = _LEAVES.get(schema)
    if leaves is None:
        leaves = _LEAVES[schema] = _Leaves()
    return leaves


class LeafFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, answering plain leaf fields without graphql-core's
    per-field machinery. ``execute_fields`` is graphql-core 3.3's loop (Strawberry pins
    ``graphql-core>=3.3,<3.4``) with the short path put first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leaves = leaves_of(self.schema)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        leaves = self._leaves.of(parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                leaf = leaves.get(field_details_list[0].node.name.value) if leaves else None
                if leaf is not None:
                    value = leaf.complete(source_value)
                    if value is not _ORDINARY:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gather(results, awaitable_fields)


async def _gather(results: dict[str, Any], awaitable_fields: Sequence[str]) -> dict[str, Any]:
    """``results`` with its awaitable values replaced by what they give, as graphql-core
    does it: one awaited directly, several together (cancelled together on an error)."""
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
    else:
        awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
    return results
