"""Settings, read from ``SEGGRAPH_*`` environment variables (and an optional ``.env`` file).

A malformed value stops start-up with :class:`SettingsError`, whose message names the
environment variable and what it expected; see the settings table in the README.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from seggraph.domain.currencies import is_iso_currency

ENV_PREFIX = "SEGGRAPH_"

#: ``SEGGRAPH_*`` variables that are no setting of the service but the test suite's
#: (``tests/conftest.py``, ``tests/security/test_fuzz_graphql.py``): never warned of.
NOT_SETTINGS = frozenset({"SEGGRAPH_TEST_MONGODB_URI", "SEGGRAPH_FUZZ_EXAMPLES"})


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def default_data_dir() -> Path:
    """Where the embedded database keeps its files: ``$XDG_DATA_HOME/seggraph/db``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "seggraph" / "db"


class Settings(BaseSettings):
    """Everything seggraph reads from its environment.

    Field docs double as the README's settings table.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    mongodb_uri: str | None = Field(
        default=None,
        description="MongoDB connection string. Unset: `seggraph serve` starts the embedded "
        "SecantusDB database.",
    )
    database: str = Field(
        default="seggraph",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Name of the MongoDB database seggraph uses.",
    )
    host: str = Field(default="127.0.0.1", min_length=1, description="Address the API listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the embedded database's files (kept across restarts).",
    )
    log_level: LogLevel = Field(default=LogLevel.INFO, description="DEBUG, INFO, WARNING or ERROR.")
    timezone: str = Field(
        default="UTC",
        description="The account time zone (IANA name, e.g. Europe/Paris): dates and day "
        "counts are calendar days there.",
    )
    currency: str = Field(
        default="USD",
        description="The account currency (ISO 4217 code): money values without a currency "
        "are in it.",
    )

    max_condition_depth: int = Field(
        default=5, ge=1, le=20, description="Levels of nested condition groups (the root is 1)."
    )
    max_conditions: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Conditions in one segment, at most (an empty group, or one nested too "
        "deep, counts as one).",
    )

    pushdown: bool = Field(
        default=True,
        description="Answer member lists and counts with database queries when every "
        "condition's provider can translate it (false: always evaluate in batches).",
    )
    bulk_provider_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long one provider call may take when it covers many subscribers at "
        "once: the pages of member lists, member counts and edit impacts, and previews over "
        "a list of subscribers (SEGGRAPH_PROVIDER_TIMEOUT_SECONDS is for one subscriber).",
    )
    bulk_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Walks over the whole subscriber directory (evaluated member lists, "
        "counts, edit impacts) running at once in one process; more wait for a free slot, "
        "which goes to the waiting client (API key, or actor) holding the fewest.",
    )

    plugins: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Allow-list of plugin names (comma-separated): only these are loaded. "
        "Unset: every installed plugin; set but empty: none.",
    )
    disable_plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Block-list of plugin names (comma-separated): never loaded.",
    )
    provider_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How long one provider call (resolve, suggest, ...) may take before its "
        "keys are UNKNOWN (TIMEOUT).",
    )
    provider_startup_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long a provider's start-up may take (its shut-down: at most 2 s, or "
        "SEGGRAPH_DATABASE_TIMEOUT_SECONDS when shorter).",
    )
    provider_failure_threshold: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failed calls in a row after which a provider is skipped for the cool-down "
        "and shown as DEGRADED.",
    )
    provider_cooldown_seconds: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="How long a provider that keeps failing is skipped (a cool-down that the "
        "database caused ends as soon as the database answers again).",
    )
    provider_batch_size: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Evaluation contexts per resolve call: larger batches are split.",
    )
    subscriber_directory: str = Field(
        default="billing",
        min_length=1,
        description="The provider that lists subscriber ids for bulk questions (falls back to "
        "the only provider that can when this one is not installed, not in SEGGRAPH_PLUGINS, "
        "or left at this default and disabled; when it failed to start, or is set and "
        "disabled, bulk questions fail, saying so).",
    )

    # -- security and limits (README "Security") ----------------------------------------------
    auth: bool = Field(
        default=True,
        description="Require an API key (Authorization: Bearer sg_…) on every GraphQL request. "
        "off: no keys, the X-Seggraph-Mode and X-Seggraph-Actor headers decide (local "
        "development only).",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="How long a process trusts a key it has checked: a revoked key stops "
        "working within this time (0: check the database on every request).",
    )
    max_query_depth: int = Field(
        default=15, ge=1, le=100, description="Levels of fields in one GraphQL operation."
    )
    max_aliases: int = Field(
        default=30, ge=0, le=10_000, description="Aliased fields in one GraphQL document."
    )
    max_query_tokens: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="Tokens (names, punctuation, values) in one GraphQL document.",
    )
    max_query_objects: int = Field(
        default=250_000,
        ge=100,
        le=100_000_000,
        description="Objects one GraphQL operation may answer, estimated before it runs from "
        "the sizes its lists ask for (first, the ids and keys given) times their parents'.",
    )
    max_query_walks: int = Field(
        default=5,
        ge=1,
        le=1_000,
        description="Walks over every subscriber one GraphQL operation may start: each "
        "segmentEditImpact is one, the counts and members lists of a request share one (those "
        "below each page of segments, each segment's history or each subscriber's segments "
        "one each).",
    )
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=100_000_000,
        description="The largest GraphQL request body, and support tickets request body "
        "(413 above it).",
    )
    max_concurrent_requests: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Requests to the API (GraphQL, the ingestion routes) one process handles "
        "at once: one more is answered 503 OVERLOADED with Retry-After: 1 at once (/healthz "
        "and /readyz are never refused).",
    )
    introspection: bool = Field(
        default=True,
        description="Answer introspection queries (__schema, __type); GraphiQL needs them.",
    )
    database_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long a request waits for an unavailable database before it fails "
        "with DATABASE_UNAVAILABLE.",
    )
    shutdown_timeout_seconds: int = Field(
        default=25,
        ge=1,
        le=3600,
        description="How long `seggraph serve`, once told to stop (SIGTERM, Ctrl-C), waits for "
        "the requests in flight (whole seconds, as uvicorn takes them): those still running "
        "then are cancelled (500), and the providers and the database are shut down. The "
        "default is under Kubernetes' 30 s grace period.",
    )

    @field_validator("plugins", "disable_plugins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("mongodb_uri")
    @classmethod
    def _a_mongodb_uri(cls, value: str | None) -> str | None:
        """Read as PyMongo reads it, so that a malformed one stops start-up naming the variable
        rather than in a traceback at the first connection. A ``mongodb+srv://`` one is read
        at start-up: reading it looks its hosts up in the DNS. The error repeats it without
        its password."""
        if value and not value.startswith("mongodb+srv://"):
            from pymongo.errors import PyMongoError
            from pymongo.uri_parser import parse_uri

            from seggraph.db import redact_uri

            try:
                parse_uri(value, warn=True)  # as the client reads it: an unknown option warns
            except (ValueError, PyMongoError) as exc:  # InvalidURI, ConfigurationError, a port
                raise ValueError(
                    f"a MongoDB connection string PyMongo reads ({exc}), got {redact_uri(value)!r}"
                ) from None
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _a_directory(cls, value: Any) -> Any:
        """An empty one was the working directory: the database's files went among whatever
        was there, and its lock and log beside it as ``.lock`` and ``.secantusdb.log``."""
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                "a directory path (unset: $XDG_DATA_HOME/seggraph/db), got an empty value"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        """A zone of the IANA database, spelt as it is: ZoneInfo also opens the other files of
        the system's zoneinfo directory (localtime, posixrules, Factory, posix/…, right/…,
        and on a case-insensitive disk europe/paris), names a browser's Intl rejects and, for
        right/…, an offset that stops following the zone's rules where its leap-second table
        ends."""
        if value not in iana_zone_names():
            raise ValueError(
                f"an IANA time zone name such as UTC or Europe/Paris, got {value!r}"
                + _zone_hint(value)
            )
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            if not is_iso_currency(value):
                raise ValueError(f"an ISO 4217 currency code such as USD, got {value!r}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def embedded(self) -> bool:
        """True when no MongoDB URI is configured and the embedded database is used."""
        return not self.mongodb_uri


#: Files that the system's zoneinfo directory may hold, and ``available_timezones()`` list,
#: which are no IANA zone: the machine's own setting (Debian's ``localtime`` link), zic's
#: default rules and the "zone not set" placeholder (``Factory``, abbreviated ``-00``).
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def iana_zone_names() -> frozenset[str]:
    """The IANA zone names this machine's time zone database has (the system's zoneinfo
    directory and the ``tzdata`` package; never its ``posix/`` and ``right/`` copies)."""
    return frozenset(available_timezones()) - NOT_ZONES


def _zone_hint(value: str) -> str:
    """What to write instead of ``value``, when there is one: the zone a ``posix/`` or
    ``right/`` copy is of, the right spelling of a name in another case, a close name."""
    names = iana_zone_names()
    zone = value.removeprefix("posix/").removeprefix("right/")
    spelt = {name.lower(): name for name in names}.get(zone.lower())
    if spelt is None:
        close = difflib.get_close_matches(zone, sorted(names), n=1, cutoff=0.8)
        spelt = close[0] if close else None
    if value.startswith("right/") and spelt:
        return f" (right/ zones count leap seconds: write {spelt})"
    if value.startswith("posix/") and spelt:
        return f" (posix/ zones are copies: write {spelt})"
    if value in NOT_ZONES:
        return f" ({value} is a file of the zoneinfo directory, not a zone name)"
    return f" (did you mean {spelt}?)" if spelt else ""


def configured_value(name: str) -> str | None:
    """The value of variable ``name`` where the settings read it: the environment, else the
    ``.env`` file of the working directory (its names in any case, as the settings take them);
    None when neither has it."""
    if name in os.environ:
        return os.environ[name]
    for key, value in _env_file_values().items():
        if key.upper() == name.upper():
            return value
    return None


def _env_file_values() -> dict[str, str | None]:
    """The variables of the working directory's ``.env`` file (the settings' ``env_file``),
    none when there is no such file."""
    env_file = Path(".env")
    if not env_file.is_file():
        return {}
    from dotenv import dotenv_values

    return dotenv_values(env_file)


def variable_names(cls: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """The variables a settings class reads, in upper case (pydantic-settings reads them in
    any case), and the prefixes of its nested ones (``env_nested_delimiter``)."""
    prefix = str(cls.model_config.get("env_prefix") or "").upper()
    delimiter = cls.model_config.get("env_nested_delimiter")
    names: set[str] = set()
    nested: set[str] = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            read = [alias]  # an alias is the whole variable name, without the prefix
        elif isinstance(alias, AliasChoices):
            read = [choice for choice in alias.choices if isinstance(choice, str)]
        else:
            read = [prefix + field_name]
        for name in read:
            names.add(name.upper())
            if delimiter:
                nested.add((name + delimiter).upper())
    return names, nested


def plugin_prefix(plugin: str) -> str:
    """``SEGGRAPH_<PLUGIN>_``: where a plugin's own settings are, by convention."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]+", "_", plugin.upper()).strip("_") + "_"


def configured_names() -> list[tuple[str, str]]:
    """Every ``SEGGRAPH_*`` variable (in any case, as the settings read them) of the
    environment, then of the working directory's ``.env`` file that the environment does not
    have: ``(name, where)``, ``where`` being ``""`` or ``" in .env"``. Names only: a value may
    be a secret, and so may what follows a name that is no variable name: a ``.env`` line
    ``SEGGRAPH_CDP_WRITE_KEY:wk_…`` (a colon for ``=``) is read as one name, no value. Such a
    name is cut where it stops being one, ``…`` marking the cut (``SEGGRAPH_CDP_WRITE_KEY…``):
    no setting has it, and the rest is never shown."""
    found: dict[str, tuple[str, str]] = {}
    for names, where in ((os.environ, ""), (_env_file_values(), " in .env")):
        for name in sorted(names):
            if name.upper().startswith(ENV_PREFIX):
                shown = _name_part(name)
                found.setdefault(shown.upper(), (shown, where))
    return list(found.values())


_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]*")


def _name_part(name: str) -> str:
    """``name`` up to its first character that no variable name has, and ``…`` there."""
    part = _VARIABLE_NAME.match(name)
    cut = part.group() if part else ""
    return name if cut == name else cut + "…"


def unknown_settings(
    configured: Iterable[tuple[str, str]], known: Iterable[str], owned: Iterable[str]
) -> list[str]:
    """A warning for each configured ``SEGGRAPH_*`` name (:func:`configured_names`) that no
    settings class reads (``known``) and that is under none of the ``owned`` prefixes (those
    of plugins whose names are not known: disabled, failed, or not saying), naming the
    closest known name when there is one (never the value: it may be a secret)."""
    known = {name.upper() for name in known} | NOT_SETTINGS
    owned = tuple(prefix.upper() for prefix in owned)
    # Compared without the prefix every name shares, which would make any two look alike.
    candidates = sorted(name.removeprefix(ENV_PREFIX) for name in known)
    warnings = []
    for name, where in configured:
        upper = name.upper()
        if upper in known or upper.startswith(owned):
            continue
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), candidates, n=1)
        hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name}{where}{hint}: ignored")
    return warnings


class SettingsError(Exception):
    """A setting could not be read; the message names each variable and what it expected."""


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's errors into one message per variable."""
    return read_settings(Settings, **overrides)


AnySettings = TypeVar("AnySettings", bound=BaseSettings)


def read_settings(cls: type[AnySettings], **overrides: Any) -> AnySettings:
    """Settings of ``cls`` (seggraph's, or a provider's ``SEGGRAPH_<PROVIDER>_*``) from the
    environment; a malformed value raises :class:`SettingsError` naming each variable (its
    ``env_prefix`` and field) and what it expected, or, for a value given in ``overrides``
    (a command-line option such as ``--port``), the option. A provider that reads its settings this
    way when it is loaded stops the server's start-up on a malformed one, as seggraph's own
    settings do, instead of starting without the provider."""
    try:
        return cls(**overrides)
    except UnicodeDecodeError as exc:  # the .env file, saved in another encoding (cp1252 …)
        env_file = cls.model_config.get("env_file")
        raise SettingsError(
            f"the settings file {env_file} is not {exc.encoding} text ({exc.reason} at byte "
            f"{exc.start}): save it as {exc.encoding}"
        ) from None
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix") or "")
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "?"
            if field in overrides:
                variable = "--" + field.replace("_", "-")
            else:
                variable = prefix + field.upper()
            message = error["msg"]
            if message.startswith("Value error, "):
                message = "expected " + message.removeprefix("Value error, ")
            given = error.get("input")
            suffix = f" (got {given!r})" if given is not None and "got " not in message else ""
            lines.append(f"{variable}: {message}{suffix}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
