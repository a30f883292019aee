"""Stage 1: the evaluation core against peer engines, on the same subscribers and segment.

Each engine prepares its native input once (not timed), then answers for every subscriber; the
time of the fastest of several passes over all of them, divided by their number, is its cost
per subscriber. The garbage collector is off during a pass (as ``timeit`` does), for every
engine alike. Every engine's membership is compared, subscriber by subscriber, with seggraph's.
"""

from __future__ import annotations

import gc
import importlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seggraph.evaluation import Truth

from .engines import (
    BASELINE,
    NATIVE,
    PURE_PYTHON,
    SEGGRAPH,
    Engine,
    HandWritten,
    SeggraphMany,
    SeggraphTruth,
)
from .peers import PEER_MODULES
from .workload import SEGMENT_TEXT, Subscriber, compiled_segment, seggraph_rows, subscribers

#: Targets of issue 7, as ratios measured in the same run.
TARGET_VS_FASTEST_PURE_PYTHON_PEER = 2.0  # seggraph at least this many times faster
TARGET_VS_PREDICATE = 3.0  # seggraph at most this many times slower


@dataclass
class Config:
    subscribers: int = 100_000
    repeats: int = 5
    #: Stop repeating an engine once its passes took this long (after at least two passes).
    budget_seconds: float = 30.0
    only: tuple[str, ...] = ()


@dataclass
class Measurement:
    engine: Engine
    seconds: list[float] = field(default_factory=list)
    prepare_seconds: float = 0.0
    members: list[bool] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)


def _load_engines(only: Sequence[str]) -> tuple[list[Engine], list[dict[str, str]]]:
    engines: list[Engine] = [SeggraphMany(), SeggraphTruth(), HandWritten()]
    skipped: list[dict[str, str]] = []
    for module_name in PEER_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.peers.{module_name}")
            engines.append(module.ENGINE())
        except ImportError as exc:
            print(f"  skipping peer {module_name}: {exc} (install with: pip install -e '.[bench]')")
            skipped.append({"peer": module_name, "reason": str(exc)})
    if only:
        wanted = {name.casefold() for name in only}
        engines = [
            e
            for e in engines
            if e.kind in (SEGGRAPH, BASELINE)
            or e.name.casefold() in wanted
            or e.__class__.__module__.rsplit(".", 1)[-1] in wanted
        ]
    return engines, skipped


def _timed_pass(engine: Engine, prepared: Any) -> tuple[float, Sequence[Any]]:
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        answers = engine.run(prepared)
        return time.perf_counter() - started, answers
    finally:
        gc.enable()


def _measure_all(
    engines: Sequence[Engine], population: Sequence[Subscriber], config: Config
) -> list[Measurement]:
    """Prepare every engine, then time them in rounds, each engine in turn, so that a slow spell
    of the machine falls on every engine alike; the best pass counts. An engine stops repeating
    once its passes took ``budget_seconds`` (after two passes)."""
    measurements: list[Measurement] = []
    inputs: list[Any] = []
    for engine in engines:
        m = Measurement(engine)
        started = time.perf_counter()
        prepared = engine.prepare(population)
        m.prepare_seconds = time.perf_counter() - started
        engine.run(prepared[:1000])  # warm caches (regex compiles, lazy imports)
        measurements.append(m)
        inputs.append(prepared)
    for round_ in range(config.repeats):
        print(f"core: round {round_ + 1}/{config.repeats}:", end="", flush=True)
        for m, prepared in zip(measurements, inputs, strict=True):
            if len(m.seconds) >= 2 and sum(m.seconds) > config.budget_seconds:
                continue
            # A fast engine takes a few passes a round (up to half a second of them), so a
            # short slow spell of a shared machine cannot spoil all of its samples.
            passes = 1 if not m.seconds else max(1, min(5, int(0.5 / m.seconds[-1])))
            for _ in range(passes):
                elapsed, answers = _timed_pass(m.engine, prepared)
                m.seconds.append(elapsed)
                if not m.members:
                    m.members = m.engine.members(answers)
            print(f" {m.engine.name} {m.best / len(population) * 1e6:.2f}µs", end=";", flush=True)
        print()
    return measurements


def _unknown_reasons(population: Sequence[Subscriber]) -> dict[str, Any]:
    """seggraph's three-valued answers, and why the UNKNOWN ones are UNKNOWN."""
    segment = compiled_segment()
    truths: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for subscriber_id, values in seggraph_rows(population):
        result = segment.evaluate(values, subscriber_id=subscriber_id)
        truths[result.truth.value] += 1
        if result.truth is Truth.UNKNOWN:
            for cause in result.unknown_reasons:
                reasons[f"{cause.reason.value} on {cause.property}"] += 1
    return {"truth": dict(truths), "unknown_causes": dict(reasons)}


def run(config: Config) -> dict[str, Any]:
    print(f"core: generating {config.subscribers:,} subscribers (seed 42)…")
    population = subscribers(config.subscribers)
    engines, skipped = _load_engines(config.only)
    measurements = _measure_all(engines, population, config)
    for m in measurements:
        us = m.best / len(population) * 1e6
        print(
            f"core: {m.engine.name}: {us:.3f} µs/subscriber, {sum(m.members):,} members, "
            f"best of {len(m.seconds)} passes"
        )

    reference = measurements[0]
    predicate = next(m for m in measurements if m.engine.kind == BASELINE)
    n = len(population)
    rows: list[dict[str, Any]] = []
    for m in measurements:
        differing = [
            i for i, (a, b) in enumerate(zip(m.members, reference.members, strict=True)) if a != b
        ]
        rows.append(
            {
                **m.engine.describe(),
                "us_per_subscriber": m.best / n * 1e6,
                "ratio_to_predicate": m.best / predicate.best,
                "passes": len(m.seconds),
                "seconds_per_pass": m.seconds,
                "prepare_seconds": m.prepare_seconds,
                "members": sum(m.members),
                "disagreements_with_seggraph": len(differing),
                "disagreeing_ids": [population[i].id for i in differing[:10]],
            }
        )
    summary = _summary(rows)
    return {
        "config": {
            "subscribers": n,
            "seed": 42,
            "repeats": config.repeats,
            "budget_seconds": config.budget_seconds,
            "timing": (
                "best pass over all subscribers (time.perf_counter, gc disabled during a pass),"
                " engines interleaved in rounds"
            ),
        },
        "segment": SEGMENT_TEXT,
        "seggraph_answers": _unknown_reasons(population),
        "engines": rows,
        "skipped_peers": skipped,
        "summary": summary,
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_name = {row["name"]: row for row in rows}
    seggraph = by_name["seggraph evaluate_many"]
    predicate = next(row for row in rows if row["kind"] == BASELINE)
    pure = [row for row in rows if row["kind"] == PURE_PYTHON]
    native = [row for row in rows if row["kind"] == NATIVE]
    summary: dict[str, Any] = {
        "seggraph_us": seggraph["us_per_subscriber"],
        "predicate_us": predicate["us_per_subscriber"],
        "seggraph_vs_predicate": seggraph["ratio_to_predicate"],
        "target_vs_predicate": TARGET_VS_PREDICATE,
        "meets_predicate_target": seggraph["ratio_to_predicate"] <= TARGET_VS_PREDICATE,
        "counts_agree": all(row["disagreements_with_seggraph"] == 0 for row in rows),
    }
    if pure:
        fastest = min(pure, key=lambda row: row["us_per_subscriber"])
        speedup = fastest["us_per_subscriber"] / seggraph["us_per_subscriber"]
        summary.update(
            fastest_pure_python_peer=fastest["name"],
            fastest_pure_python_peer_us=fastest["us_per_subscriber"],
            seggraph_speedup_vs_fastest_pure_python_peer=speedup,
            target_speedup=TARGET_VS_FASTEST_PURE_PYTHON_PEER,
            meets_peer_target=speedup >= TARGET_VS_FASTEST_PURE_PYTHON_PEER,
        )
    if native:
        fastest_native = min(native, key=lambda row: row["us_per_subscriber"])
        summary.update(
            native_peer=fastest_native["name"],
            seggraph_speedup_vs_native_peer=(
                fastest_native["us_per_subscriber"] / seggraph["us_per_subscriber"]
            ),
        )
    return summary
