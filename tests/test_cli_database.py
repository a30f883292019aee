"""CLI commands on an embedded data directory another seggraph process holds."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import pytest
from pymongo import MongoClient

from seggraph.embedded import DirectoryLock, EmbeddedDatabase, free_port
from tests.conftest import TEST_URI_VARIABLE
from tests.serve_process import run_seggraph

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
        done = run_seggraph(
            *args,
            cwd=tmp_path,
            SEGGRAPH_MONGODB_URI=database.uri,
            SEGGRAPH_DATABASE="faults",
            COLUMNS="400",
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status", "by"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_an_import_stopped_by_a_signal_stops_the_database_and_says_so(
    tmp_path: Path, signum: int, status: int, by: str
) -> None:
    """Ctrl-C (SIGINT) or SIGTERM in the middle of an import on the embedded database: the
    command stops the database, says it was interrupted and what to do, and exits with 130
    (143); the next command starts the database on the directory at once. SIGTERM used to end
    the process on the spot, without a word, the database stopping on its own after the
    directory's lock was gone (the next command's database then failed to start); Ctrl-C
    said nothing at all."""
    fifo = tmp_path / "billing.jsonl"  # read as the test writes it: the signal comes mid-file
    os.mkfifo(fifo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(SEGGRAPH_DATA_DIR=str(tmp_path / "db"), COLUMNS="400")
    command = [sys.executable, "-m", "seggraph", "import", "billing"]
    line = "".join(json.dumps({"object": "customer", "id": f"cus_{i}"}) + "\n" for i in range(3))
    child = subprocess.Popen(
        [*command, str(fifo), "--as-of", "1700000000", "--batch-size", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with _open_for_writing(fifo, child) as writer:
            writer.write(line)
            writer.flush()
            child.send_signal(signum)
            writer.write(line)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    said = " ".join(stderr.split())
    assert child.returncode == status, said
    assert "Traceback" not in said
    assert f"interrupted ({by}):" in said
    assert "run the same command again to complete the import, or add --start-line" in said
    (tmp_path / "again.jsonl").write_text(line)
    done = subprocess.run(
        [*command, "again.jsonl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 objects written" in " ".join(done.stderr.split())


def _open_for_writing(fifo: Path, reader: subprocess.Popen[str]) -> TextIO:
    """``fifo`` opened once ``reader`` opens it (its database is up and the import reads)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: no reader yet
            if exc.errno != errno.ENXIO:
                raise
            if reader.poll() is not None or time.monotonic() > deadline:
                _, stderr = reader.communicate()
                raise AssertionError(f"the import did not read the file: {stderr}") from None
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return os.fdopen(fd, "w")
