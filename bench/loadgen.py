"""A closed-loop HTTP load generator, run as its own process by the GraphQL stage:

    python -m bench.loadgen URL BODY_FILE --connections 8 --seconds 10 --warmup 2

``connections`` keep-alive connections each send a POST (the JSON body in BODY_FILE; a file of
several lines holds one body a line, and each connection goes through them in turn from its
own place, so that connections ask different things at once) and wait for its answer before
sending the next, for ``warmup`` seconds (not counted) and then
``seconds``. It prints one JSON object: requests, errors, requests per second, latency
percentiles in milliseconds, and what the whole run took (``answered``: every answer, the
warm-up's included; ``cpu_seconds``: this process's CPU), so that a caller measuring another
process's CPU over the run can divide it per request; with ``--latencies FILE`` it also writes
every measured latency (seconds, float64) there, so that several runs can be merged exactly.
Plain asyncio streams and a hand-rolled HTTP/1.1 exchange, so the client costs far less than
the server it measures (httpx would cost about as much). Loopback only: it refuses any other host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from array import array
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

uvloop: ModuleType | None
try:
    import uvloop
except ImportError:  # pragma: no cover - the bench extra installs it
    uvloop = None


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) of one or several runs' latencies."""
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "rps": len(ordered) / seconds,
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p90_ms": _percentile(ordered, 0.90) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
    }


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    first: int,
    warm_until: float,
    stop_at: float,
    latencies: list[float],
    errors: list[str],
    answered: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    turn = first
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            writer.write(requests[turn % len(requests)])
            turn += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            answered[0] += 1
            if status != b"200" or b'"errors"' in body:
                errors.append(f"{status.decode()} {body[:200]!r}")
            elif started >= warm_until:
                latencies.append(elapsed)
    finally:
        writer.close()


async def run(
    url: str,
    bodies: list[bytes],
    connections: int,
    seconds: float,
    warmup: float,
    latencies_file: Path | None = None,
) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"loadgen only targets this machine (loopback), not {host!r}")
    requests = [
        (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    spread = max(1, len(requests) // connections)  # where each connection starts
    now = time.perf_counter()
    warm_until, stop_at = now + warmup, now + warmup + seconds
    latencies: list[float] = []
    errors: list[str] = []
    answered = [0]  # every answer, the warm-up's included
    await asyncio.gather(
        *(
            _connection(
                host, port, requests, i * spread, warm_until, stop_at, latencies, errors, answered
            )
            for i in range(connections)
        )
    )
    if latencies_file is not None:
        latencies_file.write_bytes(array("d", latencies).tobytes())
    return {
        "connections": connections,
        "seconds": seconds,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        **summary(latencies, seconds),
        "answered": answered[0],
        "cpu_seconds": time.process_time(),
    }


def command(
    url: str,
    body: Path,
    *,
    connections: int,
    seconds: float,
    warmup: float,
    latencies: Path | None = None,
) -> list[str]:
    """The command line that runs this load generator as its own process (the bench's
    stages, ``bench.compare`` and ``bench.profile_service`` all do)."""
    argv = [sys.executable, "-m", "bench.loadgen", f"{url}/graphql", str(body)]
    argv += ["--connections", str(connections), "--seconds", str(seconds)]
    argv += ["--warmup", str(warmup)]
    if latencies is not None:
        argv += ["--latencies", str(latencies)]
    return argv


def read_latencies(path: Path) -> list[float]:
    values = array("d")
    values.frombytes(path.read_bytes())
    return values.tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("url")
    parser.add_argument(
        "body", type=Path, help="file holding the JSON request body (or one a line)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--latencies", type=Path, default=None, help="write every latency here")
    args = parser.parse_args(argv)
    if uvloop is not None:
        uvloop.install()
    result = asyncio.run(
        run(
            args.url,
            [line for line in args.body.read_bytes().splitlines() if line.strip()],
            args.connections,
            args.seconds,
            args.warmup,
            args.latencies,
        )
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
