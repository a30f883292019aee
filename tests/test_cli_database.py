"""CLI commands on an embedded data directory another seggraph process holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seggraph.embedded import DirectoryLock

COMMANDS = {
    "import custom": ("import", "custom", "values.csv"),
    "import crm": ("import", "crm", "crm.json"),
    "import billing": ("import", "billing", "billing.jsonl"),
    "keys list": ("keys", "list"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_on_a_data_directory_in_use_says_so(tmp_path: Path, command: str) -> None:
    """While another process (here: this one) holds the data directory, a command that would
    start the embedded database on it stops with one line naming the holder. `import custom`
    and `import crm` used to end in a traceback when the embedded database could not start."""
    (tmp_path / "values.csv").write_text("subscriber_id,key,value\ncus_1,tier,gold\n")
    (tmp_path / "crm.json").write_text(
        json.dumps({"contacts": [{"id": "1", "email": "a@example.com", "external_id": "cus_1"}]})
    )
    (tmp_path / "billing.jsonl").write_text(
        json.dumps({"object": "customer", "id": "cus_1", "created": 1700000000}) + "\n"
    )
    data_dir = tmp_path / "db"
    lock = DirectoryLock(data_dir)
    lock.acquire()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
        env.update(SEGGRAPH_DATA_DIR=str(data_dir), COLUMNS="400")
        done = subprocess.run(
            [sys.executable, "-m", "seggraph", *COMMANDS[command]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        lock.release()
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, said
    assert "Traceback" not in said
    assert (
        f"error: the data directory {data_dir} is in use by another seggraph process "
        f"(pid {os.getpid()})" in said
    )
    assert not data_dir.exists()  # no database was started on it


def test_the_lock_is_free_again_once_released(tmp_path: Path) -> None:
    first, second = DirectoryLock(tmp_path / "db"), DirectoryLock(tmp_path / "db")
    first.acquire()
    first.release()
    second.acquire()  # does not raise
    second.release()
