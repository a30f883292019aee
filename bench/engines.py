"""What every engine in the core comparison provides, and seggraph's own entries.

An engine turns the engine-neutral subscribers into its native input once (``prepare``, not
timed: every engine gets its data in the form it reads best), then answers the segment for all
of them (``run``, timed). ``members`` reads the answers as membership, outside the timing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib import metadata
from typing import Any, ClassVar

from seggraph.evaluation import Truth

from .workload import Subscriber, compiled_segment, hand_written, seggraph_rows

#: Kinds of engine, as the report groups them.
SEGGRAPH = "seggraph"
BASELINE = "baseline"
PURE_PYTHON = "peer, pure Python"
NATIVE = "peer, Rust via FFI"


class Engine(ABC):
    #: Short name for tables and the chart.
    name: ClassVar[str]
    #: The PyPI distribution whose version is reported (``None``: this repository).
    distribution: ClassVar[str | None] = None
    kind: ClassVar[str]
    #: How the segment is expressed natively, in a line.
    expression: ClassVar[str]
    #: Where the engine's answer can differ from seggraph's, and why (empty: it cannot here).
    differences: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def prepare(self, population: Sequence[Subscriber]) -> Any:
        """The engine's native input for every subscriber (not timed)."""

    @abstractmethod
    def run(self, prepared: Any) -> Sequence[Any]:
        """The engine's answer for every subscriber, in order (timed)."""

    def members(self, answers: Sequence[Any]) -> list[bool]:
        """Each answer read as membership."""
        return [answer is True for answer in answers]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "package": self.package(),
            "expression": self.expression,
            "differences": list(self.differences),
        }

    def package(self) -> str:
        if self.distribution is None:
            return "this repository"
        return f"{self.distribution} {metadata.version(self.distribution)}"


class SeggraphMany(Engine):
    name = "seggraph evaluate_many"
    kind = SEGGRAPH
    expression = "the segment's condition tree, compiled once; CompiledSegment.evaluate_many(rows)"

    def __init__(self) -> None:
        self.segment = compiled_segment()

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        return seggraph_rows(population)

    def run(self, prepared: Any) -> Sequence[Any]:
        return self.segment.evaluate_many(prepared)

    def members(self, answers: Sequence[Any]) -> list[bool]:
        return [answer is Truth.TRUE for answer in answers]


class SeggraphTruth(SeggraphMany):
    name = "seggraph evaluate_truth"
    expression = "the same compiled segment; CompiledSegment.evaluate_truth(values, id) per row"

    def run(self, prepared: Any) -> Sequence[Any]:
        truth = self.segment.evaluate_truth
        return [truth(values, subscriber_id) for subscriber_id, values in prepared]


class HandWritten(Engine):
    name = "hand-written predicate"
    kind = BASELINE
    expression = "bench.workload.hand_written: a plain Python function over the same value dicts"

    def prepare(self, population: Sequence[Subscriber]) -> Any:
        return [values for _, values in seggraph_rows(population)]

    def run(self, prepared: Any) -> Sequence[Any]:
        return [hand_written(values) for values in prepared]
