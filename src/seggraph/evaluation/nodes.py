"""The compiled form of a condition tree: one node per condition or group.

Each node runs three ways (see ``compiler.py``): ``fast`` (the hot path, a closure built once),
``reasons`` (short-circuiting, collecting the causes of UNKNOWN) and ``observe`` (everything,
for explanations). All three share one coercion and one test per condition, so they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeAlias

from seggraph.domain.conditions import BUCKET_PROPERTY, Combinator, Condition, Operator
from seggraph.evaluation.buckets import bucket_index, threshold_of
from seggraph.evaluation.context import Env
from seggraph.evaluation.errors import CompileError
from seggraph.evaluation.explain import (
    ConditionExplanation,
    EvaluationResult,
    Explanation,
    GroupExplanation,
    Path,
    UnknownCause,
    ValueState,
    cause_of,
)
from seggraph.evaluation.predicates import Shortcut, Test
from seggraph.evaluation.truth import FALSE, NEGATION, TRUE, UNKNOWN, Truth
from seggraph.evaluation.values import MISSING, ResolvedValue, Unknown, UnknownReason
from seggraph.lru import LruCache

Values: TypeAlias = Mapping[str, Any]
FastFn: TypeAlias = Callable[[Values, Env], Truth]


def as_truth(result: Any) -> Truth | None:
    """A referenced segment's result as supplied: a Truth, a bool, an EvaluationResult, or None
    when the caller has none."""
    if result.__class__ is Truth:
        return result
    if result is None:
        return None
    if result is True:
        return TRUE
    if result is False:
        return FALSE
    if isinstance(result, EvaluationResult):
        return result.truth
    raise TypeError(
        f"a segment result is a Truth, a bool, an EvaluationResult or None, got {result!r}"
    )


class Node:
    """A compiled condition or group (see the module docstring for the three ways to run)."""

    __slots__ = ("fast", "path")

    fast: FastFn
    path: Path

    def observe(self, values: Values, env: Env) -> Explanation:
        raise NotImplementedError

    def reasons(self, values: Values, env: Env, out: list[UnknownCause]) -> Truth:
        """Appends to ``out`` only when returning UNKNOWN (groups rely on it)."""
        explanation = self.observe(values, env)
        if explanation.result is UNKNOWN:
            assert isinstance(explanation, ConditionExplanation)
            out.append(cause_of(explanation))
        return explanation.result


class PropertyLeaf(Node):
    """A condition on a provider value. ``test`` is ``None`` for ``IS_SET`` / ``IS_NOT_SET``,
    which look only at presence."""

    __slots__ = (
        "coerce",
        "condition",
        "direct",
        "general",
        "key",
        "on_missing",
        "on_present",
        "shortcut",
        "shown",
        "test",
    )

    def __init__(
        self,
        path: Path,
        condition: Condition,
        coerce: Callable[[Any], Any],
        direct: type,
        test: Test | None,
        shortcut: Shortcut | None = None,
        shown: Callable[[Any], Any] | None = None,
    ) -> None:
        self.path = path
        #: How an explanation shows a present value (None: as the provider sent it).
        self.shown = shown
        self.condition = condition
        self.key = condition.property
        self.coerce = coerce
        self.direct = direct
        self.test = test
        self.shortcut = shortcut
        # Missing: every operator is FALSE, except IS_NOT_SET.
        self.on_missing = TRUE if condition.operator is Operator.IS_NOT_SET else FALSE
        self.on_present = TRUE if condition.operator is Operator.IS_SET else FALSE
        self.fast = self._fast()

    def _fast(self) -> FastFn:
        key, coerce, test, direct = self.key, self.coerce, self.test, self.direct
        on_missing, on_present = self.on_missing, self.on_present
        if test is None:

            def presence(values: Values, env: Env) -> Truth:
                v = values.get(key, MISSING)
                if v.__class__ is ResolvedValue:
                    v = v.value
                if v is MISSING or v is None:
                    return on_missing
                if v.__class__ is Unknown:
                    return UNKNOWN
                return on_present

            return presence

        def check(values: Values, env: Env) -> Truth:
            v = values.get(key, MISSING)
            if v.__class__ is ResolvedValue:
                v = v.value
            if v.__class__ is direct:  # already the coerced value (see values.DIRECT_CLASS)
                r = test(v, env)
                return r if r.__class__ is Truth else UNKNOWN
            if v is MISSING or v is None:
                return on_missing
            if v.__class__ is Unknown:
                return UNKNOWN
            c = coerce(v)
            if c.__class__ is Unknown:
                return UNKNOWN
            r = test(c, env)
            return r if r.__class__ is Truth else UNKNOWN

        self.general = check
        if self.shortcut is None:
            return check
        return _with_shortcut(key, self.shortcut, on_missing, check)

    def inline(self) -> tuple[str, dict[str, Any]] | None:
        """How a group's generated fast path can answer this condition in place: the shape of
        its shortcut and the objects that shape reads (see ``_group_factory``), or ``None``."""
        shortcut = self.shortcut
        if shortcut is None:
            return None
        objects: dict[str, Any] = {
            "k": self.key,
            "m": self.on_missing,
            "g": self.general,
            "c": shortcut.classes[0],
        }
        if shortcut.table is not None:
            objects["t"] = shortcut.table.get
            return "table", objects
        objects["p"] = shortcut.predicate
        objects["y"], objects["n"] = (FALSE, TRUE) if shortcut.negated else (TRUE, FALSE)
        if shortcut.classes != (Decimal, int):
            return "predicate", objects
        if shortcut.other is None:
            return "numeric", objects
        objects["o"] = shortcut.other
        return "money", objects

    def observe(self, values: Values, env: Env) -> ConditionExplanation:
        raw = values.get(self.key, MISSING)
        provider: str | None = None
        latency: float | None = None
        note: str | None = None
        # The same exact-class checks as the fast path, so both read a value the same way.
        if raw.__class__ is ResolvedValue:
            provider, latency, note, raw = raw.provider, raw.latency_ms, raw.note, raw.value
        unknown: Unknown | None = None
        actual: Any
        if raw is MISSING or raw is None:
            actual, state, result = MISSING, ValueState.MISSING, self.on_missing
        elif raw.__class__ is Unknown:
            actual, state, result, unknown = raw, ValueState.UNKNOWN, UNKNOWN, raw
        else:
            actual, state, result = raw, ValueState.PRESENT, self.on_present
            if self.shown is not None:
                actual = self.shown(raw)
            if self.test is not None:
                coerced = self.coerce(raw)
                if isinstance(coerced, Unknown):
                    result, unknown = UNKNOWN, coerced
                else:
                    outcome = self.test(coerced, env)
                    if isinstance(outcome, Unknown):
                        result, unknown = UNKNOWN, outcome
                    else:
                        result = outcome
        condition = self.condition
        return ConditionExplanation(
            path=self.path,
            property=condition.property,
            operator=condition.operator,
            expected=condition.value,
            actual=actual,
            state=state,
            result=result,
            unknown=unknown,
            provider=provider,
            latency_ms=latency,
            case_insensitive=condition.case_insensitive,
            note=note,
        )


def _with_shortcut(key: str, shortcut: Shortcut, on_missing: Truth, general: FastFn) -> FastFn:
    """The hot path of a condition with a shortcut: a value of one of the shortcut's classes is
    answered in place (a dict lookup or one C-level call, no coercion, no test closure); a
    missing value at once; anything else (a wrapped, unknown or other-typed value) by the
    general ``check``, which gives the same answer for every value."""
    table = shortcut.table
    if table is not None:
        (cls,) = shortcut.classes
        lookup = table.get

        def by_table(values: Values, env: Env) -> Truth:
            v: Any = values.get(key)  # absent: None, which is missing too
            if v.__class__ is cls:
                r = lookup(v)
                if r is not None:
                    return r
            elif v is None or v is MISSING:
                return on_missing
            return general(values, env)

        return by_table
    predicate = shortcut.predicate
    assert predicate is not None
    yes, no = (FALSE, TRUE) if shortcut.negated else (TRUE, FALSE)
    if shortcut.classes == (Decimal, int):
        other = shortcut.other

        def numeric(values: Values, env: Env) -> Truth:
            v: Any = values.get(key)  # absent: None, which is missing too
            c = v.__class__
            if c is Decimal:
                if v.is_finite():
                    return yes if predicate(v) else no
            elif c is int:
                return yes if predicate(v) else no
            elif v is None or v is MISSING:
                return on_missing
            elif other is not None:
                r = other(v)
                if r is not None:
                    return r
            return general(values, env)

        return numeric
    (cls,) = shortcut.classes

    def by_predicate(values: Values, env: Env) -> Truth:
        v: Any = values.get(key)  # absent: None, which is missing too
        if v.__class__ is cls:
            return yes if predicate(v) else no
        if v is None or v is MISSING:
            return on_missing
        return general(values, env)

    return by_predicate


class SegmentLeaf(Node):
    """``IN_SEGMENT`` / ``NOT_IN_SEGMENT``: the referenced segment's result, supplied by the
    caller (computed before, in :func:`~seggraph.evaluation.ordering.evaluation_order`)."""

    __slots__ = ("condition", "negated", "segment_id")

    def __init__(self, path: Path, condition: Condition) -> None:
        if not isinstance(condition.value, str) or not condition.value:
            raise CompileError(path + ("value",), f"{condition.operator.value} takes a segment id")
        self.path = path
        self.condition = condition
        self.segment_id = condition.value
        self.negated = condition.operator is Operator.NOT_IN_SEGMENT
        self.fast = self._fast()

    def _fast(self) -> FastFn:
        segment_id = self.segment_id
        table = NEGATION if self.negated else {TRUE: TRUE, FALSE: FALSE, UNKNOWN: UNKNOWN}

        def referenced(values: Values, env: Env) -> Truth:
            result = env.lookup(segment_id)
            if result.__class__ is not Truth:
                result = as_truth(result)
                if result is None:
                    return UNKNOWN
            return table[result]

        return referenced

    def observe(self, values: Values, env: Env) -> ConditionExplanation:
        found = as_truth(env.lookup(self.segment_id))
        unknown: Unknown | None = None
        actual: Any = found
        if found is None:
            state, result = ValueState.UNKNOWN, UNKNOWN
            unknown = Unknown(
                UnknownReason.SEGMENT_UNKNOWN, f"no result for segment {self.segment_id!r}"
            )
            actual = unknown
        elif found is UNKNOWN:
            state, result = ValueState.UNKNOWN, UNKNOWN
            unknown = Unknown(
                UnknownReason.SEGMENT_UNKNOWN, f"segment {self.segment_id!r} is UNKNOWN"
            )
        else:
            state, result = ValueState.PRESENT, NEGATION[found] if self.negated else found
        condition = self.condition
        return ConditionExplanation(
            self.path,
            condition.property,
            condition.operator,
            condition.value,
            actual,
            state,
            result,
            unknown,
        )


class UnavailableLeaf(Node):
    """A saved condition the catalogue cannot read any more (its property is gone, no longer
    allows the operator, or no longer reads the value): always UNKNOWN, a provider error that
    says why. It reads no value."""

    __slots__ = ("condition", "unknown")

    def __init__(self, path: Path, condition: Condition, why: str) -> None:
        self.path = path
        self.condition = condition
        self.unknown = Unknown(UnknownReason.PROVIDER_ERROR, why)
        self.fast = _always_unknown

    def observe(self, values: Values, env: Env) -> ConditionExplanation:
        condition = self.condition
        return ConditionExplanation(
            self.path,
            condition.property,
            condition.operator,
            condition.value,
            self.unknown,
            ValueState.UNKNOWN,
            UNKNOWN,
            self.unknown,
        )


def _always_unknown(values: Values, env: Env) -> Truth:
    return UNKNOWN


class BucketLeaf(Node):
    """``PERCENTAGE``: TRUE when the subscriber's bucket is below the percentage."""

    __slots__ = ("condition", "owner", "threshold")

    def __init__(self, path: Path, condition: Condition, segment_id: str) -> None:
        if condition.property != BUCKET_PROPERTY:
            raise CompileError(path + ("property",), f"PERCENTAGE applies to {BUCKET_PROPERTY}")
        value = condition.value
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise CompileError(path + ("value",), f"PERCENTAGE takes a number, got {value!r}")
        percentage = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not percentage.is_finite():
            raise CompileError(path + ("value",), f"PERCENTAGE takes a number, got {value!r}")
        self.path = path
        self.condition = condition
        self.owner = segment_id
        self.threshold = threshold_of(percentage)
        self.fast = self._fast()

    def _fast(self) -> FastFn:
        owner, threshold = self.owner, self.threshold

        def bucket(values: Values, env: Env) -> Truth:
            return TRUE if bucket_index(owner, env.subscriber_id) < threshold else FALSE

        return bucket

    def observe(self, values: Values, env: Env) -> ConditionExplanation:
        index = bucket_index(self.owner, env.subscriber_id)
        condition = self.condition
        return ConditionExplanation(
            self.path,
            condition.property,
            condition.operator,
            condition.value,
            Decimal(index).scaleb(-3),
            ValueState.PRESENT,
            TRUE if index < self.threshold else FALSE,
        )


#: Groups of up to this many children get a generated fast path (see ``_group_factory``).
_MAX_UNROLLED = 8
#: How many generated factories are kept. There is one per combinator and sequence of shapes,
#: and a client's drafts (previewConditions) can ask for any of over a million (three
#: combinators, five shapes, two to eight children): kept without a bound, each new one was
#: about 6 KB more for the life of the process. The saved segments' groups need a few dozen.
FACTORIES_KEPT = 1024
_FACTORIES: LruCache[tuple[Combinator, tuple[str, ...]], Callable[..., FastFn]] = LruCache(
    FACTORIES_KEPT
)

#: A number answered in place, a missing value at once; what follows the ``else:`` answers
#: any other value (shared by the ``numeric`` and ``money`` shapes below).
_NUMBER_IN_PLACE = """
        v = values.get(k{i})
        c = v.__class__
        if (c is Decimal and v.is_finite()) or c is int:
            r{i} = y{i} if p{i}(v) else n{i}
        elif v is None or v is MISSING:
            r{i} = m{i}
        else:"""

# The source of one child in a generated group, by shape; ``{i}`` is the child's index. A
# shortcut leaf is answered in place exactly as ``_with_shortcut`` answers it.
_CHILD_SOURCE = {
    "call": """
        r{i} = f{i}(values, env)""",
    "predicate": """
        v = values.get(k{i})
        if v.__class__ is c{i}:
            r{i} = y{i} if p{i}(v) else n{i}
        elif v is None or v is MISSING:
            r{i} = m{i}
        else:
            r{i} = g{i}(values, env)""",
    "numeric": _NUMBER_IN_PLACE
    + """
            r{i} = g{i}(values, env)""",
    # A money amount: the bare number's test, then a Money's (``Shortcut.other``).
    "money": _NUMBER_IN_PLACE
    + """
            r{i} = o{i}(v)
            if r{i} is None:
                r{i} = g{i}(values, env)""",
    "table": """
        v = values.get(k{i})
        r{i} = t{i}(v) if v.__class__ is c{i} else None
        if r{i} is None:
            r{i} = m{i} if v is None or v is MISSING else g{i}(values, env)""",
}


def _group_factory(combinator: Combinator, shapes: tuple[str, ...]) -> Callable[..., FastFn]:
    """A factory ``make(**objects)`` of a group's fast path with every child written out in
    order, short-circuiting like the loop in ``GroupNode._fast``: a child condition with a
    shortcut is answered in place, any other child is called. On the hot path, the loop and
    the call to each condition were over half a group's time.

    The source is built from the combinator and the children's shapes alone: no key, value or
    other condition data ever reaches it (those are the ``make`` arguments, bound by name,
    ``k0``, ``p0``, ...). One factory per combinator and sequence of shapes, made once while
    :data:`_FACTORIES` keeps it."""
    factory = _FACTORIES.get((combinator, shapes))
    if factory is not None:
        return factory
    arguments: list[str] = []
    body: list[str] = []
    for i, shape in enumerate(shapes):
        arguments += [f"{name}{i}" for name in _SHAPE_ARGUMENTS[shape]]
        body.append(_CHILD_SOURCE[shape].format(i=i))
        body.append(f"        if r{i} is DECISIVE: return ON_DECISIVE")
    any_unknown = " or ".join(f"r{i} is UNKNOWN" for i in range(len(shapes)))
    source = "\n".join(
        [
            f"def make({', '.join(arguments)}):",
            "    def group(values, env):",
            *body,
            f"        if {any_unknown}: return UNKNOWN",
            "        return OTHERWISE",
            "    return group",
        ]
    )
    namespace: dict[str, Any] = {
        "DECISIVE": FALSE if combinator is Combinator.ALL else TRUE,
        "ON_DECISIVE": TRUE if combinator is Combinator.ANY else FALSE,
        "OTHERWISE": FALSE if combinator is Combinator.ANY else TRUE,
        "UNKNOWN": UNKNOWN,
        "MISSING": MISSING,
        "Decimal": Decimal,
    }
    name = f"<seggraph {combinator.value} group: {' '.join(shapes)}>"
    exec(compile(source, name, "exec"), namespace)
    factory = namespace["make"]
    _FACTORIES.put((combinator, shapes), factory)
    return factory


_SHAPE_ARGUMENTS = {
    "call": ("f",),
    "predicate": ("k", "c", "p", "y", "n", "m", "g"),
    "numeric": ("k", "p", "y", "n", "m", "g"),
    "table": ("k", "c", "t", "m", "g"),
    "money": ("k", "p", "y", "n", "o", "m", "g"),
}


def _generated_group(combinator: Combinator, children: Sequence[Node]) -> FastFn:
    shapes: list[str] = []
    objects: dict[str, Any] = {}
    for i, child in enumerate(children):
        inline = child.inline() if isinstance(child, PropertyLeaf) else None
        if inline is None:
            shapes.append("call")
            objects[f"f{i}"] = child.fast
            continue
        shape, found = inline
        shapes.append(shape)
        for name in _SHAPE_ARGUMENTS[shape]:
            objects[f"{name}{i}"] = found[name]
    return _group_factory(combinator, tuple(shapes))(**objects)


def combine(combinator: Combinator, results: Sequence[Truth]) -> Truth:
    """Kleene logic of a group (no short-circuit: for explanations)."""
    if combinator is Combinator.ALL:
        if FALSE in results:
            return FALSE
        return UNKNOWN if UNKNOWN in results else TRUE
    any_ = TRUE if TRUE in results else UNKNOWN if UNKNOWN in results else FALSE
    return any_ if combinator is Combinator.ANY else NEGATION[any_]


class GroupNode(Node):
    __slots__ = ("children", "combinator")

    def __init__(self, path: Path, combinator: Combinator, children: Sequence[Node]) -> None:
        self.path = path
        self.combinator = combinator
        self.children = tuple(children)
        self.fast = self._fast()

    def _fast(self) -> FastFn:
        combinator = self.combinator
        fns = tuple(child.fast for child in self.children)
        if not fns:
            empty = FALSE if combinator is Combinator.ANY else TRUE
            return lambda values, env: empty
        if len(fns) == 1:
            only = fns[0]
            if combinator is Combinator.NONE:
                return lambda values, env: NEGATION[only(values, env)]
            return only
        if len(fns) <= _MAX_UNROLLED:
            return _generated_group(combinator, self.children)
        if combinator is Combinator.ALL:

            def all_(values: Values, env: Env) -> Truth:
                unknown = False
                for fn in fns:
                    r = fn(values, env)
                    if r is FALSE:
                        return FALSE
                    if r is UNKNOWN:
                        unknown = True
                return UNKNOWN if unknown else TRUE

            return all_

        def any_(values: Values, env: Env) -> Truth:
            unknown = False
            for fn in fns:
                r = fn(values, env)
                if r is TRUE:
                    return TRUE
                if r is UNKNOWN:
                    unknown = True
            return UNKNOWN if unknown else FALSE

        if combinator is Combinator.ANY:
            return any_
        return lambda values, env: NEGATION[any_(values, env)]

    def observe(self, values: Values, env: Env) -> GroupExplanation:
        children = tuple(child.observe(values, env) for child in self.children)
        result = combine(self.combinator, [child.result for child in children])
        return GroupExplanation(self.path, self.combinator, result, children)

    def reasons(self, values: Values, env: Env, out: list[UnknownCause]) -> Truth:
        mark = len(out)
        decisive = FALSE if self.combinator is Combinator.ALL else TRUE
        unknown = False
        for child in self.children:
            r = child.reasons(values, env, out)
            if r is decisive:
                del out[mark:]
                return NEGATION[r] if self.combinator is Combinator.NONE else r
            if r is UNKNOWN:
                unknown = True
        if unknown:
            return UNKNOWN
        return NEGATION[decisive] if self.combinator is not Combinator.NONE else decisive
