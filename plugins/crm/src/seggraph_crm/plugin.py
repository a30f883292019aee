"""The CRM provider as a seggraph plugin (entry point ``crm``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic_settings import BaseSettings

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition
from seggraph.plugins import hookimpl
from seggraph.settings import Settings
from seggraph_crm import __version__
from seggraph_crm.provider import CrmProvider
from seggraph_crm.settings import CrmSettings


class CrmPlugin:
    """One per application. ``settings`` default to the ``SEGGRAPH_CRM_*`` variables."""

    name = "crm"
    version = __version__

    def __init__(self, settings: CrmSettings | None = None) -> None:
        self.provider = CrmProvider(settings)

    @hookimpl
    def register_settings(self) -> list[type[BaseSettings]]:
        """The ``SEGGRAPH_CRM_*`` variables, so that a misspelled one is warned of."""
        return [CrmSettings]

    @hookimpl
    async def startup(self, database: Database, settings: Settings) -> None:
        self.provider.bind(database.db, currency=settings.currency)
        await self.provider.start()

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
