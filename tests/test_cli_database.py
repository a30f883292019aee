"""CLI commands on an embedded data directory another seggraph process holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from seggraph.embedded import DirectoryLock, EmbeddedDatabase, free_port
from tests.conftest import TEST_URI_VARIABLE

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


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get(TEST_URI_VARIABLE)),
    reason="starts a database of its own, with fail points (the embedded one)",
)
def test_a_database_failure_in_the_middle_of_a_command_is_an_error_line_saying_what_to_do(
    tmp_path: Path,
) -> None:
    """The database refusing a write part-way through an import, or the write of `keys
    create` or `keys revoke`, used to end the command in a traceback; it is one `error:` line
    saying what the command leaves and what to do, and running it again completes it."""
    (tmp_path / "billing.jsonl").write_text(
        "".join(json.dumps({"object": "customer", "id": f"cus_{i}"}) + "\n" for i in range(6))
    )
    (tmp_path / "crm.json").write_text(
        json.dumps({"contacts": [{"id": "1", "email": "a@example.com", "external_id": "cus_1"}]})
    )
    database = EmbeddedDatabase(
        tmp_path / "db", port=free_port(), extra_args=["--enable-test-commands"]
    )
    database.start()
    client: MongoClient[dict[str, Any]] = MongoClient(database.uri)
    db = client["faults"]

    def run(*args: str) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
        env.update(SEGGRAPH_MONGODB_URI=database.uri, SEGGRAPH_DATABASE="faults", COLUMNS="400")
        done = subprocess.run(
            [sys.executable, "-m", "seggraph", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, " ".join((done.stdout + done.stderr).split())

    def fail_next(command: str, *, skip: int = 0) -> None:
        client.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"skip": skip, "times": 1},
            data={"failCommands": [command], "errorCode": 2, "errorMessage": "injected"},
        )

    try:
        assert run("keys", "list")[0] == 0  # the indexes exist: the next writes are the data
        import_billing = ("import", "billing", "billing.jsonl", "--as-of", "1700000000")
        fail_next("insert", skip=1)  # the second batch of two customers
        code, said = run(*import_billing, "--batch-size", "2")
        assert code == 1 and "Traceback" not in said, said
        assert "error: the database failed an operation (OperationFailure 2" in said
        assert "run the same command again to complete the import" in said
        assert db["billing_customers"].count_documents({}) == 2
        assert run(*import_billing)[0] == 0
        assert db["billing_customers"].count_documents({}) == 6

        fail_next("update")
        code, said = run("import", "crm", "crm.json")
        assert code == 1 and "Traceback" not in said, said
        assert "run the same command again to complete the import" in said
        assert run("import", "crm", "crm.json")[0] == 0

        fail_next("insert")
        code, said = run("keys", "create", "--mode", "test", "--role", "read")
        assert code == 1 and "Traceback" not in said, said
        assert "sg_test_" not in said and "no key was shown: create one again" in said
        assert db["api_keys"].count_documents({}) == 0
        code, said = run("keys", "create", "--mode", "test", "--role", "read")
        assert code == 0, said
        (key,) = db["api_keys"].find()
        fail_next("update")
        code, said = run("keys", "revoke", key["_id"])
        assert code == 1 and "Traceback" not in said, said
        assert "whether the key is revoked is not known: run the command again" in said
        assert run("keys", "revoke", key["_id"])[0] == 0
        assert db["api_keys"].find_one({"_id": key["_id"]})["revoked_at"] is not None
    finally:
        client.close()
        database.stop()
