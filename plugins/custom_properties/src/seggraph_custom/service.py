"""Custom property definitions and values: every write validates first and writes nothing when
any part is refused.

- The key is immutable and so is the object (subscriber or subscription) a property describes.
- Label and description can always change. The type (and removing or renaming ENUM values) can
  change only while no segment uses the property (archived segments count: they can be
  unarchived); existing values are then converted to the new type, and the change is refused
  when one cannot be (naming the subscriber, the key and why).
- A property a segment uses cannot be deleted; deleting one removes its values.
- Every definition change bumps the catalogue version in ``custom_meta`` so every worker
  refreshes its catalogue (see :meth:`CustomPropertiesService.refresh_if_changed`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from bson import Decimal128
from pymongo.errors import DuplicateKeyError, PyMongoError, ServerSelectionTimeoutError

from seggraph.api.properties.types import json_value
from seggraph.clock import Clock, utcnow
from seggraph.coalescing import FreshRead
from seggraph.db import Database
from seggraph.domain.context import MAX_SUBJECT_ID
from seggraph.domain.custom_properties import (
    NAMESPACE,
    CustomObject,
    CustomPropertyDefinition,
    CustomType,
    DefinitionChange,
    SetResult,
    StoredValue,
    ValueAssignment,
    ValueRefused,
    bare_key,
    check_description,
    check_enum_values,
    check_key,
    check_label,
    coerce_value,
    list_as_text,
    show_value,
)
from seggraph.domain.errors import InputRefused, UserError
from seggraph.domain.properties import PropertyDefinition
from seggraph.domain.segments import Mode
from seggraph.freshness import current_document
from seggraph.store.segments import claim_segment_writes
from seggraph_custom.store import CATALOGUE_VERSION, CustomStore, Session, decode, version_of

log = logging.getLogger(__name__)

MAX_LISTED = 20
WRITE_CHUNK = 1000

OnChange = Callable[[list[PropertyDefinition]], None]


def _subject_word(object: CustomObject) -> str:
    return "subscription" if object is CustomObject.SUBSCRIPTION else "subscriber"


def _as_text(stored: Any) -> Any:
    """A stored value in the form a user would type it (to convert it to another type); a list
    as text that reads back as the same items (:func:`list_as_text`), so LIST to TEXT and
    back loses none."""
    if isinstance(stored, bool):
        return "true" if stored else "false"
    if isinstance(stored, Decimal128):
        stored = stored.to_decimal()
    if isinstance(stored, Decimal):
        # As the value is shown (2.5, 1000), never in exponent form ("1E+3" from "1e3").
        return format(stored.normalize(), "f") if stored else "0"
    if isinstance(stored, int):
        return str(stored)
    if isinstance(stored, list):
        return list_as_text([str(item) for item in stored])
    return stored


class CustomPropertiesService:
    def __init__(
        self,
        database: Database,
        store: CustomStore,
        *,
        clock: Clock = utcnow,
        on_change: OnChange | None = None,
    ) -> None:
        self.database = database
        self.store = store
        self.clock = clock
        self.on_change = on_change
        self._definitions: dict[str, CustomPropertyDefinition] = {}
        self._version: tuple[int, str] | None = None
        self._refresh_lock = asyncio.Lock()
        # Asked by every request: one read shared by the requests that ask at once.
        self._version_read = FreshRead(store.version_document, database.operation_timeout)

    # -- the catalogue ---------------------------------------------------------------------------

    def properties(self) -> list[PropertyDefinition]:
        """The catalogue entries of the definitions this process knows."""
        return [d.to_property() for d in self._definitions.values()]

    def cached_definition(self, key: str) -> CustomPropertyDefinition | None:
        return self._definitions.get(key)

    async def load(self) -> list[PropertyDefinition]:
        """Read every definition and the catalogue version (start-up, and after a change)."""
        version = await self.store.version()
        definitions = await self.store.all_definitions()
        self._definitions = {d.key: d for d in definitions}
        self._version = version
        return self.properties()

    async def refresh_if_changed(self) -> bool:
        """Reload (and tell ``on_change``) when another worker changed a definition; returns
        True when the catalogue changed. The version comes from the request's snapshot (read
        once per request with the other watched documents) or, outside a request, from one
        cheap read shared by the callers that ask at once."""
        version = version_of(await current_document(CATALOGUE_VERSION, self._version_read))
        if version == self._version:
            return False
        async with self._refresh_lock:
            if version == self._version:
                return False
            await self.load()
            self._notify()
            return True

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.properties())

    async def _changed(self) -> None:
        """After a committed change, this worker's catalogue read again before the change is
        answered. The change is made whatever happens here: when the read fails (the database
        failing just then), the answer still says so (an error would make a client retry what
        is there: ``KEY_TAKEN``), and this worker, whose version stays the old one, reads the
        catalogue again at its next request's freshness check."""
        try:
            await self.load()
        except PyMongoError:
            log.warning(
                "a custom property change was saved, but this worker could not read the "
                "catalogue again: it will at its next request",
                exc_info=True,
            )
            return
        self._notify()

    # -- definitions -----------------------------------------------------------------------------

    async def list_definitions(self) -> list[CustomPropertyDefinition]:
        return await self.store.all_definitions()

    async def get_definition(self, key: str) -> CustomPropertyDefinition | None:
        return await self.store.get_definition(bare_key(key))

    async def create_definition(
        self,
        *,
        key: str,
        label: str,
        type: CustomType,
        object: CustomObject = CustomObject.SUBSCRIBER,
        description: str = "",
        enum_values: Sequence[str] = (),
    ) -> CustomPropertyDefinition:
        errors: list[UserError] = []
        key = check_key(key, errors)
        label = check_label(label, errors)
        description = check_description(description, errors)
        values = check_enum_values(type, enum_values, errors)
        if not errors and await self.store.get_definition(key) is not None:
            errors.append(
                UserError(("key",), "KEY_TAKEN", f"a custom property custom.{key} already exists")
            )
        if errors:
            raise InputRefused(errors)
        now = self.clock()
        definition = CustomPropertyDefinition(
            key=key,
            label=label,
            type=type,
            object=object,
            description=description,
            enum_values=values,
            created_at=now,
            updated_at=now,
        )

        async def work(session: Session) -> None:
            await self.store.insert_definition(definition, session)
            await self.store.bump_version(session)

        try:
            await self.database.run_atomically(work)
        except DuplicateKeyError:
            raise InputRefused(
                [UserError(("key",), "KEY_TAKEN", f"a custom property custom.{key} already exists")]
            ) from None
        await self._changed()
        return definition

    async def update_definition(
        self, key: str, change: DefinitionChange, *, mode: Mode | None = None
    ) -> CustomPropertyDefinition:
        """``mode``: the request's; a refusal names its segments, and counts the other
        mode's (``None``: names them all)."""
        key = bare_key(key)
        written = False
        #: The stored values being converted (None before the conversion; -1 while read).
        converting: int | None = None
        #: The input field a refusal of the conversion is at (the type when it changes).
        at: tuple[str, ...] = ("type",)

        async def work(session: Session) -> CustomPropertyDefinition:
            nonlocal written, converting, at
            # Read, checked, converted and written in one transaction: a value written
            # meanwhile (set_values writes beside the definition it was checked against)
            # conflicts with it, and one of the two runs again, so no value is left in the old
            # type and none is lost to a converted copy read before it.
            current = await self._existing(key, session)
            updated = self._changed_definition(current, change)
            written = replace(updated, updated_at=current.updated_at) != current
            if not written:  # a form saved again as it was: updatedAt is when it last changed
                return current
            new_type = updated.type is not current.type
            values_removed = not set(current.enum_values) <= set(updated.enum_values)
            converted: list[tuple[str, Any]] = []
            if new_type or values_removed:
                # A refusal names the input field at fault: the type when it changes, else
                # the ENUM values (one removed or renamed).
                at = ("type",) if new_type else ("enumValues",)
                then = (
                    "its type (and its ENUM values) cannot change while any segment uses it"
                    if new_type
                    else "its ENUM values cannot be removed or renamed while any segment uses "
                    "it (adding one can)"
                )
                await self._refuse_while_used(current, at, then, session, mode)
                converting = -1
                converted = await self._converted_values(current, updated, at, session)
                converting = len(converted)
            await self.store.replace_definition(updated, session)
            if converted:
                await self.store.replace_values(key, current.object, converted, session)
            await self.store.bump_version(session)
            return updated

        try:
            updated = await self.database.run_atomically(work)
        except PyMongoError as exc:
            if (
                converting is None
                or not exc.timeout
                or isinstance(exc, ServerSelectionTimeoutError)
            ):
                raise  # not the conversion's length: the database unavailable, or another fault
            # Asked in a context of its own: the mutation's deadline (seggraph.api.deadlines),
            # spent by the transaction, would fail the ping whatever the database does.
            answers = asyncio.get_running_loop().create_task(
                self.database.ping(), context=contextvars.Context()
            )
            if not await answers:
                raise  # a database that stopped answering, not one too slow for the values
            # Converting every value in one transaction ran past its time limit: trying
            # again would too (it is not the database being unavailable: it answers).
            raise InputRefused([self._conversion_too_large(key, at, converting)]) from exc
        if not written:
            return updated  # nothing written: the catalogue holds it as it is
        await self._changed()
        return updated

    def _conversion_too_large(self, key: str, at: tuple[str, ...], count: int) -> UserError:
        values = "the stored values" if count < 0 else f"the {count:,} stored values"
        limit = self.database.transaction_time_limit
        return UserError(
            at,
            "TOO_MANY_VALUES",
            f"converting {values} of custom.{key} did not finish within the {limit:g} s a "
            "transaction may take (three times SEGGRAPH_DATABASE_TIMEOUT_SECONDS), so nothing "
            "was changed: raise SEGGRAPH_DATABASE_TIMEOUT_SECONDS for this change, or remove "
            "values first",
        )

    async def _existing(self, key: str, session: Session) -> CustomPropertyDefinition:
        """The definition of ``key``, or NOT_FOUND."""
        current = await self.store.get_definition(key, session)
        if current is None:
            raise InputRefused(
                [UserError(("key",), "NOT_FOUND", f"there is no custom property custom.{key}")]
            )
        return current

    async def _refuse_while_used(
        self,
        definition: CustomPropertyDefinition,
        path: tuple[str, ...],
        then: str,
        session: Session,
        mode: Mode | None,
    ) -> None:
        """PROPERTY_IN_USE (at ``path``, ending with ``then``) when a segment of either mode
        has a condition on the property (definitions are shared by both). The segments of
        ``mode``, the request's, are named; the other mode's are counted: a TEST key learns no
        LIVE segment's name. In ``session``'s transaction, which first claims the segments'
        write tokens (:func:`~seggraph.store.segments.claim_segment_writes`): a segment write
        under way conflicts with it, so the check never misses a segment saved at the same
        moment."""
        await claim_segment_writes(self.store.db, session)
        users = await self.store.segments_using(definition.property_key, session)
        if not users:
            return
        named = sorted(
            f"{name!r} ({used_in.value}{', archived' if archived else ''})"
            for name, used_in, archived in users
            if mode is None or used_in is mode
        )
        parts = [f"segments {', '.join(named)}"] if named else []
        if mode is not None and (others := sum(1 for _, m, _ in users if m is not mode)):
            parts.append(f"{others} {mode.other.value} segment{'s' if others > 1 else ''}")
        message = f"custom.{definition.key} is used by {' and by '.join(parts)}; {then}"
        raise InputRefused([UserError(path, "PROPERTY_IN_USE", message)])

    def _changed_definition(
        self, current: CustomPropertyDefinition, change: DefinitionChange
    ) -> CustomPropertyDefinition:
        """``current`` with ``change`` made, or InputRefused naming every field refused."""
        errors: list[UserError] = []
        label = check_label(change.label, errors) if change.label is not None else current.label
        description = (
            check_description(change.description, errors)
            if change.description is not None
            else current.description
        )
        kind = change.type or current.type
        if change.enum_values is not None:
            values = check_enum_values(kind, change.enum_values, errors)
        elif kind is CustomType.ENUM:
            values = current.enum_values
            if not values:
                errors.append(UserError(("enumValues",), "BLANK", "an ENUM property needs values"))
        else:
            values = ()
        if errors:
            raise InputRefused(errors)
        return replace(
            current,
            label=label,
            description=description,
            type=kind,
            enum_values=values,
            updated_at=self.clock(),
        )

    async def _converted_values(
        self,
        current: CustomPropertyDefinition,
        updated: CustomPropertyDefinition,
        at: tuple[str, ...] = ("type",),
        session: Session = None,
    ) -> list[tuple[str, Any]]:
        """Every stored value of ``current`` in ``updated``'s type, or InputRefused naming those
        that cannot be converted (at ``at``, the input field that changed)."""
        errors: list[UserError] = []
        converted: list[tuple[str, Any]] = []
        refused = 0
        word = _subject_word(current.object)
        for subject, stored in await self.store.values_of(current.key, session):
            try:
                value = coerce_value(updated, _as_text(stored))
            except ValueRefused as exc:
                refused += 1
                shown = show_value(json_value(decode(stored, current.type)))
                if len(errors) < MAX_LISTED:
                    errors.append(
                        UserError(
                            at,
                            "VALUES_INCOMPATIBLE",
                            f"{word} {subject}: custom.{current.key} holds {shown}, which "
                            f"cannot be read as {updated.type.value}: {exc.message}",
                        )
                    )
                continue
            converted.append((subject, value))
        if refused:
            if refused > len(errors):
                errors.append(
                    UserError(
                        at,
                        "VALUES_INCOMPATIBLE",
                        f"and {refused - len(errors)} more values cannot be converted; change or "
                        "remove them first",
                    )
                )
            raise InputRefused(errors)
        return converted

    async def delete_definition(self, key: str, *, mode: Mode | None = None) -> None:
        """``mode`` as for :meth:`update_definition`."""
        key = bare_key(key)

        async def work(session: Session) -> None:
            # Checked and deleted in one transaction that conflicts with every segment write
            # (claim_segment_writes): a segment saved meanwhile with a condition on the
            # property is seen here (and the delete refused), or sees the delete itself.
            current = await self._existing(key, session)
            await self._refuse_while_used(
                current, ("key",), "remove it from them before deleting it", session, mode
            )
            await self.store.delete_definition(key, session)
            await self.store.bump_version(session)

        await self.database.run_atomically(work)
        await self._changed()

    # -- values ----------------------------------------------------------------------------------

    async def check_values(
        self, assignments: Sequence[ValueAssignment], path: str = "values", session: Session = None
    ) -> tuple[list[StoredValue], list[UserError]]:
        """Coerce every assignment; errors name the subscriber, the key and why.

        Every problem of every assignment is reported (an unknown key does not hide a blank
        id). An assignment whose ``subject_id`` is ``None`` has its key and value checked only:
        its caller refuses the missing id."""
        keys = {bare_key(a.key) for a in assignments}
        definitions = await self.store.definitions_of(keys, session)
        stored: list[StoredValue] = []
        errors: list[UserError] = []
        for index, item in enumerate(assignments):
            found = len(errors)
            key = bare_key(item.key)
            subject = item.subject_id.strip() if isinstance(item.subject_id, str) else ""
            id_given = item.subject_id is not None
            id_valid = bool(subject) and len(subject) <= MAX_SUBJECT_ID
            definition = definitions.get(key)
            if definition is None:
                # Worded as a refused value is ("subscriber cus_1: custom.seats: …"): the
                # subscriber (or subscription) when its id is one, nothing when it is refused.
                word = _subject_word(item.object or CustomObject.SUBSCRIBER)
                who = f"{word} {subject}: " if id_valid else ""
                errors.append(
                    UserError(
                        (path, index, "key"),
                        "UNKNOWN_PROPERTY",
                        f"{who}there is no custom property custom.{key}",
                    )
                )
                if id_given and not id_valid:
                    errors.append(
                        UserError(
                            (path, index, f"{word}Id"),
                            "INVALID_ID",
                            f"a {word} id of 1 to {MAX_SUBJECT_ID} characters is required",
                        )
                    )
                continue
            word = _subject_word(definition.object)
            given = item.object
            wrong_object = given is not None and given is not definition.object
            if given is not None and wrong_object:
                errors.append(
                    UserError(
                        (path, index, f"{_subject_word(given)}Id"),
                        "WRONG_OBJECT",
                        f"custom.{key} describes a {word}: give a {word} id, not a "
                        f"{_subject_word(given)} id",
                    )
                )
            elif id_given and not id_valid:
                errors.append(
                    UserError(
                        (path, index, f"{word}Id"),
                        "INVALID_ID",
                        f"custom.{key} describes a {word}: a {word} id of 1 to "
                        f"{MAX_SUBJECT_ID} characters is required",
                    )
                )
            try:
                value = coerce_value(definition, item.value)
            except ValueRefused as exc:
                who = f"{word} {subject}: " if id_valid and not wrong_object else ""
                errors.append(
                    UserError((path, index, "value"), exc.code, f"{who}custom.{key}: {exc.message}")
                )
                continue
            if len(errors) == found and id_given:
                stored.append(StoredValue(key, definition.object, subject, value))
        return stored, errors

    async def set_values(self, assignments: Sequence[ValueAssignment]) -> SetResult:
        stored = await self._write_checked(assignments)
        # A value set twice in one call is stored as set the last time: counted once, so.
        final = {(s.object, s.subject_id, s.key): s.value for s in stored}
        removed = sum(1 for value in final.values() if value is None)
        return SetResult(written=len(final) - removed, removed=removed)

    async def _write_checked(
        self, assignments: Sequence[ValueAssignment], start: int = 0
    ) -> list[StoredValue]:
        """Check ``assignments`` and write them, in one transaction: checked against the
        definitions in the transaction that writes them, beside those definitions, so a type
        change made meanwhile conflicts with this write (one of the two runs again) and no
        value is stored in a type its property left. A refusal (InputRefused) names each
        assignment at its place ``start`` further on (its place in a whole import)."""

        async def work(session: Session) -> list[StoredValue]:
            stored, errors = await self.check_values(assignments, session=session)
            if errors:
                if start:
                    errors = [
                        replace(e, path=(e.path[0], start + int(e.path[1]), *e.path[2:]))
                        for e in errors
                    ]
                raise InputRefused(errors)
            await self.store.mark_values_written({s.key for s in stored}, session)
            for first in range(0, len(stored), WRITE_CHUNK):
                await self.store.write_values(stored[first : first + WRITE_CHUNK], session)
            return stored

        return await self.database.run_atomically(work)

    async def import_values(
        self,
        assignments: Sequence[ValueAssignment],
        progress: Callable[[int], None] | None = None,
    ) -> list[StoredValue]:
        """Write a bulk import's values, already checked by :meth:`check_values`, in chunks:
        each chunk is checked again and written in one transaction, beside the definitions it
        was checked against (as :meth:`set_values` is), so a property deleted or given another
        type while the import ran never gets a value in a type it left, nor one back after a
        delete. A value the definition no longer accepts stops the import: InputRefused (paths
        index ``assignments``), the chunks before it kept (re-running the import is harmless).
        Returns the values written."""
        written: list[StoredValue] = []
        for start in range(0, len(assignments), WRITE_CHUNK):
            chunk = assignments[start : start + WRITE_CHUNK]
            written.extend(await self._write_checked(chunk, start))
            if progress is not None:
                progress(len(chunk))
        return written

    async def write(
        self, stored: Sequence[StoredValue], progress: Callable[[int], None] | None = None
    ) -> None:
        """Write checked values in chunks of one bulk write each, not checked again (the demo's
        loader, which has just made the definitions; a bulk import uses
        :meth:`import_values`)."""
        for start in range(0, len(stored), WRITE_CHUNK):
            chunk = stored[start : start + WRITE_CHUNK]
            await self.store.write_values(chunk)
            if progress is not None:
                progress(len(chunk))

    async def get_values(self, object: CustomObject, subject_id: str) -> dict[str, Any]:
        definitions = {d.key: d for d in await self.store.all_definitions() if d.object is object}
        found = await self.store.load(object, [subject_id], list(definitions))
        raw = found.get(subject_id, {})
        return {
            key: decode(value, definitions[key].type)
            for key, value in sorted(raw.items())
            if key in definitions and value is not None
        }

    # -- evaluation ------------------------------------------------------------------------------

    async def values_for(
        self, keys: Sequence[str], subjects: Sequence[tuple[str, str | None]]
    ) -> list[dict[str, Any]]:
        """For each (subscriber id, subscription id or None): {property key: value or None}.

        Subscriber properties read the subscriber, subscription properties the subscription
        (missing when there is none). One query per object kind in the batch.
        """
        wanted: dict[CustomObject, list[tuple[str, CustomPropertyDefinition]]] = {}
        for property_key in keys:
            definition = self._definitions.get(property_key.removeprefix(f"{NAMESPACE}."))
            if definition is not None:
                wanted.setdefault(definition.object, []).append((property_key, definition))
        out: list[dict[str, Any]] = [dict.fromkeys(keys) for _ in subjects]
        for object, entries in wanted.items():
            position = 0 if object is CustomObject.SUBSCRIBER else 1
            ids = [subject[position] for subject in subjects]
            present = [i for i in ids if i]
            if not present:
                continue
            found = await self.store.load(object, present, [d.key for _, d in entries])
            for index, subject_id in enumerate(ids):
                raw = found.get(subject_id or "", {}) if subject_id else {}
                for property_key, definition in entries:
                    value = raw.get(definition.key)
                    if value is not None:
                        out[index][property_key] = decode(value, definition.type)
        return out
