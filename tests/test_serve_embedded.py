"""`seggraph serve` on the embedded default, as a newcomer runs it: data survives a restart."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from seggraph.embedded import EmbeddedDatabase, free_port
from tests.providers.billing import builders as b
from tests.serve_process import serving, start_serve, wait_ready

pytestmark = pytest.mark.slow


def gql(url: str, query: str) -> dict:
    response = httpx.post(url + "/graphql", json={"query": query}, timeout=30)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_serve_embedded_keeps_data_across_a_restart(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "db", tmp_path / "serve.log"
    port = free_port()
    with serving(data_dir, port, log, SEGGRAPH_AUTH="off") as url:
        created = gql(
            url,
            'mutation { createSegment(input: {name: "Survivor", tags: ["x"]}) { segment { id } } }',
        )
        segment_id = created["createSegment"]["segment"]["id"]
    assert "embedded database" in log.read_text()
    assert "SEGGRAPH_MONGODB_URI is unset or empty" not in log.read_text()  # a local trial

    billing = tmp_path / "billing.jsonl"
    billing.write_text(
        "\n".join(
            json.dumps(obj)
            for obj in (
                b.product("prod_1", "Pro"),
                b.price("price_1", 2000, "year", product="prod_1"),
                b.customer("cus_1"),
                b.subscription("sub_1", [b.item("price_1")]),
            )
        )
    )
    with serving(data_dir, port, log, SEGGRAPH_AUTH="off") as url:
        listed = gql(url, "{ segments { totalCount nodes { id name tags } } }")
        # An import while the server runs goes through the server's database: served at once.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
        done = subprocess.run(
            [sys.executable, "-m", "seggraph", "import", "billing", str(billing)],
            env={**env, "SEGGRAPH_DATA_DIR": str(data_dir)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        answer = gql(
            url, '{ subscriber(id: "cus_1") { properties(keys: ["plan.interval"]) { value } } }'
        )
        assert answer["subscriber"]["properties"] == [{"value": "YEAR"}]
    assert listed["segments"] == {
        "totalCount": 1,
        "nodes": [{"id": segment_id, "name": "Survivor", "tags": ["x"]}],
    }
    # The child database was stopped with the server: nothing listens on its port any more.
    text = log.read_text()
    assert "stopping the embedded database" in text
    db_ports = re.findall(r"embedded database \(SecantusDB\) at mongodb://127.0.0.1:(\d+)", text)
    assert len(db_ports) == 2
    for db_port in db_ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(db_port)), timeout=2).close()


def test_the_embedded_database_served_to_other_machines_is_a_warning(tmp_path: Path) -> None:
    """A deployment template that expands a missing SEGGRAPH_MONGODB_URI to "" serves its
    production traffic from a database on the machine's disk: only an INFO line said so."""
    log = tmp_path / "serve.log"
    with serving(tmp_path / "db", free_port(), log, SEGGRAPH_HOST="0.0.0.0", SEGGRAPH_AUTH="off"):
        pass
    [line] = [line for line in log.read_text().splitlines() if "with the embedded database" in line]
    assert "WARNING" in line and "serving on 0.0.0.0" in line
    assert "SEGGRAPH_MONGODB_URI is unset or empty" in line


def serve_until_it_stops(data_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``seggraph serve`` on ``data_dir`` and a free port, expected to stop by itself; the
    environment's ``SEGGRAPH_*`` variables are dropped, ``settings`` adds some."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(SEGGRAPH_DATA_DIR=str(data_dir), SEGGRAPH_PORT=str(free_port()), **settings)
    return subprocess.run(
        [sys.executable, "-m", "seggraph", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_malformed_provider_setting_stops_start_up(tmp_path: Path) -> None:
    """An ENUM trait declared without values: the server does not start without the CDP
    provider (its ingestion gone, /readyz saying ready); it stops, naming the variable."""
    done = serve_until_it_stops(
        tmp_path / "db", SEGGRAPH_AUTH="off", SEGGRAPH_CDP_TRAITS="tier:ENUM"
    )
    err = " ".join(done.stderr.split())
    assert done.returncode == 2, err
    assert "error: invalid settings: SEGGRAPH_CDP_TRAITS:" in err
    assert "Traceback" not in err
    assert "stopping the embedded database" in err  # not left running


def test_a_second_server_on_a_data_directory_in_use_says_which_server_holds_it(
    tmp_path: Path,
) -> None:
    """It failed with "SecantusDB exited with code 1 at start-up; see .../secantusdb.log",
    whose only line was WiredTiger's "Device or resource busy"."""
    data_dir, log = tmp_path / "db", tmp_path / "serve.log"
    with serving(data_dir, free_port(), log, SEGGRAPH_AUTH="off") as url:
        second = serve_until_it_stops(data_dir)
        said = " ".join((second.stdout + second.stderr).split())
        assert second.returncode == 1, said
        serve_pid = json.loads((tmp_path / "db.server.json").read_text())["serve_pid"]
        assert f"is in use by another seggraph serve (pid {serve_pid}" in said
        assert gql(url, "{ __typename }") == {"__typename": "Query"}  # the first one goes on
    assert (tmp_path / "db.secantusdb.log").exists()  # its log is named after its directory


def test_the_server_stops_when_its_embedded_database_dies(tmp_path: Path) -> None:
    """Not left serving errors with /healthz saying all is well: it exits non-zero, so that
    whatever supervises it starts it (and the database) again."""
    data_dir = tmp_path / "db"
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_serve(
        log, SEGGRAPH_DATA_DIR=str(data_dir), SEGGRAPH_PORT=str(port), SEGGRAPH_AUTH="off"
    )
    try:
        wait_ready(server, port, log)
        os.kill(_database_pid(data_dir), signal.SIGKILL)
        assert server.wait(60) == 1, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
    text = log.read_text()
    assert "the embedded database stopped (exit code -9): stopping the server" in text


def _database_pid(data_dir: Path) -> int:
    from seggraph.embedded import runtime_file

    pid: int = json.loads(runtime_file(data_dir).read_text())["pid"]
    return pid


def test_two_servers_started_together_on_one_data_directory(tmp_path: Path) -> None:
    """Started at the same instant, both found no running server (its record is written once
    its database is up, seconds later); the second then failed with "SecantusDB exited with
    code 1 at start-up". Now one serves and the other stops at once, saying why."""
    data_dir = tmp_path / "db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGGRAPH_")}
    env.update(SEGGRAPH_DATA_DIR=str(data_dir), SEGGRAPH_AUTH="off")
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "seggraph", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 90
        while all(server.poll() is None for server in servers):
            assert time.monotonic() < deadline, "neither server stopped"
            time.sleep(0.1)
        loser = next(server for server in servers if server.poll() is not None)
        winner = servers[1 - servers.index(loser)]
        said = " ".join((loser.communicate(timeout=10)[0] or "").split())
        assert loser.returncode == 1, said
        assert f"the data directory {data_dir} is in use by another seggraph process" in said
        assert "SecantusDB exited" not in said and "Traceback" not in said
        url = f"http://127.0.0.1:{ports[servers.index(winner)]}"
        while True:
            assert winner.poll() is None, winner.communicate()[0]
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the other server did not become ready"
            time.sleep(0.1)
        assert gql(url, "{ __typename }") == {"__typename": "Query"}
    finally:
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                server.communicate(timeout=60)


def test_a_database_that_does_not_answer_stops_start_up_in_one_line(tmp_path: Path) -> None:
    """A wrong SEGGRAPH_MONGODB_URI printed sixty lines of PyMongo's traceback before
    "Application startup failed"; the reason alone is the operator's to read."""
    port = free_port()  # nothing listens there
    done = serve_until_it_stops(
        tmp_path / "db",
        SEGGRAPH_AUTH="off",
        SEGGRAPH_MONGODB_URI=f"mongodb://127.0.0.1:{port}/",
        SEGGRAPH_DATABASE_TIMEOUT_SECONDS="1",
    )
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 3, said
    assert (
        f"seggraph did not start: the database at mongodb://127.0.0.1:{port}/ did not answer "
        "within 1 s (SEGGRAPH_MONGODB_URI, SEGGRAPH_DATABASE_TIMEOUT_SECONDS): "
        f"127.0.0.1:{port}:"
    ) in said
    assert "Traceback" not in said and "Topology Description" not in said


def test_the_access_log_keeps_a_get_requests_variables_out(tmp_path: Path) -> None:
    """uvicorn logged each GraphQL GET with its query string at INFO: the variables in it (an
    email used as a subscriber id here) went to the log with every request."""
    data_dir, log = tmp_path / "db", tmp_path / "serve.log"
    with serving(data_dir, free_port(), log, SEGGRAPH_AUTH="off") as url:
        asked = httpx.get(
            url + "/graphql",
            params={
                "query": "query($id: ID!) { subscriber(id: $id) { id } }",
                "variables": '{"id": "alice@example.com"}',
            },
            timeout=30,
        )
        assert asked.json() == {"data": {"subscriber": {"id": "alice@example.com"}}}
    text = log.read_text()
    assert '"GET /graphql?… HTTP/1.1" 200' in text
    assert "alice" not in text and "query=" not in text


def test_sigterm_while_the_demo_loads_stops_the_server_and_its_database(tmp_path: Path) -> None:
    """SIGTERM during `serve --demo`'s load ended the process on the spot, before its handler
    was installed: no word, its record left behind, the database stopped only by the kernel's
    parent-death signal. It now stops as a server does, saying the demo is loaded in part."""
    data_dir, log = tmp_path / "db", tmp_path / "serve.log"
    server = start_serve(
        log,
        "--demo",
        SEGGRAPH_DATA_DIR=str(data_dir),
        SEGGRAPH_PORT=str(free_port()),
        SEGGRAPH_AUTH="off",
    )
    try:
        deadline = time.monotonic() + 60
        while "using the embedded database" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(2)  # into the load
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
    text = log.read_text()
    assert "stopped while loading the demo: it is loaded in part" in text
    assert "stopping the embedded database" in text
    assert not (tmp_path / "db.server.json").exists()
    db_port = re.findall(r"embedded database \(SecantusDB\) at mongodb://127.0.0.1:(\d+)", text)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(db_port[0])), timeout=2).close()


#: A line of the server's log: its time, level and logger, then the message.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")


def test_the_server_log_has_one_line_format_with_request_ids_and_no_topology(
    tmp_path: Path,
) -> None:
    """uvicorn's own lines had a format of their own, without a time (``INFO:     ...``); its
    access lines named no request id, so a client's X-Request-Id led nowhere in the log; and
    while the database was away each warning carried PyMongo's description of the whole
    topology (some 700 characters) after its reason."""
    database = EmbeddedDatabase(tmp_path / "external", port=free_port())
    uri = database.start()
    log = tmp_path / "serve.log"
    secret = "someone@example.com"
    try:
        settings = {"SEGGRAPH_AUTH": "off", "SEGGRAPH_PLUGINS": ""}
        settings |= {"SEGGRAPH_MONGODB_URI": uri, "SEGGRAPH_DATABASE_TIMEOUT_SECONDS": "1"}
        with serving(tmp_path / "db", free_port(), log, **settings) as url:
            query = '{ segments(filter: {search: "' + secret + '"}) { totalCount } }'
            up = httpx.get(
                url + "/graphql",
                params={"query": query},
                headers={"x-request-id": "probe-request-0001"},
                timeout=30,
            )
            assert up.json() == {"data": {"segments": {"totalCount": 0}}}
            database.stop()
            # The first failure is the connection's; the next ones are server selection's,
            # which PyMongo follows with the topology's description.
            for _ in range(2):
                assert httpx.get(url + "/readyz", timeout=30).status_code == 503
            down = httpx.post(
                url + "/graphql",
                json={"query": "{ segments { totalCount } }"},
                headers={"x-request-id": "probe-request-0002"},
                timeout=30,
            )
            assert down.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    finally:
        database.stop()
    lines = log.read_text().splitlines()
    assert any("uvicorn" in line and "Application startup complete" in line for line in lines)
    for line in lines:
        assert LOG_LINE.match(line), line
        assert "Topology Description" not in line, line
        assert secret not in line, line
    [access] = [line for line in lines if "probe-request-0001" in line]
    assert " INFO uvicorn.access: request probe-request-0001: 127.0.0.1:" in access
    assert '"GET /graphql?… HTTP/1.1" 200' in access
    # The readiness probe's warnings, each under the request id of its access line.
    pings = [line for line in lines if "database ping failed" in line]
    assert len(pings) == 2
    for ping in pings:
        named = re.search(
            r" WARNING seggraph.db: request (\S+): database ping failed: 127.0.0.1:", ping
        )
        assert named, ping
        assert any(
            f"request {named[1]}: " in line and '"GET /readyz HTTP/1.1" 503' in line
            for line in lines
        )
    unavailable = [line for line in lines if "probe-request-0002" in line]
    assert any("WARNING" in line and "database unavailable" in line for line in unavailable)
    assert any('"POST /graphql HTTP/1.1" 200' in line for line in unavailable)


def test_sigterm_cancels_the_requests_still_running_after_the_shutdown_timeout(
    tmp_path: Path,
) -> None:
    """uvicorn waited for every request in flight however long (a second SIGTERM did not
    force it), so a supervisor's SIGKILL came first and skipped the providers' shutdown, the
    database client's close and the embedded database's stop. A request here waits on a
    paused database: after SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS it is cancelled (500), the
    server stops its database and exits 0. The database is resumed once the request is
    cancelled, so that the shutdown finds it answering."""
    with _served_then_paused(
        tmp_path, SEGGRAPH_DATABASE_TIMEOUT_SECONDS="60", SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS="1"
    ) as (server, port, database_pid, log):
        body = json.dumps(
            {"query": 'mutation { createSegment(input: {name: "Late"}) { segment { id } } }'}
        ).encode()
        client = socket.create_connection(("127.0.0.1", port), timeout=60)
        client.sendall(
            b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        # Accepted after the mutation's connection, answered after the server read the
        # mutation: the mutation is in flight, waiting on the database.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while "timeout graceful shutdown exceeded" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the request was not cancelled:\n" + log.read_text()
            time.sleep(0.1)
        os.kill(database_pid, signal.SIGCONT)
        client.settimeout(30)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        client.close()
        assert server.wait(30) == 0, log.read_text()
        left = _databases_on(tmp_path / "db")
    assert left == [], "the embedded database was left running"
    assert answer.startswith(b"HTTP/1.1 500 "), answer
    text = log.read_text()
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in text
    assert "Application shutdown complete" in text  # the providers' and the client's close
    assert "stopping the embedded database" in text
    assert "did not stop within" not in text


def test_sigterm_with_a_database_that_stopped_answering_exits_within_the_grace_period(
    tmp_path: Path,
) -> None:
    """On a database that stopped answering (paused here), the server took some 48 s to exit
    after SIGTERM however short SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS was: closing the database
    client waited half a minute for PyMongo to give the server up, then stopping the embedded
    database waited 20 s for a process that answered nothing, so a supervisor's SIGKILL
    (Kubernetes: at 30 s) came first. The client's close is cut short, the database is
    resumed, stopped and, as it does not stop at once, killed; the server exits 0."""
    with _served_then_paused(
        tmp_path, SEGGRAPH_DATABASE_TIMEOUT_SECONDS="1", SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS="2"
    ) as (server, _, _, log):
        server.send_signal(signal.SIGTERM)
        # Far beyond the few seconds it takes; below the ~48 s it took, and below the 21 s
        # it would take were either wait (the close's, the database's stop) left.
        assert server.wait(15) == 0, log.read_text()
        left = _databases_on(tmp_path / "db")
    assert left == [], "the embedded database was left running"
    text = log.read_text()
    assert "WARNING seggraph.db: closing the database client was cut short" in text
    assert "does not answer: stopping it" in text
    assert "did not stop within 20 s" not in text


@contextlib.contextmanager
def _served_then_paused(
    tmp_path: Path, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path]]:
    """A ``seggraph serve`` on the embedded database in ``tmp_path / "db"`` (auth off, and
    ``settings``), ready, and then its database paused (SIGSTOP): ``(server, port, database
    pid, log)``. Afterwards the server is killed if it still runs, and a database left on the
    data directory (after a failure) is resumed and killed, not left behind paused."""
    data_dir, log = tmp_path / "db", tmp_path / "serve.log"
    port = free_port()
    server = start_serve(
        log,
        SEGGRAPH_DATA_DIR=str(data_dir),
        SEGGRAPH_PORT=str(port),
        SEGGRAPH_AUTH="off",
        **settings,
    )
    try:
        wait_ready(server, port, log)
        database_pid = _database_pid(data_dir)
        assert _databases_on(data_dir) == [database_pid]
        os.kill(database_pid, signal.SIGSTOP)
        yield server, port, database_pid, log
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pid in _databases_on(data_dir):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def _databases_on(data_dir: Path) -> list[int]:
    """The processes whose command line names ``data_dir`` (the embedded database's does)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(data_dir).encode() in cmdline.read_bytes().split(b"\0"):
                pids.append(int(cmdline.parent.name))
    return pids
