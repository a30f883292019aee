"""The GraphQL executor: graphql-core's, with a short path for plain fields.

Most fields of an answer are plain attributes (a segment's ``id``, ``name``, ``tags``, a
membership's ``segment`` and ``result``): Strawberry resolves them with ``getattr`` and no
``info``, yet graphql-core still builds a ``Path``, a ``GraphQLResolveInfo`` and goes through
``complete_value`` for each of them, which was most of the time a page of segments took (see
``bench/README.md``, "Findings: the service", item 11). For such a field this executor reads
the attribute and coerces it directly (a scalar or enum, or a list of them), or executes the
sub-selection on it (an object type); an object in a list goes straight to its sub-selection
too. When a sub-selection is plain fields all the way down (``{ segment { id } result }`` for
each of a subscriber's memberships, ``{ id name tags version }`` for a page's nodes), it is
answered by a :class:`Plan`: attribute reads into a dict, no ``Path`` and no field loop per
object. A plan is made once per document (once per operation when the document carries a
directive, whose answer may depend on the variables).

The short path only ever answers a field the ordinary way would answer without an error: a
field whose attribute is missing, raises, is ``None`` where the type forbids it, or does not
coerce is handed to graphql-core's own ``execute_field``, which resolves it again and reports
the error exactly as it would have (a plan gives up its whole object, which is then answered
field by field); an error inside an object's sub-selection is located and nulled as
``execute_field`` does it (``tests/test_execution.py`` compares the two executors answer by
answer). With field middleware (a schema extension's ``resolve`` hook) nothing takes
the short path, since middleware must see every field.

The executor also holds its resolver helpers weakly (:func:`_helpers_of`), so that a request's
objects are freed when it ends rather than by the cyclic garbage collector.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, cast

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from seggraph.api.context import Context
from seggraph.api.cost import check_cost, cost_limits
from seggraph.api.prefetch import start_reads
from seggraph.lru import IdentityCache

DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF

#: The name of the resolver Strawberry gives a field with no resolver, no extension and no
#: exception handler; it reads the attribute and ignores ``info``
#: (``GraphQLCoreConverter.from_resolver``). Other default resolvers need ``info``.
STRAWBERRY_BASIC = "_get_basic_result"

#: Returned by :meth:`Leaf.complete` and :meth:`PlainObject.value` when the ordinary path
#: must answer the field.
_ORDINARY = object()
#: What the plans cache answers for a field group no plan was looked for yet (``None`` being
#: "no plan").
_NOT_MADE = object()


#: How many plans' answers a shared view keeps (a view is shown by a few documents at most;
#: more, and it starts afresh).
_ANSWERS_KEPT = 8


class SharedView:
    """Base of a GraphQL object made once and shown by every request that shows it, never
    changed after it is made (a segment's view, a known membership's view). The executor keeps
    what a plan answered for such an object, per plan, and answers it again without reading
    it: the view of twenty segments, or a page of a hundred, costs a look-up each.

    Only an object given to :meth:`share` keeps answers; the answer is the same dict for
    every request (nothing changes a response's data once it is made)."""

    _plan_answers: dict[int, tuple[Plan, Any]] | None = None

    def share(self) -> None:
        """Mark this object as made once and never changed from now on."""
        self._plan_answers = {}


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


@dataclass(frozen=True, slots=True)
class PlainObject:
    """How to answer one plain field of an object type: its resolver, and the type."""

    read: Callable[[Any], Any]
    object_type: GraphQLObjectType
    return_type: GraphQLOutputType
    nullable: bool

    def value(self, source: Any) -> Any:
        """The object to complete, ``None``, or :data:`_ORDINARY` when anything is unusual."""
        try:
            value = self.read(source)
        except Exception:  # noqa: BLE001 - the ordinary path raises it again, located
            return _ORDINARY
        if value is None:
            return None if self.nullable else _ORDINARY
        if value is Undefined or isinstance(value, Exception):
            return _ORDINARY
        return value


@dataclass(frozen=True, slots=True)
class Plan:
    """A sub-selection made of plain fields only (leaves, and objects whose own sub-selection
    is such a plan): answered by reading attributes, with no ``Path`` or field loop."""

    fields: tuple[tuple[str, Leaf | None, PlainObject | None, Plan | None], ...]
    """Per response name, in the answer's order: a leaf, or a plain object with its plan."""
    run: Callable[[Any], Any] = field(init=False, repr=False, compare=False)
    """``run(source)``: the sub-selection's answer, or :data:`_ORDINARY` when anything is
    unusual (then the whole object is answered the ordinary way, which reads it again). A
    function written out for the plan (:func:`_plan_function`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", _plan_function(self))


def _answer(plan: Plan, source: Any) -> Any:
    """``plan.run(source)``, kept on ``source`` when it is a shared :class:`SharedView`."""
    answers = source._plan_answers if isinstance(source, SharedView) else None
    if answers is None:
        return plan.run(source)
    kept = answers.get(id(plan))
    if kept is not None and kept[0] is plan:
        return kept[1]
    answered = plan.run(source)
    if answered is not _ORDINARY:
        if len(answers) >= _ANSWERS_KEPT:
            answers.clear()
        answers[id(plan)] = (plan, answered)  # the plan kept alive, so its id stays its own
    return answered


def _plan_function(plan: Plan) -> Callable[[Any], Any]:
    """``plan.run``: one function with every field of the plan, nested plans included,
    written out in order, as :meth:`Leaf.complete` and :meth:`PlainObject.value` answer each,
    with no call per field beyond its reader and coercion. Any exception, like any value
    those two would not answer, gives :data:`_ORDINARY` for the whole object, which is what
    either of them giving up meant. Only the shape reaches the source: names, readers and
    coercions are arguments bound by position (``r0``, ``c0``, ...), as in
    ``seggraph.evaluation.nodes._group_factory``."""
    objects: dict[str, Any] = {}
    lines: list[str] = []

    def write(current: Plan, source: str, out: str, indent: str) -> None:
        lines.append(f"{indent}{out} = {{}}")
        for name, leaf, plain, inner in current.fields:
            i = len(objects)
            key = f"k{i}"
            objects[key] = name
            if leaf is not None:
                objects[f"r{i}"], objects[f"c{i}"] = leaf.read, leaf.coerce
                lines.append(f"{indent}v = r{i}({source})")
                lines.append(f"{indent}if v is None:")
                lines.append(
                    f"{indent}    {out}[{key}] = None"
                    if leaf.nullable
                    else f"{indent}    return ORD"
                )
                lines.append(f"{indent}elif v is Undefined or isinstance(v, Exception):")
                lines.append(f"{indent}    return ORD")
                lines.append(f"{indent}else:")
                if leaf.is_list:
                    lines.append(f"{indent}    if not isinstance(v, (list, tuple)):")
                    lines.append(f"{indent}        return ORD")
                    lines.append(f"{indent}    v = [c{i}(item) for item in v]")
                    lines.append(f"{indent}    for item in v:")
                    lines.append(f"{indent}        if item is None or item is Undefined:")
                    lines.append(f"{indent}            return ORD")
                else:
                    lines.append(f"{indent}    v = c{i}(v)")
                    lines.append(f"{indent}    if v is None or v is Undefined:")
                    lines.append(f"{indent}        return ORD")
                lines.append(f"{indent}    {out}[{key}] = v")
                continue
            assert plain is not None and inner is not None
            objects[f"r{i}"] = plain.read
            child = f"s{i}"
            lines.append(f"{indent}{child} = r{i}({source})")
            lines.append(f"{indent}if {child} is None:")
            lines.append(
                f"{indent}    {out}[{key}] = None" if plain.nullable else f"{indent}    return ORD"
            )
            lines.append(f"{indent}elif {child} is Undefined or isinstance({child}, Exception):")
            lines.append(f"{indent}    return ORD")
            lines.append(f"{indent}else:")
            write(inner, child, f"o{i}", indent + "    ")
            lines.append(f"{indent}    {out}[{key}] = o{i}")

    write(plan, "source", "out", "            ")
    source = "\n".join(
        [
            f"def make({', '.join(objects)}):",
            "    def run(source):",
            "        try:",
            *lines,
            "            return out",
            "        except Exception:",
            "            return ORD",
            "    return run",
        ]
    )
    namespace: dict[str, Any] = {"ORD": _ORDINARY, "Undefined": Undefined}
    exec(compile(source, "<seggraph plan>", "exec"), namespace)
    return cast(Callable[[Any], Any], namespace["make"](**objects))


def _basic_resolver(field: GraphQLField) -> Callable[..., Any] | None:
    """The field's resolver when it is Strawberry's basic one (no resolver of ours, no
    extension, no arguments), else ``None``."""
    resolve = field.resolve
    if resolve is None or getattr(resolve, "__name__", "") != STRAWBERRY_BASIC or field.args:
        return None
    return resolve


def plain_field_of(field: GraphQLField) -> Leaf | PlainObject | None:
    """A :class:`Leaf` or :class:`PlainObject` for a field Strawberry resolves by attribute
    alone (no resolver, no extension, no arguments), or ``None`` for any other."""
    resolve = _basic_resolver(field)
    if resolve is None:
        return None
    leaf = _leaf(field, resolve)
    if leaf is not None:
        return leaf
    object_type = plain_object_type(field.type)
    if object_type is None:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    return PlainObject(_reader(field, resolve), object_type, field.type, nullable)


def plain_object_type(kind: GraphQLOutputType) -> GraphQLObjectType | None:
    """The object type of ``kind`` (``T`` or ``T!``) when completing a value of it needs no
    info, that is when the type has no ``is_type_of``; else ``None``."""
    inner = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return inner
    return None


def _leaf(field: GraphQLField, resolve: Callable[..., Any]) -> Leaf | None:
    """A :class:`Leaf` for a basic field whose type is a scalar or enum, or a list of non-null
    ones; else ``None``."""
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
    return Leaf(_reader(field, resolve), _output_coercion(kind), nullable, is_list)


def _output_coercion(kind: GraphQLLeafType) -> Callable[[Any], Any]:
    """``kind.coerce_output_value``, with a table in front for a Strawberry enum: its
    coercion compares the value with each of the enum's values in turn, for every field.
    The table gives the name that loop finds first for each member of the Python enum;
    anything else goes to the coercion itself."""
    general = kind.coerce_output_value
    wrapped = getattr(kind, "wrapped_cls", None)
    if not (isinstance(kind, GraphQLEnumType) and isinstance(wrapped, type)):
        return general
    if not issubclass(wrapped, Enum):
        return general
    names: dict[Any, str] = {}
    for member in wrapped:
        for name, value in kind.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def coerce(value: Any) -> Any:
        if type(value) is wrapped:
            name = names.get(value)
            if name is not None:
                return name
        return general(value)

    return coerce


def _reader(field: GraphQLField, resolve: Callable[..., Any]) -> Callable[[Any], Any]:
    """What Strawberry's basic resolver does: ``default_resolver(source, python_name)``, the
    default resolver being ``getattr`` unless the schema's config names another."""
    definition = (field.extensions or {}).get(DEFINITION_BACKREF)
    name = getattr(definition, "python_name", None)
    if isinstance(name, str) and getattr(definition, "default_resolver", None) is getattr:
        return operator.attrgetter(name)
    return functools.partial(resolve, info=None)


class _PlainFields:
    """The plain fields of each object type of one schema, found when first needed, and the
    plans made for its documents (:meth:`PlainFieldExecutor.plan_of`)."""

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str, Leaf | PlainObject]] = {}
        #: Plans by the field nodes of a field group and the object type.
        self.plans: IdentityCache[Plan | None] = IdentityCache(_PLANS_KEPT)
        #: Whether an operation or the fragments of its document carry a directive.
        self.directives: IdentityCache[bool] = IdentityCache(_PLANS_KEPT)

    def of(self, parent_type: GraphQLObjectType) -> dict[str, Leaf | PlainObject]:
        found = self._by_type.get(parent_type.name)
        if found is None:
            found = {}
            for name, field in parent_type.fields.items():
                plain = plain_field_of(field)
                if plain is not None:
                    found[name] = plain
            self._by_type[parent_type.name] = found
        return found


_PLAIN: weakref.WeakKeyDictionary[GraphQLSchema, _PlainFields] = weakref.WeakKeyDictionary()
#: Plans (and operations' directive checks) kept per schema.
_PLANS_KEPT = 1024


def _has_directives(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDetails]
) -> bool:
    """Whether the operation or a fragment of its document (graphql-core's
    :class:`FragmentDetails`, keyed by name) carries a directive anywhere."""
    definitions = [details.definition for details in fragments.values()]
    if operation.directives or any(d.directives for d in definitions):
        return True
    stack: list[SelectionSetNode | None] = [
        operation.selection_set,
        *(d.selection_set for d in definitions),
    ]
    while stack:
        selection_set = stack.pop()
        if selection_set is None:
            continue
        for selection in selection_set.selections:
            if selection.directives:
                return True
            stack.append(getattr(selection, "selection_set", None))
    return False


def plain_fields_of(schema: GraphQLSchema) -> _PlainFields:
    plain = _PLAIN.get(schema)
    if plain is None:
        plain = _PLAIN[schema] = _PlainFields()
    return plain


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, answering plain fields (leaves, and objects whose
    sub-selection it then executes) without graphql-core's per-field machinery.
    ``execute_fields`` is graphql-core 3.3's loop (Strawberry pins ``graphql-core>=3.3,<3.4``)
    with the short path put first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_of(self)
        self._plain = plain_fields_of(self.schema)
        self._plans: dict[tuple[str, int], tuple[Any, Plan | None]] = {}

    def __copy__(self) -> PlainFieldExecutor:
        """graphql-core's shallow copy (a sub-executor, an executor per subscription event),
        with resolver helpers that hold the copy, which runs, not the executor copied."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.async_helpers = _helpers_of(twin)
        return twin

    def execute_collected_root_fields(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: Any,
        serially: bool,
        new_defer_usages: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """The root fields, run once the request's freshness checks are done
        (:attr:`Context.fresh`, an HTTP request's). A query first starts the reads its fields
        will need (:func:`seggraph.api.prefetch.start_reads`), so that they overlap the read
        of the request's snapshot, whether the checks or the fields make it."""
        run = super().execute_collected_root_fields
        context = self.context_value
        if isinstance(context, Context):
            settings = context.services.settings
            limits = cost_limits(
                settings.max_query_objects, settings.max_query_walks, settings.max_conditions
            )
            check_cost(
                self.schema, self.operation, self.fragments, self.variable_values.coerced, limits
            )
        fresh = context.fresh if isinstance(context, Context) else None
        if fresh is None:
            return run(root_type, root_value, grouped_field_set, serially, new_defer_usages)
        started = None
        if self.operation.operation is OperationType.QUERY:
            started = start_reads(
                context, root_type, grouped_field_set, self.variable_values, self.collect_subfields
            )
        if fresh.done():
            return run(root_type, root_value, grouped_field_set, serially, new_defer_usages)

        async def when_fresh() -> dict[str, Any]:
            await fresh
            if started is not None and context.services.catalogue is not started:
                context.forget_values()  # read by the catalogue the checks have replaced
            result = run(root_type, root_value, grouped_field_set, serially, new_defer_usages)
            return cast(dict[str, Any], await result if self.is_awaitable(result) else result)

        return when_fresh()

    def plan_of(self, object_type: GraphQLObjectType, field_details_list: Any) -> Plan | None:
        """The :class:`Plan` of the sub-selection of ``field_details_list`` on
        ``object_type``, or ``None`` when some field in it is not plain, something is
        deferred, or field middleware must see every field. Looked up once per field group of
        this operation (memoized on its identity, as graphql-core's ``collect_subfields``), and
        made once per document when the document carries no directive."""
        key = (object_type.name, id(field_details_list))
        found = self._plans.get(key)
        if found is not None:
            return found[1]
        if self._directive_free():
            # Without directives, collecting a field group's sub-fields depends on its nodes
            # alone, not on the variables: a plan is shared by every request of the document
            # (ParserCache hands out the same nodes for the same text).
            nodes = tuple(details.node for details in field_details_list)
            kept = self._plain.plans.get(nodes, object_type.name, _NOT_MADE)
            if kept is _NOT_MADE:
                plan = self._make_plan(object_type, field_details_list)
                self._plain.plans.put(nodes, plan, object_type.name)
            else:
                plan = cast(Plan | None, kept)
        else:
            plan = self._make_plan(object_type, field_details_list)
        self._plans[key] = (field_details_list, plan)  # the list kept alive: its id stays
        return plan

    def _directive_free(self) -> bool:
        """True when neither the operation nor any fragment of its document carries a
        directive (``@include``, ``@skip``, ``@defer``…), remembered per operation."""
        operation = (self.operation,)
        free = self._plain.directives.get(operation)
        if free is None:
            free = not _has_directives(self.operation, self.fragments)
            self._plain.directives.put(operation, free)
        return free

    def _planned(
        self,
        object_type: GraphQLObjectType,
        field_details_list: Any,
        value: Any,
        position_context: Any,
    ) -> Any:
        """``value``'s sub-selection answered by its plan, or :data:`_ORDINARY` when there is
        no plan (or incremental delivery is under way) or the plan gave up."""
        if position_context is not None:
            return _ORDINARY
        plan = self.plan_of(object_type, field_details_list)
        return _ORDINARY if plan is None else _answer(plan, value)

    def _make_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> Plan | None:
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(
            object_type, field_details_list
        )
        if new_defer_usages:
            return None
        plain_fields = self._plain.of(object_type)
        fields: list[tuple[str, Leaf | None, PlainObject | None, Plan | None]] = []
        for response_name, details in grouped_field_set.items():
            plain = plain_fields.get(details[0].node.name.value)
            if type(plain) is Leaf:
                fields.append((response_name, plain, None, None))
            elif isinstance(plain, PlainObject):
                inner = self.plan_of(plain.object_type, details)
                if inner is None:
                    return None
                fields.append((response_name, None, plain, inner))
            else:
                return None
        return Plan(tuple(fields))

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
        plain_fields = self._plain.of(parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plain = (
                    plain_fields.get(field_details_list[0].node.name.value)
                    if plain_fields
                    else None
                )
                if type(plain) is Leaf:
                    value = plain.complete(source_value)
                    if value is not _ORDINARY:  # a leaf's value is never awaitable
                        results[response_name] = value
                        continue
                field_path = Path(path, response_name, parent_type.name)
                result: Any = _ORDINARY
                if isinstance(plain, PlainObject):
                    result = self._complete_plain_object(
                        plain, source_value, field_details_list, field_path, position_context
                    )
                if result is _ORDINARY:
                    result = self.execute_field(
                        parent_type, source_value, field_details_list, field_path, position_context
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

    def _complete_plain_object(
        self,
        plain: PlainObject,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        """What ``execute_field`` then ``complete_value`` do with a plain object field, without
        the info: read it, execute its sub-selection, an error in it located and, for a nullable
        field, turned into null (``handle_field_error``), also when it comes later; or
        :data:`_ORDINARY` when the value is unusual."""
        value = plain.value(source)
        if value is None or value is _ORDINARY:
            return value
        answered = self._planned(plain.object_type, field_details_list, value, position_context)
        if answered is not _ORDINARY:
            return answered
        try:
            completed = self.collect_and_execute_subfields(
                plain.object_type, field_details_list, path, value, position_context
            )
        except Exception as raw_error:  # noqa: BLE001 - as graphql-core's execute_field
            self.handle_field_error(raw_error, plain.return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._awaited(completed, plain.return_type, field_details_list, path)
        return completed

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        path: Path,
        items: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """graphql-core's, with a list of objects that one plan answers (a subscriber's
        memberships, a page's nodes) done in one loop: no item ``Path``, no per-item call.
        Anything unusual in any item (a null, an error, an awaitable, a plan giving up) sends
        the whole list the ordinary way, which reads it again. Only for a ``list`` or
        ``tuple`` (an iterator cannot be read twice) and a document without directives (no
        ``@stream``)."""
        plan = None
        if position_context is None and type(items) in (list, tuple):
            object_type = plain_object_type(item_type)
            if object_type is not None and self._directive_free():
                plan = self.plan_of(object_type, field_details_list)
        if plan is None:
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        run = plan.run
        is_awaitable = self.is_awaitable
        out: list[Any] = []
        for item in items:
            if isinstance(item, SharedView) and item._plan_answers is not None:
                answered = _answer(plan, item)
            elif (
                item is None
                or item is Undefined
                or isinstance(item, Exception)
                or is_awaitable(item)
            ):
                break
            else:
                answered = run(item)
            if answered is _ORDINARY:
                break
            out.append(answered)
        else:
            return out
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        item_path: Path,
        position_context: Any,
    ) -> bool:
        """graphql-core's, with an object item (a page's nodes, a subscriber's memberships)
        sent straight to its sub-selection instead of through ``complete_value`` twice and
        ``complete_object_value``; anything else, the ordinary way. True if awaitable."""
        object_type = plain_object_type(item_type)
        if object_type is None or item is None or item is Undefined or isinstance(item, Exception):
            return super().complete_list_item_value(
                item,
                complete_results,
                item_type,
                field_details_list,
                info,
                item_path,
                position_context,
            )
        answered = self._planned(object_type, field_details_list, item, position_context)
        if answered is not _ORDINARY:
            complete_results.append(answered)
            return False
        try:
            completed = self.collect_and_execute_subfields(
                object_type, field_details_list, item_path, item, position_context
            )
        except Exception as raw_error:  # noqa: BLE001 - as graphql-core's list items
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            complete_results.append(None)
            return False
        if self.is_awaitable(completed):
            complete_results.append(
                self._awaited(completed, item_type, field_details_list, item_path)
            )
            return True
        complete_results.append(completed)
        return False

    async def _awaited(
        self, completed: Any, return_type: GraphQLOutputType, field_details_list: Any, path: Path
    ) -> Any:
        """An awaitable completion's value; an error in it located and, where the type allows,
        turned into null."""
        try:
            return await completed
        except Exception as raw_error:  # noqa: BLE001 - as graphql-core's execute_field
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None


def _helpers_of(executor: PlainFieldExecutor) -> GraphQLResolveInfoHelpers:
    """The resolver helpers graphql-core gives each executor, holding it weakly.

    graphql-core makes them of the executor's own bound methods, so every executor is in a
    reference cycle and, with it, everything it reaches (the request's context, its batcher
    and values, the Starlette request): all of it stayed until the cyclic collector found
    it, a collection about every fourth ``subscriber { segments }`` request
    (``bench/README.md``, "Findings: the service", item 19). Held weakly, an executor is
    freed when its request ends. The helpers serve resolvers while their request runs, that
    is while its executor is alive.
    """
    gather = weakref.WeakMethod(executor.gather_async_work)
    track = weakref.WeakMethod(executor.track_async_work)

    def gather_async_work(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return _alive(gather)(values)

    def track_async_work(values: Sequence[Any]) -> None:
        _alive(track)(values)

    return GraphQLResolveInfoHelpers(gather=gather_async_work, track=track_async_work)


def _alive(method: weakref.WeakMethod[Any]) -> Callable[..., Any]:
    found = method()
    if found is None:
        raise RuntimeError("this request's execution has ended")
    return cast(Callable[..., Any], found)


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
