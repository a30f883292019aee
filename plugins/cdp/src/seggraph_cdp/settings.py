"""The CDP provider's settings, read from ``SEGGRAPH_CDP_*`` environment variables (or ``.env``).

- ``SEGGRAPH_CDP_WRITE_KEY``: the write key Segment-style clients send as the HTTP Basic user
  name (empty password). Unset or blank: every ingestion request is refused with 401.
- ``SEGGRAPH_CDP_TRAITS``: the declared traits, each read as ``cdp.trait.<name>`` with the name
  in snake case (``firstName`` → ``cdp.trait.first_name``). Either a comma-separated list of
  ``name:TYPE`` (``plan:TEXT,seats:NUMBER,vip:BOOLEAN``) or a JSON object
  (``{"plan": "TEXT", "tier": {"type": "ENUM", "values": ["FREE", "PRO"]}}``; an entry may say
  ``"trait": "firstName"`` to read a trait under another name).
- ``SEGGRAPH_CDP_EVENTS``: the event names that get ``cdp.event.<slug>.count_30d`` and
  ``.last_at``. A comma-separated list (``Order Completed,Signed Up``: slugs ``order_completed``
  and ``signed_up``) or a JSON object from slug to event name.
- ``SEGGRAPH_CDP_MAX_BODY_BYTES``: the largest request body accepted (Segment's 500 KB).
- ``SEGGRAPH_CDP_MAX_TRAITS``: the most distinct trait names one profile holds (500). Segment
  itself refuses an identify call of 300 traits or more; a product's own traits are some tens.
  A message that would take a profile past it is refused; the traits a profile holds can
  always be updated.
- ``SEGGRAPH_CDP_MAX_TRAIT_BYTES``: the largest trait value, in bytes as stored (4,096: a
  string of some 4,000 characters, a list of a hundred tags). With the trait names' bound
  (:data:`~seggraph_cdp.messages.MAX_TRAIT_NAME`), a profile is at most
  ``MAX_TRAITS × (MAX_TRAIT_BYTES + 1,728)`` bytes (2.9 MB by default; a typical one a few KB);
  the two together must keep it within the database's 16 MiB document.
- ``SEGGRAPH_CDP_EVENT_RETENTION_DAYS``: delete the stored events older than this many days
  (unset: keep every event). At least 31: the counts look back 30 days; each event's latest
  time is kept apart (``cdp_event_latest``), so no property changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from seggraph.domain.properties import PropertyType
from seggraph.settings import read_settings
from seggraph_cdp.messages import (
    DEFAULT_MAX_TRAIT_BYTES,
    DEFAULT_MAX_TRAITS,
    MAX_TRAIT_NAME,
    Limits,
)

TRAIT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
EVENT_SLUG = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
#: The most a profile's names and times take per trait beyond its value: the name twice (at most
#: 4 bytes a character in UTF-8), a date, and BSON's field headers.
TRAIT_OVERHEAD = 2 * 4 * MAX_TRAIT_NAME + 128
#: The largest a profile may become: a document is at most 16 MiB, with room for the rest.
MAX_PROFILE_BYTES = 15_000_000
KEY_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
TRAIT_TYPES = (
    PropertyType.TEXT,
    PropertyType.NUMBER,
    PropertyType.MONEY,
    PropertyType.BOOLEAN,
    PropertyType.DATE,
    PropertyType.DATETIME,
    PropertyType.ENUM,
    PropertyType.LIST,
    PropertyType.SEMVER,
)


@dataclass(frozen=True)
class TraitDeclaration:
    """A trait read as ``cdp.trait.<name>`` with its declared type; ``trait`` is the trait's
    name in identify calls (``firstName`` for the key name ``first_name``)."""

    name: str
    type: PropertyType
    enum_values: tuple[str, ...] = ()
    trait: str = ""

    def __post_init__(self) -> None:
        if not self.trait:
            object.__setattr__(self, "trait", self.name)


def slugify(event: str) -> str:
    """``Order Completed`` → ``order_completed``."""
    return re.sub(r"[^a-z0-9]+", "_", event.casefold()).strip("_")


def snake_case(trait: str) -> str:
    """``firstName`` → ``first_name`` (property keys are lower-case)."""
    return slugify(re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", trait))


def parse_traits(text: str) -> tuple[TraitDeclaration, ...]:
    text = text.strip()
    if not text:
        return ()
    entries: list[tuple[str, Any]]
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"a JSON object of trait declarations ({exc})") from None
        if not isinstance(loaded, dict):
            raise ValueError("a JSON object of trait declarations")
        entries = list(loaded.items())
    else:
        entries = []
        for part in text.split(","):
            name, sep, kind = part.partition(":")
            if not sep:
                raise ValueError(f"name:TYPE pairs such as plan:TEXT, got {part.strip()!r}")
            entries.append((name.strip(), kind.strip()))
    out: list[TraitDeclaration] = []
    seen: set[str] = set()
    for name, spec in entries:
        values: list[Any] = []
        trait = name
        if isinstance(spec, dict):
            values = spec.get("values") or []
            trait = spec.get("trait") or name
            spec = spec.get("type", "")
        if not isinstance(trait, str) or not TRAIT_NAME.fullmatch(trait):
            raise ValueError(f"trait names like plan or firstName, got {trait!r}")
        key = snake_case(name) if TRAIT_NAME.fullmatch(name) else ""
        if not KEY_NAME.fullmatch(key):
            raise ValueError(f"trait names like plan or firstName, got {name!r}")
        if key in seen:
            raise ValueError(f"each trait declared once, got cdp.trait.{key} twice")
        seen.add(key)
        trait_type = next((t for t in TRAIT_TYPES if t.value == str(spec).strip().upper()), None)
        if trait_type is None:
            allowed = " ".join(t.value for t in TRAIT_TYPES)
            raise ValueError(f"a trait type among {allowed} for {name!r}, got {spec!r}")
        if trait_type is PropertyType.ENUM and not (
            values and all(isinstance(v, str) and v.strip() for v in values)
        ):
            raise ValueError(
                f'values for the ENUM trait {name!r}: {{"type": "ENUM", "values": [...]}}'
            )
        out.append(TraitDeclaration(key, trait_type, tuple(v.strip() for v in values), trait))
    return tuple(out)


def parse_events(text: str) -> dict[str, str]:
    """Slug → event name."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"a JSON object from slug to event name ({exc})") from None
        if not isinstance(loaded, dict) or not all(
            isinstance(v, str) and v for v in loaded.values()
        ):
            raise ValueError("a JSON object from slug to event name")
        pairs = [(str(slug), name) for slug, name in loaded.items()]
    elif text.startswith("["):
        try:
            names = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"a JSON array of event names ({exc})") from None
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValueError("a JSON array of event names")
        pairs = [(slugify(name), name) for name in names]
    else:
        names = [part.strip() for part in text.split(",") if part.strip()]
        pairs = [(slugify(name), name) for name in names]
    out: dict[str, str] = {}
    for slug, name in pairs:
        if not EVENT_SLUG.fullmatch(slug):
            raise ValueError(f"an event slug of lower-case letters, digits and _, got {slug!r}")
        if slug in out and out[slug] != name:
            raise ValueError(f"distinct slugs, but {out[slug]!r} and {name!r} are both {slug!r}")
        out[slug] = name
    return out


#: The shortest event retention: the counts' window (30 × 24 h) and a day for clocks and
#: late deliveries.
MIN_RETENTION_DAYS = 31


class CdpSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEGGRAPH_CDP_", env_file=".env", extra="ignore", frozen=True
    )

    write_key: SecretStr | None = Field(
        default=None, description="The write key (HTTP Basic user name) ingestion requires."
    )
    traits: str = Field(default="", description="Declared traits: name:TYPE,... or JSON.")
    events: str = Field(default="", description="Event names with computed properties.")
    max_body_bytes: int = Field(default=512_000, ge=1024, le=50_000_000)
    max_traits: int = Field(
        default=DEFAULT_MAX_TRAITS,
        ge=1,
        le=10_000,
        description="The most distinct trait names one profile holds.",
    )
    max_trait_bytes: int = Field(
        default=DEFAULT_MAX_TRAIT_BYTES,
        ge=16,
        le=1_000_000,
        description="The largest trait value, in bytes as stored.",
    )

    event_retention_days: int | None = Field(
        default=None,
        ge=MIN_RETENTION_DAYS,
        le=36_500,
        description="Delete stored events older than this many days (unset: keep every "
        "event). Counts look back 30 days and each event's latest time is kept apart, so no "
        "property changes.",
    )

    @field_validator("write_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        """A blank key (a template expanding a missing secret to "") is no key: compared with
        a blank user name, it would let anyone write."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("traits")
    @classmethod
    def _traits(cls, value: str) -> str:
        parse_traits(value)
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: str) -> str:
        parse_events(value)
        return value

    @field_validator("max_trait_bytes")
    @classmethod
    def _profile_fits(cls, value: int, info: ValidationInfo) -> int:
        traits = info.data.get("max_traits")
        if traits is not None and traits * (value + TRAIT_OVERHEAD) > MAX_PROFILE_BYTES:
            raise ValueError(
                f"SEGGRAPH_CDP_MAX_TRAITS × (SEGGRAPH_CDP_MAX_TRAIT_BYTES + {TRAIT_OVERHEAD}) "
                f"at most {MAX_PROFILE_BYTES} (a profile is one database document), got "
                f"{traits} × ({value} + {TRAIT_OVERHEAD})"
            )
        return value

    @property
    def limits(self) -> Limits:
        return Limits(traits=self.max_traits, trait_bytes=self.max_trait_bytes)

    @property
    def trait_declarations(self) -> tuple[TraitDeclaration, ...]:
        return parse_traits(self.traits)

    @property
    def event_names(self) -> dict[str, str]:
        return parse_events(self.events)


def load_cdp_settings() -> CdpSettings:
    """The settings from the environment; a malformed one raises
    :class:`~seggraph.settings.SettingsError` naming the variable and what it expected."""
    return read_settings(CdpSettings)
