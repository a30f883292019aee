"""The CDP provider as a seggraph plugin (entry point ``cdp``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic_settings import BaseSettings
from starlette.routing import BaseRoute

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition
from seggraph.plugins import hookimpl
from seggraph.settings import Settings
from seggraph_cdp import __version__
from seggraph_cdp.provider import CdpProvider
from seggraph_cdp.settings import CdpSettings, load_cdp_settings


class CdpPlugin:
    """One per application. ``settings`` default to the ``SEGGRAPH_CDP_*`` variables."""

    name = "cdp"
    version = __version__

    def __init__(self, settings: CdpSettings | None = None) -> None:
        self.provider = CdpProvider(settings or load_cdp_settings())

    @hookimpl
    def register_settings(self) -> list[type[BaseSettings]]:
        """The ``SEGGRAPH_CDP_*`` variables, so that a misspelled one is warned of."""
        return [CdpSettings]

    @hookimpl
    def register_routes(self) -> Sequence[BaseRoute]:
        return self.provider.routes()

    @hookimpl
    async def startup(self, database: Database, settings: Settings) -> None:
        self.provider.bind(
            database.db, database=database, zone=settings.zone, currency=settings.currency
        )
        await self.provider.start()

    @hookimpl
    async def shutdown(self) -> None:
        await self.provider.stop()

    @hookimpl
    def register_properties(
        self, register: Callable[[PropertyDefinition], None], settings: Settings
    ) -> None:
        self.provider.currency = settings.currency
        for definition in self.provider.definitions():
            register(definition)

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.provider.resolve(contexts, keys)
