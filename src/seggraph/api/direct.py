"""Resolvers that graphql-core calls directly, without Strawberry's per-call wrapper.

For a field with a resolver, Strawberry gives graphql-core a wrapper that, on every call,
builds the ``Info``, converts each argument (``convert_arguments``: the argument's name, a
walk over its type, an ``import`` statement per value), chains the field extensions and then
calls the resolver, through one more coroutine when the resolver is async. For the fields
every request of a cancellation flow asks (``subscriber``, its ``segments``), that wrapper
cost more than the resolvers themselves (``bench/README.md``, finding 21).

A resolver marked :func:`direct` is called by graphql-core through a function made for it
when the schema is built (:func:`install_direct_resolvers`): the arguments graphql-core has
already coerced, renamed to the resolver's parameters (a list copied, as Strawberry does, so
a resolver changing it cannot change a default shared by later requests), Strawberry's own
``Info`` when the resolver asks for one, the source as ``self``. That is everything
Strawberry's wrapper does for such a field, which is why only such a field is taken:

- its arguments are the built-in scalars (``str``, ``int``, ``float``, ``bool``,
  ``strawberry.ID``), optional or in lists; no enum, input type, custom scalar or ``Maybe``,
  whose values Strawberry converts;
- it has no field extension or permission class, and the schema no exception handler;
- the resolver takes no ``root`` or ``parent`` parameter.

A marked resolver that does not qualify keeps Strawberry's wrapper, with a warning; the test
suite checks that the fields marked here are installed, and that a direct resolver answers
exactly what Strawberry's wrapper answers (``tests/test_direct_resolvers.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry
from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.field import StrawberryField

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__seggraph_direct__"
_SCALARS: tuple[object, ...] = (str, int, float, bool, strawberry.ID)


def direct(resolver: F) -> F:
    """Mark a resolver to be called by graphql-core directly (put it under
    ``@strawberry.field``). See the module's docstring for what qualifies."""
    setattr(resolver, _MARK, True)
    return resolver


class DirectResolvers:
    """What :func:`install_direct_resolvers` changed: each field's Strawberry resolver, by
    ``Type.field``, so that it can be put back (tests compare the two)."""

    def __init__(self) -> None:
        self.replaced: dict[str, tuple[GraphQLField, Callable[..., Any]]] = {}

    @property
    def fields(self) -> list[str]:
        return sorted(self.replaced)

    def restore(self) -> None:
        """Strawberry's resolvers back on every field this replaced."""
        for field, strawberry_resolver in self.replaced.values():
            field.resolve = strawberry_resolver
        self.replaced.clear()


def install_direct_resolvers(schema: strawberry.Schema) -> DirectResolvers:
    """Give graphql-core a direct resolver for every field whose resolver is marked
    :func:`direct` and qualifies; the others keep Strawberry's, with a warning."""
    installed = DirectResolvers()
    core_schema = schema._schema
    handlers = getattr(schema, "exception_handlers", ())
    for type_name, kind in core_schema.type_map.items():
        if type_name.startswith("__") or not isinstance(kind, GraphQLObjectType):
            continue
        for field_name, field in kind.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(definition, StrawberryField) or definition.base_resolver is None:
                continue
            if not getattr(definition.base_resolver.wrapped_func, _MARK, False):
                continue
            where = f"{type_name}.{field_name}"
            refused = "the schema has exception handlers" if handlers else _refusal(definition)
            parameters = _parameters(schema, field, definition) if refused is None else None
            if parameters is None or field.resolve is None:
                log.warning(
                    "%s keeps Strawberry's resolver: %s",
                    where,
                    refused or "its arguments do not match the resolver's parameters",
                )
                continue
            installed.replaced[where] = (field, field.resolve)
            field.resolve = _direct_resolver(schema, definition, parameters)
    return installed


def _parameters(
    schema: strawberry.Schema, field: GraphQLField, definition: StrawberryField
) -> dict[str, tuple[str, bool]] | None:
    """For each argument, by the name graphql-core passes it under, the resolver's parameter
    and whether it is a list (to copy); ``None`` when they do not match one for one."""
    converter = schema.config.name_converter
    by_graphql_name = {converter.from_argument(a): a for a in definition.arguments}
    if set(by_graphql_name) != set(field.args):
        return None
    return {
        argument.out_name or name: (
            by_graphql_name[name].python_name,
            _is_list(by_graphql_name[name].type),
        )
        for name, argument in field.args.items()
    }


def _refusal(definition: StrawberryField) -> str | None:
    """Why the field cannot be resolved directly, or ``None``."""
    resolver = definition.base_resolver
    assert resolver is not None
    if definition.extensions or getattr(definition, "permission_classes", None):
        return "it has field extensions or permission classes"
    if resolver.root_parameter is not None or resolver.parent_parameter is not None:
        return "its resolver takes root or parent"
    if not callable(resolver.wrapped_func):
        return "its resolver is not a function"
    for argument in definition.arguments:
        if not _plain(argument.type):
            return f"argument {argument.python_name!r} is not a built-in scalar or a list of them"
    return None


def _plain(kind: object) -> bool:
    """A built-in scalar, optional or in a list (``type() is``: a ``Maybe`` is a subclass of
    ``StrawberryOptional`` whose values Strawberry wraps)."""
    if type(kind) is StrawberryOptional or type(kind) is StrawberryList:
        return _plain(kind.of_type)
    return any(kind is scalar for scalar in _SCALARS)


def _is_list(kind: object) -> bool:
    if type(kind) is StrawberryOptional:
        return _is_list(kind.of_type)
    return type(kind) is StrawberryList


def _direct_resolver(
    schema: strawberry.Schema,
    definition: StrawberryField,
    parameters: dict[str, tuple[str, bool]],
) -> Callable[..., Any]:
    """graphql-core's resolver for the field: what Strawberry's wrapper does for it, made once.
    ``parameters``: from :func:`_parameters`."""
    resolver = definition.base_resolver
    assert resolver is not None
    function = cast(Callable[..., Any], resolver.wrapped_func)
    info_parameter = resolver.info_parameter
    info_name = info_parameter.name if info_parameter is not None else None
    info_class = schema.config.info_class
    takes_self = resolver.self_parameter is not None

    def resolve(source: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        kwargs: dict[str, Any] = {}
        for name, value in arguments.items():
            parameter, is_list = parameters[name]
            kwargs[parameter] = list(value) if is_list and value is not None else value
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=definition)
        if takes_self:
            return function(source, **kwargs)
        return function(**kwargs)

    resolve.__name__ = f"direct_{definition.python_name}"
    return resolve
