"""The one MongoDB client of a process, and the indexes every collection needs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, ExecutionTimeout

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class UniqueGuard:
    """A unique index that documents written before it existed may already violate.

    Start-up must not stop on such a database, so a guard is created on its own: when existing
    duplicates prevent it, the log names them (and says what to do) and the service runs
    without it, as it did before the index existed; every start-up tries again.
    """

    index: IndexModel
    rule: str
    """What the index guarantees, e.g. "a segment has at most one copy in the other mode"."""
    remedy: str
    """What happens without it, and what to do about the duplicates."""


@dataclass(frozen=True)
class IndexSpec:
    """The indexes one collection needs; created at start-up, idempotently."""

    collection: str
    indexes: tuple[IndexModel, ...] = field(default_factory=tuple)
    guards: tuple[UniqueGuard, ...] = field(default_factory=tuple)


#: URI options whose values are secrets (lower case), and the secret parts of
#: ``authMechanismProperties`` (``AWS_SESSION_TOKEN:…``).
_SECRET_OPTIONS = frozenset({"tlscertificatekeyfilepassword"})
_SECRET_PROPERTIES = frozenset({"aws_session_token"})


def redact_uri(uri: str) -> str:
    """The URI with its password (and any secret option) replaced, fit for a log line.

    The URI is split as PyMongo splits it, not as a URL: the user information is everything
    before the last ``@`` ahead of the first ``/`` or ``?``, so a password PyMongo accepts
    with an unescaped ``#`` in it (which ``urlsplit`` takes for a fragment) is replaced too.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    hosts_and_path, question, options = rest.partition("?")
    hosts, slash, path = hosts_and_path.partition("/")
    if "@" in hosts:
        userinfo, _, hosts = hosts.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        hosts = f"{user}{':***' if colon else ''}@{hosts}"
    if options:
        options = "&".join(_redact_option(option) for option in options.split("&"))
    return f"{scheme}{sep}{hosts}{slash}{path}{question}{options}"


def _redact_option(option: str) -> str:
    name, equals, value = option.partition("=")
    if not equals:
        return option
    if name.lower() in _SECRET_OPTIONS:
        return f"{name}=***"
    if name.lower() == "authmechanismproperties":
        properties = []
        for prop in value.split(","):
            key, colon, _secret = prop.partition(":")
            secret = colon and key.lower() in _SECRET_PROPERTIES
            properties.append(f"{key}:***" if secret else prop)
        return f"{name}={','.join(properties)}"
    return option


def database_unavailable(error: BaseException | None) -> bool:
    """The error, or one it was raised from, says the database could not be reached in time
    (down, restarting, unreachable): a condition to report as such, not a bug."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ConnectionFailure | ExecutionTimeout):  # or it did not answer in time
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


#: A ping answered after this many seconds or more: the database was not answering (a
#: healthy one answers in milliseconds).
STALLED_PING_SECONDS = 0.25


class DatabaseHealth:
    """When the database last answered, and when it last did not (monotonic seconds), as the
    reads that every request makes first and the pings see them: what tells a provider that
    failed while the database did not answer from one that is broken on its own
    (:class:`~seggraph.plugins.manager.PluginManager`)."""

    def __init__(self) -> None:
        self.answered_at = float("-inf")
        self.unanswered_at = float("-inf")

    def answered(self) -> None:
        self.answered_at = time.monotonic()

    def unanswered(self) -> None:
        self.unanswered_at = time.monotonic()

    @property
    def down(self) -> bool:
        """The database did not answer the last time it was asked."""
        return self.unanswered_at > self.answered_at

    def back_since(self, since: float) -> bool:
        """The database did not answer at some moment since ``since``, and has answered
        since then."""
        return since <= self.unanswered_at < self.answered_at


async def _duplicates(collection: AsyncCollection[dict], index: IndexModel, shown: int = 20) -> str:
    """The groups of documents that share a key of ``index`` (within its partial filter)."""
    document = index.document
    keys = list(document["key"])
    pipeline: list[dict[str, Any]] = [
        {"$match": document.get("partialFilterExpression", {})},
        {
            "$group": {
                "_id": {key.replace(".", "_"): f"${key}" for key in keys},
                "ids": {"$push": "$_id"},
                "n": {"$sum": 1},
            }
        },
        {"$match": {"n": {"$gt": 1}}},
        {"$sort": {"_id": 1}},
        {"$limit": shown},
    ]
    groups = await (await collection.aggregate(pipeline)).to_list()
    return "; ".join(
        ", ".join(f"{key} {value!r}" for key, value in group["_id"].items())
        + ": documents "
        + ", ".join(str(i) for i in group["ids"])
        for group in groups
    )


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
        self.health = DatabaseHealth()
        self._transactions: bool | None = None
        self.operation_timeout = server_selection_timeout_ms / 1000
        """Seconds the reads every request makes first (its snapshot, the readiness ping) may
        take: a database that stops answering (paused, or its host gone) otherwise holds them
        until PyMongo's monitor gives the server up, half a minute and more."""
        self.transaction_time_limit = 3 * self.operation_timeout
        """Seconds a transaction may take with its retries: PyMongo alone retries a transient
        failure (the database being away included) for 120 s, holding the request that long."""

    async def ensure_indexes(self, specs: Iterable[IndexSpec]) -> None:
        """Create every index (a guard that existing duplicates prevent is logged)."""
        for spec in specs:
            collection = self.db[spec.collection]
            if spec.indexes:
                await collection.create_indexes(list(spec.indexes))
            for guard in spec.guards:
                try:
                    await collection.create_indexes([guard.index])
                except DuplicateKeyError:
                    log.error(
                        "%s: the unique index %r (%s) could not be created: documents written "
                        "before it break it: %s. %s",
                        spec.collection,
                        guard.index.document["name"],
                        guard.rule,
                        await _duplicates(collection, guard.index),
                        guard.remedy,
                    )

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

    async def ping(self, *, quiet: bool = False) -> bool:
        """The database answers a ping within :attr:`operation_timeout` (recorded in
        :attr:`health`: one answered after :data:`STALLED_PING_SECONDS` or more says that it
        did not answer until then); a failure is logged unless ``quiet``."""
        started = time.monotonic()
        try:
            with pymongo.timeout(self.operation_timeout):
                await self.client.admin.command("ping")
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure as "not ready"
            self.health.unanswered()
            if not quiet:
                log.warning("database ping failed: %s", exc)
            return False
        self.health.answered()
        if self.health.answered_at - started >= STALLED_PING_SECONDS:
            self.health.unanswered_at = started  # paused, say, and back while it waited
        return True

    async def close(self, timeout: float | None = None) -> None:
        """Close the client within ``timeout`` seconds (:attr:`operation_timeout` by default).

        PyMongo's close ends the client's sessions on the server first, a courtesy (the server
        expires them by itself), which on a database that does not answer (a hung host) waited
        until PyMongo gave the server up, half a minute, holding a server's shutdown past its
        supervisor's grace period. Cut short, it is logged at WARNING."""
        limit = self.operation_timeout if timeout is None else max(timeout, 0.05)
        started = time.monotonic()
        try:
            with pymongo.timeout(limit):
                # The deadline bounds the sessions' end; the wait, anything else in the close.
                await asyncio.wait_for(self.client.close(), limit + 1)
        except TimeoutError:
            pass
        if time.monotonic() - started >= limit:
            log.warning(
                "closing the database client was cut short after %.1f s: the database did not "
                "answer (its sessions are left for it to expire)",
                limit,
            )
