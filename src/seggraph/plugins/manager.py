"""The plugin manager: a typed facade over pluggy, one method per hook.

It loads the ``seggraph`` entry points one at a time (recording each failure with the plugin's
name), honours the allow- and block-lists, and calls each plugin's implementation on its own so
that a plugin that raises or hangs is pinned by name and never affects the others: async
implementations are awaited under a per-provider timeout, failures in a row put a provider in a
cool-down (DEGRADED), and every value it could not supply becomes UNKNOWN with the reason.
A cool-down that the database caused (the provider's calls failed or ran late while the
database did not answer) ends as soon as the database answers again.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import bson
import bson.errors
import pluggy
from pluggy import HookImpl
from pydantic_settings import BaseSettings
from starlette.routing import BaseRoute

from seggraph.catalogue import Catalogue
from seggraph.chunking import chunks
from seggraph.coalescing import Coalescer, retrieve_outcome
from seggraph.db import database_unavailable
from seggraph.domain.conditions import Condition
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation.values import MISSING, ResolvedValue, Unknown, UnknownReason, coercer_of
from seggraph.plugins import hookspecs, loader
from seggraph.plugins.definitions import declaration_problems
from seggraph.plugins.hookspecs import HOOK_NAMES, PROJECT
from seggraph.plugins.loader import PluginSource
from seggraph.plugins.results import (
    Noted,
    ProviderStatus,
    SubscriberFilter,
    describe_exception,
    normalize_value,
)
from seggraph.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    configured_names,
    plugin_prefix,
    unknown_settings,
    variable_names,
)

if TYPE_CHECKING:
    from seggraph.db import Database
    from seggraph.services.container import Services

log = logging.getLogger(__name__)

#: Why a plugin left out by ``SEGGRAPH_PLUGINS`` is disabled: to this deployment it is as if
#: not installed (the subscriber directory falls back past it, :meth:`PluginManager.directory`).
NOT_ALLOWED = "not in SEGGRAPH_PLUGINS"

#: A provider call for at most this many subscribers (a question about one subscriber, a
#: request's few) is shared only with calls of its own size, and a larger one (a list of
#: many subscribers' values) only with larger ones: a question never waits behind another
#: request's call for a thousand subscribers, which its own timeout would not outlast.
SMALL_SHARED_CALL = 8

#: Seconds between two pings of a database that did not answer, while providers failed.
DATABASE_RECHECK_SECONDS = 0.5

#: ``{context: {key: value}}`` as the manager answers it; every value wrapped with its provider.
Resolved = dict[EvaluationContext, dict[str, ResolvedValue]]
CatalogueListener = Callable[[str, list[PropertyDefinition]], None]


class ProviderTimeout(Exception):
    """A provider's call ran past its timeout (it was cancelled)."""


class ProviderCallError(Exception):
    """A provider call that the caller cannot do without failed (``subscriber_ids``);
    ``timed_out`` when it did not answer in time."""

    def __init__(self, provider: str | None, reason: str, *, timed_out: bool = False) -> None:
        # No provider to name: no directory is installed (the reason says so).
        super().__init__(reason if provider is None else f"provider {provider!r}: {reason}")
        self.provider = provider
        # Not ``message``: graphql-core shows an error's ``message`` attribute rather than
        # the exception's text, and the client must see which provider failed.
        self.reason = reason
        self.timed_out = timed_out


class BadAnswer(Exception):
    """A provider answered something that is not the hook's documented shape."""


@dataclass(frozen=True)
class ProviderInfo:
    """One plugin as ``seggraph plugins`` and the ``providers`` query show it."""

    name: str
    version: str | None
    origin: str
    status: ProviderStatus
    hooks: tuple[str, ...]
    properties: tuple[PropertyDefinition, ...]
    last_error: str | None
    last_error_at: datetime | None
    failures_in_row: int
    degraded_until: datetime | None


@dataclass
class _Record:
    name: str
    version: str | None
    origin: str
    plugin: object | None = None
    disabled: str | None = None
    broken: str | None = None
    impls: dict[str, HookImpl] = field(default_factory=dict)
    properties: tuple[PropertyDefinition, ...] = ()
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures_in_row: int = 0
    skip_until: float = 0.0
    #: When the first failing call of the current run of failures began (``time.monotonic``).
    run_started: float = 0.0
    #: The last failure was one the database not answering causes (the call ran late, or
    #: raised the database's unavailability): its cool-down ends when the database answers.
    database_kind: bool = False
    #: Provider calls shared among concurrent requests, one coalescer per timeout and size
    #: class (:data:`SMALL_SHARED_CALL`).
    shared: dict[tuple[float, bool], Coalescer[Any, Any]] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.plugin is not None and self.disabled is None


def _now() -> datetime:
    return datetime.now(UTC)


def disabled_not_installed(name: str) -> str:
    """The warning for a name in SEGGRAPH_DISABLE_PLUGINS that no plugin has."""
    return f"SEGGRAPH_DISABLE_PLUGINS names {name!r}, which is not installed: it disables nothing"


class PluginManager:
    """The plugins of one application (or one CLI command).

    Build it with :meth:`load` (entry points plus any objects given directly), then, in the
    application's lifespan: :meth:`startup`, :meth:`build_catalogue`, and finally
    :meth:`shutdown`. :meth:`routes` can be called as soon as it is loaded.
    """

    def __init__(
        self, settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings if settings is not None else Settings.model_construct()
        self.clock = clock
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._records: dict[str, _Record] = {}
        #: The database the providers share (set at start-up), and the task pinging it while
        #: it does not answer (:meth:`_watch_database`).
        self._database: Database | None = None
        self._watch: asyncio.Task[None] | None = None
        #: Called with ``(provider, definitions)`` when a provider's definitions change.
        self.catalogue_changed: CatalogueListener | None = None

    # --- loading ----------------------------------------------------------------------------------

    @classmethod
    def empty(cls) -> PluginManager:
        return cls()

    @classmethod
    def load(
        cls,
        settings: Settings,
        extra_plugins: Iterable[object] = (),
        *,
        entry_points: Iterable[PluginSource] | None = None,
    ) -> PluginManager:
        """Every installed plugin (``entry_points`` defaults to the ``seggraph`` group) and the
        ``extra_plugins`` objects (or ``(name, object)`` pairs), under the allow- and
        block-lists. Nothing here raises because of a plugin, but for a malformed setting of
        an installed one (:class:`~seggraph.settings.SettingsError`, raised while it loads):
        start-up stops with the variable named rather than serving without the provider."""
        manager = cls(settings)
        sources = loader.discover() if entry_points is None else list(entry_points)
        for source in sources:
            manager.add_entry_point(source)
        for extra in extra_plugins:
            if isinstance(extra, tuple):
                name, plugin = extra
                manager.add_plugin(plugin, name=name)
            else:
                manager.add_plugin(extra)
        for wanted in manager.not_installed():
            log.warning("SEGGRAPH_PLUGINS names %r, which is not installed", wanted)
        for unwanted in manager.disabled_not_installed():
            log.warning(disabled_not_installed(unwanted))
        for unknown in manager.unknown_settings():
            log.warning(unknown)
        return manager

    def not_installed(self) -> list[str]:
        """The names SEGGRAPH_PLUGINS gives that no plugin has, in its order."""
        return [name for name in self.settings.plugins or () if name not in self._records]

    def disabled_not_installed(self) -> list[str]:
        """The names SEGGRAPH_DISABLE_PLUGINS gives that no plugin has (a typo leaves the
        plugin it meant loaded), in its order."""
        return [name for name in self.settings.disable_plugins if name not in self._records]

    def unknown_settings(self) -> list[str]:
        """A warning for each ``SEGGRAPH_*`` variable of the environment or ``.env`` that no
        settings class reads: neither seggraph's nor a loaded plugin's (``register_settings``),
        nor under ``SEGGRAPH_<NAME>_`` of a plugin whose variables are not known (disabled,
        failed, or without the hook)."""
        known, owned = variable_names(Settings)
        for record in self._records.values():
            declared = self._declared_settings(record)
            if declared is None:
                owned.add(plugin_prefix(record.name))
                continue
            for entry in declared:
                if isinstance(entry, str) and entry.endswith("_"):
                    if entry.upper() != ENV_PREFIX:  # not every variable at once
                        owned.add(entry)
                elif isinstance(entry, str):
                    known.add(entry)
                else:
                    names, nested = variable_names(entry)
                    known |= names
                    owned |= nested
        return unknown_settings(configured_names(), known, owned)

    def _declared_settings(self, record: _Record) -> list[type[BaseSettings] | str] | None:
        """What a loaded plugin's ``register_settings`` answers; ``None`` when its variables
        are not known (no such hook, not loaded, or the hook failed, which is logged)."""
        if not record.loaded or "register_settings" not in record.impls:
            return None
        try:
            answer = list(self._call_sync(record, "register_settings") or ())
            for entry in answer:
                if not isinstance(entry, str) and not (
                    isinstance(entry, type) and issubclass(entry, BaseSettings)
                ):
                    raise BadAnswer(
                        "expected pydantic-settings classes and variable names, got "
                        f"{type(entry).__name__}"
                    )
        except Exception as exc:  # noqa: BLE001 - only the warnings depend on it
            log.warning(
                "plugin %r: register_settings failed (%s): its %s* variables are not checked",
                record.name,
                describe_exception(exc),
                plugin_prefix(record.name),
            )
            return None
        return answer

    def _refusal(self, name: str) -> str | None:
        allowed = self.settings.plugins
        if allowed is not None and name not in allowed:
            return NOT_ALLOWED
        if name in self.settings.disable_plugins:
            return "in SEGGRAPH_DISABLE_PLUGINS"
        return None

    def _new_record(
        self, name: str, version: str | None, origin: str, *, installed: bool
    ) -> _Record | None:
        existing = self._records.get(name)
        if existing is not None and existing.disabled and not installed:
            del self._records[name]  # a disabled installed plugin gives way to a given object
        elif existing is not None:
            log.error(
                "plugin %r (%s) is not loaded: the name is taken by %s",
                name,
                origin,
                existing.origin,
            )
            existing.last_error = f"a second plugin named {name!r} ({origin}) was not loaded"
            existing.last_error_at = _now()
            return None
        record = _Record(name, version, origin)
        self._records[name] = record
        record.disabled = self._refusal(name) if installed else None
        if record.disabled:
            log.info("plugin %r is disabled (%s)", name, record.disabled)
        return record

    def add_entry_point(self, source: PluginSource) -> None:
        """Import and register one entry point; a failure is recorded under its name."""
        record = self._new_record(source.name, source.version, source.origin, installed=True)
        if record is None or record.disabled:
            return
        try:
            plugin = loader.load(source)
        except SettingsError:
            raise  # a malformed setting stops start-up, naming it, as seggraph's own do
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, recorded
            self._break(record, f"could not be imported: {describe_exception(exc)}", exc)
            return
        self._register(record, plugin)

    def add_plugin(
        self, plugin: object, name: str | None = None, *, version: str | None = None
    ) -> None:
        """Register a plugin object directly (tests, applications embedding seggraph); the
        allow- and block-lists choose among installed plugins and do not apply."""
        name = name or loader.plugin_name(plugin)
        record = self._new_record(
            name,
            version or loader.plugin_version(plugin),
            f"registered: {type(plugin).__name__}",
            installed=False,
        )
        if record is None or record.disabled:
            return
        self._register(record, plugin)

    def _register(self, record: _Record, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=record.name)
        except Exception as exc:  # noqa: BLE001 - pluggy's validation errors, recorded
            hint = "".join(f"; {wrong}" for wrong in self._unknown_arguments(plugin))
            self._break(record, f"could not be registered: {describe_exception(exc)}{hint}", exc)
            return
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = sorted(caller.name for caller in callers if not caller.has_spec())
        if unknown:
            self.pm.unregister(plugin)
            self._break(
                record,
                f"implements unknown hook(s) {', '.join(unknown)}; "
                f"the hooks are: {', '.join(HOOK_NAMES)}",
            )
            return
        record.plugin = plugin
        for caller in callers:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    record.impls[caller.name] = impl
        log.info("plugin %r loaded (%s)", record.name, record.origin)
        for mistake in self.hook_mistakes(record.name):
            log.warning("plugin %r: %s", record.name, mistake)

    def _unknown_arguments(self, plugin: object) -> list[str]:
        """For each hook method of ``plugin`` taking a parameter its hook does not give, what
        the hook gives: pluggy's refusal names the unknown parameter, not the known ones."""
        found = []
        for hook in HOOK_NAMES:
            method = getattr(plugin, hook, None)
            spec = getattr(self.pm.hook, hook).spec
            if not callable(method) or spec is None:
                continue
            try:
                taken = list(inspect.signature(method).parameters)
            except (TypeError, ValueError):
                continue
            if any(name not in spec.argnames for name in taken):
                found.append(f"{hook} may take any of ({', '.join(spec.argnames)}), by those names")
        return found

    def hook_mistakes(self, name: str) -> list[str]:
        """What in a loaded plugin's hooks looks like a mistake that pluggy keeps quiet about:
        a method named after a hook but not marked ``@hookimpl`` (never called), and a hook
        parameter with a default value (pluggy passes only the parameters without one, so it
        always gets its default)."""
        record = self._records.get(name)
        if record is None or record.plugin is None:
            return []
        mistakes = []
        for hook in HOOK_NAMES:
            if hook not in record.impls and callable(getattr(record.plugin, hook, None)):
                mistakes.append(
                    f"{hook} is defined but not marked @hookimpl "
                    "(from seggraph import hookimpl): seggraph never calls it"
                )
        for hook, impl in sorted(record.impls.items()):
            if impl.kwargnames:
                mistakes.append(
                    f"{hook}'s parameter(s) {', '.join(impl.kwargnames)} have a default value: "
                    "pluggy passes only the parameters without one, so they always get it; "
                    "remove the default"
                )
        return mistakes

    def _break(self, record: _Record, reason: str, exc: BaseException | None = None) -> None:
        record.broken = reason
        record.last_error = reason
        record.last_error_at = _now()
        log.error("plugin %r %s", record.name, reason, exc_info=exc)

    # --- calling one implementation ---------------------------------------------------------------

    def _active(self, hook: str) -> list[_Record]:
        return [r for r in self._records.values() if r.loaded and hook in r.impls]

    @staticmethod
    def _arguments(impl: HookImpl, available: Mapping[str, Any]) -> list[Any]:
        return [available[name] for name in impl.argnames]

    async def _call(self, record: _Record, hook: str, timeout: float, **available: Any) -> Any:
        """Call one plugin's implementation, awaiting it (when async) for at most ``timeout``."""
        impl = record.impls[hook]
        result = impl.function(*self._arguments(impl, available))
        if not inspect.isawaitable(result):
            return result
        task: asyncio.Future[Any] = asyncio.ensure_future(result)
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            # Cancel without waiting: a plugin that ignores cancellation must not hold us up.
            task.cancel()
            task.add_done_callback(retrieve_outcome)
            raise ProviderTimeout(f"did not answer within {timeout:g}s")
        return task.result()

    def _call_sync(self, record: _Record, hook: str, **available: Any) -> Any:
        impl = record.impls[hook]
        result = impl.function(*self._arguments(impl, available))
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(f"{hook} must be synchronous, but it returned an awaitable")
        return result

    def _failed(
        self,
        record: _Record,
        error: str,
        exc: BaseException | None = None,
        *,
        started: float | None = None,
    ) -> None:
        """Count a failed call (that began at ``started``, ``time.monotonic``). ``error`` names
        the provider already ("provider 'x' ..."): it is what ``providers { lastError }``
        shows, and the log line is that text as it is. ``exc``, what the provider's own code
        raised, puts its traceback in the log line of the first failure in a row (where in the
        plugin it went wrong), not in each one that follows.

        A call that ran late or raised the database's unavailability may be the database's
        doing, not the provider's: the database is pinged until it answers
        (:meth:`_watch_database`), and when it did not answer during this run of failures, the
        run ends when it answers again (:meth:`_database_back`): a cool-down ends then, and
        those failures no longer count towards the next one."""
        if self._database_back(record):
            record.failures_in_row = 0
        if record.failures_in_row == 0:
            record.run_started = time.monotonic() if started is None else started
        record.failures_in_row += 1
        record.database_kind = isinstance(exc, ProviderTimeout) or database_unavailable(exc)
        if record.database_kind:
            self._watch_database()
        if (
            exc is None
            or isinstance(exc, BadAnswer | ProviderTimeout)
            or record.failures_in_row > 1
        ):
            exc = None
        record.last_error = error
        record.last_error_at = _now()
        threshold = self.settings.provider_failure_threshold
        if record.failures_in_row >= threshold:
            cooldown = self.settings.provider_cooldown_seconds
            record.skip_until = self.clock() + cooldown
            log.warning(
                "%s (%d failed calls in a row: skipped for %gs)",
                error,
                record.failures_in_row,
                cooldown,
                exc_info=exc,
            )
        else:
            log.warning("%s", error, exc_info=exc)

    def _succeeded(self, record: _Record) -> None:
        record.failures_in_row = 0
        record.skip_until = 0.0

    def _cooling(self, record: _Record) -> bool:
        if record.skip_until <= self.clock():
            return False
        if self._database_back(record):
            log.info(
                "provider %r is called again: its %d failed calls in a row came while the "
                "database did not answer, and the database answers again",
                record.name,
                record.failures_in_row,
            )
            self._succeeded(record)
            return False
        return True

    def _database_back(self, record: _Record) -> bool:
        """The record's run of failures is the database's: the last one was of the kind the
        database not answering causes, the database did not answer since the run began, and
        it has answered since."""
        return (
            record.failures_in_row > 0
            and record.database_kind
            and self._database is not None
            and self._database.health.back_since(record.run_started)
        )

    def _skipped(self, record: _Record) -> str:
        """Why a provider in its cool-down is not called (after its name)."""
        until = datetime.now(UTC) + timedelta(seconds=record.skip_until - self.clock())
        reason = (
            f"is skipped until {until:%H:%M:%S} UTC after {record.failures_in_row} failed "
            f"calls in a row (last: {record.last_error})"
        )
        if self._database_down(record):
            reason += "; the database does not answer: it is called again once it does"
        return reason

    def _database_down(self, record: _Record) -> bool:
        """The record's last failure is of the database's kind, and the database does not
        answer (as last seen)."""
        return record.database_kind and self._database is not None and self._database.health.down

    def _watch_database(self) -> None:
        """Ping the database until it answers (in the background, once at a time), so that
        the cool-downs it caused end as soon as it does, with no request needed to see it."""
        if self._database is None or (self._watch is not None and not self._watch.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - providers are called on the event loop
            return
        # A context of its own: no request's deadline (pymongo.timeout) reaches the pings.
        self._watch = loop.create_task(self._await_database(), context=contextvars.Context())

    async def _await_database(self) -> None:
        database = self._database
        assert database is not None
        said = False
        while not await database.ping(quiet=True):
            if not said:
                log.warning(
                    "the database does not answer: providers failing meanwhile are called "
                    "again as soon as it does"
                )
                said = True
            await asyncio.sleep(DATABASE_RECHECK_SECONDS)
        if said:
            log.info("the database answers again")

    def _status(self, record: _Record) -> ProviderStatus:
        if record.disabled:
            return ProviderStatus.DISABLED
        if record.broken or record.plugin is None:
            return ProviderStatus.FAILED
        if self._cooling(record):
            return ProviderStatus.DEGRADED
        return ProviderStatus.OK

    # --- start-up and shut-down -------------------------------------------------------------------

    async def startup(self, database: Database, services: Services) -> None:
        """Run every ``startup`` implementation, concurrently, each under the start-up timeout;
        a provider that raises or runs late is FAILED, and the others start."""
        self._database = database
        await asyncio.gather(
            *(self._start(record, database, services) for record in self._active("startup"))
        )
        if (name := self.directory()) is not None:
            log.info("subscriber directory: provider %r", name)
        else:
            log.warning(
                "no subscriber directory: %s; member counts and lists will fail",
                self._no_directory(),
            )

    async def _start(self, record: _Record, database: Database, services: Services) -> None:
        name = record.name
        try:
            await self._call(
                record,
                "startup",
                self.settings.provider_startup_timeout_seconds,
                database=database,
                settings=self.settings,
                services=services,
                properties_changed=lambda: self.refresh_properties(name),
            )
        except Exception as exc:  # noqa: BLE001 - a provider's start-up failure is its own
            self._break(record, f"failed to start: {describe_exception(exc)}", exc)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Run every ``shutdown`` implementation, concurrently, each for at most the start-up
        timeout or ``timeout`` when shorter (one cut short is logged at WARNING); errors are
        logged, never raised."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch.add_done_callback(retrieve_outcome)
        limit = self.settings.provider_startup_timeout_seconds
        if timeout is not None:
            limit = min(limit, timeout)
        await asyncio.gather(*(self._stop(record, limit) for record in self._active("shutdown")))

    async def _stop(self, record: _Record, timeout: float) -> None:
        try:
            await self._call(record, "shutdown", timeout)
        except ProviderTimeout:
            log.warning("plugin %r did not shut down within %g s: cut short", record.name, timeout)
        except Exception as exc:  # noqa: BLE001 - shutting down goes on for the others
            log.error("plugin %r failed to shut down: %s", record.name, describe_exception(exc))

    # --- the catalogue ----------------------------------------------------------------------------

    def _declare(self, record: _Record) -> tuple[PropertyDefinition, ...]:
        declared: list[object] = []
        try:
            self._call_sync(
                record, "register_properties", register=declared.append, settings=self.settings
            )
        except Exception as exc:  # noqa: BLE001 - a provider's declaration failure is its own
            self._break(record, f"register_properties failed: {describe_exception(exc)}", exc)
            record.properties = ()
            return ()
        problems = declaration_problems(declared)
        if problems:
            self._break(record, "declared invalid properties: " + "; ".join(problems))
            record.properties = ()
            return ()
        definitions = tuple(
            d if d.provider == record.name else replace(d, provider=record.name)
            for d in declared
            if isinstance(d, PropertyDefinition)
        )
        record.properties = definitions
        return definitions

    def declare_all(self) -> dict[str, tuple[PropertyDefinition, ...]]:
        """Ask every loaded plugin for its definitions (no start-up needed), by provider."""
        return {
            record.name: self._declare(record) for record in self._active("register_properties")
        }

    def build_catalogue(self) -> Catalogue:
        """The catalogue of every provider's definitions.

        Raises :class:`seggraph.catalogue.DuplicatePropertyError`, naming both providers, when
        two declare the same key: start-up is refused.
        """
        declared = self.declare_all()
        return Catalogue(d for definitions in declared.values() for d in definitions)

    def conflicts(self) -> list[tuple[str, str, str]]:
        """``(key, first provider, second provider)`` for every key declared twice."""
        owner: dict[str, str] = {}
        found = []
        for record in self._records.values():
            for definition in record.properties:
                first = owner.setdefault(definition.key, record.name)
                if first != record.name:
                    found.append((definition.key, first, record.name))
        return found

    def refresh_properties(self, name: str) -> None:
        """Declare one provider's definitions again and hand them to ``catalogue_changed``
        (the provider's ``properties_changed``): synchronously, so the rest of the request
        that called it already sees the new catalogue.

        An invalid declaration makes the provider FAILED, and its properties leave the
        catalogue. Definitions the catalogue refuses (a key another provider declares) are
        not taken: the provider keeps its previous ones, in the catalogue and in its
        description, and its ``lastError`` says why."""
        record = self._records.get(name)
        if record is None or not record.loaded or "register_properties" not in record.impls:
            return
        previous = record.properties
        definitions = self._declare(record)
        if self.catalogue_changed is None:
            return
        try:
            self.catalogue_changed(name, list(definitions))
        except ValueError as exc:
            record.properties = previous
            record.last_error = f"new definitions refused: {exc}"
            record.last_error_at = _now()
            log.error("provider %r: new definitions refused: %s", name, exc)

    # --- routes -----------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Every plugin's routes; a plugin whose hook raises is FAILED and adds none."""
        routes: list[BaseRoute] = []
        for record in self._active("register_routes"):
            try:
                answer = self._call_sync(record, "register_routes", settings=self.settings)
                found = list(answer or ())
                wrong = [r for r in found if not isinstance(r, BaseRoute)]
                if wrong:
                    raise TypeError(f"expected Starlette routes, got {type(wrong[0]).__name__}")
            except Exception as exc:  # noqa: BLE001 - the plugin's failure, recorded
                self._break(record, f"register_routes failed: {describe_exception(exc)}", exc)
                continue
            routes += found
        return routes

    # --- values -----------------------------------------------------------------------------------

    async def resolve(
        self,
        catalogue: Catalogue,
        contexts: Sequence[EvaluationContext],
        keys: Iterable[str],
        *,
        timeout: float | None = None,
        shared: bool = False,
    ) -> Resolved:
        """The values of ``keys`` for ``contexts``: per provider, one call per batch of
        contexts (``SEGGRAPH_PROVIDER_BATCH_SIZE``), providers in parallel, each call under
        ``timeout`` (the provider timeout by default). Never raises because of a provider:
        what it could not supply is UNKNOWN, with the reason.

        ``shared``: the call may be shared with other requests asking the same provider at
        the same moment (one call for all of them, started after each asked). For the small
        questions of one request; bulk pages are large enough on their own. A context's
        values may then be the very dict every request of that call receives: read it, copy
        it, never change it."""
        unique = list(dict.fromkeys(contexts))
        out: Resolved = {context: {} for context in unique}
        partition = catalogue.partition(tuple(dict.fromkeys(keys)))
        for key in partition.unowned:
            missing = ResolvedValue(
                Unknown(UnknownReason.PROVIDER_ERROR, f"no provider supplies {key!r}")
            )
            for context in unique:
                out[context][key] = missing
        by_provider = partition.by_provider
        if not unique or not by_provider:
            return out
        answers = await _in_parallel(
            [
                self._resolve_with(name, unique, keys, timeout, shared)
                for name, keys in by_provider.items()
            ]
        )
        if len(answers) == 1 and not partition.unowned:
            return answers[0]
        for answer in answers:
            for context, values in answer.items():
                out[context].update(values)
        return out

    async def _resolve_with(
        self,
        name: str,
        contexts: list[EvaluationContext],
        keys: Sequence[str],
        timeout: float | None,
        shared: bool,
    ) -> Resolved:
        record = self._records.get(name)
        reason = self._unavailable(record, name, "resolve_properties")
        if reason is not None:
            return _all_unknown(contexts, keys, Unknown(UnknownReason.PROVIDER_ERROR, reason), name)
        assert record is not None
        out: Resolved = {}
        for batch in chunks(contexts, self.settings.provider_batch_size):
            out.update(await self._resolve_batch(record, list(batch), keys, timeout, shared))
        return out

    def _unavailable(self, record: _Record | None, name: str, hook: str) -> str | None:
        if record is None or record.disabled:
            return f"provider {name!r} is not loaded"
        if record.broken or record.plugin is None:
            return f"provider {name!r} {record.broken or 'is not loaded'}"
        if hook not in record.impls:
            return f"provider {name!r} does not implement {hook}"
        return None

    async def _resolve_batch(
        self,
        record: _Record,
        contexts: list[EvaluationContext],
        keys: Sequence[str],
        timeout: float | None,
        shared: bool = False,
    ) -> Resolved:
        name = record.name
        if self._cooling(record):
            reason = f"provider {name!r} {self._skipped(record)}"
            return _all_unknown(contexts, keys, Unknown(UnknownReason.PROVIDER_ERROR, reason), name)
        limit = self.settings.provider_timeout_seconds if timeout is None else timeout
        if shared:
            values = await self._shared_rows(record, contexts, keys, limit)
            if isinstance(values, Unknown):
                return _all_unknown(contexts, keys, values, name)
            # The shared run wrapped the union of its requests' keys, once for all of them.
            return {context: _only(values[context], keys) for context in contexts}
        started = time.perf_counter()
        outcome = await self._provider_rows(record, contexts, keys, limit)
        if isinstance(outcome, Unknown):
            return _all_unknown(contexts, keys, outcome, name)
        latency = (time.perf_counter() - started) * 1000
        return {
            context: _wrapped(outcome.get(context) or {}, keys, name, latency)
            for context in contexts
        }

    async def _provider_rows(
        self,
        record: _Record,
        contexts: list[EvaluationContext],
        keys: Sequence[str],
        timeout: float,
    ) -> Mapping[Any, Any] | Unknown:
        """One call of the provider's ``resolve_properties``: its rows, or why there are none
        (the failure counted towards the provider's cool-down)."""
        name = record.name
        started = time.monotonic()
        try:
            answer = await self._call(
                record,
                "resolve_properties",
                timeout,
                contexts=contexts,
                keys=list(keys),
                settings=self.settings,
            )
            rows = _rows(answer, contexts)
        except ProviderTimeout as exc:
            error = f"provider {name!r} {exc}"
            self._failed(record, error, exc, started=started)
            return Unknown(UnknownReason.TIMEOUT, error)
        except Exception as exc:  # noqa: BLE001 - contained: its keys become UNKNOWN
            error = f"provider {name!r} failed: {describe_exception(exc)}"
            self._failed(record, error, exc, started=started)
            return Unknown(UnknownReason.PROVIDER_ERROR, error)
        self._succeeded(record)
        return rows

    async def _shared_rows(
        self,
        record: _Record,
        contexts: list[EvaluationContext],
        keys: Sequence[str],
        timeout: float,
    ) -> Mapping[EvaluationContext, dict[str, ResolvedValue]] | Unknown:
        """The values of ``contexts`` (``keys`` among them), from a call shared with the other
        requests asking this provider at the same moment
        (:class:`~seggraph.coalescing.Coalescer`: a call that starts after this one asked).
        Waiting for a call under way and then the shared one never takes this caller past its
        own ``timeout``: the wait counts against it, and the TIMEOUT's detail says so."""
        kind = (timeout, len(contexts) <= SMALL_SHARED_CALL)
        shared = record.shared.get(kind)
        if shared is None:
            shared = record.shared[kind] = Coalescer(partial(self._run_shared, record, timeout))
        waited_for_another = shared.running
        try:
            async with asyncio.timeout(timeout):
                return await shared((contexts, keys))
        except TimeoutError:
            if waited_for_another:
                detail = (
                    f"provider {record.name!r}: no answer within {timeout:g}s of this request "
                    "asking (it waited for an earlier call first)"
                )
            else:
                detail = f"provider {record.name!r} did not answer within {timeout:g}s"
            return Unknown(UnknownReason.TIMEOUT, detail)

    async def _run_shared(
        self,
        record: _Record,
        timeout: float,
        requests: list[tuple[list[EvaluationContext], Sequence[str]]],
    ) -> list[Mapping[EvaluationContext, dict[str, ResolvedValue]]]:
        """One provider call for every request of a shared run (the union of their contexts
        and keys, in batches of ``SEGGRAPH_PROVIDER_BATCH_SIZE`` contexts, in parallel); each
        request gets the values of the union's keys for its contexts, wrapped once for all
        of them (the latency is the call's). A context of a batch that failed has the reason
        for every key, and only such a context: a request whose contexts the union split
        across batches gets each one's values from its own batch."""
        union = list(dict.fromkeys(c for contexts, _ in requests for c in contexts))
        keys = sorted({k for _, wanted in requests for k in wanted})
        batches = [list(b) for b in chunks(union, self.settings.provider_batch_size)]
        started = time.perf_counter()
        answers = await _in_parallel(
            [self._provider_rows(record, batch, keys, timeout) for batch in batches]
        )
        latency = (time.perf_counter() - started) * 1000
        values: dict[EvaluationContext, dict[str, ResolvedValue]] = {}
        for batch, answer in zip(batches, answers, strict=True):
            if isinstance(answer, Unknown):
                values.update(_all_unknown(batch, keys, answer, record.name))
                continue
            for context in batch:
                values[context] = _wrapped(answer.get(context) or {}, keys, record.name, latency)
        return [values] * len(requests)

    async def suggest(
        self, catalogue: Catalogue, key: str, prefix: str = "", limit: int = 10
    ) -> list[Any]:
        """Up to ``limit`` values of ``key`` starting with ``prefix``: the provider's own
        suggestions, or (when it has none) an ENUM's or BOOLEAN's declared values.

        When its provider fails, runs late, is DEGRADED or failed to start, an ENUM or BOOLEAN
        still gets its declared values; any other property raises :class:`ProviderCallError`
        (naming the provider and why): an empty list would say there are no values."""
        definition = catalogue.get(key)
        if definition is None or limit <= 0:
            return []
        hook = "suggest_property_values"
        record = self._records.get(definition.provider)
        if record is None or not record.loaded or hook not in record.impls:
            return default_suggestions(definition, prefix, limit)
        answer: Any = None
        failure: ProviderCallError | None = None
        if record.broken:
            failure = ProviderCallError(record.name, record.broken)
        elif self._cooling(record):
            failure = ProviderCallError(record.name, self._skipped(record))
        else:
            started = time.monotonic()
            try:
                answer = await self._call(
                    record,
                    hook,
                    self.settings.provider_timeout_seconds,
                    key=key,
                    prefix=prefix,
                    limit=limit,
                )
                if answer is not None and (
                    isinstance(answer, str | bytes | Mapping) or not isinstance(answer, Iterable)
                ):
                    raise BadAnswer(f"expected a list of values, got {type(answer).__name__}")
                self._succeeded(record)
            except Exception as exc:  # noqa: BLE001 - contained: reported as the field's error
                answer = None
                timed_out = isinstance(exc, ProviderTimeout)
                message = str(exc) if timed_out else describe_exception(exc)
                self._failed(
                    record,
                    f"provider {record.name!r} could not suggest values: {message}",
                    exc,
                    started=started,
                )
                failure = ProviderCallError(
                    record.name, f"could not suggest values: {message}", timed_out=timed_out
                )
        if answer is not None:
            return valid_suggestions(definition, answer, self.settings)[:limit]
        if failure is None or definition.type in (PropertyType.ENUM, PropertyType.BOOLEAN):
            return default_suggestions(definition, prefix, limit)
        raise failure

    def condition_filter(
        self, catalogue: Catalogue, condition: Condition
    ) -> SubscriberFilter | None:
        """The owning provider's translation of ``condition`` into a MongoDB query, if any."""
        definition = catalogue.get(condition.property)
        if definition is None:
            return None
        return self._subscriber_filter(
            self._records.get(definition.provider),
            "condition_to_filter",
            "translate a condition",
            condition=condition,
            definition=definition,
            settings=self.settings,
        )

    def _subscriber_filter(
        self, record: _Record | None, hook: str, doing: str, **arguments: Any
    ) -> SubscriberFilter | None:
        """A synchronous hook's ``SubscriberFilter``; ``None`` when the provider does not
        give one, and when it raises or answers something else (recorded as its failure)."""
        if record is None or self._unavailable(record, record.name, hook):
            return None
        if self._cooling(record):
            # DEGRADED: its values are UNKNOWN without a call, so a count must not read its
            # collection as if it answered (evaluation says UNKNOWN, as for one subscriber).
            return None
        try:
            answer = self._call_sync(record, hook, **arguments)
            if answer is not None and not isinstance(answer, SubscriberFilter):
                raise BadAnswer(f"expected a SubscriberFilter, got {type(answer).__name__}")
            if answer is not None:
                try:  # what the database is sent: a Decimal, say, is no BSON (Decimal128 is)
                    bson.encode({"filter": dict(answer.filter)})
                except (bson.errors.InvalidDocument, TypeError, OverflowError) as exc:
                    raise BadAnswer(f"its filter cannot be sent to the database: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - contained: nothing is pushed down
            self._failed(record, f"provider {record.name!r} could not {doing}: {exc}", exc)
            return None
        return answer

    def directory(self) -> str | None:
        """The name of the provider answering ``subscriber_ids``, if any: the one
        ``SEGGRAPH_SUBSCRIBER_DIRECTORY`` names, else, when that one is not installed (or not
        in ``SEGGRAPH_PLUGINS``), the only provider that can. A named provider that failed to
        start, or that the variable names explicitly and ``SEGGRAPH_DISABLE_PLUGINS`` holds,
        leaves no directory: another provider's subscribers standing in for its own would make
        every count and member list wrong without a word (:meth:`_no_directory` says why)."""
        if self._directory_out() is not None:
            return None
        candidates = self._listers()
        preferred = self.settings.subscriber_directory
        for record in candidates:
            if record.name == preferred:
                return record.name
        return candidates[0].name if len(candidates) == 1 else None

    def _listers(self) -> list[_Record]:
        """The providers that can list subscribers: loaded with ``subscriber_ids``, not failed."""
        return [r for r in self._active("subscriber_ids") if not r.broken]

    def _directory_out(self) -> str | None:
        """Why the provider ``SEGGRAPH_SUBSCRIBER_DIRECTORY`` names is installed and cannot
        answer, else ``None``: it failed to start, or it is in ``SEGGRAPH_DISABLE_PLUGINS``
        while the variable names it explicitly. The default (billing) disabled is as if not
        installed: a deployment with a directory of its own disables billing and is done."""
        named = self._records.get(self.settings.subscriber_directory)
        if named is None:
            return None
        if named.broken:
            return named.broken
        explicit = "subscriber_directory" in self.settings.model_fields_set
        if explicit and named.disabled is not None and named.disabled != NOT_ALLOWED:
            return f"is disabled ({named.disabled})"
        return None

    def _no_directory(self) -> str:
        """Why there is no directory, for the error of a bulk question."""
        named = self.settings.subscriber_directory
        out = self._directory_out()
        if out is not None:
            return (
                f"the subscriber directory {named!r} (SEGGRAPH_SUBSCRIBER_DIRECTORY) {out}; no "
                "other provider's subscribers stand in for its own"
            )
        candidates = [r.name for r in self._listers()]
        if len(candidates) > 1:
            return (
                f"several providers list subscribers ({', '.join(candidates)}) and "
                f"SEGGRAPH_SUBSCRIBER_DIRECTORY names none of them ({named!r}): set it to one"
            )
        return (
            "no provider lists subscribers (install the billing provider, or set "
            "SEGGRAPH_SUBSCRIBER_DIRECTORY)"
        )

    def directory_filter(self) -> SubscriberFilter | None:
        """The directory provider's query for the subscribers it lists, if it gives one."""
        name = self.directory()
        if name is None:
            return None
        return self._subscriber_filter(
            self._records[name], "directory_filter", "describe its directory"
        )

    async def subscriber_ids(
        self, after: str | None = None, limit: int = 500, *, timeout: float | None = None
    ) -> list[str]:
        """A page of subscriber ids from the directory provider, under ``timeout`` (the
        provider timeout by default); raises :class:`ProviderCallError` when there is none or
        it fails."""
        name = self.directory()
        if name is None:
            # Named only when it is there and cannot answer: not the default when absent.
            out = self._directory_out()
            raise ProviderCallError(
                None if out is None else self.settings.subscriber_directory,
                f"no subscriber directory: {self._no_directory()}",
            )
        record = self._records[name]
        started = time.monotonic()
        try:
            answer = await self._call(
                record,
                "subscriber_ids",
                self.settings.provider_timeout_seconds if timeout is None else timeout,
                after=after,
                limit=limit,
            )
            ids = [str(i) for i in answer]
        except Exception as exc:
            timed_out = isinstance(exc, ProviderTimeout)
            message = str(exc) if timed_out else describe_exception(exc)
            self._failed(
                record,
                f"provider {name!r} could not list subscribers: {message}",
                exc,
                started=started,
            )
            raise ProviderCallError(
                name, f"could not list subscribers: {message}", timed_out=timed_out
            ) from exc
        self._succeeded(record)
        return ids

    # --- direct calls (the contract kit, tools) ---------------------------------------------

    def implements(self, name: str, hook: str) -> bool:
        record = self._records.get(name)
        return record is not None and record.loaded and hook in record.impls

    async def call_hook(self, name: str, hook: str, **arguments: Any) -> Any:
        """One plugin's raw answer to one hook, under the provider timeout (raises
        :class:`ProviderTimeout` when late, and whatever the plugin raises). Nothing is
        recorded: this is for checking a provider, not for serving requests."""
        record = self._records[name]
        return await self._call(record, hook, self.settings.provider_timeout_seconds, **arguments)

    # --- reporting --------------------------------------------------------------------------------

    def describe(self) -> list[ProviderInfo]:
        """Every plugin, loaded or not, by name."""
        infos = []
        for record in sorted(self._records.values(), key=lambda r: r.name):
            cooling = self._cooling(record)
            until = (
                _now() + timedelta(seconds=record.skip_until - self.clock()) if cooling else None
            )
            infos.append(
                ProviderInfo(
                    name=record.name,
                    version=record.version,
                    origin=record.origin,
                    status=self._status(record),
                    hooks=tuple(h for h in HOOK_NAMES if h in record.impls),
                    properties=record.properties,
                    last_error=record.last_error or record.disabled,
                    last_error_at=record.last_error_at,
                    failures_in_row=record.failures_in_row,
                    degraded_until=until,
                )
            )
        return infos

    def info(self, name: str) -> ProviderInfo | None:
        return next((i for i in self.describe() if i.name == name), None)

    def plugin(self, name: str) -> object | None:
        """The registered plugin object of a provider (for tests and bundled integrations)."""
        record = self._records.get(name)
        return record.plugin if record is not None else None

    @property
    def names(self) -> list[str]:
        return sorted(self._records)


T = TypeVar("T")


async def _in_parallel(calls: list[Awaitable[T]]) -> list[T]:
    """The answers of ``calls``, in order, run in parallel; one call (a question about one
    subscriber asks one provider, in one batch) is awaited directly, with no task to run it
    beside nothing."""
    if len(calls) == 1:
        return [await calls[0]]
    return list(await asyncio.gather(*calls))


def _all_unknown(
    contexts: Iterable[EvaluationContext], keys: Sequence[str], unknown: Unknown, provider: str
) -> Resolved:
    wrapped = ResolvedValue(unknown, provider)
    return {context: dict.fromkeys(keys, wrapped) for context in contexts}


def _wrapped(
    row: Mapping[str, Any], keys: Sequence[str], provider: str, latency: float
) -> dict[str, ResolvedValue]:
    """A provider's answer for one context, as the evaluation core reads it."""
    return {key: _resolved(row.get(key, MISSING), provider, latency) for key in keys}


def _resolved(raw: Any, provider: str, latency: float) -> ResolvedValue:
    note = raw.note if raw.__class__ is Noted else None
    return ResolvedValue(normalize_value(raw), provider, latency, note)


def _only(values: dict[str, ResolvedValue], keys: Sequence[str]) -> dict[str, ResolvedValue]:
    """``values`` of the (distinct) ``keys`` alone: ``values`` itself when it holds no other,
    which callers copy from and never change."""
    if len(values) == len(keys):
        return values
    return {key: values[key] for key in keys}


def _rows(answer: Any, contexts: list[EvaluationContext]) -> Mapping[Any, Any]:
    """The answer of ``resolve_properties`` as ``{context: {key: value}}``."""
    if isinstance(answer, Mapping):
        rows: Mapping[Any, Any] = answer
        for key in rows:
            if not isinstance(key, EvaluationContext):
                # Keyed by subscriber id, say: no context would find its row, and every value
                # would be MISSING without a word.
                raise BadAnswer(
                    f"answered a mapping keyed by {type(key).__name__} {key!r}: key it by the "
                    "EvaluationContext objects given in contexts"
                )
    elif isinstance(answer, Sequence) and not isinstance(answer, str | bytes):
        if len(answer) != len(contexts):
            raise BadAnswer(
                f"answered {len(answer)} rows for {len(contexts)} contexts (a list must follow "
                "the order of the contexts)"
            )
        rows = dict(zip(contexts, answer, strict=True))
    else:
        raise BadAnswer(f"answered {type(answer).__name__}, not a mapping of contexts to values")
    for row in rows.values():
        if row is not None and not isinstance(row, Mapping):
            raise BadAnswer(f"answered a {type(row).__name__} for a context, not a mapping")
    return rows


def default_suggestions(definition: PropertyDefinition, prefix: str, limit: int) -> list[Any]:
    """What seggraph suggests on its own: an ENUM's values, or a BOOLEAN's ``true`` and
    ``false``, starting with ``prefix`` (case-insensitively)."""
    folded = prefix.casefold()
    if definition.type is PropertyType.ENUM:
        return [v for v in definition.enum_values if v.casefold().startswith(folded)][:limit]
    if definition.type is PropertyType.BOOLEAN:
        return [v for v in (True, False) if str(v).casefold().startswith(folded)][:limit]
    return []


def valid_suggestions(
    definition: PropertyDefinition, values: Iterable[Any], settings: Settings
) -> list[Any]:
    """The suggested values that are valid for the property's type (a LIST's: its items),
    without repeats; an ENUM's in their declared spelling."""
    if definition.type is PropertyType.LIST:
        kept = [v for v in values if isinstance(v, str)]
        return list(dict.fromkeys(kept))
    coerce = coercer_of(definition, timezone=settings.zone, currency=settings.currency)
    out: list[Any] = []
    for value in values:
        if value is None or isinstance(value, Unknown):
            continue
        read = coerce(value)
        if isinstance(read, Unknown):
            continue
        kept_value = read if definition.type is PropertyType.ENUM else value
        if kept_value not in out:
            out.append(kept_value)
    return out
