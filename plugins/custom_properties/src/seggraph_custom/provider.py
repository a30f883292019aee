"""The custom properties provider: definitions that change at run time, values in batches.
``seggraph_custom.plugin`` connects it to seggraph's hooks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from seggraph.clock import Clock, utcnow
from seggraph.db import Database
from seggraph.domain.custom_properties import NAMESPACE, PROVIDER, CustomObject
from seggraph.domain.properties import PropertyDefinition
from seggraph.domain.subscriptions import PrimaryNotKnown, primary_note
from seggraph.evaluation.values import MISSING, Unknown, UnknownReason
from seggraph.plugins.results import Noted
from seggraph_custom.service import CustomPropertiesService, OnChange
from seggraph_custom.store import CustomStore
from seggraph_custom.subscriptions import Primary, PrimarySubscriptions


class SubjectLike(Protocol):
    @property
    def subscriber_id(self) -> str: ...

    @property
    def subscription_id(self) -> str | None: ...


class CustomProvider:
    """One per process; ``bind`` it to the database before use."""

    name = PROVIDER

    def __init__(self) -> None:
        self._service: CustomPropertiesService | None = None
        self._primary: PrimarySubscriptions | None = None
        self._listeners: list[OnChange] = []

    def bind(
        self,
        database: Database,
        *,
        db: AsyncDatabase[dict[str, Any]] | None = None,
        clock: Clock = utcnow,
        subscriptions_collection: str | None = None,
    ) -> CustomProvider:
        handle = db if db is not None else database.db
        self._service = CustomPropertiesService(
            database, CustomStore(handle), clock=clock, on_change=self._notify
        )
        self._primary = (
            PrimarySubscriptions(handle[subscriptions_collection])
            if subscriptions_collection
            else None
        )
        return self

    @property
    def service(self) -> CustomPropertiesService:
        if self._service is None:
            raise RuntimeError("the custom properties provider is not bound to a database yet")
        return self._service

    def on_change(self, listener: OnChange) -> None:
        """Call ``listener`` with every definition whenever the definitions change."""
        self._listeners.append(listener)

    def _notify(self, definitions: list[PropertyDefinition]) -> None:
        for listener in self._listeners:
            listener(definitions)

    async def start(self) -> list[PropertyDefinition]:
        await self.service.store.ensure_indexes()
        return await self.service.load()

    def definitions(self) -> list[PropertyDefinition]:
        return self.service.properties() if self._service is not None else []

    async def refresh_if_changed(self) -> bool:
        return await self.service.refresh_if_changed()

    async def resolve(
        self,
        subjects: Sequence[SubjectLike],
        keys: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The values of ``keys`` (every custom key by default) for each subject, in order.

        A subscription property reads the subject's subscription, or, when none is named, the
        subscriber's primary subscription.
        """
        service = self.service
        known = {d.key for d in service.properties()}
        wanted = [k for k in (keys if keys is not None else known) if k in known]
        if not subjects or not wanted:
            return [{} for _ in subjects]
        needs_subscription = any(
            (d := service.cached_definition(k.removeprefix(f"{NAMESPACE}."))) is not None
            and d.object is CustomObject.SUBSCRIPTION
            for k in wanted
        )
        named = [getattr(s, "subscription_id", None) for s in subjects]
        primary: dict[str, Primary | PrimaryNotKnown | None] = {}
        unnamed = [s.subscriber_id for s, n in zip(subjects, named, strict=True) if not n]
        if needs_subscription and unnamed and self._primary is not None:
            primary = await self._primary.of(unnamed)
        pairs: list[tuple[str, str | None]] = []
        not_known: dict[int, PrimaryNotKnown] = {}
        chosen_among: dict[int, Primary] = {}
        for index, (subject, name) in enumerate(zip(subjects, named, strict=True)):
            chosen: str | None = name
            if not name:
                found = primary.get(subject.subscriber_id)
                if isinstance(found, PrimaryNotKnown):
                    not_known[index] = found
                elif found is not None:
                    chosen = found.id
                    if found.among > 1:
                        chosen_among[index] = found
            pairs.append((subject.subscriber_id, chosen))
        values = await service.values_for(wanted, pairs)
        out = [{k: MISSING if v is None else v for k, v in found.items()} for found in values]
        if not_known or chosen_among:
            of_subscription = [
                k
                for k in wanted
                if (d := service.cached_definition(k.removeprefix(f"{NAMESPACE}."))) is not None
                and d.object is CustomObject.SUBSCRIPTION
            ]
            for index, exc in not_known.items():
                unknown = Unknown(UnknownReason.PROVIDER_ERROR, str(exc))
                out[index].update(dict.fromkeys(of_subscription, unknown))
            for index, read in chosen_among.items():
                # Which of the subscriber's subscriptions was read, for explanations.
                note = primary_note(read.id, read.among)
                row = out[index]
                row.update({k: Noted(row[k], note) for k in of_subscription})
        return out
