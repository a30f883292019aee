"""Helpers for provider tests: a live server with configured plugin objects, and a command log
for counting the queries a provider sends."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pymongo import monitoring

from seggraph.app import create_app
from seggraph.db import Database
from seggraph.embedded import free_port
from seggraph.plugins.loader import discover
from seggraph.plugins.manager import PluginManager
from seggraph.settings import Settings
from tests.conftest import LiveServer
from tests.serve_process import run_seggraph


class PluginServer(LiveServer):
    """A live server whose plugins named in ``plugins`` are the given (configured) objects
    instead of the installed entry points; every other installed plugin loads as usual."""

    def __init__(self, settings: Settings, plugins: Iterable[tuple[str, object]] = ()) -> None:
        given = list(plugins)
        names = {name for name, _ in given}
        manager = PluginManager.load(
            settings, given, entry_points=[s for s in discover() if s.name not in names]
        )
        self.port = free_port()
        self.app = create_app(settings, plugin_manager=manager)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


class CommandLog(monitoring.CommandListener):
    """Every command a client sends: (command name, collection), each aggregation's pipeline
    and each find's (collection, filter)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []
        self.pipelines: list[list[dict[str, Any]]] = []
        self.finds: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, str(event.command.get(event.command_name))))
        if event.command_name == "aggregate":
            self.pipelines.append(list(event.command["pipeline"]))
        elif event.command_name == "find":
            self.finds.append((str(event.command["find"]), dict(event.command.get("filter", {}))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reads(self) -> list[tuple[str, str]]:
        return [(n, c) for n, c in self.commands if n in ("find", "aggregate", "count")]

    def clear(self) -> None:
        self.commands.clear()
        self.pipelines.clear()
        self.finds.clear()


@pytest.fixture(scope="session")
async def seggraph_database(settings: Settings) -> AsyncIterator[Database]:
    """A :class:`seggraph.db.Database` on the session's test database (for the contract kit
    and for driving providers directly)."""
    assert settings.mongodb_uri
    database = Database(settings.mongodb_uri, settings.database)
    yield database
    await database.close()


def run_cli(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``seggraph ARGS`` in a child process on the test database (as a user runs it)."""
    return run_seggraph(
        *args,
        cwd=cwd,
        SEGGRAPH_MONGODB_URI=settings.mongodb_uri or "",
        SEGGRAPH_DATABASE=settings.database,
        COLUMNS="200",
    )
