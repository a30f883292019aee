"""Where a stage-2 request's time goes, by process: the CPU that the seggraph server, the
embedded database and the load generator spend per request, and the database operations the
server makes per request.

A closed-loop latency says how long a request waited, not what it cost or where. These figures
say it in the same run: the server is one process on one core, so its CPU per request is what
its latency under load follows, and a query's server CPU over the trivial query's is the ratio
the target speaks of, with the database and the client (which share the machine's two cores
with it) counted apart.

CPU comes from ``/proc/<pid>/stat`` (Linux; clock ticks, 10 ms, so a turn of a few seconds
reads it to about 1%), operations from the database's ``serverStatus`` opcounters (SecantusDB
and MongoDB both keep them). Elsewhere the accounting is left out and the stage runs without it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

_STAT = Path("/proc/self/stat")
#: How many operations :func:`client_cpu_per_operation` times.
PROBE_OPERATIONS = 2000


def available() -> bool:
    return _STAT.exists()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` (all its threads) so far."""
    # The command name, in parentheses, may hold spaces: the fields are read after it.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class OperationCounter:
    """The database's count of the operations it has served (every opcounter summed)."""

    def __init__(self, uri: str) -> None:
        self._client: MongoClient[dict[str, Any]] = MongoClient(uri)

    def __call__(self) -> int:
        counters = self._client.admin.command("serverStatus")["opcounters"]
        return sum(int(value) for value in counters.values())

    def close(self) -> None:
        self._client.close()


@dataclass
class Cost:
    """What some turns of one query cost, summed."""

    answered: int = 0
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    client_cpu: float = 0.0
    operations: int = 0

    def add(self, other: Cost) -> None:
        self.answered += other.answered
        self.server_cpu += other.server_cpu
        self.database_cpu += other.database_cpu
        self.client_cpu += other.client_cpu
        self.operations += other.operations

    def per_request(self) -> dict[str, float]:
        """µs of CPU per answered request, by process, and database operations per request."""
        n = max(self.answered, 1)
        return {
            "server_cpu_us": self.server_cpu / n * 1e6,
            "database_cpu_us": self.database_cpu / n * 1e6,
            "client_cpu_us": self.client_cpu / n * 1e6,
            "database_operations": self.operations / n,
        }


@dataclass
class Meter:
    """Reads the server's and the database's CPU and the operation count around a turn."""

    server_pid: int
    database_pid: int
    operations: OperationCounter
    _start: tuple[float, float, int] = field(default=(0.0, 0.0, 0))

    def start(self) -> None:
        ops = self.operations()
        self._start = (cpu_seconds(self.server_pid), cpu_seconds(self.database_pid), ops)

    def stop(self, answered: int, client_cpu: float) -> Cost:
        server, database = cpu_seconds(self.server_pid), cpu_seconds(self.database_pid)
        # The delta holds one serverStatus of the bench's own (the first reading or this one).
        ops = self.operations() - self._start[2] - 1
        return Cost(
            answered=answered,
            server_cpu=server - self._start[0],
            database_cpu=database - self._start[1],
            client_cpu=client_cpu,
            operations=max(ops, 0),
        )


def client_cpu_per_operation(uri: str, operations: int = PROBE_OPERATIONS) -> float:
    """µs of CPU that PyMongo's async client (the server's) spends on the least database
    operation, a ``find_one`` by ``_id``, measured ``operations`` times in a loop in this
    process: what each operation a request makes costs the server, whatever the database."""
    from .server import run_on_uvloop

    result: float = run_on_uvloop(_find_one_loop(uri, operations))
    return result


async def _find_one_loop(uri: str, operations: int) -> float:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        collection = client["seggraph_bench_probe"]["probe"]
        await collection.replace_one({"_id": 1}, {"_id": 1, "x": 1}, upsert=True)
        for _ in range(100):  # connection and caches warm
            await collection.find_one({"_id": 1})
        started = time.process_time()
        for _ in range(operations):
            await collection.find_one({"_id": 1})
        spent = time.process_time() - started
        await client.drop_database("seggraph_bench_probe")
        return spent / operations * 1e6
    finally:
        await client.close()
