"""The custom properties provider as a seggraph plugin (entry point ``custom``).

Definitions change at run time: the worker that changes one tells the plugin manager at once
(``properties_changed``), and every other worker notices before its next GraphQL request through
the freshness check it registers on the services (one read of the catalogue version).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings

from seggraph.plugins import hookimpl
from seggraph.settings import read_settings
from seggraph_custom import __version__
from seggraph_custom.provider import CustomProvider
from seggraph_custom.settings import CustomSettings
from seggraph_custom.store import CATALOGUE_VERSION

if TYPE_CHECKING:
    from seggraph.db import Database
    from seggraph.domain.context import EvaluationContext
    from seggraph.domain.properties import PropertyDefinition
    from seggraph.services.container import Services


class CustomPropertiesPlugin:
    """One per application. ``settings`` default to the ``SEGGRAPH_CUSTOM_*`` variables."""

    name = "custom"
    version = __version__

    def __init__(self, settings: CustomSettings | None = None) -> None:
        self.settings = settings or read_settings(CustomSettings)
        self.provider = CustomProvider()

    @hookimpl
    def register_settings(self) -> list[type[BaseSettings]]:
        """The ``SEGGRAPH_CUSTOM_*`` variables, so that a misspelled one is warned of."""
        return [CustomSettings]

    @hookimpl
    async def startup(
        self,
        database: Database,
        services: Services,
        properties_changed: Callable[[], None],
    ) -> None:
        self.provider.bind(
            database, subscriptions_collection=self.settings.subscriptions_collection
        )
        self.provider.on_change(lambda _definitions: properties_changed())
        await self.provider.start()
        services.custom_properties = self.provider.service
        # The catalogue version is read with the request's other watched documents.
        services.freshness.watch(CATALOGUE_VERSION)
        services.freshness_checks.append(self.provider.refresh_if_changed)

    @hookimpl
    def register_properties(self, register: Callable[[PropertyDefinition], None]) -> None:
        for definition in self.provider.definitions():
            register(definition)

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.provider.resolve(contexts, keys)
