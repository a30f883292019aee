"""Helpers for plugin tests: fake installed distributions (real entry points on sys.path), a
database handle that logs its commands, and the contract kit's fixture."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient, monitoring

from seggraph.db import Database
from seggraph.settings import Settings
from seggraph.testing import provider_contract  # noqa: F401 - the kit's fixture

FakeDistribution = Callable[..., Path]


def write_distribution(
    root: Path, name: str, version: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """A distribution as pip leaves it: ``<name>-<version>.dist-info`` and its modules."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[seggraph]\n{lines}", encoding="utf-8")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source, encoding="utf-8")


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDistribution]:
    """Install a distribution with ``seggraph`` entry points for this test only, by putting
    its dist-info on ``sys.path`` (what ``importlib.metadata`` really reads)."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    modules: list[str] = []

    def install(
        name: str, version: str, entry_points: dict[str, str], modules_: dict[str, str]
    ) -> Path:
        write_distribution(root, name, version, entry_points, modules_)
        modules.extend(modules_)
        importlib.invalidate_caches()
        return root

    yield install
    for module in modules:
        sys.modules.pop(module, None)


BROKEN_IMPORT = "raise RuntimeError('the ticket SDK is not configured')\n"


class CommandLog(monitoring.CommandListener):
    """The commands a client sent: ``(command name, collection)``."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def finds(self, collection: str) -> int:
        return sum(1 for name, on in self.commands if name == "find" and on == collection)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[tuple[Database, CommandLog]]:
    """A :class:`seggraph.db.Database` on the test database, with a log of its commands."""
    assert settings.mongodb_uri
    log = CommandLog()
    database = Database(settings.mongodb_uri, settings.database)
    await database.close()
    database.client = AsyncMongoClient(settings.mongodb_uri, tz_aware=True, event_listeners=[log])
    database.db = database.client[settings.database]
    yield database, log
    await database.close()
