"""Settings as an operator meets them through the command line: each test runs ``seggraph`` in
a process of its own, with only the ``SEGGRAPH_*`` variables it sets (and the ``.env`` file of
its working directory)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.serve_process import run_seggraph

TIMEOUT = 180


def seggraph(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return run_seggraph(*args, cwd=cwd, timeout=TIMEOUT, COLUMNS="400", **variables)


def test_a_relative_data_directory_holds_the_data_itself(tmp_path: Path) -> None:
    """SEGGRAPH_DATA_DIR=db kept the data in db/db (the database ran in the directory and read
    the path from there), so the same directory named by its absolute path (a service unit,
    a container) was an empty database."""
    (tmp_path / "elsewhere").mkdir()
    created = seggraph(
        "keys", "create", "--mode", "test", "--role", "read", "--name", "relative",
        cwd=tmp_path,
        SEGGRAPH_DATA_DIR="db",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = seggraph(
        "keys", "list", "--json", cwd=tmp_path / "elsewhere", SEGGRAPH_DATA_DIR=str(tmp_path / "db")
    )
    assert listed.returncode == 0, listed.stderr
    assert [key["name"] for key in json.loads(listed.stdout)] == ["relative"]
    assert not (tmp_path / "db" / "db").exists()


def test_data_a_relative_data_directory_left_one_level_down_is_not_hidden(tmp_path: Path) -> None:
    """Data kept in db/db by a relative SEGGRAPH_DATA_DIR before: the command stops saying
    where it is and what to do, instead of starting an empty database in db."""
    (tmp_path / "db" / "db").mkdir(parents=True)
    (tmp_path / "db" / "db" / "WiredTiger.wt").write_bytes(b"")
    listed = seggraph("keys", "list", cwd=tmp_path, SEGGRAPH_DATA_DIR="db")
    said = " ".join(listed.stderr.split())
    assert listed.returncode == 1, said
    assert f"the data of {tmp_path / 'db'} is in {tmp_path / 'db' / 'db'}" in said
    assert "Traceback" not in said
    assert not (tmp_path / "db" / "WiredTiger.wt").exists()


def test_data_a_relative_data_directory_of_several_parts_left_below_it_is_not_hidden(
    tmp_path: Path,
) -> None:
    """SEGGRAPH_DATA_DIR=data/db kept the data in data/db/data/db (the path read again from
    inside the directory), not in data/db/db: the check for data left behind looked there
    only, and an empty database started in data/db, every key and segment gone from sight."""
    left = tmp_path / "data" / "db" / "data" / "db"
    left.mkdir(parents=True)
    (left / "WiredTiger.wt").write_bytes(b"")
    listed = seggraph("keys", "list", cwd=tmp_path, SEGGRAPH_DATA_DIR="data/db")
    said = " ".join(listed.stderr.split())
    assert listed.returncode == 1, said
    assert f"the data of {tmp_path / 'data' / 'db'} is in {left}" in said
    assert not (tmp_path / "data" / "db" / "WiredTiger.wt").exists()


def test_a_settings_file_not_in_utf_8_is_an_error_line(tmp_path: Path) -> None:
    """A .env saved in cp1252 (a value with an accent, written on Windows) ended every command,
    `serve` too, in a UnicodeDecodeError traceback that named no file."""
    (tmp_path / ".env").write_bytes("SEGGRAPH_DATABASE=caf\u00e9\n".encode("cp1252"))
    listed = seggraph("keys", "list", cwd=tmp_path, SEGGRAPH_DATA_DIR=str(tmp_path / "db"))
    said = " ".join(listed.stderr.split())
    assert listed.returncode == 2, said
    assert said.startswith("error: the settings file .env is not utf-8 text"), said
    assert "save it as utf-8" in said
    assert "Traceback" not in said
