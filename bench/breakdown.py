"""Where ``subscriber { segments }``'s server CPU goes, step by step, measured in-process:

    .venv/bin/python -m bench.breakdown [--subscribers 2000] [--requests 2000]

Builds a small copy of the stage-2 data set (billing objects imported, the 100 page segments,
20 of them tagged ``bench-20``), then runs the application in this process (no uvicorn: the
requests go straight to the ASGI app, 8 at a time, as 8 connections would send them) and
measures the CPU this process spends per request (``time.process_time``; the embedded
database is another process and is not counted). ``subscriber { segments }`` is also measured
with each step of its work made to answer from what it answered before (the ``kept`` of
``bench.floor_server``), cumulatively: the segments' read, the provider values, the prepared
segment set, then the whole evaluation (which is the floor server). What a step cost is the
difference between the row before it and its own row. The rows take turns, one run of each in
every round, and each row's figure is the median of its rounds: the shared machine's speed
drifts by more than a step costs, and a drift then falls on every row alike rather than on
the rows measured last.

Writes ``bench/results/breakdown.md``. Steps are replaced in this process only (seggraph
never imports this module); the kept answers would never change, so none of this serves.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

import orjson

from . import server as srv
from . import service_data as data
from .floor_server import _evaluate_key, _segments_key, kept
from .service import SUBSCRIBER_SEGMENTS, TRIVIAL, _create_segments
from .workload import subscribers

RESULTS = Path(__file__).resolve().parent / "results" / "breakdown.md"
CONNECTIONS = 8
RUNS = 9


#: (what is kept from this row on, the step it takes away, the EvaluationService method kept
#: and the key its answers are kept by), in order.
STEPS: list[tuple[str, str, str, Callable[..., Any]]] = [
    (
        "the segments' read kept",
        "finding the 20 segments (the snapshot of the write tokens, the kept query answer)",
        "segments_for",
        _segments_key,
    ),
    (
        "the provider values kept too",
        "the subscriber's values: the request's batcher, the plugin manager and the shared "
        "call, the billing provider (its database read, shared, and the derivation), read "
        "early or not",
        "_values_for",
        lambda contexts, keys: (tuple(contexts), keys),
    ),
    (
        "the prepared set kept too",
        "preparing the 20 segments (the compiled set, kept per version list)",
        "prepare_saved",
        lambda mode, targets: (mode, tuple((s.id, s.version) for s in targets)),
    ),
    (
        "the whole evaluation kept (the floor server)",
        "evaluating the 20 segments and making their outcomes",
        "evaluate",
        _evaluate_key,
    ),
]


def asgi_poster(app: Any, body: bytes) -> Callable[[], Awaitable[bytes]]:
    """A POST of ``body`` to ``/graphql`` straight into ``app``; answers the response body."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def post() -> bytes:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "app": app,
            "state": {},
        }
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])
        answer: list[bytes] = []

        async def receive() -> dict[str, Any]:
            found = next(messages, None)
            if found is None:  # a disconnect is asked for only once the answer is out
                await asyncio.Event().wait()
            return found or {}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"status {message['status']}")
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b""))

        await app(scope, receive, send)
        return b"".join(answer)

    return post


class CollectorClock:
    """The time the cyclic garbage collector runs, from ``gc.callbacks`` (finding 19)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


COLLECTOR = CollectorClock()


async def cpu_per_request(
    post: Callable[[], Awaitable[bytes]], requests: int
) -> tuple[float, float]:
    """µs of this process's CPU per request over ``requests`` requests, ``CONNECTIONS`` at a
    time, and µs of it the cyclic garbage collector ran."""

    async def connection() -> None:
        for _ in range(requests // CONNECTIONS):
            await post()

    if COLLECTOR not in gc.callbacks:
        gc.callbacks.append(COLLECTOR)
    collected = COLLECTOR.seconds
    started = time.process_time()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    cpu = (time.process_time() - started) / requests * 1e6
    return cpu, (COLLECTOR.seconds - collected) / requests * 1e6


class Kept:
    """How many of :data:`STEPS` answer from what they answered before (the first ``level``)."""

    level = 0


def keep_step(index: int, method: str, key: Callable[..., Any]) -> None:
    """``EvaluationService.<method>`` answering as :func:`bench.floor_server.kept` does while
    :attr:`Kept.level` is above ``index``, and as itself otherwise (in this process)."""
    from seggraph.services.evaluation import EvaluationService

    original = getattr(EvaluationService, method)
    keeping = kept(original, key)

    @wraps(original)
    async def answer(self: EvaluationService, *args: Any, **kwargs: Any) -> Any:
        if Kept.level > index:
            return await keeping(self, *args, **kwargs)
        return await original(self, *args, **kwargs)

    setattr(EvaluationService, method, answer)


def keep_prefetch_with(index: int) -> None:
    """``EvaluationService.prefetch`` (the early read of the subscriber's values) starting
    nothing while the values' step (``index``) is kept, as itself otherwise."""
    from seggraph.services.evaluation import EvaluationService

    original = EvaluationService.prefetch

    @wraps(original)
    def prefetch(self: EvaluationService, *args: Any, **kwargs: Any) -> None:
        if Kept.level <= index:
            original(self, *args, **kwargs)

    EvaluationService.prefetch = prefetch  # type: ignore[method-assign]


#: (the row's label, the step it takes away, µs of CPU per request, µs of the collector's).
Row = tuple[str, str, float, float]


async def measure(uri: str, member: str, requests: int) -> list[Row]:
    from seggraph.app import create_app
    from seggraph.settings import Settings

    settings = Settings(mongodb_uri=uri, database="seggraph", auth=False, _env_file=None)
    app = create_app(settings, freeze_after_startup=True)  # as `seggraph serve` does
    trivial = asgi_poster(app, orjson.dumps({"query": TRIVIAL}))
    question = asgi_poster(
        app, orjson.dumps({"query": SUBSCRIBER_SEGMENTS, "variables": {"id": member}})
    )
    for index, (_, _, method, key) in enumerate(STEPS):
        keep_step(index, method, key)
    keep_prefetch_with(next(i for i, step in enumerate(STEPS) if step[2] == "_values_for"))
    #: (label, the step its row takes away, the steps kept, the request).
    rows = [
        ("trivial query", "", 0, trivial),
        ("subscriber { segments }", "", 0, question),
        *((label, step, i + 1, question) for i, (label, step, _, _) in enumerate(STEPS)),
    ]
    costs: list[list[tuple[float, float]]] = [[] for _ in rows]
    async with app.router.lifespan_context(app):
        answer = orjson.loads(await question())
        if len(answer["data"]["subscriber"]["segments"]) != 20:
            raise RuntimeError(f"expected 20 segment results, got {answer}")
        for label, _, level, post in rows:  # each row's warm-up; the kept answers made
            Kept.level = level
            if post is question and orjson.loads(await question()) != answer:
                raise RuntimeError(f"{label}: the answer changed")
            await cpu_per_request(post, max(requests // 10, CONNECTIONS))
        for turn in range(RUNS):
            for (_, _, level, post), measured in zip(rows, costs, strict=True):
                Kept.level = level
                measured.append(await cpu_per_request(post, requests))
            figures = ", ".join(f"{c[-1][0]:,.0f}" for c in costs)
            print(f"breakdown: round {turn + 1}/{RUNS}: {figures} µs", flush=True)
    Kept.level = 0
    return [
        (
            label,
            step,
            statistics.median(cpu for cpu, _ in measured),
            statistics.median(collector for _, collector in measured),
        )
        for (label, step, _, _), measured in zip(rows, costs, strict=True)
    ]


def markdown(rows: list[Row], subscribers: int, requests: int) -> str:
    trivial = rows[0][2]
    lines = [
        "# Where subscriber { segments }'s server CPU goes",
        "",
        f"`python -m bench.breakdown`: {subscribers:,} subscribers, the application in the "
        f"bench's process (no HTTP server, frozen after start-up as `seggraph serve` does), "
        f"{CONNECTIONS} requests at a time; µs of the process's CPU per request (the "
        "embedded database's not counted), the median of "
        f"{RUNS} rounds in which every row runs {requests:,} requests in turn. From the third "
        "row on, each row keeps one more step's answers after their first request, so the "
        "step costs the difference to the row above. The cyclic garbage collector's share is "
        "timed with `gc.callbacks`.",
        "",
        "| request | µs / request | of which the cyclic collector | × trivial query "
        "| the step that row takes away | its cost, µs |",
        "|---|---:|---:|---:|---|---:|",
    ]
    previous: float | None = None
    for label, step, cost, collector in rows:
        taken = f"{previous - cost:,.0f}" if step and previous is not None else ""
        lines.append(
            f"| {label} | {cost:,.0f} | {collector:,.1f} | {cost / trivial:.2f} | {step} "
            f"| {taken} |"
        )
        if label != "trivial query":
            previous = cost
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    population = subscribers(args.subscribers)
    with tempfile.TemporaryDirectory(prefix="seggraph-breakdown-") as tmp:
        root = Path(tmp)
        with srv.embedded_with_billing(root / "db", data.billing_objects(population)) as uri:
            with srv.Server(root / "unused", SEGGRAPH_MONGODB_URI=uri) as server:
                _create_segments(server, data)
            member = min(data.expected_billing_members(population))
            rows = srv.run_on_uvloop(measure(uri, member, args.requests))
    RESULTS.write_text(markdown(rows, args.subscribers, args.requests))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
