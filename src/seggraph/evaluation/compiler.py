"""Compiling a segment's condition tree into closures, and evaluating it.

``compile_segment`` walks the tree once. Every condition and group becomes a node (see
``nodes.py``) with three ways to run:

- ``fast(values, env) -> Truth``: the hot path. No dispatch on operator names, no allocation
  on the common path; groups short-circuit. A condition answers the value classes providers
  send nearly always through a shortcut (``predicates.build_shortcut``: a table or one C-level
  call, no coercion), and a group of up to eight children runs a generated function with its
  children written out and those conditions inlined (``nodes._group_factory``); every other
  value takes the general path, which gives the same answers.
- ``reasons(values, env, out) -> Truth``: short-circuits like ``fast`` and also collects the
  causes of an UNKNOWN result (used by ``evaluate(explain=False)``).
- ``observe(values, env) -> Explanation``: evaluates every condition and records what it saw.

All three share the same coercions and tests (``values.py``, ``predicates.py``), so they agree
by construction; the reference-agreement tests check it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date
from functools import partial
from typing import Protocol, TypeAlias

from seggraph.domain.conditions import Combinator, Condition, Group, Operator, RelativeDate
from seggraph.domain.properties import PropertyDefinition
from seggraph.evaluation.context import Env, EvaluationOptions, SegmentLookup, no_segment_results
from seggraph.evaluation.dates import shift
from seggraph.evaluation.errors import CompileError
from seggraph.evaluation.explain import EvaluationResult, Path, UnknownCause, unknown_causes
from seggraph.evaluation.nodes import (
    BucketLeaf,
    GroupNode,
    Node,
    PropertyLeaf,
    SegmentLeaf,
    UnavailableLeaf,
    Values,
)
from seggraph.evaluation.predicates import (
    ConditionValueError,
    Shortcut,
    Test,
    build_shortcut,
    build_test,
)
from seggraph.evaluation.truth import UNKNOWN, Truth
from seggraph.evaluation.values import DIRECT_CLASS, coercer_of, shown_as_read

#: The result of a TRUE or FALSE answer without an explanation, made once (results are frozen).
_KNOWN_RESULTS = {truth: EvaluationResult(truth) for truth in (Truth.TRUE, Truth.FALSE)}

SegmentResults: TypeAlias = (
    "Mapping[str, Truth | bool | None] | Callable[[str], Truth | bool | None]"
)
#: Referenced segments' results for a batch: by subscriber id, then segment id; or a callable
#: ``(subscriber_id, segment_id) -> Truth | None``.
BatchSegmentResults: TypeAlias = (
    "Mapping[str, Mapping[str, Truth | bool | None]] | Callable[[str, str], Truth | bool | None]"
)


class PropertyLookup(Protocol):
    """What the compiler needs of a catalogue: a definition by key (a ``Mapping`` will do)."""

    def get(self, key: str, /) -> PropertyDefinition | None: ...


def _lookup_for(segment_results: SegmentResults | None) -> SegmentLookup:
    if segment_results is None:
        return no_segment_results
    if isinstance(segment_results, Mapping):
        return segment_results.get
    if callable(segment_results):
        return segment_results
    raise TypeError(f"segment_results must be a mapping or a callable, got {segment_results!r}")


# --- compiling -----------------------------------------------------------------------------------


class _Builder:
    def __init__(
        self,
        catalogue: PropertyLookup,
        segment_id: str,
        options: EvaluationOptions,
        lenient: bool = False,
    ):
        self.catalogue = catalogue
        self.lenient = lenient
        self.segment_id = segment_id
        self.options = options
        self.keys: set[str] = set()
        self.refs: set[str] = set()
        self.shifts: list[tuple[RelativeDate, int]] = []
        self.conditions = 0
        #: Whether a condition reads the subscriber id (PERCENTAGE buckets do).
        self.reads_subscriber_id = False

    def unavailable(self, path: Path, condition: Condition, why: str) -> Node:
        """A condition the catalogue cannot read: a :class:`CompileError`, or with ``lenient``
        (saved segments) a leaf that is UNKNOWN with ``why``, so that a provider that is gone
        makes its own conditions UNKNOWN instead of failing every question they are part of."""
        if not self.lenient:
            raise CompileError(path, why)
        return UnavailableLeaf(path[:-1], condition, why)

    def bound_index(self, relative: RelativeDate, direction: int) -> int:
        wanted = (relative, direction)
        if wanted not in self.shifts:
            self.shifts.append(wanted)
        return self.shifts.index(wanted)

    def group(self, group: Group, path: Path) -> GroupNode:
        if not isinstance(group, Group):
            raise CompileError(path, f"expected a group, got {group!r}")
        children: list[Node] = []
        for index, child in enumerate(group.children):
            at = (*path, "children", index)
            if isinstance(child, Group):
                children.append(self.group(child, at))
            elif isinstance(child, Condition):
                children.append(self.condition(child, at))
            else:
                raise CompileError(at, f"expected a condition or a group, got {child!r}")
        return GroupNode(path, Combinator(group.combinator), children)

    def condition(self, condition: Condition, path: Path) -> Node:
        self.conditions += 1
        operator = Operator(condition.operator)
        if operator in (Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT):
            leaf = SegmentLeaf(path, condition)
            self.refs.add(leaf.segment_id)
            return leaf
        if operator is Operator.PERCENTAGE:
            self.reads_subscriber_id = True
            return BucketLeaf(path, condition, self.segment_id)
        definition = self.catalogue.get(condition.property)
        if definition is None:
            return self.unavailable(
                path + ("property",),
                condition,
                f"there is no property {condition.property!r} in the catalogue (its provider "
                "is disabled, failed to start or no longer declares it)",
            )
        if operator not in definition.operators:
            return self.unavailable(
                path + ("operator",),
                condition,
                f"{operator.value} is not allowed for {definition.key} ({definition.type.value})",
            )
        options = self.options
        coerce = coercer_of(definition, timezone=options.timezone, currency=options.currency)
        test: Test | None = None
        shortcut: Shortcut | None = None
        if operator not in (Operator.IS_SET, Operator.IS_NOT_SET):
            try:
                test = build_test(
                    definition,
                    operator,
                    condition.value,
                    condition.case_insensitive,
                    options,
                    self.bound_index,
                )
                shortcut = build_shortcut(
                    definition, operator, condition.value, condition.case_insensitive, options
                )
            except ConditionValueError as exc:
                return self.unavailable(
                    path + ("value",), condition, f"{definition.key} {operator.value}: {exc}"
                )
        self.keys.add(definition.key)
        return PropertyLeaf(
            path,
            condition,
            coerce,
            DIRECT_CLASS[definition.type],
            test,
            shortcut,
            shown_as_read(definition, options.timezone),
        )


def compile_segment(
    root: Group,
    catalogue: PropertyLookup,
    *,
    segment_id: str,
    options: EvaluationOptions | None = None,
    lenient: bool = False,
) -> CompiledSegment:
    """Compile a validated tree once; evaluate it many times. Raises :class:`CompileError` when
    the tree does not fit the catalogue (it was validated against another one), or, with
    ``lenient``, makes each condition on a property it lacks, an operator it no longer allows
    or a value it no longer reads UNKNOWN (a provider error naming why): a saved segment
    outlives the providers it was written for."""
    options = options or EvaluationOptions()
    builder = _Builder(catalogue, segment_id, options, lenient)
    node = builder.group(root, ("conditions",))
    return CompiledSegment(
        segment_id=segment_id,
        root=root,
        node=node,
        keys=frozenset(builder.keys),
        segment_refs=frozenset(builder.refs),
        shifts=tuple(builder.shifts),
        options=options,
        condition_count=builder.conditions,
        reads_subscriber_id=builder.reads_subscriber_id,
    )


class CompiledSegment:
    """A segment ready to evaluate. Immutable after construction apart from a one-entry cache
    of the relative-date bounds of the current day; safe to share between threads.

    ``keys`` are the property keys the segment reads (fetch these from the providers);
    ``segment_refs`` the ids of the segments it references (evaluate those first).
    """

    __slots__ = (
        "_day",
        "_fast",
        "_node",
        "_reads_subscriber_id",
        "_shared_env",
        "_shifts",
        "condition_count",
        "keys",
        "options",
        "root",
        "segment_id",
        "segment_refs",
    )

    def __init__(
        self,
        *,
        segment_id: str,
        root: Group,
        node: GroupNode,
        keys: frozenset[str],
        segment_refs: frozenset[str],
        shifts: tuple[tuple[RelativeDate, int], ...],
        options: EvaluationOptions,
        condition_count: int,
        reads_subscriber_id: bool = True,
    ) -> None:
        self.segment_id = segment_id
        self.root = root
        self.keys = keys
        self.segment_refs = segment_refs
        self.options = options
        self.condition_count = condition_count
        self._node = node
        self._fast = node.fast
        self._shifts = shifts
        self._day: tuple[date, tuple[date, ...]] | None = None
        self._reads_subscriber_id = reads_subscriber_id
        # One Env for every call that needs nothing per call (no subscriber id, no clock, no
        # referenced segments): nothing writes to it, so threads can share it.
        self._shared_env = (
            None if reads_subscriber_id or shifts else Env("", None, (), no_segment_results)
        )

    def __repr__(self) -> str:
        return f"<CompiledSegment {self.segment_id!r}: {self.condition_count} conditions>"

    @property
    def uses_clock(self) -> bool:
        """Whether the segment has relative date conditions (its answer changes with the day)."""
        return bool(self._shifts)

    def _today(self) -> tuple[date | None, tuple[date, ...]]:
        """Today in the account zone and the segment's relative bounds for it, recomputed only
        when the day changes."""
        if not self._shifts:
            return None, ()
        now = self.options.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        today = now.astimezone(self.options.timezone).date()
        cached = self._day
        if cached is not None and cached[0] == today:
            return cached
        bounds = tuple(shift(today, relative, direction) for relative, direction in self._shifts)
        self._day = (today, bounds)
        return today, bounds

    def _env(self, subscriber_id: str, segment_results: SegmentResults | None) -> Env:
        today, bounds = self._today()
        return Env(subscriber_id, today, bounds, _lookup_for(segment_results))

    def evaluate_truth(
        self,
        values: Values,
        subscriber_id: str,
        segment_results: SegmentResults | None = None,
    ) -> Truth:
        """The hot path: only the truth, short-circuiting, building no explanation objects."""
        if segment_results is None:
            shared = self._shared_env
            if shared is not None:
                return self._fast(values, shared)
        if not self._shifts and segment_results is None:
            return self._fast(values, Env(subscriber_id, None, (), no_segment_results))
        return self._fast(values, self._env(subscriber_id, segment_results))

    def evaluate(
        self,
        values: Values,
        *,
        subscriber_id: str,
        segment_results: SegmentResults | None = None,
        explain: bool = False,
        plain: Values | None = None,
    ) -> EvaluationResult:
        """The truth, the causes when it is UNKNOWN, and, with ``explain=True``, every
        condition's explanation (every condition is then evaluated; the truth is the same).

        ``plain``: ``values`` already :func:`~seggraph.evaluation.values.unwrapped`, for the
        truth (a caller evaluating many segments on one row unwraps it once); the causes and
        the explanation still read ``values``, for the providers they name."""
        shared = self._shared_env
        if shared is not None and not self.segment_refs:
            # Nothing of the call is read (no subscriber id, no clock, no other segment):
            # the one shared Env serves, as in evaluate_truth.
            env = shared
        else:
            env = self._env(subscriber_id, segment_results)
        if explain:
            explanation = self._node.observe(values, env)
            causes = unknown_causes(explanation)
            return EvaluationResult(explanation.result, tuple(causes), explanation)
        truth = self._fast(values if plain is None else plain, env)
        if truth is not UNKNOWN:
            return _KNOWN_RESULTS[truth]
        # Rare: walk again, short-circuiting the same way, collecting the causes.
        out: list[UnknownCause] = []
        truth = self._node.reasons(values, env, out)
        return EvaluationResult(truth, tuple(out))

    def result(self, values: Values, plain: Values, subscriber_id: str) -> EvaluationResult:
        """``evaluate(values, subscriber_id=subscriber_id, plain=plain)`` for a segment that
        references no other, without explanation: what a subscriber's segments ask of each
        segment, with one call and no keyword arguments (``plain``: ``values`` unwrapped)."""
        shared = self._shared_env
        if shared is not None:
            truth = self._fast(plain, shared)
        else:
            truth = self.evaluate_truth(plain, subscriber_id)
        if truth is not UNKNOWN:
            return _KNOWN_RESULTS[truth]
        return self.evaluate(values, subscriber_id=subscriber_id, plain=plain)

    def evaluate_many(
        self,
        rows: Sequence[tuple[str, Values]],
        *,
        segment_results: BatchSegmentResults | None = None,
    ) -> list[Truth]:
        """``evaluate_truth`` for many subscribers, reading the clock once for the batch."""
        today, bounds = self._today()
        env = Env("", today, bounds, no_segment_results)
        fast = self._fast
        out: list[Truth] = []
        append = out.append
        if segment_results is None:
            if not self._reads_subscriber_id:
                return [fast(values, env) for _, values in rows]
            for subscriber_id, values in rows:
                env.subscriber_id = subscriber_id
                append(fast(values, env))
            return out
        for subscriber_id, values in rows:
            env.subscriber_id = subscriber_id
            if isinstance(segment_results, Mapping):
                env.lookup = _lookup_for(segment_results.get(subscriber_id))
            else:
                env.lookup = partial(segment_results, subscriber_id)
            append(fast(values, env))
        return out


def results_of(
    segments: Sequence[CompiledSegment], values: Values, plain: Values, subscriber_id: str
) -> list[EvaluationResult]:
    """``[s.result(values, plain, subscriber_id) for s in segments]``: a segment that needs
    nothing of the call runs its fast path in place, with no call of its own (a subscriber's
    segments are twenty such per request)."""
    out: list[EvaluationResult] = []
    append = out.append
    for segment in segments:
        shared = segment._shared_env
        if shared is not None:
            truth = segment._fast(plain, shared)
            if truth is not UNKNOWN:
                append(_KNOWN_RESULTS[truth])
                continue
        append(segment.result(values, plain, subscriber_id))
    return out
