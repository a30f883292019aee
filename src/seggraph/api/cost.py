"""How much one GraphQL operation may ask for: the objects it can answer, and the walks over
the subscriber directory it can start.

The depth, alias and token limits bound a document's size, not its answer: a field that
returns a list multiplies everything below it, so a query of 163 bytes nesting
``history { segment { history … } }`` four levels deep asked for 13 million rows, and 30
aliases of ``propertyValues`` over 1,000 subscribers each answered 118 MB, holding the one
event loop (and every cancel page behind it) for tens of seconds. Each operation's answer is
therefore estimated before any resolver runs, as GitHub's API does for its node limit: a
list's size is what its arguments ask for (``first``, the ids or keys given, variables
included) or, for a list no argument sizes, a bound of what it can hold; the estimate is the
sum over the fields that answer objects of how many each can answer (its size times its
parents'). A condition tree counts as at most as many objects as it may hold conditions
(``SEGGRAPH_MAX_CONDITIONS``, :data:`MAX_TREE` by default) wherever it is answered.

Walks (``members``, ``memberCount`` and ``totalCount``, ``segmentEditImpact``) read the whole
directory, so they are counted apart. The counts and lists of members one request asks for
together share one walk, but those below a field answered for each parent at a moment of its
own (:data:`COUNT_GROUPS`: each page of ``segments``, each segment's ``history``, each
subscriber's ``segments``; and each root field of a mutation, since mutations run one after
the other) are asked apart from the others, so each such field with counts or lists below it
is one walk more, times its parents (a page of 100 segments, each with the counts of its
versions, is 100 walks; a page of 100 segments, each with its members, is one; 30 aliased
``duplicateSegment`` each answering its copy's ``memberCount`` are 30). Each edit impact is a
walk of its own.

Estimated on every operation; a document whose sizes come from no variable is estimated once
(kept by the identity of its operation node, which ``ParserCache`` hands out again for the
same text).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)

from seggraph.domain.segments import MAX_USAGES
from seggraph.lru import IdentityCache

#: The objects a condition tree or an explanation can answer, however deep it is selected, by
#: default: as many as the conditions a tree holds (SEGGRAPH_MAX_CONDITIONS, whose default this
#: is; :attr:`CostLimits.max_tree` follows the setting).
MAX_TREE = 100
#: In :data:`SIZES`: a list of one item for each condition of a tree at most.
TREE = "tree"

#: A list that no argument sizes and no other bound applies to (tags, the catalogue).
UNSIZED_LIST = 100

#: How many items a list field answers, from its own arguments (``arg:NAME``: the length of
#: that list argument, or the number, for ``first``) or from its parent field's
#: (``parent:NAME``: a connection's ``edges`` and ``nodes``), or a fixed bound.
SIZES: dict[tuple[str, str], str | int] = {
    ("Query", "propertyValues"): "arg:subscriberIds",
    ("Query", "propertyValueSuggestions"): "arg:first",
    ("Query", "retentionEvents"): "arg:first",
    ("SubscriberPropertyValues", "values"): "parent:keys",
    ("PreviewPayload", "results"): "parent:subscriberIds",
    ("SegmentConnection", "edges"): "parent:first",
    ("SegmentConnection", "nodes"): "parent:first",
    ("Subscriber", "properties"): "arg:keys",
    ("Subscriber", "segments"): "arg:first",
    ("Subscriber", "membership"): "arg:segmentIds",
    ("Segment", "members"): "arg:first",
    ("Segment", "history"): "arg:first",
    # one per UNKNOWN condition the result depends on: as many as a tree holds
    ("SegmentMembership", "unknownReasons"): TREE,
    ("Evaluation", "unknownReasons"): TREE,
    ("Segment", "usages"): MAX_USAGES,
    ("SegmentVersion", "changes"): 10,
    ("Property", "attributes"): 10,
}
#: Fields answering a condition tree or an explanation: a tree's objects at most, and the
#: lists inside it count nothing more.
TREE_ROOTS = frozenset({("Segment", "conditions"), ("Evaluation", "explanation")})
TREE_TYPES = frozenset({"ConditionGroup", "Explanation"})
#: Fields that walk the directory once each; and the counts and lists of members, which the
#: fields asked together share one walk for.
WALKS = frozenset({("Query", "segmentEditImpact")})
SHARED = frozenset(
    {("Segment", "memberCount"), ("MemberConnection", "totalCount"), ("Segment", "members")}
)
#: Fields answered for each parent at a moment of its own (a read per parent), so that the
#: counts and lists below one of them are asked together, but apart from those below another:
#: each such field with counts or lists below it is a walk (times its parents), not a share of
#: the one walk.
COUNT_GROUPS = frozenset(
    {
        ("Query", "segments"),
        ("Segment", "history"),
        ("Subscriber", "segments"),
        ("Subscriber", "membership"),
    }
)


#: A field node with its definition: the field a selection set belongs to.
Enclosing = tuple[FieldNode, GraphQLField]
#: What a field or selection costs per parent: objects, walks of its own, and whether it asks
#: for counts or lists of members that share the walk of those asked with them.
Part = tuple[int, int, bool]


@dataclass(frozen=True)
class Cost:
    objects: int
    walks: int
    #: The response path (aliases as written) of the field answering the most objects.
    largest: str
    largest_objects: int


class _Estimate:
    """One operation's estimate. Fields are merged as the executor merges them (the same
    response name at the same level is one field whose sub-selections add up), and each
    fragment is collected once: a chain of fragments spreading the next twice costs one pass,
    not a pass per path."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, Any],
        variables: Mapping[str, Any],
        tree: int = MAX_TREE,
    ) -> None:
        self.schema = schema
        #: The objects a condition tree counts as (:data:`MAX_TREE`).
        self.tree = tree
        self.fragments = fragments
        self.variables = variables
        #: The root type whose fields run one after the other (a mutation's): each is asked
        #: at a moment of its own, as a field of :data:`COUNT_GROUPS` is.
        self.serial_root = schema.mutation_type
        self.uses_variables = False
        self.largest = ("", 0)
        self._collected: dict[int, dict[str, list[FieldNode]]] = {}
        #: (selection sets, type, enclosing field, in a tree) -> the :data:`Part` per parent.
        self._memo: dict[tuple[tuple[int, ...], str, int, bool], Part] = {}

    def collect(self, selection_set: SelectionSetNode) -> dict[str, list[FieldNode]]:
        """The fields of a selection set by response name, fragments spread (each node once)."""
        found = self._collected.get(id(selection_set))
        if found is not None:
            return found
        groups: dict[str, list[FieldNode]] = {}
        self._collected[id(selection_set)] = groups  # a cycle (refused by validation) ends here

        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                _add_new(groups, node.alias.value if node.alias else node.name.value, [node])
                continue
            if isinstance(node, InlineFragmentNode):
                inner = node.selection_set
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                definition = getattr(fragment, "definition", fragment)
                if definition is None:
                    continue
                inner = definition.selection_set
            else:
                continue
            for key, nodes in self.collect(inner).items():
                _add_new(groups, key, nodes)
        return groups

    def of(
        self,
        selection_sets: tuple[SelectionSetNode, ...],
        parent: GraphQLObjectType,
        enclosing: Enclosing | None,
        in_tree: bool,
        root: bool = False,
    ) -> Part:
        key = (
            tuple(map(id, selection_sets)),
            parent.name,
            id(enclosing[0]) if enclosing else 0,
            in_tree,
        )
        found = self._memo.get(key)
        if found is not None:
            return found
        groups: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            for name, nodes in self.collect(selection_set).items():
                _add_new(groups, name, nodes)
        objects = walks = 0
        counts = False
        for response_name, nodes in groups.items():
            more_objects, more_walks, more_counts = self.field(nodes, parent, enclosing, in_tree)
            objects += more_objects
            walks += more_walks
            counts = counts or more_counts
            if root and more_objects > self.largest[1]:
                self.largest = (response_name, more_objects)
        self._memo[key] = (objects, walks, counts)
        return objects, walks, counts

    def field(
        self,
        nodes: list[FieldNode],
        parent: GraphQLObjectType,
        enclosing: Enclosing | None,
        in_tree: bool,
    ) -> Part:
        node = nodes[0]
        name = node.name.value
        definition = parent.fields.get(name)
        if definition is None or name.startswith("__"):
            return 0, 0, False  # introspection and __typename: bounded by the schema
        where = (parent.name, name)
        counts = where in SHARED
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType):
            return 0, 0, counts
        tree = in_tree or where in TREE_ROOTS or named.name in TREE_TYPES
        size = 1 if tree else self.size(where, (node, definition), enclosing)
        if in_tree:  # counted where the tree is answered
            objects = 0
        elif tree:
            objects = self.tree
        else:
            objects = size
        walks = 1 if where in WALKS else 0
        inner = tuple(n.selection_set for n in nodes if n.selection_set is not None)
        if inner:
            inner_objects, inner_walks, inner_counts = self.of(
                inner, named, (node, definition), tree
            )
            objects += size * inner_objects
            walks += size * inner_walks
            if inner_counts and (where in COUNT_GROUPS or parent is self.serial_root):
                walks += 1  # the counts and lists below this field, for each of its parents
            else:
                counts = counts or inner_counts
        return objects, walks, counts

    def size(self, where: tuple[str, str], field: Enclosing, enclosing: Enclosing | None) -> int:
        rule = SIZES.get(where)
        if isinstance(rule, int):
            return rule
        if rule == TREE:
            return self.tree
        if rule is None:
            return UNSIZED_LIST if is_list_type(get_nullable_type(field[1].type)) else 1
        source, _, argument = rule.partition(":")
        holder = field if source == "arg" else enclosing
        value = self.argument(holder, argument) if holder is not None else None
        return UNSIZED_LIST if value is None else max(value, 0)

    def argument(self, field: Enclosing, name: str) -> int | None:
        """The size an argument of ``field`` asks for: a number as it is, a list's length;
        when it is not given (or is a variable the request does not give, which the executor
        replaces by the argument's default), its default (``None`` without one)."""
        node, definition = field
        for argument in node.arguments or ():
            if argument.name.value == name:
                given = self.value(argument.value)
                if given is not None:
                    return given
        declared = definition.args.get(name)
        default = declared.default_value if declared is not None else None
        return default if isinstance(default, int) and not isinstance(default, bool) else None

    def value(self, value: ValueNode) -> int | None:
        if isinstance(value, VariableNode):
            self.uses_variables = True
            if value.name.value not in self.variables:
                return None
            given = self.variables.get(value.name.value)
            if isinstance(given, list | tuple):
                return len(given)
            return given if isinstance(given, int) and not isinstance(given, bool) else 1
        if isinstance(value, ListValueNode):
            return len(value.values)
        if isinstance(value, IntValueNode):
            return int(value.value)
        return 1


def _add_new(groups: dict[str, list[FieldNode]], key: str, nodes: list[FieldNode]) -> None:
    """Add to ``key``'s group those of ``nodes`` it does not hold yet (by identity: a fragment
    spread twice brings the same nodes twice, and they are one field)."""
    group = groups.setdefault(key, [])
    group.extend(n for n in nodes if all(n is not other for other in group))


def estimate(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any],
    tree: int = MAX_TREE,
) -> tuple[Cost, bool]:
    """The operation's cost, a condition tree counting as ``tree`` objects, and whether it
    depends on the variables."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return Cost(0, 0, "", 0), False
    walker = _Estimate(schema, fragments, variables, tree)
    objects, walks, counts = walker.of((operation.selection_set,), root, None, False, root=True)
    walks += counts  # the counts and lists asked together share one walk
    largest, largest_objects = walker.largest
    return Cost(objects, walks, largest, largest_objects), walker.uses_variables


@dataclass(frozen=True)
class CostLimits:
    max_objects: int
    max_walks: int
    #: The objects a condition tree counts as: the conditions a tree may hold.
    max_tree: int = MAX_TREE


@functools.cache
def cost_limits(max_objects: int, max_walks: int, max_tree: int = MAX_TREE) -> CostLimits:
    """The limits of these settings, made once."""
    return CostLimits(max_objects, max_walks, max_tree)


_KEPT: IdentityCache[Cost] = IdentityCache(1024)


def check_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any],
    limits: CostLimits,
) -> None:
    """Raise a GraphQLError (``QUERY_TOO_LARGE``) when the operation may answer more objects
    or start more walks than ``limits`` allow."""
    kept_for = (id(schema), limits.max_tree)
    cost = _KEPT.get((operation,), kept_for)
    if cost is None:
        cost, varies = estimate(schema, operation, fragments, variables, limits.max_tree)
        if not varies:
            _KEPT.put((operation,), cost, kept_for)
    problems = []
    if cost.objects > limits.max_objects:
        problems.append(
            f"it may answer up to {cost.objects:,} objects (the most at {cost.largest}: "
            f"{cost.largest_objects:,}), where {limits.max_objects:,} are allowed "
            "(SEGGRAPH_MAX_QUERY_OBJECTS); ask for fewer items, ids, keys or aliases, or nest "
            "fewer lists"
        )
    if cost.walks > limits.max_walks:
        problems.append(
            f"it starts {cost.walks} walks over every subscriber (each segmentEditImpact is "
            f"one; the counts and members lists share one, those below each page of segments, "
            f"each segment's history, each subscriber's segments or each mutation one each), "
            f"where {limits.max_walks} are allowed (SEGGRAPH_MAX_QUERY_WALKS); send them in "
            "separate requests"
        )
    if problems:
        raise GraphQLError(
            "operation too large: " + "; ".join(problems),
            operation,
            extensions={"code": "QUERY_TOO_LARGE"},
        )
