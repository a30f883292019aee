"""The CDP's event properties on the embedded database: ``CdpStore.event_stats`` with the
latest times of quiet pairs read from the events, and from ``cdp_event_latest``:

    .venv/bin/python -m bench.cdp_events [--runs 7]

One subscriber has 20,000 events of a name older than the 30-day window and 10 in it, and
5,000 old events of a second name; 200 others have 20 and 10. Both ways answer each question
(checked), in turns, and each figure is the median of ``--runs`` turns. Prints a Markdown table.
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
        rows = []
        for label, users, names in QUESTIONS:
            times: dict[bool, list[float]] = {False: [], True: []}
            answers = {}
            for _ in range(runs):
                for kept in (False, True):
                    store.latest_complete = kept
                    started = time.perf_counter()
                    answers[kept] = await store.event_stats(users, names, SINCE)
                    times[kept].append((time.perf_counter() - started) * 1000)
            if answers[False] != answers[True]:
                raise RuntimeError(f"{label}: the two ways answer differently")
            rows.append((label, statistics.median(times[False]), statistics.median(times[True])))
        return rows
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with EmbeddedDatabase(":memory:") as embedded:
        rows = asyncio.run(measure(embedded.uri, args.runs))
    print("| question | latest times from the events, ms | from cdp_event_latest, ms |")
    print("|---|---:|---:|")
    for label, from_events, kept in rows:
        print(f"| {label} | {from_events:,.1f} | {kept:,.1f} |")


if __name__ == "__main__":
    main()
