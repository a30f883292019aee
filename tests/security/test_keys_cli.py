"""`seggraph keys` on the embedded default: before the server runs (a temporary database on the
data directory), while `seggraph serve` holds that directory (through the running server's
database), and the keys work against the server as a newcomer would use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from seggraph.embedded import free_port, runtime_file
from tests.serve_process import serving

pytestmark = pytest.mark.slow


def seggraph(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    return subprocess.run(
        [sys.executable, "-m", "seggraph", *args],
        env={**env, "SEGGRAPH_DATA_DIR": str(data_dir), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def created_key(data_dir: Path, *args: str) -> str:
    result = seggraph(data_dir, "keys", "create", *args)
    assert result.returncode == 0, result.stderr
    assert "shown once" in result.stderr
    return result.stdout.strip()


def ask(url: str, key: str, query: str) -> httpx.Response:
    return httpx.post(
        url + "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_keys_are_made_before_and_while_the_embedded_server_runs(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "db", tmp_path / "serve.log"
    before = created_key(data_dir, "--mode", "test", "--role", "write", "--name", "laptop")
    assert before.startswith("sg_test_")
    assert not runtime_file(data_dir).exists()

    with serving(data_dir, free_port(), log, SEGGRAPH_API_KEY_CACHE_SECONDS="0") as url:
        assert "seggraph keys create --mode test --role write" in log.read_text()
        assert httpx.post(url + "/graphql", json={"query": "{ __typename }"}).status_code == 401

        made = ask(
            url, before, 'mutation { createSegment(input: {name: "Kept"}) { segment { id } } }'
        )
        assert made.json()["data"]["createSegment"]["segment"]["id"]

        # While the server holds the data directory, the CLI goes through its database.
        assert runtime_file(data_dir).exists()
        during = created_key(data_dir, "--mode", "live", "--role", "read")
        live = ask(url, during, "{ segments { totalCount } }")
        assert live.json() == {"data": {"segments": {"totalCount": 0}}}
        listed = seggraph(data_dir, "keys", "list")
        assert listed.returncode == 0 and "laptop" in listed.stdout and "LIVE" in listed.stdout

        revoked = seggraph(data_dir, "keys", "revoke", before.split("_")[2])
        assert revoked.returncode == 0, revoked.stderr
        assert ask(url, before, "{ segments { totalCount } }").status_code == 401
    assert not runtime_file(data_dir).exists()
    # and with the server gone, a temporary database again
    assert "laptop" in seggraph(data_dir, "keys", "list", "--all").stdout
