"""`seggraph serve` as a child process, the way a newcomer runs it (for end-to-end tests)."""

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


@contextmanager
def serving(data_dir: Path, port: int, log: Path, **settings: str) -> Iterator[str]:
    """Serve on the embedded database in ``data_dir`` until the block ends (then SIGTERM,
    and a clean exit is asserted); yields the base URL once ``/readyz`` answers. The
    environment's ``SEGGRAPH_*`` variables are dropped; ``settings`` adds some."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(SEGGRAPH_DATA_DIR=str(data_dir), SEGGRAPH_PORT=str(port), **settings)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "seggraph", "serve"],
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready:\n" + log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
