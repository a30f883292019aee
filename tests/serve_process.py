"""`seggraph` commands, `serve` among them, as child processes, the way a newcomer runs them
(for end-to-end tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def run_seggraph(
    *args: str, cwd: Path, timeout: float = 120, **variables: str
) -> subprocess.CompletedProcess[str]:
    """``seggraph ARGS`` run to its end in ``cwd``, its output captured as text. The
    environment's ``SEGGRAPH_*`` variables are dropped; ``variables`` adds some."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "seggraph", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_serve(log: Path, *options: str, **settings: str) -> subprocess.Popen[bytes]:
    """``seggraph serve OPTIONS`` writing to ``log`` (appended to). The environment's
    ``SEGGRAPH_*`` variables are dropped; ``settings`` adds some."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(settings)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "seggraph", "serve", *options],
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )


def wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """The base URL of the server ``process`` runs on ``port``, once ``/readyz`` answers 200
    (within 90 s, the process still running)."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not become ready:\n" + log.read_text()
        time.sleep(0.1)


@contextmanager
def serving(data_dir: Path, port: int, log: Path, **settings: str) -> Iterator[str]:
    """Serve on the embedded database in ``data_dir`` until the block ends (then SIGTERM,
    and a clean exit is asserted); yields the base URL once ``/readyz`` answers. The
    environment's ``SEGGRAPH_*`` variables are dropped; ``settings`` adds some."""
    process = start_serve(log, SEGGRAPH_DATA_DIR=str(data_dir), SEGGRAPH_PORT=str(port), **settings)
    try:
        yield wait_ready(process, port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
