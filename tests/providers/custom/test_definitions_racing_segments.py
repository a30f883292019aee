"""A custom property deleted, or given another type, at the same moment as a segment with a
condition on it is saved: never both. Each test makes the two meet at the moment that let
both through before: the delete between the segment's validation and its write, and the
segment's whole write (with its own check afterwards) inside the delete's transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo.database import Database as SyncDatabase

from seggraph.domain.custom_properties import CustomType, DefinitionChange
from seggraph.domain.errors import InputRefused
from seggraph.domain.segments import Mode
from seggraph.textform import parse
from tests.conftest import GraphQLClient, LiveServer
from tests.providers.custom.conftest import create, create_segment, delete

Db = SyncDatabase[dict[str, Any]]


def stored_segments(sync_db: Db, name: str) -> int:
    return sync_db.segments.count_documents({"name": name})


def once_after_validation(
    services: Any, monkeypatch: pytest.MonkeyPatch, change: Callable[[], Awaitable[None]]
) -> None:
    """Make another request's ``change`` run once, between the next segment write's
    validation of its conditions and the write itself."""
    validate = services.segments.validate_conditions
    ran: list[bool] = []

    async def validated_then_changed(*args: Any, **kwargs: Any) -> Any:
        outcome = await validate(*args, **kwargs)
        if not ran:
            ran.append(True)
            await change()
        return outcome

    monkeypatch.setattr(services.segments, "validate_conditions", validated_then_changed)


def test_a_property_deleted_between_a_segment_s_check_and_its_write_refuses_the_segment(
    gql: GraphQLClient, live_server: LiveServer, sync_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(gql, key="doomed", type="NUMBER")
    services = live_server.app.state.services
    deleted: list[str] = []

    async def delete_it() -> None:  # another request deletes the property: no segment uses it
        await services.custom_properties.delete_definition("doomed")
        deleted.append("doomed")

    once_after_validation(services, monkeypatch, delete_it)
    refused = create_segment(
        gql, [{"property": "custom.doomed", "operator": "GT", "value": 10}], name="Late"
    )
    monkeypatch.undo()
    assert deleted == ["doomed"]
    assert refused["segment"] is None
    [error] = refused["userErrors"]
    assert error["code"] == "UNKNOWN_PROPERTY"
    assert "the property changed while this was saved; nothing was saved" in error["message"]
    assert stored_segments(sync_db, "Late") == 0
    assert sync_db.segment_history.count_documents({"snapshot.name": "Late"}) == 0


def test_a_type_change_between_a_segment_s_check_and_its_write_refuses_the_segment(
    gql: GraphQLClient, live_server: LiveServer, sync_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(gql, key="plan_note", type="NUMBER")
    services = live_server.app.state.services
    changed: list[str] = []

    async def change_its_type() -> None:  # another request: no segment uses it yet
        await services.custom_properties.update_definition(
            "plan_note", DefinitionChange(type=CustomType.TEXT)
        )
        changed.append("TEXT")

    once_after_validation(services, monkeypatch, change_its_type)
    text = "custom.plan_note > 10"
    refused = gql.query(
        'mutation($text: String!) { createSegment(input: {name: "Typed", conditionsText: '
        "$text}) { segment { id } userErrors { path code message } } }",
        {"text": text},
    )["createSegment"]
    monkeypatch.undo()
    assert changed == ["TEXT"]
    assert refused["segment"] is None
    [error] = refused["userErrors"]
    assert error["path"][0] == "conditionsText"
    assert "nothing was saved" in error["message"] and "TEXT" in error["message"]
    assert stored_segments(sync_db, "Typed") == 0


def test_a_segment_saved_inside_a_delete_s_check_is_not_saved_beside_it(
    gql: GraphQLClient, live_server: LiveServer, sync_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete reads which segments use the property; then a segment using it is saved
    and checks itself, all before the delete commits. The delete's transaction conflicts with
    the segment's write, so the segment cannot be saved before the delete ends, and then its
    own check sees the property gone."""
    create(gql, key="raced", type="NUMBER")
    services = live_server.app.state.services
    custom = services.custom_properties
    using = custom.store.segments_using
    outcome: dict[str, Any] = {}

    async def create_racer() -> None:
        try:
            outcome["saved"] = await services.segments.create(
                Mode.TEST, "racer", name="Racer", conditions=parse("custom.raced > 10")
            )
        except InputRefused as refused:
            outcome["refused"] = refused.errors

    async def a_segment_saved_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = await using(*args, **kwargs)
        if "task" not in outcome:
            outcome["task"] = task = asyncio.ensure_future(create_racer())
            # Long enough for the segment's write and its check, had nothing held it.
            await asyncio.wait([task], timeout=1.5)
        return found

    monkeypatch.setattr(custom.store, "segments_using", a_segment_saved_meanwhile)
    deleted = delete(gql, "raced")
    monkeypatch.undo()
    deadline = time.monotonic() + 30
    while "saved" not in outcome and "refused" not in outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    if deleted["deletedKey"] == "raced":
        assert "refused" in outcome, outcome
        assert [e.code for e in outcome["refused"]] == ["UNKNOWN_PROPERTY"]
        assert stored_segments(sync_db, "Racer") == 0
    else:  # the delete ran again after the segment was saved, saw it and was refused
        assert deleted["userErrors"][0]["code"] == "PROPERTY_IN_USE", deleted
        assert "saved" in outcome and stored_segments(sync_db, "Racer") == 1
