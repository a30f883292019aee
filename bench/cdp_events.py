"""The CDP's event properties on the embedded database: ``CdpStore.event_stats`` with the
latest times of quiet pairs read from the events, and from ``cdp_event_latest``; and what
keeping those latest times costs ingestion:

    .venv/bin/python -m bench.cdp_events [--runs 7]

One subscriber has 20,000 events of a name older than the 30-day window and 10 in it, and
5,000 old events of a second name; 200 others have 20 and 10. Both ways answer each question
(checked), in turns, and each figure is the median of ``--runs`` turns. A batch: 100 of 10,000
subscribers with 3 old events of each of 3 names (30,000 pairs), the latest times read from
the events and from ``cdp_event_latest`` by ``_id``, medians of ``--runs``. Ingestion: 10,000
track calls (500 subscribers, 4 names, 5 each) in requests of 500, into an empty database,
with and without the latest times written, in turns, medians of 3. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from seggraph_cdp.messages import Message
from seggraph_cdp.store import CdpStore

from seggraph.embedded import EmbeddedDatabase

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=30)
OTHERS = [f"u{u}" for u in range(200)]
#: (label, subscribers, event names).
QUESTIONS = [
    ("one subscriber, its active name", ["heavy"], ["Order Completed"]),
    ("one subscriber, a quiet name (5,000 old events)", ["heavy"], ["Legacy"]),
    ("one subscriber, a name it never sent beside its active one", ["heavy"],
     ["Order Completed", "Signed Up"]),
    ("51 subscribers, three names", ["heavy", *OTHERS[:50]],
     ["Order Completed", "Signed Up", "Legacy"]),
]  # fmt: skip


def tracks(user: str, event: str, old: int, recent: int) -> list[Message]:
    """``old`` events a day and more before the window, ``recent`` ones within it."""
    times = [NOW - timedelta(days=31, minutes=i) for i in range(old)]
    times += [NOW - timedelta(days=1, minutes=i) for i in range(recent)]
    return [
        Message(f"{user}-{event}-{i}", "track", user, at, event=event) for i, at in enumerate(times)
    ]


async def measure(uri: str, runs: int) -> list[tuple[str, float, float]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        store = CdpStore(client["bench_cdp"])
        await store.ensure_indexes()
        stored = tracks("heavy", "Order Completed", 20_000, 10) + tracks(
            "heavy", "Legacy", 5_000, 0
        )
        stored += [
            m
            for u in OTHERS
            for m in tracks(u, "Order Completed", 15, 5) + tracks(u, "Legacy", 10, 0)
        ]
        for start in range(0, len(stored), 2000):
            await store.ingest(stored[start : start + 2000], NOW)
        await store.build_latest()
        return [
            (label, *await both_ways(store, label, users, names, runs))
            for label, users, names in QUESTIONS
        ]
    finally:
        await client.close()


async def both_ways(
    store: CdpStore, label: str, users: list[str], names: list[str], runs: int
) -> tuple[float, float]:
    """Milliseconds for ``event_stats`` with the latest times read from the events and from
    ``cdp_event_latest``, in turns, medians of ``runs``; both must answer the same."""
    times: dict[bool, list[float]] = {False: [], True: []}
    answers = {}
    for _ in range(runs):
        for kept in (False, True):
            store.latest_complete = kept
            started = time.perf_counter()
            answers[kept] = await store.event_stats(users, names, SINCE)
            times[kept].append((time.perf_counter() - started) * 1000)
    if answers[False] != answers[True] or not answers[True]:
        raise RuntimeError(f"{label}: the two ways answer differently, or nothing")
    return statistics.median(times[False]), statistics.median(times[True])


async def batch(uri: str, runs: int) -> tuple[float, float]:
    """Milliseconds for a walk's batch of 100 subscribers (of 10,000) and 3 quiet names, the
    latest times from the events and from ``cdp_event_latest``, medians of ``runs``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        store = CdpStore(client["bench_cdp_batch"])
        await store.ensure_indexes()
        users = [f"b{u:05d}" for u in range(10_000)]
        old = [m for user in users for e in range(3) for m in tracks(user, f"E{e}", 3, 0)]
        for start in range(0, len(old), 2000):
            await store.ingest(old[start : start + 2000], NOW)
        await store.build_latest()
        return await both_ways(store, "the batch", users[5000:5100], ["E0", "E1", "E2"], runs)
    finally:
        await client.close()


async def ingestion(uri: str) -> tuple[float, float]:
    """Seconds to store 10,000 track calls in requests of 500, with the latest times kept and
    without (the store's ``_note_latest`` skipped), medians of 3 turns."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for turn in range(3):
            for kept in (True, False):
                store = CdpStore(client[f"bench_cdp_ingest_{turn}_{kept}"])
                await store.ensure_indexes()
                if not kept:
                    store._note_latest = _skip  # type: ignore[method-assign]
                calls = [
                    m for u in range(500) for e in range(4) for m in tracks(f"u{u}", f"E{e}", 5, 0)
                ]
                started = time.perf_counter()
                for start in range(0, len(calls), 500):
                    await store.ingest(calls[start : start + 500], NOW)
                times[kept].append(time.perf_counter() - started)
    finally:
        await client.close()
    return statistics.median(times[True]), statistics.median(times[False])


async def _skip(*_: Any) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with EmbeddedDatabase(":memory:") as embedded:
        rows = asyncio.run(measure(embedded.uri, args.runs))
        rows.append(
            (
                "100 of 10,000 subscribers, three quiet names (30,000 pairs)",
                *asyncio.run(batch(embedded.uri, args.runs)),
            )
        )
        kept, skipped = asyncio.run(ingestion(embedded.uri))
    print("| question | latest times from the events, ms | from cdp_event_latest, ms |")
    print("|---|---:|---:|")
    for label, from_events, from_latest in rows:
        print(f"| {label} | {from_events:,.1f} | {from_latest:,.1f} |")
    print()
    print("| 10,000 track calls in requests of 500 | seconds |")
    print("|---|---:|")
    print(f"| latest times kept | {kept:.2f} |")
    print(f"| not kept | {skipped:.2f} |")


if __name__ == "__main__":
    main()
