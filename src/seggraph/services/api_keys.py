"""Creating, listing, revoking and checking API keys.

A checked key is trusted for ``cache_seconds`` (``SEGGRAPH_API_KEY_CACHE_SECONDS``) by the
process that checked it, so a busy client costs no database read per request; a revoked key
therefore stops working within that time in every process (at once with 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pymongo

from seggraph.clock import Clock, utcnow
from seggraph.domain.api_keys import (
    MAX_NAME,
    ApiKey,
    Role,
    hash_secret,
    new_key,
    parse_key,
    secret_matches,
)
from seggraph.domain.errors import control_characters
from seggraph.domain.segments import Mode
from seggraph.store.api_keys import ApiKeyStore

MAX_CACHED = 10_000


class ApiKeyService:
    def __init__(
        self,
        store: ApiKeyStore,
        *,
        cache_seconds: float = 5.0,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        lookup_timeout: float | None = None,
    ) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.lookup_timeout = lookup_timeout
        """Seconds checking a key in the database may take (``None``: PyMongo's defaults). It is
        the read every authenticated request starts with: a database that stops answering (a
        hung host) would otherwise hold it until PyMongo's monitor gives the server up, half
        a minute, rather than fail it as unavailable."""
        self.clock = clock
        self.monotonic = monotonic
        self._checked: dict[tuple[Mode, str, str], tuple[ApiKey, float]] = {}

    async def create(self, mode: Mode, role: Role, name: str = "") -> tuple[ApiKey, str]:
        """A new key and its full text, which exists nowhere else: show it once.

        The name is shown in terminals and history: control characters (a newline, an
        escape sequence) are refused."""
        name = name.strip()
        if len(name) > MAX_NAME:
            raise ValueError(f"a key name has at most {MAX_NAME} characters")
        controls = control_characters(name)
        if controls:
            raise ValueError(
                f"a key name cannot hold control characters (such as a newline or an escape); "
                f"this one has {controls}"
            )
        full, key_id, secret_hash = new_key(mode)
        key = ApiKey(key_id, mode, role, name, secret_hash, self.clock())
        await self.store.insert(key)
        return key, full

    async def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        return await self.store.list(include_revoked=include_revoked)

    async def revoke(self, key_id: str) -> tuple[ApiKey, bool] | None:
        """The revoked key and whether this call revoked it (False: it already was), or None
        when there is no such key."""
        key, revoked_now = await self.store.revoke(key_id.strip(), self.clock())
        self._checked = {k: v for k, v in self._checked.items() if k[1] != key_id}
        return None if key is None else (key, revoked_now)

    async def authenticate(self, raw: str) -> ApiKey | None:
        """The key ``raw`` is, when it is well formed, known, unrevoked and its secret matches."""
        presented = parse_key(raw)
        if presented is None:
            return None
        # The whole presented key, prefix included: a key checked once must not make the same
        # id and secret under the other mode's prefix pass without the prefix check.
        cache_key = (presented.mode, presented.key_id, hash_secret(presented.secret))
        now = self.monotonic()
        cached = self._checked.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        with pymongo.timeout(self.lookup_timeout):
            stored = await self.store.get(presented.key_id)
        if stored is None or stored.revoked or not secret_matches(presented, stored):
            self._checked.pop(cache_key, None)
            return None
        if self.cache_seconds > 0:
            if len(self._checked) >= MAX_CACHED:
                self._checked.clear()
            self._checked[cache_key] = (stored, now + self.cache_seconds)
        return stored
