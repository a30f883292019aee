"""Loading the demo data set into a database, through each bundled provider's own import and
store functions, then creating the example segments through the segment service.

The load is idempotent: a marker document (``demo_meta``, ``{_id: "demo"}``) says whether the
demo is loaded. A database with the marker ``loaded`` is left alone; one with the marker
``loading`` (an interrupted load) is completed — every write is an upsert by id, so running the
load again is harmless. A database without the marker that already holds billing customers or
segments is refused (:class:`DemoRefused`): the demo never mixes with real data.

Writes go in bulk, batched so that no write costs one round trip per object: SecantusDB, the
embedded database, answers each operation in about a millisecond, and an ``$in`` over many ids
costs more than several small ones, so batches of ids stay in the low hundreds.

The bundled providers are imported lazily, here only: the core never imports them otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from seggraph.chunking import chunks
from seggraph.db import Database
from seggraph.demo.generator import DEFAULT_SUBSCRIBERS, SEED, DemoData, generate
from seggraph.demo.segments import SEGMENTS
from seggraph.domain.errors import InputRefused
from seggraph.domain.segments import Mode
from seggraph.settings import Settings
from seggraph.store.segments import SEGMENTS as SEGMENTS_COLLECTION

log = logging.getLogger(__name__)

MARKER_COLLECTION = "demo_meta"
MARKER_ID = "demo"
ACTOR = "seggraph-demo"
#: Objects per billing write: ``put_objects`` reads the ids first (an ``$in``).
BILLING_BATCH = 100
#: Messages per CDP write (its de-duplication reads the message ids first).
CDP_BATCH = 150
#: The bundled providers the demo loads through: plugin name → package.
REQUIRED = {
    "billing": "seggraph_billing",
    "crm": "seggraph_crm",
    "cdp": "seggraph_cdp",
    "custom": "seggraph_custom",
}
#: Loggers quietened while the demo's own copy of the providers starts (their start-up
#: warnings — no webhook secret, no write key — are for the server, which logs them itself).
QUIET_LOGGERS = ("seggraph.plugins", *REQUIRED.values())


class DemoError(RuntimeError):
    """The demo cannot be loaded (a provider is missing or failed, data was refused)."""


class DemoRefused(DemoError):
    """The database already holds data that is not the demo's."""


class DemoProgress(Protocol):
    """Where the loader reports progress: one stage at a time, then advances within it."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@dataclass
class DemoReport:
    loaded: bool
    """False when the demo was already loaded (nothing was written)."""
    subscribers: int
    counts: dict[str, int] = field(default_factory=dict)
    segments: dict[str, str] = field(default_factory=dict)
    """Segment name → TEST id."""
    live_segments: dict[str, str] = field(default_factory=dict)
    """Segment name → LIVE id."""
    seconds: float = 0.0
    loaded_at: datetime | None = None


async def demo_marker(db: Any) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await db[MARKER_COLLECTION].find_one({"_id": MARKER_ID})
    return found


async def _holds_other_data(db: Any) -> str | None:
    if await db["billing_customers"].find_one({}, {"_id": 1}) is not None:
        return "billing customers"
    if await db[SEGMENTS_COLLECTION].find_one({}, {"_id": 1}) is not None:
        return "segments"
    return None


def _require_packages() -> dict[str, Any]:
    found = {}
    for name, package in REQUIRED.items():
        try:
            found[name] = importlib.import_module(package)
        except ImportError as exc:
            raise DemoError(
                f"the demo loads its data through the bundled {name!r} provider, but {package} "
                f"cannot be imported ({exc}); install it (./run does: pip install -e "
                f"plugins/…) and try again"
            ) from None
    return found


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def load_demo(
    settings: Settings,
    uri: str,
    *,
    subscribers: int = DEFAULT_SUBSCRIBERS,
    progress: DemoProgress | None = None,
    now: datetime | None = None,
) -> DemoReport:
    """Load the demo into ``settings.database`` at ``uri`` unless it is there already.

    Raises :class:`DemoRefused` when the database holds other data, :class:`DemoError` when a
    bundled provider is missing or refuses the data.
    """
    progress = progress or NoProgress()
    started = time.monotonic()
    database = Database(uri, settings.database)
    try:
        db = database.db
        marker = await demo_marker(db)
        if marker is not None and marker.get("status") == "loaded":
            return DemoReport(
                loaded=False,
                subscribers=int(marker.get("subscribers") or 0),
                counts=dict(marker.get("counts") or {}),
                segments=dict(marker.get("segment_names") or {}),
                live_segments=dict(marker.get("live_segment_names") or {}),
                loaded_at=marker.get("loaded_at"),
            )
        if marker is None:
            other = await _holds_other_data(db)
            if other is not None:
                raise DemoRefused(
                    f"database {settings.database!r} already holds {other} and no demo: the demo "
                    "loads only into an empty database (set SEGGRAPH_DATABASE to another name, "
                    "e.g. seggraph_demo, to try it beside your data)"
                )
            moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            await db[MARKER_COLLECTION].update_one(
                {"_id": MARKER_ID},
                {
                    "$setOnInsert": {
                        "status": "loading",
                        "subscribers": subscribers,
                        "seed": SEED,
                        "now": moment,
                        "started_at": datetime.now(UTC),
                    }
                },
                upsert=True,
            )
            marker = await demo_marker(db)
            assert marker is not None
        # Resuming uses the size and clock of the interrupted load, so ids and times agree.
        subscribers = int(marker["subscribers"])
        moment = marker["now"]
        packages = _require_packages()
        data = generate(subscribers, moment, seed=int(marker.get("seed", SEED)))
        report = await _load(settings, database, data, packages, marker, progress)
        report.seconds = time.monotonic() - started
        return report
    finally:
        await database.close()


async def _load(
    settings: Settings,
    database: Database,
    data: DemoData,
    packages: dict[str, Any],
    marker: dict[str, Any],
    progress: DemoProgress,
) -> DemoReport:
    from seggraph.plugins.manager import PluginManager
    from seggraph.plugins.results import ProviderStatus
    from seggraph.services.container import Services, all_indexes

    db = database.db
    await database.ensure_indexes(all_indexes())
    services = Services.build(settings, database)
    with _quiet():
        plugins = PluginManager.load(settings)
        services.plugins = plugins
        await plugins.startup(database, services)
    try:
        services.catalogue = plugins.build_catalogue()

        def replace(provider: str, definitions: list[Any]) -> None:
            services.catalogue = services.catalogue.replace_provider(provider, definitions)

        plugins.catalogue_changed = replace
        for name in REQUIRED:
            info = plugins.info(name)
            if info is None or info.status is not ProviderStatus.OK:
                why = "is not installed" if info is None else f"is {info.status.value}"
                detail = f" ({info.last_error})" if info is not None and info.last_error else ""
                raise DemoError(
                    f"the demo needs the {name!r} provider, which {why}{detail}; check "
                    "SEGGRAPH_PLUGINS / SEGGRAPH_DISABLE_PLUGINS and `seggraph plugins`"
                )
        await _load_billing(db, data, progress)
        await _load_crm(db, data, settings, progress)
        await _load_cdp(db, data, progress)
        await _load_custom(database, services, data, progress)
        names, live_names = await _create_segments(db, services, marker, progress)
    finally:
        await plugins.shutdown()
    counts = data.counts()
    loaded_at = datetime.now(UTC)
    await db[MARKER_COLLECTION].update_one(
        {"_id": MARKER_ID},
        {
            "$set": {
                "status": "loaded",
                "loaded_at": loaded_at,
                "counts": counts,
                "segment_names": names,
                "live_segment_names": live_names,
            }
        },
    )
    return DemoReport(
        loaded=True,
        subscribers=len(data.subscriber_ids),
        counts=counts,
        segments=names,
        live_segments=live_names,
        loaded_at=loaded_at,
    )


async def _load_billing(db: Any, data: DemoData, progress: DemoProgress) -> None:
    """Stripe objects through the importer's checks and ``BillingStore.put_objects``, as
    ``seggraph import billing`` writes them (as of the load time)."""
    from seggraph_billing.ingest import IngestError, check_object
    from seggraph_billing.store import BillingStore

    store = BillingStore(db)
    version = data.now.timestamp()
    progress.stage("billing objects", len(data.billing) + len(data.retention_events))
    by_kind: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for index, obj in enumerate(data.billing):
        try:
            check_object(obj["object"], obj, where=f"demo object {index}")
        except IngestError as exc:
            raise DemoError(f"the billing provider refused a demo object: {exc.message}") from None
        by_kind.setdefault(obj["object"], []).append((obj, version))
    for kind, entries in by_kind.items():
        for chunk in chunks(entries, BILLING_BATCH):
            await store.put_objects(kind, chunk, source="demo")
            progress.advance(len(chunk))
    for events in chunks(data.retention_events, 1000):
        await store.put_retention_events(events)
        progress.advance(len(events))


async def _load_crm(db: Any, data: DemoData, settings: Settings, progress: DemoProgress) -> None:
    """HubSpot API objects through the CRM importer's record checks and writer."""
    from seggraph_crm.importer import write_records
    from seggraph_crm.records import ParsedRecords, parse_company, parse_contact
    from seggraph_crm.store import CrmStore

    parsed = ParsedRecords()
    for index, row in enumerate(data.crm_companies):
        company = parse_company(row, f"companies[{index}]", parsed.errors, settings.currency)
        if company is not None:
            parsed.companies.append(company)
    for index, row in enumerate(data.crm_contacts):
        contact = parse_contact(row, f"contacts[{index}]", parsed.errors)
        if contact is not None:
            parsed.contacts.append(contact)
    if parsed.errors:
        raise DemoError(f"the CRM provider refused a demo record: {parsed.errors[0]}")
    progress.stage("CRM records", len(parsed.companies) + len(parsed.contacts))
    await write_records(CrmStore(db, None), parsed, progress.advance)


async def _load_cdp(db: Any, data: DemoData, progress: DemoProgress) -> None:
    """Segment messages through the CDP's message checks and its store's ingestion."""
    from seggraph_cdp.messages import BadMessage, parse_message
    from seggraph_cdp.store import CdpStore

    received_at = data.now
    messages = []
    for index, body in enumerate(data.cdp_messages):
        try:
            messages.append(parse_message(body, None, received_at, where=f"demo[{index}]"))
        except BadMessage as exc:
            raise DemoError(f"the CDP provider refused a demo message: {exc}") from None
    store = CdpStore(db)
    progress.stage("CDP messages", len(messages))
    for chunk in _by_user_chunks(messages, CDP_BATCH):
        await store.ingest(chunk, received_at)
        progress.advance(len(chunk))


def _by_user_chunks(messages: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Chunks of about ``size`` messages that never split one user's messages (the store folds
    each chunk's messages into one profile update per user)."""
    chunk: list[Any] = []
    for message in messages:
        if len(chunk) >= size and message.user_id != chunk[-1].user_id:
            yield chunk
            chunk = []
        chunk.append(message)
    if chunk:
        yield chunk


async def _load_custom(
    database: Database, services: Any, data: DemoData, progress: DemoProgress
) -> None:
    """Definitions through the custom properties backend (so the catalogue learns them), values
    through the bulk import's check and write."""
    from seggraph_custom.service import CustomPropertiesService
    from seggraph_custom.store import CustomStore

    from seggraph.domain.custom_properties import CustomObject, CustomType, ValueAssignment

    backend = services.custom_properties
    if backend is None:
        raise DemoError("the custom properties provider did not start")
    progress.stage("custom properties", len(data.custom_definitions) + len(data.custom_values))
    for definition in data.custom_definitions:
        if await backend.get_definition(definition.key) is None:
            try:
                await backend.create_definition(
                    key=definition.key,
                    label=definition.label,
                    type=CustomType(definition.type),
                    object=CustomObject.SUBSCRIBER,
                    description=definition.description,
                    enum_values=definition.enum_values,
                )
            except InputRefused as exc:
                raise DemoError(f"custom.{definition.key} was refused: {exc}") from None
        progress.advance(1)
    service = CustomPropertiesService(database, CustomStore(database.db))
    assignments = [
        ValueAssignment(key, subject, value) for subject, key, value in data.custom_values
    ]
    stored, errors = await service.check_values(assignments)
    if errors:
        raise DemoError(f"a demo custom property value was refused: {errors[0].message}")
    await service.write(stored, progress.advance)


async def _create_segments(
    db: Any, services: Any, marker: dict[str, Any], progress: DemoProgress
) -> tuple[dict[str, str], dict[str, str]]:
    """The example segments in TEST (validated by the segment service), some copied to LIVE.
    Ids are recorded in the marker as they are made, so a resumed load does not repeat one."""
    from seggraph.textform import parse

    made: dict[str, str] = dict(marker.get("segments") or {})
    copied: dict[str, str] = dict(marker.get("live_segments") or {})
    names: dict[str, str] = {}
    live_names: dict[str, str] = {}
    progress.stage("segments", len(SEGMENTS) + sum(1 for s in SEGMENTS if s.live))
    for spec in SEGMENTS:
        if spec.key not in made:
            # Made by a load that stopped before recording it in the marker?
            found = await db[SEGMENTS_COLLECTION].find_one(
                {"mode": Mode.TEST.value, "name": spec.name, "created_by": ACTOR}, {"_id": 1}
            )
            if found is not None:
                made[spec.key] = str(found["_id"])
        if spec.key not in made:
            text = spec.text.format(**made)
            try:
                result = await services.segments.create(
                    Mode.TEST,
                    ACTOR,
                    name=spec.name,
                    description=spec.description,
                    tags=list(spec.tags),
                    conditions=parse(text),
                )
            except InputRefused as exc:
                raise DemoError(f"the demo segment {spec.name!r} was refused: {exc}") from None
            made[spec.key] = result.segment.id
            await db[MARKER_COLLECTION].update_one(
                {"_id": MARKER_ID}, {"$set": {f"segments.{spec.key}": result.segment.id}}
            )
        names[spec.name] = made[spec.key]
        progress.advance(1)
    for spec in SEGMENTS:
        if not spec.live:
            continue
        if spec.key not in copied:
            try:
                result = await services.segments.copy_to_mode(
                    Mode.TEST, ACTOR, made[spec.key], Mode.LIVE
                )
            except InputRefused as exc:
                raise DemoError(f"copying {spec.name!r} to LIVE was refused: {exc}") from None
            copied[spec.key] = result.segment.id
            await db[MARKER_COLLECTION].update_one(
                {"_id": MARKER_ID}, {"$set": {f"live_segments.{spec.key}": result.segment.id}}
            )
        live_names[spec.name] = copied[spec.key]
        progress.advance(1)
    return names, live_names
