"""API keys: what one is, how it is written, and how its secret is kept (only as a hash).

A key reads ``sg_<mode>_<key id>_<secret>``, for example ``sg_test_3f9a0c1d2b7e_9c4d…``: the
prefix shows the mode it works in, the key id is its public name (in listings, logs and
history), and the secret is 32 random bytes in hex. Only the SHA-256 of the secret is stored:
a hash of that much randomness cannot be reversed or guessed, so no slow password hash is
needed, and checking it costs microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from seggraph.domain.segments import Mode

PREFIX = "sg"
KEY_ID_BYTES = 6
SECRET_BYTES = 32
MAX_NAME = 100
_KEY = re.compile(r"^sg_(test|live)_([0-9a-f]{12})_([0-9a-f]{64})$")


class Role(StrEnum):
    READ = "READ"
    """Queries only."""
    WRITE = "WRITE"
    """Queries and mutations."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key: everything but its secret, which exists only as ``secret_hash``."""

    id: str
    mode: Mode
    role: Role
    name: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def actor(self) -> str:
        """How the key is named in history: ``key:<id>``, with its name when it has one."""
        return f"key:{self.id} ({self.name})" if self.name else f"key:{self.id}"


@dataclass(frozen=True)
class PresentedKey:
    """A key as a client sent it, split into its parts (nothing checked against storage)."""

    mode: Mode
    key_id: str
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(mode: Mode) -> tuple[str, str, str]:
    """A fresh key: ``(full key to show once, key id, hash of its secret)``."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_hex(SECRET_BYTES)
    return f"{PREFIX}_{mode.value.lower()}_{key_id}_{secret}", key_id, hash_secret(secret)


def parse_key(raw: str) -> PresentedKey | None:
    """The parts of a well-formed key, or None."""
    match = _KEY.match(raw.strip())
    if match is None:
        return None
    mode, key_id, secret = match.groups()
    return PresentedKey(Mode(mode.upper()), key_id, secret)


def secret_matches(presented: PresentedKey, stored: ApiKey) -> bool:
    """The secret hashes to the stored hash (in constant time) and the mode prefix agrees."""
    return (
        hmac.compare_digest(hash_secret(presented.secret), stored.secret_hash)
        and presented.mode is stored.mode
    )
