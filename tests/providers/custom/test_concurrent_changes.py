"""A type change and value writes at the same moment: no value is left in a type its property
no longer has, and none is lost (each runs in a transaction that writes the definition)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database as SyncDatabase
from seggraph_custom.service import CustomPropertiesService
from seggraph_custom.store import CustomStore

from seggraph.db import Database
from seggraph.domain.custom_properties import (
    CustomObject,
    CustomType,
    DefinitionChange,
    ValueAssignment,
)
from seggraph.domain.errors import InputRefused
from tests.conftest import empty_collections


@pytest.fixture
async def service(
    seggraph_database: Database, sync_db: SyncDatabase[dict[str, Any]]
) -> CustomPropertiesService:
    if not await seggraph_database.supports_transactions():
        pytest.skip("needs transactions (a replica set, or the embedded database)")
    empty_collections(sync_db, "custom_")
    found = CustomPropertiesService(seggraph_database, CustomStore(seggraph_database.db))
    await found.store.ensure_indexes()
    return found


async def test_a_value_checked_before_a_type_change_is_checked_again(
    service: CustomPropertiesService, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    await service.create_definition(key="note", label="Note", type=CustomType.TEXT)
    check = service.check_values
    changes: list[Any] = []

    async def checked_then_the_type_changes(*args: Any, **kwargs: Any) -> Any:
        found = await check(*args, **kwargs)
        if not changes:  # another request changes the type, between the check and the write
            changes.append(
                await service.update_definition("note", DefinitionChange(type=CustomType.NUMBER))
            )
        return found

    service.check_values = checked_then_the_type_changes  # type: ignore[method-assign]
    with pytest.raises(InputRefused) as refused:
        await service.set_values([ValueAssignment("note", "cus_1", "not-a-number")])
    assert "expected a number" in str(refused.value)
    assert changes[0].type is CustomType.NUMBER
    assert await service.get_values(CustomObject.SUBSCRIBER, "cus_1") == {}


async def test_a_value_written_during_a_type_change_is_converted_not_lost(
    service: CustomPropertiesService,
) -> None:
    await service.create_definition(key="seats", label="Seats", type=CustomType.TEXT)
    await service.set_values([ValueAssignment("seats", "cus_1", "3")])
    read = service.store.values_of
    writes: list[Any] = []

    async def read_then_a_value_is_written(*args: Any, **kwargs: Any) -> Any:
        found = await read(*args, **kwargs)
        if not writes:  # another request writes a value after the conversion read the values
            writes.append(await service.set_values([ValueAssignment("seats", "cus_2", "7")]))
        return found

    service.store.values_of = read_then_a_value_is_written  # type: ignore[method-assign]
    await service.update_definition("seats", DefinitionChange(type=CustomType.NUMBER))
    assert writes
    assert await service.get_values(CustomObject.SUBSCRIBER, "cus_1") == {"seats": 3}
    assert await service.get_values(CustomObject.SUBSCRIBER, "cus_2") == {"seats": 7}
