"""The billing provider as a seggraph plugin (entry point ``billing``).

Supplies every billing property of the catalogue, the Stripe webhook route, the subscriber
directory, and (through the services) the retention events of the GraphQL API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings
from starlette.routing import BaseRoute

from seggraph.plugins import SubscriberFilter, hookimpl
from seggraph.settings import read_settings
from seggraph_billing import __version__
from seggraph_billing.properties import definitions
from seggraph_billing.provider import BillingProvider
from seggraph_billing.settings import BillingSettings
from seggraph_billing.store import CUSTOMERS, DIRECTORY_QUERY

if TYPE_CHECKING:
    from seggraph.db import Database
    from seggraph.domain.context import EvaluationContext
    from seggraph.domain.properties import PropertyDefinition
    from seggraph.services.container import Services
    from seggraph.settings import Settings


class BillingPlugin:
    """One per application. ``settings`` default to the ``SEGGRAPH_BILLING_*`` variables."""

    name = "billing"
    version = __version__

    def __init__(self, settings: BillingSettings | None = None) -> None:
        self.provider = BillingProvider(settings or read_settings(BillingSettings))

    @hookimpl
    def register_settings(self) -> list[type[BaseSettings]]:
        """The ``SEGGRAPH_BILLING_*`` variables, so that a misspelled one is warned of."""
        return [BillingSettings]

    @hookimpl
    async def startup(self, database: Database, settings: Settings, services: Services) -> None:
        self.provider.bind(database.db, zone=settings.zone, currency=settings.currency)
        await self.provider.start()
        services.retention = self.provider

    @hookimpl
    def register_properties(
        self, register: Callable[[PropertyDefinition], None], settings: Settings
    ) -> None:
        for definition in definitions(settings.currency):
            register(definition)

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.provider.resolve(contexts, keys)

    @hookimpl
    async def suggest_property_values(self, key: str, prefix: str, limit: int) -> list[str] | None:
        return await self.provider.suggest(key, prefix, limit)

    @hookimpl
    def register_routes(self) -> Sequence[BaseRoute]:
        return self.provider.routes()

    @hookimpl
    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        return await self.provider.subscriber_ids(after, limit)

    @hookimpl
    def directory_filter(self) -> SubscriberFilter:
        """The customers ``subscriber_ids`` lists, so pushed-down answers are kept to them."""
        return SubscriberFilter(CUSTOMERS, DIRECTORY_QUERY)
