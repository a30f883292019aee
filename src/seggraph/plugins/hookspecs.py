# mypy: disable-error-code="empty-body"
"""The plugin contract: every hook a seggraph plugin can implement.

A plugin is a module or an object with functions marked ``@seggraph.hookimpl`` and named after
the hooks below. It is found through the ``seggraph`` entry-point group::

    [project.entry-points.seggraph]
    support_tickets = "seggraph_support_tickets.plugin:SupportTicketsPlugin"

The entry-point name is the provider's name (shown in ``seggraph plugins``, the ``providers``
query and every explanation); the distribution's version is its version. An entry point may
name a module (registered as it is) or a class (instantiated once per application with no
arguments: the better choice when the plugin keeps state such as a database handle).

An implementation takes any subset of a hook's arguments, by name, so new arguments can be
added to a hook without breaking existing plugins.

How the manager calls hooks (``seggraph.plugins.manager``): each plugin's implementation is
called on its own, so a failure is pinned on the plugin that caused it. Hooks marked *may be
async* may be ``async def`` (or return an awaitable); the manager awaits each one under a
timeout (``SEGGRAPH_PROVIDER_TIMEOUT_SECONDS`` for calls made while answering requests,
``SEGGRAPH_PROVIDER_STARTUP_TIMEOUT_SECONDS`` for start-up and shut-down). A synchronous
implementation runs on the event loop and cannot be interrupted: keep it quick and do I/O in an
async one. ``firstresult``, ``tryfirst`` and hook wrappers have no meaning here.

What happens when an implementation raises or runs late is said under each hook; in short, a
broken plugin is reported by name (log, ``seggraph plugins``, the ``providers`` query) and
never takes the server or the other providers down. The one failure that stops start-up is two
providers declaring the same property key: the catalogue cannot say which one to ask.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings
    from starlette.routing import BaseRoute

    from seggraph.db import Database
    from seggraph.domain.conditions import Condition
    from seggraph.domain.context import EvaluationContext
    from seggraph.domain.properties import PropertyDefinition
    from seggraph.plugins.results import SubscriberFilter
    from seggraph.services.container import Services
    from seggraph.settings import Settings

PROJECT = "seggraph"
"""The pluggy project name, and the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: What ``resolve_properties`` returns: per context, per key, a value, MISSING or an error.
ResolveAnswer = Mapping["EvaluationContext", Mapping[str, Any]] | Sequence[Mapping[str, Any]]


@hookspec
def startup(
    database: Database,
    settings: Settings,
    services: Services,
    properties_changed: Callable[[], None],
) -> Awaitable[None] | None:
    """Prepare the provider: open clients, create indexes, load definitions.

    Called once, in the application's start-up, before ``register_properties``.

    - ``database``: the process's :class:`seggraph.db.Database`; ``database.db`` is the
      PyMongo ``AsyncDatabase`` to keep your collections in (prefix their names with your
      provider's name). Do not open another ``AsyncMongoClient`` on it.
    - ``settings``: seggraph's settings (time zone, currency...). Read your own settings from
      your own ``SEGGRAPH_<PROVIDER>_*`` variables.
    - ``services``: the process's services. Any provider whose definitions change at run time
      may use ``services.freshness`` (watch a version document, read once per request) and
      ``services.freshness_checks`` (a check run at each request's start), as
      ``docs/writing-a-provider.md`` shows; the rest is for bundled providers that add to the
      API.
    - ``properties_changed``: call it (no arguments) when your definitions change at run time;
      the manager calls your ``register_properties`` again, at once, and replaces your part
      of the catalogue before it returns (the rest of the request that called it sees the
      new catalogue). New definitions that clash with another provider's key are refused:
      your previous ones stay, and ``lastError`` says why. An invalid declaration makes the
      provider FAILED (until the process restarts) and takes its properties out of the
      catalogue.

    Take only the arguments you use, and give none of them a default value: pluggy does not
    pass an argument that has one (``startup(self, properties_changed=None)`` always gets
    ``None``).

    May be async. When it raises or runs late the provider is shown as FAILED with the error,
    the server starts anyway, its properties stay in the catalogue (when it can still declare
    them) and their values are UNKNOWN (PROVIDER_ERROR).
    """


@hookspec
def shutdown() -> Awaitable[None] | None:
    """Release what ``startup`` opened. Called once, when the application stops.

    May be async. When it raises the error is logged; when it runs late (past 2 s, or the
    database timeout when shorter, :data:`seggraph.app.CLOSING_SECONDS`) it is cancelled and
    that logged at WARNING. The other providers still shut down.
    """


@hookspec
def register_properties(register: Callable[[PropertyDefinition], None], settings: Settings) -> None:
    """Declare the properties this provider supplies: call ``register(definition)`` for each.

    ``definition`` is a :class:`seggraph.domain.properties.PropertyDefinition`: ``key``
    (globally unique, lower-case dotted words such as ``support.open_tickets``), ``label``,
    ``type``, ``description``, ``namespace`` (defaults to the key's first word),
    ``enum_values`` (ENUM only, at least one), ``unit``, ``currency`` (MONEY only: the ISO
    4217 currency of the amounts you answer without one; none: the account currency), and
    ``read_group`` for keys that cost another read (a request asks along only the keys of the
    groups it needs; empty: the provider's one group). Its ``provider`` is filled in with
    this plugin's name.

    Synchronous. Called after ``startup`` when the application starts, again whenever the
    provider calls ``properties_changed``, and by ``seggraph plugins`` without ``startup``
    (declare what you can). When it raises, or declares an invalid definition or one key twice,
    the provider is FAILED and none of its properties is in the catalogue. When two providers
    declare one key, start-up is refused with an error naming both.
    """


@hookspec
def resolve_properties(
    contexts: Sequence[EvaluationContext], keys: Sequence[str], settings: Settings
) -> Awaitable[ResolveAnswer] | ResolveAnswer:
    """The values of ``keys`` for every context of a batch: the provider's one round trip.

    - ``contexts``: distinct :class:`seggraph.domain.context.EvaluationContext` objects
      (``subscriber_id`` and an optional ``subscription_id``; none means the subscriber's
      primary subscription). At most ``SEGGRAPH_PROVIDER_BATCH_SIZE`` of them.
    - ``keys``: keys this provider declared, never another provider's: those a request needs
      and the others of their read groups. A key's answer must not depend on which other keys
      were asked with it.

    Return a mapping ``{context: {key: answer}}`` (or a sequence of ``{key: answer}`` in the
    order of ``contexts``), where each answer is a value of the key's declared type,
    ``MISSING`` (``None``, or leaving the key out, says the same) when the subscriber has no
    value, or :class:`seggraph.plugins.ProviderError` (``message``) when this one value could
    not be read; any of them may be wrapped in :class:`seggraph.plugins.Noted` (``value``,
    ``note``) to say how it was derived, which explanations show. Keys you were not asked for
    are ignored. Read the whole batch at once (one
    query per collection, never one per subscriber): a request costs one call per provider per
    batch, however many fields, segments or conditions need the values.

    One call may serve several requests: the questions of requests that arrive while a call to
    this provider is under way are gathered into the next call (the union of their contexts
    and keys), which starts after each of them asked. Answer from the arguments alone; never
    from anything tied to one request. A question about a subscriber may call it before its
    fields run, and a question about its segments before it knows them (for the keys the last
    such question needed, ``seggraph.api.prefetch``), so a call may turn out not to be needed:
    keep it free of side effects.

    May be async. When it raises, returns something else, or runs late (past the provider
    timeout), every asked key is UNKNOWN for every context of the batch (PROVIDER_ERROR or
    TIMEOUT, with the reason); the other providers' values are unaffected. After
    ``SEGGRAPH_PROVIDER_FAILURE_THRESHOLD`` failed calls in a row the provider is skipped (its
    keys UNKNOWN without calling it) for ``SEGGRAPH_PROVIDER_COOLDOWN_SECONDS`` and shown as
    DEGRADED; the first call after the cool-down tries again.
    """


@hookspec
def suggest_property_values(key: str, prefix: str, limit: int) -> Awaitable[Any] | Any:
    """Up to ``limit`` values of ``key`` starting with ``prefix`` (case-insensitively), for
    a condition editor's autocomplete. Optional.

    Called only for this provider's own keys. Return a sequence of values of the key's
    declared type (for a LIST, single items), most useful first, spelled as a condition takes
    them (an ENUM's values as declared), or ``None`` to let seggraph suggest (an ENUM's
    declared values). Values that are not valid for the type are dropped.

    May be async. When it raises, answers something else or runs late, the failure counts
    towards the provider's failures in a row, and ``propertyValueSuggestions`` answers an
    ENUM's or BOOLEAN's declared values, or else an error naming the provider (PROVIDER_ERROR
    or TIMEOUT), never an empty list: that would say the property has no values.
    """


@hookspec
def register_routes(settings: Settings) -> Sequence[BaseRoute] | None:
    """Starlette routes to add to the application (ingestion endpoints, webhooks). Optional.

    Synchronous; called once, when the application is built, before ``startup``: a handler
    must not rely on ``startup`` having run until a request arrives. Use paths under your own
    prefix (``/webhooks/<provider>``, ``/<provider>/...``); seggraph's own routes win a clash.
    When it raises, the provider is FAILED and adds no route.
    """


@hookspec
def condition_to_filter(
    condition: Condition, definition: PropertyDefinition, settings: Settings
) -> SubscriberFilter | None:
    """Translate one condition on this provider's property into a MongoDB query, so a bulk
    question (count or list a segment's members) can run as a database query instead of
    resolving every subscriber. Optional.

    Called only with this provider's own keys and validated conditions. Return a
    :class:`seggraph.plugins.SubscriberFilter` (collection, filter, the field holding the
    subscriber id, and whether the match is exact), or ``None`` when this condition cannot be
    translated (the caller then resolves values in batches).

    A translation must select exactly the subscribers for whom the evaluation finds the
    condition TRUE, reading your stored data as ``resolve_properties`` would answer it: text
    compared case-sensitively unless ``caseInsensitive`` (then both sides ``casefold()``-ed,
    which is not ``lower()``: ``"ß"`` folds to ``"ss"``), values never trimmed, a bare MONEY
    amount of a condition in the account currency and yours in your declared currency. A
    subscriber that no document selects must be one for whom the condition is FALSE, so
    ``IS_NOT_SET``, or ``CONTAINS_NONE`` on a list that is empty when there is no document,
    cannot be translated. When the stored form cannot say it exactly, return ``None``: a wrong
    translation gives counts and member lists that disagree with each subscriber's own answer.

    Synchronous (it only builds a query). When it raises, the caller treats it as ``None`` and
    the failure is recorded on the provider.
    """


@hookspec
def subscriber_ids(after: str | None, limit: int) -> Awaitable[Sequence[str]] | Sequence[str]:
    """A page of subscriber ids, in ascending id order, strictly after ``after`` (from the
    start when ``None``), at most ``limit`` of them: the subscriber directory bulk questions
    walk. Optional.

    Only one provider answers: the one named by ``SEGGRAPH_SUBSCRIBER_DIRECTORY`` (``billing``
    by default), or the only one implementing this hook. An empty page means the end.
    Walks ask for 1,000 ids first, then twice as many each time up to 32,000 (and resolve
    them 100 at a time): make a page one range query on an index, not a scan from the start.

    May be async. It runs under ``SEGGRAPH_BULK_PROVIDER_TIMEOUT_SECONDS``; when it raises or
    runs late, the bulk question fails with the reason.
    """


@hookspec
def directory_filter() -> SubscriberFilter | None:
    """The subscribers ``subscriber_ids`` lists, as a MongoDB query (a
    :class:`seggraph.plugins.SubscriberFilter`: collection, filter, the field holding the
    subscriber id). Optional; asked only of the directory provider.

    A pushed-down answer comes from other providers' collections, which may hold values for
    ids the directory no longer lists (a deleted customer's tickets, say). seggraph keeps a
    pushed-down answer to the ids this query selects, so that it equals the walk's; without
    this hook, bulk questions are never pushed down. Synchronous (it only builds a query).
    When it raises or returns something else, nothing is pushed down and the failure is
    recorded on the provider.
    """


@hookspec
def register_settings() -> Sequence[type[BaseSettings] | str] | None:
    """The ``SEGGRAPH_*`` variables this plugin reads, so that the server (and each CLI
    command that reads the settings) can warn of one that nothing reads (a misspelled name
    would otherwise be ignored without a word). Optional.

    Return a sequence of pydantic-settings classes (each variable of their fields is known:
    ``env_prefix`` and the field's name, or its alias) and of strings: a variable's name, or,
    ending in ``_``, a prefix every variable under which is yours (``SEGGRAPH_LOYALTY_``).
    Without this hook the variables under ``SEGGRAPH_<NAME>_`` (the plugin's name in upper
    case) are taken to be the plugin's, unchecked; so are those of a plugin that is
    installed and disabled, which is never imported.

    Synchronous; called when the plugins are loaded (before ``startup``). When it raises or
    returns something else, the server logs a warning and leaves the variables under
    ``SEGGRAPH_<NAME>_`` unchecked; the provider is unaffected.
    """


#: Every hook's name, in the order documented above.
HOOK_NAMES: tuple[str, ...] = (
    "startup",
    "shutdown",
    "register_properties",
    "resolve_properties",
    "suggest_property_values",
    "register_routes",
    "condition_to_filter",
    "subscriber_ids",
    "directory_filter",
    "register_settings",
)
