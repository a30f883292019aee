"""A seggraph server for the service stages: ``seggraph serve`` on a free loopback port, on the
embedded database in a throw-away directory, started and stopped by the bench.

``seggraph serve`` runs uvicorn with its defaults, which pick uvloop and httptools when they
are installed (they are: ``uvicorn[standard]``, and the ``bench`` extra names them again);
:func:`loop_and_parser` reports what this environment resolves them to.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

T = TypeVar("T")

SEGGRAPH = Path(sys.executable).with_name("seggraph")
#: The repository root (the bench package's parent).
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def loop_and_parser() -> dict[str, str]:
    """What uvicorn's ``auto`` loop and HTTP parser resolve to here."""
    found = {}
    for name, module in (("loop", "uvloop"), ("http", "httptools")):
        try:
            __import__(module)
            found[name] = module
        except ImportError:
            found[name] = "asyncio" if name == "loop" else "h11"
    return found


def run_on_uvloop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``coroutine`` run to its end on uvloop, as ``seggraph serve`` runs (uvicorn picks it
    when it is installed), or on asyncio's own loop without it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the bench extra installs it
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEGGRAPH_")}
    env.update(
        SEGGRAPH_DATA_DIR=str(data_dir),
        SEGGRAPH_LOG_LEVEL="WARNING",
        SEGGRAPH_AUTH="false",  # loopback only, and API-key checks are not what is measured
    )
    env.update(extra)  # which may turn keys back on (bench.load)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 1800) -> str:
    done = subprocess.run(
        [str(SEGGRAPH), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seggraph {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def import_billing(
    data_dir: Path, objects: Iterable[Mapping[str, Any]], *, batch_size: int | None = None
) -> float:
    """``seggraph import billing`` of ``objects`` into the embedded database in ``data_dir``,
    through a JSON Lines file written beside it; the seconds the import took (the file's
    writing not counted)."""
    source = data_dir.parent / "billing.jsonl"
    with source.open("wb") as handle:
        for obj in objects:
            handle.write(orjson.dumps(obj) + b"\n")
    args = ["import", "billing", str(source)]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    run_cli(args, environment(data_dir))
    return time.perf_counter() - started


@contextmanager
def embedded_with_billing(data_dir: Path, objects: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """``objects`` imported into an embedded database in ``data_dir``, which then runs until
    the block ends (for a server started with its URI, or the application in this process);
    yields its URI."""
    from seggraph.embedded import EmbeddedDatabase

    import_billing(data_dir, objects)
    database = EmbeddedDatabase(data_dir)
    uri = database.start()
    try:
        yield uri
    finally:
        database.stop()


class Server:
    """``with Server(data_dir, **env) as server:`` — serving until the block ends.

    ``command`` (given the port) runs another server program in place of ``seggraph serve``,
    such as ``bench.memory_server``; ``name`` is how errors call it. With ``log``, the
    server's output goes to that file (appended) rather than to a pipe read only on failure."""

    def __init__(
        self,
        data_dir: Path,
        *,
        command: Callable[[int], list[str]] | None = None,
        name: str = "seggraph serve",
        log: Path | None = None,
        **extra_env: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = environment(data_dir, SEGGRAPH_PORT=str(self.port), **extra_env)
        self.command = (
            command(self.port)
            if command is not None
            else [str(SEGGRAPH), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        )
        self.name = name
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=600)

    def __enter__(self) -> Server:
        output: Any = subprocess.PIPE if self.log is None else self.log.open("ab")
        try:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,  # so that `python -m bench.…` finds the bench package
                stdout=subprocess.DEVNULL if self.log is None else output,
                stderr=output,
                start_new_session=True,  # its own process group: the embedded database with it
            )
        finally:
            if self.log is not None:
                output.close()  # the child has its own descriptor
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self._output()}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not become ready in 120 s")

    def _output(self) -> str:
        if self.log is not None:
            return self.log.read_text(errors="replace")
        assert self.process is not None and self.process.stderr is not None
        return self.process.stderr.read().decode()

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Still busy (a count the bench stopped waiting for): end the server and the
            # embedded database it started, which share its process group.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, timeout: float = 600
    ) -> dict[str, Any]:
        answer = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        body: dict[str, Any] = answer.json()
        if answer.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"GraphQL error ({answer.status_code}): {body}")
        data: dict[str, Any] = body["data"]
        return data
