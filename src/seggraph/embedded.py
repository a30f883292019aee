"""The embedded default database: SecantusDB as a child process.

SecantusDB (GPL-2.0) is an optional dependency (the ``embedded`` extra). It is never
imported here: it runs as a separate server process (``python -m secantus``) and is reached
through the normal MongoDB driver, exactly like a real MongoDB.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import pymongo
from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

MEMORY = ":memory:"


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started."""


class DataDirectoryInUse(EmbeddedDatabaseError):
    """Another seggraph process has an embedded database on the data directory."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def secantus_available() -> bool:
    return importlib.util.find_spec("secantus") is not None


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it if seggraph dies without stopping it."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def runtime_file(data_dir: Path) -> Path:
    """Where ``seggraph serve`` records the embedded database it is running on ``data_dir``
    (beside the directory, which that database locks), so other commands can reach it."""
    return data_dir.parent / f"{data_dir.name}.server.json"


def log_file_of(data_dir: Path) -> Path:
    """Where the embedded database on ``data_dir`` writes its log: beside the directory, named
    after it (two data directories in one folder keep two logs)."""
    return data_dir.parent / f"{data_dir.name}.secantusdb.log"


def lock_file_of(data_dir: Path) -> Path:
    """The file a seggraph process holds locked (``flock``) while it runs an embedded database
    on ``data_dir``, holding that process's pid."""
    return data_dir.parent / f"{data_dir.name}.lock"


class DirectoryLock:
    """An exclusive lock on a data directory for as long as this process runs a database on it.

    WiredTiger locks the directory too, but only once SecantusDB has started, seconds later;
    two ``seggraph serve`` started together both found no running server and the second then
    failed with SecantusDB's exit code. The lock is taken before anything starts, is released
    by the kernel when the process dies however it dies (no stale lock to clean up), and is
    not inherited by the database's process.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = lock_file_of(data_dir)
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`DataDirectoryInUse` naming the holder's pid."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"pid {holder}" if holder.isdigit() else "its pid not yet written"
            raise DataDirectoryInUse(
                f"the data directory {self.data_dir} is in use by another seggraph process "
                f"({who}): a `seggraph serve` starting or stopping, or a command such as an "
                "import; try again when it has finished or is up, or give this one another "
                "SEGGRAPH_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # the lock goes with the descriptor; the file stays (no unlink race)


def record_running(data_dir: Path, uri: str, pid: int) -> None:
    path = runtime_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"uri": uri, "pid": pid, "serve_pid": os.getpid()}) + "\n")


def forget_running(data_dir: Path) -> None:
    runtime_file(data_dir).unlink(missing_ok=True)


def running_uri(data_dir: Path) -> str | None:
    """The URI of the embedded database a running ``seggraph serve`` holds on ``data_dir``, or
    None when there is none (a record left by a server that died is ignored)."""
    record = running_server(data_dir)
    return None if record is None else str(record["uri"])


def running_server(data_dir: Path) -> dict[str, Any] | None:
    """The record (``uri``, the database's ``pid``, ``serve_pid``) of the ``seggraph serve``
    running on ``data_dir``, or None when there is none (a record left by a server that died
    is ignored)."""
    path = runtime_file(data_dir)
    try:
        record = json.loads(path.read_text())
        uri, pid = str(record["uri"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    client: MongoClient[dict] = MongoClient(uri, serverSelectionTimeoutMS=2000)
    try:
        client.admin.command("ping")
    except PyMongoError:
        return None
    finally:
        client.close()
    return dict(record)


def _refuse_nested_data(data_dir: Path, given: Path) -> None:
    """Stop on data a relative data directory left below itself (``db/db`` for ``db``,
    ``data/db/data/db`` for ``data/db``: the path read again from inside the directory, before
    it was made absolute), rather than start an empty database beside it. ``given`` is the
    path as configured; an absolute one may have been relative before (``db``, from its
    parent)."""
    if (data_dir / "WiredTiger.wt").exists():
        return
    nested = [] if given.is_absolute() else [data_dir / given]
    nested.append(data_dir / data_dir.name)
    for left in nested:
        if (left / "WiredTiger.wt").exists():
            raise EmbeddedDatabaseError(
                f"the data of {data_dir} is in {left}, where earlier versions put it when "
                f"SEGGRAPH_DATA_DIR was a relative path: stop seggraph and move the files of "
                f"{left} up into {data_dir}"
            )


#: Seconds a database that answered once and no longer answers (a ping within
#: :data:`PING_SECONDS`) is given to stop on SIGTERM before it is killed.
UNANSWERED_GRACE_SECONDS = 2.0
PING_SECONDS = 0.5


def _answers(uri: str) -> bool:
    """The database at ``uri`` answers a ping within :data:`PING_SECONDS`."""
    limit = round(PING_SECONDS * 1000)
    client: MongoClient[dict] = MongoClient(
        uri, serverSelectionTimeoutMS=limit, connectTimeoutMS=limit, socketTimeoutMS=limit
    )
    try:
        with pymongo.timeout(PING_SECONDS):
            client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        with pymongo.timeout(PING_SECONDS):
            client.close()
    return True


class EmbeddedDatabase:
    """Start SecantusDB on a free loopback port, wait until it answers, stop it cleanly.

    ``storage_path`` is a directory (kept across restarts) or ``":memory:"`` for a throw-away
    database (tests). Use as a context manager; ``uri`` is the connection string.
    """

    def __init__(
        self,
        storage_path: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 60.0,
        log_file: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.storage_path = storage_path
        self.extra_args = tuple(extra_args)
        """More ``secantus`` options, e.g. ``--enable-test-commands`` for fail points (tests)."""
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: DirectoryLock | None = None
        self._served = False

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def start(self) -> str:
        if not secantus_available():
            raise EmbeddedDatabaseError(
                "the embedded database needs SecantusDB: install seggraph with the 'embedded' "
                "extra (pip install 'seggraph[embedded]'), or set SEGGRAPH_MONGODB_URI to use a "
                "MongoDB server"
            )
        storage = str(self.storage_path)
        if storage != MEMORY:
            # Absolute: SecantusDB runs in the directory itself, so a relative path (such as
            # SEGGRAPH_DATA_DIR=db) was read from there and the data went to db/db.
            given = Path(storage)
            storage = str(given.absolute())
            _refuse_nested_data(Path(storage), given)
        if storage != MEMORY and sys.platform != "win32":
            lock = DirectoryLock(Path(storage))
            lock.acquire()
            self._lock = lock
        try:
            return self._start(storage)
        except BaseException:
            self.stop()
            raise

    def _start(self, storage: str) -> str:
        if storage != MEMORY:
            Path(storage).mkdir(parents=True, exist_ok=True)
        log_path = self.log_file or (log_file_of(Path(storage)) if storage != MEMORY else None)
        output: BinaryIO | int = (
            open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        )
        command = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            storage,
            "--log-level",
            "WARNING",
            *self.extra_args,
        ]
        # A session of its own: Ctrl-C in the terminal reaches seggraph, which then stops the
        # database after the API has finished its in-flight requests.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            cwd=storage if storage != MEMORY else None,
        )
        if not isinstance(output, int):
            output.close()
        self._wait_until_ready(log_path)
        return self.uri

    def _wait_until_ready(self, log_path: Path | None) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        client: MongoClient[dict] = MongoClient(self.uri, serverSelectionTimeoutMS=250)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    where = f"; see {log_path}" if log_path else ""
                    raise EmbeddedDatabaseError(
                        f"SecantusDB exited with code {self.process.returncode} at start-up{where}"
                    )
                try:
                    client.admin.command("ping")
                    self._served = True
                    return
                except PyMongoError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedDatabaseError(
            f"SecantusDB did not answer on {self.host}:{self.port} "
            f"within {self.startup_timeout:.0f} s"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then wait; SIGKILL only if it does not stop in time.

        Once it has served, a database that does not answer a ping at once (hung, or paused:
        then resumed first) is given :data:`UNANSWERED_GRACE_SECONDS` rather than ``timeout``:
        waiting 20 s for a process that answers nothing held a server's shutdown past its
        supervisor's grace period."""
        process, self.process = self.process, None
        try:
            if process is None or process.poll() is not None:
                return
            if self._served and not _answers(self.uri):
                timeout = min(timeout, UNANSWERED_GRACE_SECONDS)
                log.warning(
                    "SecantusDB (pid %d) does not answer: stopping it, killed if it has not "
                    "stopped within %g s",
                    process.pid,
                    timeout,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)  # a paused process takes no SIGTERM
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("SecantusDB did not stop within %.0f s; killing it", timeout)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
