"""The one MongoDB client of a process, and the indexes every collection needs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class IndexSpec:
    """The indexes one collection needs; created at start-up, idempotently."""

    collection: str
    indexes: tuple[IndexModel, ...] = field(default_factory=tuple)


def redact_uri(uri: str) -> str:
    """The URI with any password replaced, fit for a log line."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_unavailable(error: BaseException | None) -> bool:
    """The error, or one it was raised from, says the database could not be reached in time
    (down, restarting, unreachable): a condition to report as such, not a bug."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ConnectionFailure):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


class Database:
    """Owns the process's ``AsyncMongoClient`` (PyMongo's async API) and the database handle."""

    def __init__(self, uri: str, name: str, *, server_selection_timeout_ms: int = 5000) -> None:
        self.uri = uri
        self.client: AsyncMongoClient[dict] = AsyncMongoClient(
            uri,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            tz_aware=True,
            uuidRepresentation="standard",
        )
        self.db: AsyncDatabase[dict] = self.client[name]
        self._transactions: bool | None = None
        self.transaction_time_limit = 3 * server_selection_timeout_ms / 1000
        """Seconds a transaction may take with its retries: PyMongo alone retries a transient
        failure (the database being away included) for 120 s, holding the request that long."""

    async def ensure_indexes(self, specs: Iterable[IndexSpec]) -> None:
        for spec in specs:
            if spec.indexes:
                await self.db[spec.collection].create_indexes(list(spec.indexes))

    async def supports_transactions(self) -> bool:
        """True on a replica set or sharded cluster (and on SecantusDB, which acts as one)."""
        if self._transactions is None:
            hello = await self.client.admin.command("hello")
            self._transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
        return self._transactions

    async def run_atomically(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction where the server supports one, else without.

        ``work`` receives the session to pass to every operation (``None`` without
        transactions); transient transaction errors are retried by PyMongo, within
        :attr:`transaction_time_limit`.
        """
        if not await self.supports_transactions():
            return await work(None)
        with pymongo.timeout(self.transaction_time_limit):
            async with self.client.start_session() as session:
                result: T = await session.with_transaction(work)
                return result

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure as "not ready"
            log.warning("database ping failed: %s", exc)
            return False
        return True

    async def close(self) -> None:
        await self.client.close()
