"""A served app puts what startup made out of the cyclic garbage collector's way, and collects
its young generation less often.

Without it, every full collection walked the modules, the schema and the providers again, a
pause of 60-80 ms about once a second under load (``bench/README.md``, "Findings: the
service", item 12). ``seggraph serve`` and the bench's servers ask for it; an app built for
tests (many in one process) does not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from seggraph.app import YOUNG_COLLECTION_THRESHOLD
from seggraph.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_an_app_asked_to_freezes_what_startup_made_and_still_answers(
    unfrozen: None, start_live_server: Any, settings: Settings
) -> None:
    before = gc.get_threshold()
    server = start_live_server(settings, freeze_after_startup=True)
    assert gc.get_freeze_count() > 10_000  # the modules, the schema, the providers
    # The young generation is collected less often; the older ones as before.
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
    answer = httpx.post(f"{server.url}/graphql", json={"query": "{ __typename }"}, timeout=30)
    assert answer.json() == {"data": {"__typename": "Query"}}
    # Garbage made after startup is still collected.
    cycle: list[Any] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_an_app_not_asked_to_freezes_nothing(
    unfrozen: None, start_live_server: Any, settings: Settings
) -> None:
    before = gc.get_threshold()
    start_live_server(settings)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
