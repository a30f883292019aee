"""Segments: create, edit, tag, search, version, use and delete them, in one mode at a time.

Every write validates first and writes nothing when any part is refused; a segment and its
history entry are written together (in a transaction where the database has them), and every
edit names the version it started from, so two editors never silently overwrite each other.

A delete and a new reference or usage of the segment it deletes are kept apart without
transactions (a transaction's snapshot would not see the other side's write anyway): each side
writes its intent first, then checks the other's. The delete marks its segment, then looks for
references and usages (and takes its mark away and refuses when it finds one); a write that
saves a reference, or registers a usage, checks afterwards that every segment it names is still
there, waiting out a delete that marked one (it takes milliseconds), and undoes itself and
refuses when one is gone. Whatever the order, one of the two sees the other. The mark is left
out of every read and changes neither the version nor the write token. It is in force for
:data:`DELETE_MARK_IN_FORCE` (a delete that dies cannot block a segment for longer), and a
delete only completes within half of that after marking, so the two sides agree while the
servers' clocks are within half of it of each other.

A mode holds at most :data:`MAX_EVALUATED_SEGMENTS` active segments, checked the same way: a
write that adds one (a create, a duplicate, an unarchive, a new copy) counts them before it
writes, and refuses without writing when the mode is full; it counts again after it is saved,
and undoes itself and refuses when writes saved at the same moment took it past the limit. The
later of two such writes to count sees both, so they never both stay (both may be refused).
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta, tzinfo
from typing import NoReturn, TypeVar

from bson import ObjectId

from seggraph.catalogue import Catalogue
from seggraph.clock import Clock, utcnow
from seggraph.coalescing import Coalescer
from seggraph.db import Database
from seggraph.domain.conditions import (
    Combinator,
    Condition,
    Group,
    Node,
    Operator,
    referenced_segments,
)
from seggraph.domain.errors import (
    InputRefused,
    PathPart,
    UserError,
    check_first,
    check_range,
    checked_text,
    controls_error,
    escaped_controls,
)
from seggraph.domain.segments import (
    MAX_USAGES,
    FieldChange,
    HistoryAction,
    HistoryEntry,
    Mode,
    Segment,
    Usage,
    UsageKind,
    canonical_id,
    tag_key,
)
from seggraph.store.segments import (
    CopyExists,
    DeleteMark,
    SegmentFilter,
    SegmentStore,
    Session,
    to_object_id,
)
from seggraph.textform import format_condition, print_tree
from seggraph.validation.conditions import (
    ConditionValidator,
    TreeLimits,
    child_paths,
    normalized,
)

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_TAG = 64
MAX_TAGS = 50
#: The longest list of tags read at all (repeats are dropped, so more than MAX_TAGS may fit).
MAX_TAGS_SENT = 10 * MAX_TAGS
MAX_PAGE = 100
#: The most versions one page of a segment's history answers.
MAX_HISTORY_PAGE = 500
#: The largest number a client can send (GraphQL's Int has 32 bits).
MAX_INT = 2**31 - 1
MAX_USAGE_TEXT = 200
#: How many segments ``subscriber { segments }`` evaluates at once (it refuses rather than
#: answer for only some of them; :mod:`seggraph.services.evaluation` imports this number), and
#: so how many active (not archived) segments a mode holds: with more, every untagged such
#: question of the mode would be refused, for every client. Read when a write asks, so a test
#: can lower it.
MAX_EVALUATED_SEGMENTS = 500
#: How long a delete's mark keeps new references and usages away; an older one was left by a
#: delete that died, and is ignored (see the module's docstring).
DELETE_MARK_IN_FORCE = timedelta(seconds=60)
#: How long a new reference or usage waits for a delete in progress to finish before it is
#: refused (:meth:`SegmentService._unavailable`).
DELETE_WAIT_SECONDS = 1.0
#: What a segment being created is called where its id would be (it has none yet): in the
#: path of a cycle its references lead into (``validate_conditions(segment_id=NEW_SEGMENT)``).
NEW_SEGMENT = "the new segment"
#: How long a write waits for a later version written on top of its own to be undone, when it
#: must undo itself (:meth:`SegmentService._roll_back`).
ROLL_BACK_PATIENCE_SECONDS = 2.0
#: How many times a write takes the next number when undone writes keep using the one it was
#: to have (each time another write was saved and undone between its read and its write).
_RENUMBERINGS = 5
#: How many times an archive, unarchive or delete asked without ``expectedVersion`` reads the
#: segment again when an edit saved between its read and its write changed the version.
_UNCHECKED_ATTEMPTS = 5

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class SegmentPage:
    edges: list[tuple[str, Segment]]
    has_next_page: bool
    total_count: int


@dataclass
class WriteResult:
    """A successful write, with the warnings a user should see (in-use, empty conditions)."""

    segment: Segment
    warnings: list[UserError] = field(default_factory=list)


class _NumberUsedMeanwhile(Exception):
    """The segment is still at the version a write read, but a write saved and undone since
    used the number this one was to take (:attr:`Segment.versions_used`)."""

    def __init__(self, latest: Segment) -> None:
        super().__init__(f"segment {latest.id}: version {latest.next_version - 1} was used")
        self.latest = latest


class VersionConflict(Exception):
    """``expectedVersion`` is stale: someone else wrote first. ``current`` is None when there
    is no such segment any more."""

    def __init__(
        self, segment_id: str, expected: int | None, current: int | None, message: str = ""
    ) -> None:
        super().__init__(message or conflict_message(segment_id, expected, current))
        self.expected, self.current = expected, current

    def as_user_error(self) -> UserError:
        return UserError(("expectedVersion",), "VERSION_CONFLICT", str(self))


def conflict_message(segment_id: str, expected: int | None, current: int | None) -> str:
    """Why ``expected`` is not the version to write from: the segment was deleted, was changed
    since, or never had that version (a version from elsewhere, or a typo)."""
    if current is None:
        return (
            f"segment {segment_id} is not there any more: it was deleted since you loaded it; "
            "nothing was saved"
        )
    if expected is not None and (expected > current or expected < 1):
        never = "has had yet" if expected > current else "can have (versions start at 1)"
        return (
            f"segment {segment_id} is at version {current}: version {expected} is not one it "
            f"{never}; expectedVersion is the version you loaded (reload the segment to see "
            "its current one)"
        )
    return (
        f"segment {segment_id} is at version {current}, not {expected}: it was changed "
        "since you loaded it; reload, re-apply your edit and save again"
    )


def clean_tags(
    tags: list[str], errors: list[UserError], stored: Sequence[str] = ()
) -> tuple[str, ...]:
    """Trim tags (in composed form, NFC) and drop case-insensitive repeats, keeping the first
    spelling. At most :data:`MAX_TAGS` are counted as stored (a tag sent twice is one); a
    list longer than :data:`MAX_TAGS_SENT` is refused before any is read. A tag sent as it
    is ``stored`` (the segment's) is taken as it is, not checked again."""
    seen: set[str] = set()
    out: list[str] = []
    if len(tags) > MAX_TAGS_SENT:
        errors.append(UserError(("tags",), "TOO_MANY", f"at most {MAX_TAGS} tags, got {len(tags)}"))
        return ()
    kept = set(stored)
    for i, raw in enumerate(tags):
        found = len(errors)
        tag = (
            raw
            if raw in kept
            else checked_text(
                raw,
                "tag",
                errors,
                max_length=MAX_TAG,
                blank="a tag cannot be blank",
                path=("tags", i),
            )
        )
        if len(errors) == found and tag_key(tag) not in seen:
            seen.add(tag_key(tag))
            out.append(tag)
    if len(out) > MAX_TAGS:
        errors.append(
            UserError(
                ("tags",),
                "TOO_MANY",
                f"at most {MAX_TAGS} tags, got {len(out)} (counted as stored: trimmed, and "
                "repeats in any case counted once)",
            )
        )
    return tuple(out)


def tag_filter_errors(tags: Sequence[str], path: tuple[PathPart, ...]) -> list[UserError]:
    """What is wrong with the tags a question filters by: more than a segment may carry
    (``TOO_MANY``), or one longer than a tag may be (``TOO_LONG``, which no segment carries).
    A tag is counted in composed form (NFC), as a stored tag is: ``é`` typed as ``e`` and an
    accent is one character, and a tag a segment carries is never refused as too long."""
    errors: list[UserError] = []
    if len(tags) > MAX_TAGS:
        errors.append(
            UserError(path, "TOO_MANY", f"filter by at most {MAX_TAGS} tags, got {len(tags)}")
        )
    for index, tag in enumerate(tags):
        if len(unicodedata.normalize("NFC", tag.strip())) > MAX_TAG:
            errors.append(
                UserError((*path, index), "TOO_LONG", f"a tag has at most {MAX_TAG} characters")
            )
            break  # one says it: a list of 100,000 long tags would say it 100,000 times
    return errors


def clean_name(name: str, errors: list[UserError]) -> str:
    return checked_text(name, "name", errors, max_length=MAX_NAME, blank="a segment needs a name")


def clean_description(description: str, errors: list[UserError]) -> str:
    return checked_text(
        description, "description", errors, max_length=MAX_DESCRIPTION, multiline=True
    )


def describe_changes(before: Segment | None, after: Segment) -> tuple[FieldChange, ...]:
    """Readable differences: each changed field, conditions in their text form."""
    changes: list[FieldChange] = []

    def text(segment: Segment | None, name: str) -> str:
        if segment is None:
            return ""
        value = getattr(segment, name)
        if name == "tags":
            return ", ".join(value)
        if name == "conditions":
            return print_tree(value)
        if name == "archived":
            return "archived" if value else "active"
        return str(value)

    for name in ("name", "description", "tags", "conditions", "archived"):
        old, new = text(before, name), text(after, name)
        if old != new:
            changes.append(FieldChange(name, old, new))
    return tuple(changes)


def usages_sentence(usages: list[Usage]) -> str:
    """``FLOW 'Winback' (flow_1), …``: the name quoted as ``repr`` does (its control
    characters escaped), the refId with any control characters a usage stored before they
    were refused holds escaped (``\\x1b``), so none reaches a message, a log or a UI raw."""
    return ", ".join(
        f"{u.kind.value} {u.name or u.ref_id!r} ({escaped_controls(u.ref_id)})" for u in usages
    )


def segments_sentence(segments: list[Segment]) -> str:
    return ", ".join(f"{s.name!r} ({s.id})" for s in segments)


class SegmentService:
    def __init__(
        self,
        database: Database,
        store: SegmentStore,
        catalogue: Callable[[], Catalogue],
        *,
        currency: str,
        limits: TreeLimits | None = None,
        clock: Clock = utcnow,
        zone: tzinfo = UTC,
        refresh_catalogue: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """``refresh_catalogue``: reads the property definitions other processes may have
        changed, from the database now (not from the request's snapshot); a write that
        changes conditions checks them again after it is saved."""
        self.database = database
        self.store = store
        self.catalogue = catalogue
        self.refresh_catalogue = refresh_catalogue
        self.currency = currency
        self.zone = zone
        self.limits = limits or TreeLimits()
        self.clock = clock
        self.delete_wait_seconds = DELETE_WAIT_SECONDS
        self.reads: Coalescer[tuple[Mode, str], Segment | None] = Coalescer(
            self._read_together, database.operation_timeout
        )
        """The reads of :meth:`get`, those asked at once made together."""

    # -- reading ------------------------------------------------------------------------------

    async def get(self, mode: Mode, segment_id: str) -> Segment | None:
        """A segment by id, or None. The reads asked at once (a request's aliased
        ``segment(id:)`` fields) are one query, each answer read after it was asked: their
        fields then go on together, so the member counts and pages of members below them are
        asked together and share their walks (read one by one, the embedded database
        answered them about 2 ms apart, each field's walk then started on its own)."""
        return await self.reads((mode, segment_id))

    async def _read_together(self, asked: list[tuple[Mode, str]]) -> list[Segment | None]:
        found: dict[tuple[Mode, str], Segment] = {}
        for mode in dict.fromkeys(mode for mode, _ in asked):
            ids = list(dict.fromkeys(segment_id for m, segment_id in asked if m is mode))
            found.update(((mode, s.id), s) for s in await self.store.get_many(mode, ids))
        answers: list[Segment | None] = []
        for mode, segment_id in asked:
            oid = to_object_id(segment_id)
            answers.append(None if oid is None else found.get((mode, str(oid))))
        return answers

    async def require(
        self, mode: Mode, segment_id: str, path: tuple[PathPart, ...] = ("id",)
    ) -> Segment:
        segment = await self.store.get(mode, segment_id)
        if segment is None:
            raise InputRefused(
                [UserError(path, "NOT_FOUND", f"there is no {mode.value} segment {segment_id!r}")]
            )
        return segment

    async def page(
        self,
        mode: Mode,
        segment_filter: SegmentFilter | None = None,
        *,
        first: int = 20,
        after: str | None = None,
    ) -> SegmentPage:
        check_first(first, MAX_PAGE)
        wanted = segment_filter or SegmentFilter()
        # In composed form (NFC), as names and descriptions are kept (checked_text): an é typed
        # as e and an accent finds the é of a name, and counts as one character, as it does there.
        wanted = replace(wanted, search=unicodedata.normalize("NFC", wanted.search))
        errors = tag_filter_errors(wanted.tags, ("filter", "tags"))
        if len(wanted.search) > MAX_NAME:
            errors.append(
                UserError(
                    ("filter", "search"),
                    "TOO_LONG",
                    f"search with at most {MAX_NAME} characters, got {len(wanted.search)}",
                )
            )
        if errors:
            raise InputRefused(errors)
        edges, has_next, total = await self.store.page(mode, wanted, first=first, after=after)
        return SegmentPage(edges, has_next, total)

    async def tags(self, mode: Mode, include_archived: bool = False) -> list[tuple[str, int]]:
        return await self.store.tag_counts(mode, include_archived)

    async def history(
        self, mode: Mode, segment_id: str, *, first: int, before_version: int | None = None
    ) -> list[HistoryEntry]:
        """The newest ``first`` versions, newest first, below ``before_version`` when it is
        given (the last version of the previous page: version numbers may have gaps)."""
        check_first(first, MAX_HISTORY_PAGE, least=1)
        if before_version is not None:
            check_range("beforeVersion", before_version, 1, MAX_INT)
        return await self.store.list_history(
            mode, segment_id, first=first, before_version=before_version
        )

    async def usages(self, mode: Mode, segment_id: str) -> list[Usage]:
        return await self.store.list_usages(mode, segment_id)

    # -- validation ---------------------------------------------------------------------------

    async def validate_conditions(
        self,
        mode: Mode,
        root: Group,
        *,
        segment_id: str | None,
        prefix: tuple[PathPart, ...] = ("conditions",),
    ) -> tuple[Group, list[UserError], list[UserError]]:
        """The canonical tree, its errors and its warnings (references checked in ``mode``).

        ``segment_id``: the segment the conditions are for, whose references must not close
        or lead into a cycle (:data:`NEW_SEGMENT` for one being created); None: not looked
        for (a preview)."""
        validator = ConditionValidator(
            self.catalogue(), currency=self.currency, limits=self.limits, zone=self.zone
        )
        outcome = validator.validate(root, prefix)
        errors = list(outcome.errors)
        if outcome.unread:  # nor are its references, which may be thousands
            return outcome.tree, errors, list(outcome.warnings)
        refused = {error.path[: len(error.path) - 1] for error in errors}
        # The references of the conditions validation accepted, with where each one is.
        refs: dict[str, list[tuple[PathPart, ...]]] = {}
        for path, condition in reference_conditions(outcome.tree, prefix):
            if path not in refused:
                refs.setdefault(str(condition.value), []).append(path)
        if refs:
            errors += await self._check_references(mode, refs, segment_id)
        return outcome.tree, errors, list(outcome.warnings)

    async def _check_references(
        self, mode: Mode, refs: dict[str, list[tuple[PathPart, ...]]], segment_id: str | None
    ) -> list[UserError]:
        """Each referenced segment exists in ``mode`` and no cycle forms; an error is reported
        at every condition naming the segment at fault (``refs``: id -> condition paths).

        An id of the other mode is refused in the same words as an id of no segment: the
        other mode is never looked in, so a request (a TEST READ key's preview, say) cannot
        learn which ids are segments of the other mode."""
        errors: list[UserError] = []
        found = {s.id for s in await self.store.get_many(mode, sorted(refs))}
        for ref in sorted(set(refs) - found):
            why = (
                f"there is no {mode.value} segment {ref!r} (a reference names a segment of "
                f"its own mode: for a {mode.other.value} segment, the id of its "
                f"{mode.value} copy)"
            )
            errors += [UserError(path + ("value",), "UNKNOWN_SEGMENT", why) for path in refs[ref]]
        # A new segment (NEW_SEGMENT) cannot close a cycle, but its references may lead into
        # one stored (by another tool): refused here, at the condition, as an edit's is.
        if segment_id is not None and refs and not errors:  # no reference, no cycle: no read
            graph = await self.store.reference_graph(mode)
            graph[segment_id] = sorted(refs)
            cycle = find_cycle(graph, segment_id)
            if cycle:
                why = cycle_message(cycle)
                errors += [
                    UserError(path + ("value",), "REFERENCE_CYCLE", why) for path in refs[cycle[1]]
                ]
        return errors

    # -- writing ------------------------------------------------------------------------------

    async def create(
        self,
        mode: Mode,
        actor: str,
        *,
        name: str,
        description: str = "",
        tags: list[str] | None = None,
        conditions: Group | None = None,
        conditions_prefix: tuple[PathPart, ...] = ("conditions",),
        refused: Sequence[UserError] = (),
    ) -> WriteResult:
        """``refused``: what was wrong with the input before it reached here (conditions text
        that does not parse), reported with every other problem."""
        errors: list[UserError] = list(refused)
        clean = clean_name(name, errors)
        desc = clean_description(description, errors)
        cleaned_tags = clean_tags(tags or [], errors)
        tree, tree_errors, warnings = await self.validate_conditions(
            mode,
            conditions or Group(Combinator.ALL),
            segment_id=NEW_SEGMENT,
            prefix=conditions_prefix,
        )
        errors += tree_errors
        errors += await self._room_for_one_more(mode, ())
        if errors:
            raise InputRefused(errors)
        now = self.clock()
        segment = Segment(
            id=str(ObjectId()),
            mode=mode,
            name=clean,
            description=desc,
            tags=cleaned_tags,
            conditions=tree,
            version=1,
            archived=False,
            created_at=now,
            created_by=actor,
            updated_at=now,
            updated_by=actor,
        )
        await self._write(
            None,
            segment,
            HistoryAction.CREATED,
            actor,
            refs_path=conditions_prefix,
            limit_path=(),
        )
        return WriteResult(segment, warnings)

    async def update(
        self,
        mode: Mode,
        actor: str,
        segment_id: str,
        *,
        expected_version: int,
        name: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        conditions: Group | None = None,
        conditions_prefix: tuple[PathPart, ...] = ("conditions",),
        acknowledge_live_usage: bool = False,
        refused: Sequence[UserError] = (),
    ) -> WriteResult:
        """``refused`` as for :meth:`create`."""
        current = await self.require(mode, segment_id)
        segment_id = current.id  # as usages and references name it (not in capitals, say)
        errors: list[UserError] = list(refused)
        changes: dict[str, object] = {}
        # A text sent back as it is stored is not checked again: an editor saving a form
        # sends every field, and one stored before a rule was added (a bidirectional control
        # in a name, say) would refuse every edit of the segment's other fields.
        if name is not None and name != current.name:
            changes["name"] = clean_name(name, errors)
        if description is not None and description != current.description:
            changes["description"] = clean_description(description, errors)
        if tags is not None:
            changes["tags"] = clean_tags(tags, errors, stored=current.tags)
        warnings: list[UserError] = []
        if conditions is not None:
            tree, tree_errors, warnings = await self.validate_conditions(
                mode, conditions, segment_id=segment_id, prefix=conditions_prefix
            )
            errors += tree_errors
            changes["conditions"] = tree
        if errors:
            raise InputRefused(errors)
        if current.version != expected_version:
            raise VersionConflict(segment_id, expected_version, current.version)
        if "conditions" in changes and changes["conditions"] != current.conditions:
            warnings += await self._live_usage_gate(
                mode, segment_id, acknowledge_live_usage, path=conditions_prefix
            )
        updated = replace(current, **changes)  # type: ignore[arg-type]
        if updated == current:
            # Nothing changes (a form saved again as it was): no new version, which would
            # make every other editor's next save a VERSION_CONFLICT, and no empty history.
            return WriteResult(current, warnings)
        saved = await self._save(
            current, updated, HistoryAction.UPDATED, actor, refs_path=conditions_prefix
        )
        return WriteResult(saved, warnings)

    async def _live_usage_gate(
        self,
        mode: Mode,
        segment_id: str,
        acknowledged: bool,
        *,
        path: tuple[PathPart, ...] = ("conditions",),
        subject: str = "this segment",
    ) -> list[UserError]:
        """Refuse a change of the conditions of a segment that live usages route by, unless
        acknowledged; once acknowledged, the warning naming them. Usages that are not live
        (a draft flow) only get a warning: they will route by the new conditions.

        The usages of the segments that read this one through ``IN_SEGMENT`` (directly or
        through others) count as its own: they route by its conditions too."""
        readers = await self._readers(mode, segment_id)
        # One read for the segment's own usages and those of the segments reading it.
        found = await self.store.usages_of(mode, [segment_id, *sorted(readers)])
        usages = [u for u in found if u.segment_id == segment_id]
        through = [u for u in found if u.segment_id != segment_id]
        reading = (
            {
                s.id: s
                for s in await self.store.get_many(mode, sorted({u.segment_id for u in through}))
            }
            if through
            else {}
        )

        def sentence(chosen: list[Usage], chosen_through: list[Usage]) -> str:
            parts = [usages_sentence(chosen)] if chosen else []
            for reader_id in dict.fromkeys(u.segment_id for u in chosen_through):
                reader = reading.get(reader_id)
                name = f"{reader.name!r} ({reader_id})" if reader else repr(reader_id)
                own = [u for u in chosen_through if u.segment_id == reader_id]
                parts.append(
                    f"{usages_sentence(own)} through segment {name}, which reads it with IN_SEGMENT"
                )
            return "; ".join(parts)

        live = [u for u in usages if u.live]
        live_through = [u for u in through if u.live]
        idle = [u for u in usages if not u.live]
        idle_through = [u for u in through if not u.live]
        warnings = []
        if idle or idle_through:
            warnings.append(
                UserError(
                    path,
                    "SEGMENT_IN_USE",
                    f"{subject} is used by {sentence(idle, idle_through)}, not live: the new "
                    "conditions are what they will route by",
                )
            )
        if not live and not live_through:
            return warnings
        names = sentence(live, live_through)
        if not acknowledged:
            raise InputRefused(
                [
                    UserError(
                        path,
                        "SEGMENT_IN_LIVE_USE",
                        f"{subject} is used live by {names}; changing its conditions changes "
                        "who they reach. Check the edit's impact, then save again with "
                        "acknowledgeLiveUsage: true",
                    )
                ]
            )
        return [
            UserError(
                path,
                "SEGMENT_IN_LIVE_USE",
                f"the new conditions apply at once to live usages: {names}",
            ),
            *warnings,
        ]

    async def _readers(self, mode: Mode, segment_id: str) -> set[str]:
        """The segments whose conditions read ``segment_id`` through ``IN_SEGMENT`` /
        ``NOT_IN_SEGMENT``, directly or through other segments (one read of the mode's
        reference graph)."""
        read_by: dict[str, list[str]] = {}
        for reader, refs in (await self.store.reference_graph(mode)).items():
            for ref in refs:
                read_by.setdefault(ref, []).append(reader)
        found: set[str] = set()
        waiting = [segment_id]
        while waiting:
            for reader in read_by.get(waiting.pop(), []):
                if reader not in found and reader != segment_id:
                    found.add(reader)
                    waiting.append(reader)
        return found

    async def set_archived(
        self, mode: Mode, actor: str, segment_id: str, archived: bool, expected_version: int | None
    ) -> WriteResult:
        """Archive or unarchive; without ``expected_version`` the version is not checked, so
        an edit saved between this read and this write is read again, not a conflict."""
        return await _read_again_unless_checked(
            expected_version,
            lambda: self._set_archived(mode, actor, segment_id, archived, expected_version),
        )

    async def _set_archived(
        self, mode: Mode, actor: str, segment_id: str, archived: bool, expected_version: int | None
    ) -> WriteResult:
        current = await self.require(mode, segment_id)
        segment_id = current.id  # as usages and references name it (not in capitals, say)
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(segment_id, expected_version, current.version)
        if current.archived == archived:
            return WriteResult(current)
        warnings: list[UserError] = []
        if archived:
            usages = await self.store.list_usages(mode, segment_id)
            if usages:
                warnings.append(
                    UserError(
                        ("id",),
                        "SEGMENT_IN_USE",
                        f"archived, but still used by {usages_sentence(usages)}: they keep "
                        "evaluating it until they stop using it",
                    )
                )
            referencing = await self.store.referencing(mode, segment_id)
            if referencing:
                warnings.append(
                    UserError(
                        ("id",),
                        "SEGMENT_REFERENCED",
                        f"archived, but still referenced by {segments_sentence(referencing)}: "
                        "their IN_SEGMENT conditions keep evaluating it",
                    )
                )
        else:
            await self._refuse_when_full(mode, ("id",))
        action = HistoryAction.ARCHIVED if archived else HistoryAction.UNARCHIVED
        saved = await self._save(
            current,
            replace(current, archived=archived),
            action,
            actor,
            refs_path=("id",),
            limit_path=("id",),
        )
        return WriteResult(saved, warnings)

    async def duplicate(
        self, mode: Mode, actor: str, segment_id: str, name: str | None = None
    ) -> WriteResult:
        source = await self.require(mode, segment_id)
        errors: list[UserError] = []
        new_name = clean_name(name if name is not None else _copy_name(source.name), errors)
        # Its conditions must be valid now (a property gone, a limit lowered, empty groups
        # counted since it was saved): refused up front, as a copy or a restore is, naming the
        # condition at fault, rather than written, found invalid by the check after the
        # write, and undone as if a property had changed while it was saved.
        _, invalid, _ = await self.validate_conditions(
            mode, source.conditions, segment_id=NEW_SEGMENT
        )
        errors += about_content(invalid, source.conditions, ("id",), f"segment {source.id}")
        errors += await self._room_for_one_more(mode, ("id",))
        if errors:
            raise InputRefused(errors)
        now = self.clock()
        copy = replace(
            source,
            id=str(ObjectId()),
            name=new_name,
            version=1,
            versions_used=0,  # a new segment: the source's used numbers are not its own
            archived=False,
            created_at=now,
            created_by=actor,
            updated_at=now,
            updated_by=actor,
            source_id=None,
        )
        await self._write(
            None,
            copy,
            HistoryAction.DUPLICATED,
            actor,
            note=f"from {source.id}",
            refs_path=("id",),
            limit_path=("id",),
        )
        consequence = (
            f"the duplicate selects a different sample of subscribers than segment {source.id}"
        )
        return WriteResult(copy, copy_bucket_warnings(copy.conditions, consequence))

    async def restore(
        self,
        mode: Mode,
        actor: str,
        segment_id: str,
        version: int,
        expected_version: int,
        *,
        acknowledge_live_usage: bool = False,
    ) -> WriteResult:
        """Write a new version equal to version ``version``, under the rules of
        :meth:`update`: ``expected_version`` must be the current one, and conditions that
        live usages route by change only when ``acknowledge_live_usage``."""
        current = await self.require(mode, segment_id)
        segment_id = current.id  # as its history names it (not in capitals, say)
        entry = await self.store.get_history(mode, segment_id, version)
        if entry is None:
            raise InputRefused(
                [
                    UserError(
                        ("version",), "NOT_FOUND", f"segment {segment_id} has no version {version}"
                    )
                ]
            )
        if current.version != expected_version:
            raise VersionConflict(segment_id, expected_version, current.version)
        old = entry.snapshot
        # The restored conditions must still be valid now (properties and referenced segments
        # may have gone since). The input has no conditions: what is said about them is said
        # at ``version``, naming the condition of that version at fault.
        tree, errors, warnings = await self.validate_conditions(
            mode, old.conditions, segment_id=segment_id
        )
        whose = f"version {version}"
        if errors:
            raise InputRefused(about_content(errors, old.conditions, ("version",), whose))
        return await self._overwrite(
            current,
            old,
            tree,
            about_content(warnings, old.conditions, ("version",), whose),
            HistoryAction.RESTORED,
            actor,
            f"restored version {version}",
            acknowledge_live_usage=acknowledge_live_usage,
            refs_path=("version",),
        )

    async def delete(
        self, mode: Mode, actor: str, segment_id: str, expected_version: int | None
    ) -> Segment:
        """Delete a segment nothing uses or references. The segment is marked first, then
        checked, then deleted (see the module's docstring): a reference or usage saved
        meanwhile either is seen here, and the delete refused, or sees the mark and is undone.
        Without ``expected_version`` the version is not checked: an edit saved between this
        read and the mark or the delete is read again, not a conflict."""
        return await _read_again_unless_checked(
            expected_version, lambda: self._delete(mode, actor, segment_id, expected_version)
        )

    async def _delete(
        self, mode: Mode, actor: str, segment_id: str, expected_version: int | None
    ) -> Segment:
        current = await self.require(mode, segment_id)
        version = current.version if expected_version is None else expected_version
        mark = DeleteMark(ObjectId(), self.clock())
        if not await self.store.mark_deleting(
            mode, segment_id, version, mark, stale_before=mark.at - DELETE_MARK_IN_FORCE
        ):
            latest = await self.require(mode, segment_id)
            if latest.version != version:
                raise VersionConflict(segment_id, version, latest.version)
            raise InputRefused(
                [
                    UserError(
                        ("id",),
                        "DELETE_IN_PROGRESS",
                        f"another request is deleting segment {segment_id} right now; ask "
                        "again in a moment if it is still there",
                    )
                ]
            )
        try:
            await self._delete_marked(mode, actor, current, version, mark)
        except BaseException:
            # Refused, conflicting or failed: the segment stays, and takes references and
            # usages again at once. (Should this fail too, the mark lapses by itself.)
            try:
                await self.store.unmark_deleting(mode, segment_id, mark)
            except Exception:  # noqa: BLE001 - the error being raised is the one to report
                log.warning("could not take the delete mark off segment %s", segment_id)
            raise
        return current

    async def _delete_marked(
        self, mode: Mode, actor: str, current: Segment, version: int, mark: DeleteMark
    ) -> None:
        segment_id = current.id
        errors: list[UserError] = []
        usages = await self.store.list_usages(mode, segment_id)
        if usages:
            errors.append(
                UserError(
                    ("id",),
                    "SEGMENT_IN_USE",
                    f"segment is used by {usages_sentence(usages)}; remove those usages first "
                    "(or archive the segment instead)",
                )
            )
        referencing = await self.store.referencing(mode, segment_id)
        if referencing:
            errors.append(
                UserError(
                    ("id",),
                    "SEGMENT_REFERENCED",
                    f"segment is referenced by the conditions of {segments_sentence(referencing)}",
                )
            )
        if errors:
            raise InputRefused(errors)

        async def work(session: Session) -> None:
            # Only while the mark is still ours and young enough that every writer still
            # honours it (see DELETE_MARK_IN_FORCE).
            marked_after = self.clock() - DELETE_MARK_IN_FORCE / 2
            if not await self.store.delete_if_marked(
                mode, segment_id, version, mark, marked_after, session
            ):
                latest = await self.store.get(mode, segment_id, session)
                if latest is None or latest.version != version:
                    raise VersionConflict(segment_id, version, latest.version if latest else None)
                raise InputRefused(
                    [
                        UserError(
                            ("id",),
                            "DELETE_TIMED_OUT",
                            "the delete took too long between its checks and its write, so "
                            "nothing was deleted; ask again",
                        )
                    ]
                )
            gone = replace(
                current, version=current.next_version, updated_at=self.clock(), updated_by=actor
            )
            await self.store.add_history(
                HistoryEntry(
                    segment_id=segment_id,
                    mode=mode,
                    version=gone.version,
                    action=HistoryAction.DELETED,
                    at=gone.updated_at,
                    by=actor,
                    changes=(),
                    snapshot=gone,
                ),
                session,
            )

        await self.database.run_atomically(work)

    async def copy_to_mode(
        self,
        source_mode: Mode,
        actor: str,
        segment_id: str,
        target: Mode,
        *,
        expected_version: int | None = None,
        acknowledge_live_usage: bool = False,
    ) -> WriteResult:
        """Create the segment's one counterpart in ``target``, or update it.

        The counterpart is the segment copied from this one there or else the one this one
        was copied from (see :meth:`_counterpart`): copying a copy back updates its original.
        Updating follows the rules of :meth:`update`: ``expected_version`` is the counterpart's
        current version, and conditions that live usages route by change only when
        ``acknowledge_live_usage``; a counterpart that already holds what this copy would write
        is answered as it is (no new version). Without ``expected_version`` the caller expects
        no counterpart: one that exists (made since, perhaps by a request at the same moment)
        is answered as it is when it already holds what this copy would write, and is a
        ``VERSION_CONFLICT`` otherwise; it is never overwritten unseen.
        """
        if target is source_mode:
            raise InputRefused(
                [
                    UserError(
                        ("mode",), "SAME_MODE", f"a copy into {target.value} is from the other mode"
                    )
                ]
            )
        source = await self.require(source_mode, segment_id)
        segment_id = source.id  # as its copy names it (not in capitals, say)
        tree = await self._map_references(source.conditions, source_mode, target)
        counterpart = await self._counterpart(source, target)
        tree, errors, warnings = await self.validate_conditions(
            target, tree, segment_id=counterpart.id if counterpart else None
        )
        # The input names the segment, not its conditions: what is said about them is said
        # at ``id``, naming the condition of the segment at fault.
        whose = f"{source_mode.value} segment {segment_id} copied to {target.value}"
        if errors:
            raise InputRefused(about_content(errors, source.conditions, ("id",), whose))
        warnings = about_content(warnings, source.conditions, ("id",), whose)
        warnings += copy_bucket_warnings(
            tree,
            f"the copy selects a different sample of subscribers than segment {segment_id}: "
            f"an experiment tested in {source_mode.value} does not reach the same subscribers "
            f"in {target.value}",
        )
        note = f"copied from {source_mode.value} segment {segment_id} version {source.version}"
        if counterpart is None:
            if expected_version is not None:
                raise VersionConflict(
                    segment_id, expected_version, None, _no_counterpart(source, target)
                )
            if not source.archived:  # the copy is archived as its segment is: it adds none
                await self._refuse_when_full(target, ("mode",))
            now = self.clock()
            copy = replace(
                source,
                id=str(ObjectId()),
                mode=target,
                conditions=tree,
                version=1,
                versions_used=0,  # a new segment: the source's used numbers are not its own
                created_at=now,
                created_by=actor,
                updated_at=now,
                updated_by=actor,
                source_id=segment_id,
            )
            try:
                await self._write(
                    None,
                    copy,
                    HistoryAction.COPIED,
                    actor,
                    note=note,
                    refs_path=("id",),
                    limit_path=("mode",),
                )
            except CopyExists:
                # Another request made the counterpart between our look and our write.
                counterpart = await self._counterpart(source, target)
                if counterpart is None:  # and deleted again already: nothing is written
                    raise VersionConflict(
                        segment_id,
                        None,
                        None,
                        f"another request copied segment {segment_id} at the same moment, and "
                        "its copy was deleted again since; copy again",
                    ) from None
                return self._unchanged_copy(counterpart, source, tree, warnings)
            return WriteResult(copy, warnings)
        if expected_version is None:
            return self._unchanged_copy(counterpart, source, tree, warnings)
        if counterpart.version != expected_version:
            raise VersionConflict(counterpart.id, expected_version, counterpart.version)
        if _copied_onto(counterpart, source, tree) == counterpart:
            # Already this copy: a new version would change nothing but the version, and
            # add a history entry saying nothing. What is said about its content still holds
            # (COPY_BUCKETS: the copy's sample is still not its segment's), as updateSegment
            # says it of a form saved again as it was.
            return WriteResult(counterpart, warnings)
        return await self._overwrite(
            counterpart,
            source,
            tree,
            warnings,
            HistoryAction.COPIED,
            actor,
            note,
            acknowledge_live_usage=acknowledge_live_usage,
            refs_path=("id",),
            subject=f"the {target.value} {_counterpart_is(counterpart, source)}",
        )

    @staticmethod
    def _unchanged_copy(
        counterpart: Segment, source: Segment, tree: Group, warnings: list[UserError]
    ) -> WriteResult:
        """The counterpart as it is, with the copy's ``warnings``, when it already holds what
        copying ``source`` writes; else the conflict that says which version to expect."""
        if _copied_onto(counterpart, source, tree) == counterpart:
            return WriteResult(counterpart, warnings)
        mode = counterpart.mode.value
        if counterpart.source_id == source.id:
            which = f"already has a {mode} copy, {counterpart.id}, at version {counterpart.version}"
        else:
            which = (
                f"was copied from {mode} segment {counterpart.id}, now at version "
                f"{counterpart.version}"
            )
        raise VersionConflict(
            counterpart.id,
            None,
            counterpart.version,
            f"segment {source.id} {which}, and it differs from this copy; check it, then copy "
            f"again with expectedVersion: {counterpart.version} to overwrite it",
        )

    async def _counterpart(self, source: Segment, target: Mode) -> Segment | None:
        """``source``'s one counterpart in ``target``: the segment copied from it there, or
        else the segment it was itself copied from (when that is still there), so that
        copying back and forth updates the same two segments.

        Only the first can be made by a copy, and only one of it can be (the
        ``one_copy_per_source`` index); the second is never made again once gone (a new
        segment has a new id), so a copy that finds neither may make the first. Several
        copies (made before the index existed) are refused: which one to update is not ours
        to guess."""
        copies = await self.store.find_copies(target, source.id)
        if len(copies) > 1:
            raise InputRefused(
                [
                    UserError(
                        ("id",),
                        "DUPLICATE_COPIES",
                        f"segment {source.id} has {len(copies)} {target.value} copies "
                        f"({', '.join(c.id for c in copies)}) where there should be one; "
                        f"delete all but one in {target.value}, then copy again",
                    )
                ]
            )
        if copies:
            return copies[0]
        if source.source_id is None:
            return None
        return await self.store.get(target, source.source_id)

    async def _map_references(self, tree: Group, source: Mode, target: Mode) -> Group:
        """Point IN_SEGMENT conditions at the referenced segments' counterparts in
        ``target``."""
        refs = sorted(referenced_segments(tree))
        found = {segment.id: segment for segment in await self.store.get_many(source, refs)}
        mapping: dict[str, str] = {}
        missing: list[str] = []
        for ref in refs:
            counterpart = await self._counterpart(found[ref], target) if ref in found else None
            if counterpart is None:
                missing.append(ref)
            else:
                mapping[ref] = counterpart.id
        if missing:
            raise InputRefused(
                [
                    UserError(
                        ("id",),
                        "REFERENCE_NOT_COPIED",
                        f"the conditions reference {source.value} segments with no {target.value} "
                        f"copy yet: {', '.join(missing)}; copy those first",
                    )
                ]
            )

        def remap(node: Node) -> Node:
            if isinstance(node, Group):
                return Group(node.combinator, tuple(remap(c) for c in node.children))
            if node.operator in (Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT):
                return Condition(node.property, node.operator, mapping[str(node.value)])
            return node

        result = remap(tree)
        assert isinstance(result, Group)
        return result

    async def _overwrite(
        self,
        current: Segment,
        source: Segment,
        tree: Group,
        warnings: list[UserError],
        action: HistoryAction,
        actor: str,
        note: str,
        *,
        acknowledge_live_usage: bool,
        refs_path: tuple[PathPart, ...],
        subject: str = "this segment",
    ) -> WriteResult:
        """Write a new version of ``current`` with ``source``'s editable fields and ``tree``
        (restoring an old version, or updating a copy in the other mode). The caller has
        checked ``current`` against the expected version, and the write is conditional on it;
        changed conditions that live usages route by need ``acknowledge_live_usage``, as in
        :meth:`update`."""
        updated = _copied_onto(current, source, tree)
        if updated == current:  # nothing to write: no new version for other editors to meet
            return WriteResult(current, warnings)
        if updated.conditions != current.conditions:
            warnings += await self._live_usage_gate(
                current.mode,
                current.id,
                acknowledge_live_usage,
                path=("acknowledgeLiveUsage",),
                subject=subject,
            )
        saved = await self._save(current, updated, action, actor, note=note, refs_path=refs_path)
        return WriteResult(saved, warnings)

    # -- usages -------------------------------------------------------------------------------

    async def register_usage(
        self, mode: Mode, segment_id: str, kind: UsageKind, ref_id: str, name: str, live: bool
    ) -> tuple[Usage, list[UserError]]:
        """Record a usage (registering one again updates its name and whether it is live),
        with the warnings to show: a live usage registered again as not live no longer
        guards the segment's conditions. A new one is checked after it is written: when its
        segment has gone or is being deleted meanwhile, it is removed again and refused (see
        the module's docstring)."""
        errors: list[UserError] = []
        ref_id, name = ref_id.strip(), name.strip()  # stored trimmed, so measured trimmed
        # Control characters are refused as in a segment's name: a usage is named in messages
        # and warnings (SEGMENT_IN_USE, say), in logs and in UIs. Only when it is registered:
        # one stored before is still found, and removed, by its refId.
        if not ref_id or len(ref_id) > MAX_USAGE_TEXT:
            errors.append(
                UserError(("refId",), "INVALID", f"refId must be 1..{MAX_USAGE_TEXT} characters")
            )
        elif (refused := controls_error(("refId",), "refId", ref_id)) is not None:
            errors.append(refused)
        if len(name) > MAX_USAGE_TEXT:
            errors.append(
                UserError(("name",), "TOO_LONG", f"name has at most {MAX_USAGE_TEXT} characters")
            )
        elif (refused := controls_error(("name",), "name", name)) is not None:
            errors.append(refused)
        try:
            segment = await self.require(mode, segment_id, ("segmentId",))
        except InputRefused as refused:  # every problem at once
            raise InputRefused([*refused.errors, *errors]) from None
        if errors:
            raise InputRefused(errors)
        segment_id = segment.id  # as deletes and edits look it up (not in capitals, say)
        usage = Usage(segment_id, mode, kind, ref_id, name, live, self.clock())
        before = await self.store.upsert_usage(usage)
        if before is not None:  # there already, so there for any delete to see
            warnings = []
            if before.live and not live:
                warnings.append(
                    UserError(
                        ("live",),
                        "USAGE_NO_LONGER_LIVE",
                        f"{usages_sentence([before])} was live and is not any more: changing "
                        "the segment's conditions no longer asks to acknowledge it",
                    )
                )
            return replace(usage, registered_at=before.registered_at), warnings
        try:
            unavailable = await self._unavailable(mode, [segment_id])
            # Counted after the write, as the delete check is: two registered at once past
            # the limit both see it and are both undone, never one too many kept.
            held = 0 if unavailable else await self.store.count_usages(mode, segment_id)
        except BaseException:
            # Not checked (the database failing, say): removed again, as a refused one is,
            # so that the error answered is true and no usage of a deleted segment stays.
            try:
                await self.store.remove_usage(mode, segment_id, kind, usage.ref_id)
            except Exception:  # the error being raised is the one to report
                log.exception(
                    "usage %r of segment %s: not checked, nor removed", ref_id, segment_id
                )
            raise
        refusal: list[UserError] = []
        if unavailable:
            refusal = _unavailable_errors(("segmentId",), "NOT_FOUND", mode, unavailable)
        elif held > MAX_USAGES:
            refusal = [
                UserError(
                    ("segmentId",),
                    "TOO_MANY",
                    f"segment {segment_id} would hold {held} usages in {mode.value} with "
                    f"this one (counting any registered at the same moment), past the "
                    f"{MAX_USAGES} one segment holds: remove those no longer in use "
                    "(removeSegmentUsage), then register this one; nothing was saved",
                )
            ]
        if refusal:  # removed again: a refused usage is not registered
            await self.store.remove_usage(mode, segment_id, kind, usage.ref_id)
            raise InputRefused(refusal)
        return usage, []

    async def remove_usage(self, mode: Mode, segment_id: str, kind: UsageKind, ref_id: str) -> None:
        ref_id = ref_id.strip()  # as it was registered
        segment_id = canonical_id(segment_id)  # as it was registered
        if not await self.store.remove_usage(mode, segment_id, kind, ref_id):
            await self.require(mode, segment_id, ("segmentId",))  # no segment: said there
            raise InputRefused(
                [
                    UserError(
                        ("refId",),
                        "NOT_FOUND",
                        f"segment {segment_id} has no {kind.value} usage {ref_id!r} "
                        f"in {mode.value}",
                    )
                ]
            )

    # -- the one place that writes a segment with its history ---------------------------------

    async def _save(
        self,
        before: Segment,
        after: Segment,
        action: HistoryAction,
        actor: str,
        note: str = "",
        refs_path: tuple[PathPart, ...] = ("conditions",),
        limit_path: tuple[PathPart, ...] = (),
    ) -> Segment:
        for _ in range(_RENUMBERINGS):
            saved = replace(
                after, version=before.next_version, updated_at=self.clock(), updated_by=actor
            )
            try:
                await self._write(
                    before,
                    saved,
                    action,
                    actor,
                    note=note,
                    refs_path=refs_path,
                    limit_path=limit_path,
                )
            except _NumberUsedMeanwhile as exc:
                # The same version (one number, one content), but a write undone since took
                # the number ours was to have: take the next one.
                before = replace(before, versions_used=exc.latest.versions_used)
                continue
            return saved
        raise VersionConflict(after.id, before.version, before.version)

    async def _write(
        self,
        before: Segment | None,
        after: Segment,
        action: HistoryAction,
        actor: str,
        note: str = "",
        refs_path: tuple[PathPart, ...] = ("conditions",),
        limit_path: tuple[PathPart, ...] = (),
    ) -> None:
        """Write ``after`` (in place of ``before``, at its version) with its history entry,
        then check what writes saved at the same moment may have broken, undoing the write
        and refusing it (:meth:`_undo`) when:

        - it adds an active segment to a mode now past :data:`MAX_EVALUATED_SEGMENTS` (the
          room the caller's :meth:`_room_for_one_more` found was filled meanwhile):
          ``TOO_MANY`` at ``limit_path``;
        - its changed conditions no longer fit the property definitions
          (:meth:`_check_properties_again`);
        - a segment its conditions reference has gone or is being deleted, so no delete
          ever leaves it dangling: ``UNKNOWN_SEGMENT`` at ``refs_path``;
        - its references close a cycle: ``REFERENCE_CYCLE`` at ``refs_path``."""
        entry = HistoryEntry(
            segment_id=after.id,
            mode=after.mode,
            version=after.version,
            action=action,
            at=after.updated_at,
            by=actor,
            changes=describe_changes(before, after),
            snapshot=after,
            note=note,
        )

        async def work(session: Session) -> None:
            if before is None:
                await self.store.insert(after, session)
            elif not await self.store.replace_if_version(after, before, session):
                latest = await self.store.get(after.mode, after.id, session)
                if latest is not None and latest.version == before.version:
                    raise _NumberUsedMeanwhile(latest)
                raise VersionConflict(after.id, before.version, latest.version if latest else None)
            await self.store.add_history(entry, session)

        await self.database.run_atomically(work)
        try:
            await self._check_after_write(before, after, refs_path, limit_path)
        except InputRefused:
            raise
        except BaseException:
            # The checks could not be made (the database failing, say): a write left stored
            # unchecked might break what they guard (a reference to a segment deleted
            # meanwhile, the mode's limit), and its client, answered an error, would take
            # it for not saved and write it again. Undone, then, as a refused write is.
            await self._undo_unchecked(before, after)
            raise

    async def _check_after_write(
        self,
        before: Segment | None,
        after: Segment,
        refs_path: tuple[PathPart, ...],
        limit_path: tuple[PathPart, ...],
    ) -> None:
        """The checks :meth:`_write` makes once ``after`` is saved (see there)."""
        if _adds_active(before, after) and await self._over_limit(after.mode):
            # Of two writes that fill the last place at the same moment, the later to count
            # sees both, so at least one is undone (both may be: write again).
            await self._undo(before, after, [_mode_full(after.mode, limit_path, meanwhile=True)])
        if before is None or before.conditions != after.conditions:
            await self._check_properties_again(before, after, refs_path)
        refs = referenced_segments(after.conditions)
        if not refs:
            return
        # Every reference, not only the new ones: a version this one replaced may itself be
        # a write still checking (and about to be undone).
        unavailable = await self._unavailable(after.mode, sorted(refs))
        if unavailable:
            errors = _unavailable_errors(refs_path, "UNKNOWN_SEGMENT", after.mode, unavailable)
            await self._undo(before, after, errors, gone=set(unavailable))
        # Validation refused a cycle with the graph as it was read then; an edit of another
        # segment saved since (A -> B here while B -> A there) closes one all the same. Looked
        # for after the write, as the references' existence is: of two writes that close a
        # cycle together, the later to look sees both, so at least one of them is undone.
        cycle = find_cycle(await self.store.reference_graph(after.mode), after.id)
        if cycle:
            meanwhile = " (an edit saved meanwhile closed it)" if cycle[0] == cycle[-1] else ""
            why = f"{cycle_message(cycle)}{meanwhile}; {NOTHING_SAVED}"
            await self._undo(
                before, after, [UserError(refs_path, "REFERENCE_CYCLE", why)], gone={cycle[1]}
            )

    async def _undo(
        self,
        before: Segment | None,
        after: Segment,
        errors: list[UserError],
        gone: set[str] | None = None,
    ) -> NoReturn:
        """Undo the write of ``after`` (:meth:`_roll_back`, ``gone`` as it says) and refuse
        it with ``errors``. When it could not be undone (another version was written on top
        of it meanwhile), each error says so where it said that nothing was saved: the
        client must not believe its write is gone while it stays, in the history and under
        the edit made on top of it."""
        on_top = await self._roll_back(before, after, gone or set())
        if on_top is not None:
            errors = [
                replace(error, message=_saved_all_the_same(error.message, after.version, on_top))
                for error in errors
            ]
        raise InputRefused(errors)

    async def _undo_unchecked(self, before: Segment | None, after: Segment) -> None:
        """Undo the write of ``after``, whose checks after the write failed; logged (never
        raised) when that fails too, so that the checks' own error is the one answered."""
        try:
            on_top = await self._roll_back(before, after, set())
        except Exception:  # the error being raised is the one to report
            log.exception(
                "segment %s: version %d could not be checked after it was saved, nor undone",
                after.id,
                after.version,
            )
            return
        if on_top is None:
            log.warning(
                "segment %s: version %d was undone: it could not be checked after it was saved",
                after.id,
                after.version,
            )

    async def _room_for_one_more(self, mode: Mode, path: tuple[PathPart, ...]) -> list[UserError]:
        """Nothing when ``mode`` has room for one more active segment; else the refusal
        (``TOO_MANY`` at ``path``), for a write that would add one. Asked before the write,
        which is then not made; :meth:`_write` counts again after it."""
        if await self.store.count_active(mode) < MAX_EVALUATED_SEGMENTS:
            return []
        return [_mode_full(mode, path, meanwhile=False)]

    async def _refuse_when_full(self, mode: Mode, path: tuple[PathPart, ...]) -> None:
        refused = await self._room_for_one_more(mode, path)
        if refused:
            raise InputRefused(refused)

    async def _over_limit(self, mode: Mode) -> bool:
        return await self.store.count_active(mode) > MAX_EVALUATED_SEGMENTS

    async def _check_properties_again(
        self, before: Segment | None, after: Segment, refs_path: tuple[PathPart, ...]
    ) -> None:
        """Validate ``after``'s conditions again, against the property definitions as they
        are now that it is saved; undo the write and refuse it when they no longer hold.

        A custom property deleted, or given another type, by another request at the same
        moment: that change checks that no segment uses the property in a transaction that
        conflicts with every segment write (:func:`~seggraph.store.segments.
        claim_segment_writes`), so when it runs after this write it sees it and is refused;
        when it ran before, this check sees it."""
        if self.refresh_catalogue is None:
            return
        await self.refresh_catalogue()
        validator = ConditionValidator(
            self.catalogue(), currency=self.currency, limits=self.limits, zone=self.zone
        )
        refused = validator.validate(after.conditions, refs_path).errors
        if not refused:
            return
        changed = "(the property changed while this was saved; nothing was saved)"
        errors = [replace(error, message=f"{error.message} {changed}") for error in refused]
        await self._undo(before, after, errors)

    async def _unavailable(self, mode: Mode, segment_ids: list[str]) -> dict[str, bool]:
        """Of ``segment_ids``, which a reference or usage just written may not name: the
        ones gone (-> False), and the ones a delete is still deleting (-> True).

        Asked after the write. A delete that marked a segment before it either saw the
        write (and is refused) or did not (and deletes the segment): it finishes within
        milliseconds, so it is waited for, up to :attr:`delete_wait_seconds`, rather than
        refusing a write that the delete's own refusal would let stand. A mark made after
        the first look belongs to a delete that will see the write: it is not waited for.
        """
        marks = await self.store.delete_marks(mode, segment_ids)
        in_force_after = self.clock() - DELETE_MARK_IN_FORCE
        gone = {segment_id: False for segment_id in segment_ids if segment_id not in marks}
        waiting = {
            segment_id: mark.token
            for segment_id, mark in marks.items()
            if mark is not None and mark.at > in_force_after
        }
        deadline = time.monotonic() + self.delete_wait_seconds
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            now = await self.store.delete_marks(mode, list(waiting))
            for segment_id, token in list(waiting.items()):
                if segment_id not in now:
                    gone[segment_id] = False
                    del waiting[segment_id]
                elif (mark := now[segment_id]) is None or mark.token != token:
                    del waiting[segment_id]  # that delete was refused: the segment stays
        return {**gone, **dict.fromkeys(waiting, True)}

    async def _roll_back(
        self, before: Segment | None, after: Segment, gone: set[str]
    ) -> int | None:
        """Undo the write of ``after`` with its history entry: ``None`` once undone (or the
        segment deleted meanwhile), else the version written on top of it, which it stays
        under. That version's writer checks its references too, and undoes itself when it
        names a segment in ``gone``: wait for that (briefly), then undo ours."""
        deadline = time.monotonic() + ROLL_BACK_PATIENCE_SECONDS
        while True:

            async def work(session: Session) -> bool:
                return await self.store.roll_back(before, after, session)

            if await self.database.run_atomically(work):
                return None
            latest = await self.store.get(after.mode, after.id)
            if latest is None:
                return None
            if not referenced_segments(latest.conditions) & gone:
                # What is stored now references none of them: nothing a reference check can
                # undo; ours stays under the version written on top of it.
                log.warning(
                    "segment %s: version %d was refused after it was saved, and could not be "
                    "undone: version %d was written on top of it",
                    after.id,
                    after.version,
                    latest.version,
                )
                return latest.version
            if time.monotonic() > deadline:
                log.error(
                    "segment %s: version %d references %s, which are being deleted, and could "
                    "not be undone: version %d was written on top of it",
                    after.id,
                    after.version,
                    ", ".join(sorted(gone)),
                    latest.version,
                )
                return latest.version
            await asyncio.sleep(0.02)


def find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A reference cycle that ``start`` reads, as the path from ``start`` that returns to a
    segment already on it (to ``start`` when the cycle goes through it; ``path[1]`` is always
    one of ``start``'s own references), or None.

    Iterative: a chain of references may be longer than Python's recursion limit (archived
    segments do not count towards a mode's limit), and a recursive walk failed every write
    at the head of a chain of about a thousand with an internal error."""
    path: list[str] = [start]
    on_path: set[str] = {start}
    done: set[str] = set()
    # For each segment of ``path``, the references still to visit.
    pending: list[Iterator[str]] = [iter(graph.get(start, ()))]
    while pending:
        nxt = next(pending[-1], None)
        if nxt is None:
            node = path.pop()
            pending.pop()
            on_path.discard(node)
            done.add(node)
        elif nxt in on_path:
            return [*path, nxt]
        elif nxt not in done:
            path.append(nxt)
            on_path.add(nxt)
            pending.append(iter(graph.get(nxt, ())))
    return None


def cycle_message(cycle: list[str]) -> str:
    """Why a write whose references reach ``cycle`` (from :func:`find_cycle`) is refused."""
    named = " -> ".join(cycle)
    if cycle[0] == cycle[-1]:
        return f"segment references would form a cycle: {named}"
    return (
        f"segment references lead into a cycle: {named} (stored before cycles were refused, "
        "or by another tool); the segments of a cycle are UNKNOWN for every subscriber until "
        "one of them is edited to break it"
    )


def _copied_onto(current: Segment, source: Segment, tree: Group) -> Segment:
    """``current`` with ``source``'s content (name, description, tags) and ``tree`` (what a
    restore or a copy writes, before its version and who/when). Whether it is archived stays
    as it is: that is where the segment is in its life, not what it says, and restoring an
    edit made before an archiving must not take the segment out of every answer unseen."""
    return replace(
        current,
        name=source.name,
        description=source.description,
        tags=source.tags,
        conditions=tree,
    )


def _counterpart_is(counterpart: Segment, source: Segment) -> str:
    """What ``counterpart`` is to ``source``, after its mode: "copy X" or "segment X (S was
    copied from it)"."""
    if counterpart.source_id == source.id:
        return f"copy {counterpart.id}"
    return f"segment {counterpart.id} ({source.id} was copied from it)"


def _no_counterpart(source: Segment, target: Mode) -> str:
    """Why there is nothing to update when a copy names a counterpart's version."""
    mode = target.value
    if source.source_id is None:
        why = f"segment {source.id} has no {mode} copy"
    else:
        why = (
            f"segment {source.id} has no {mode} copy, and {mode} segment {source.source_id}, "
            "which it was copied from, is not there any more"
        )
    return f"{why}: there is no version to expect; leave expectedVersion out to make a copy"


def _adds_active(before: Segment | None, after: Segment) -> bool:
    """Whether writing ``after`` in place of ``before`` (None: a new segment) adds an active
    segment to its mode."""
    return not after.archived and (before is None or before.archived)


#: How a refusal made after the write says that the write is undone.
NOTHING_SAVED = "nothing was saved"


def _saved_all_the_same(message: str, version: int, on_top: int) -> str:
    """``message`` of a refusal whose write could not be undone: what it says about nothing
    being saved replaced by what happened."""
    stays = (
        f"version {version} was saved all the same: it could not be undone, because version "
        f"{on_top} was saved on top of it meanwhile (edit the segment to change it)"
    )
    if NOTHING_SAVED in message:
        return message.replace(NOTHING_SAVED, stays)
    return f"{message}; {stays}"


def _mode_full(mode: Mode, path: tuple[PathPart, ...], *, meanwhile: bool) -> UserError:
    """The refusal of a write that would add an active segment to a full mode."""
    limit = MAX_EVALUATED_SEGMENTS
    full = f"{mode.value} already has {limit} active segments, the most a mode holds"
    if meanwhile:
        full = (
            f"{mode.value} reached {limit} active segments, the most a mode holds, with "
            "another write saved at the same moment"
        )
    return UserError(
        path,
        "TOO_MANY",
        f"{full}: subscriber {{ segments }} evaluates every active segment of the mode at "
        f"once, and is refused past {limit}. Archive or delete {mode.value} segments no longer "
        "needed, then try again; nothing was saved",
    )


def _unavailable_errors(
    path: tuple[PathPart, ...], code: str, mode: Mode, unavailable: dict[str, bool]
) -> list[UserError]:
    """One error per segment that a new reference or usage may not name: gone (False) or
    being deleted (True)."""
    return [
        UserError(
            path,
            code,
            f"segment {segment_id!r} is being deleted; nothing was saved (save again if the "
            "delete is refused)"
            if deleting
            else f"there is no {mode.value} segment {segment_id!r} (it was deleted meanwhile); "
            "nothing was saved",
        )
        for segment_id, deleting in sorted(unavailable.items())
    ]


def about_content(
    errors: list[UserError],
    conditions: Group,
    at: tuple[PathPart, ...],
    whose: str,
    prefix: tuple[PathPart, ...] = ("conditions",),
) -> list[UserError]:
    """What validation said at paths into ``conditions`` (under ``prefix``), for a mutation
    whose input holds no conditions (a restore, a copy): each said at ``at``, the input that
    names those conditions, its message saying which condition of ``whose`` it is about (its
    path, as validation names paths, and its text)."""
    root = normalized(conditions)
    out: list[UserError] = []
    for error in errors:
        where = error.path[len(prefix) :] if error.path[: len(prefix)] == prefix else ()
        node, depth = _node_at(root, where)
        place = ".".join(map(str, prefix + where[:depth]))
        if isinstance(node, Condition):
            try:
                text = f" ({format_condition(node)})"
            except ValueError:  # a value no longer of its operator's shape: the path says it
                text = ""
            lead = f"{whose}, condition {place}{text}"
        elif depth:
            lead = f"{whose}, group {place}"
        else:
            lead = whose
        out.append(UserError(at, error.code, f"{lead}: {error.message}"))
    return out


def _node_at(root: Group, where: tuple[PathPart, ...]) -> tuple[Node, int]:
    """The node of a normalized tree that a validation path (relative to the root) leads to,
    and how many parts of the path lead to it (any after those name a field of it)."""
    node: Node = root
    depth = 0
    while isinstance(node, Group) and depth + 1 < len(where):
        kind, index = where[depth], where[depth + 1]
        if kind not in ("conditions", "groups") or not isinstance(index, int):
            break
        wanted = Condition if kind == "conditions" else Group
        members = [child for child in node.children if isinstance(child, wanted)]
        if not 0 <= index < len(members):
            break
        node, depth = members[index], depth + 2
    return node, depth


def conditions_with(
    group: Group, path: tuple[PathPart, ...], operators: frozenset[Operator]
) -> list[tuple[tuple[PathPart, ...], Condition]]:
    """The conditions of a canonical tree with one of ``operators``, each with its path in
    the input (as validation names paths)."""
    found: list[tuple[tuple[PathPart, ...], Condition]] = []
    for child, child_at in zip(group.children, child_paths(group), strict=True):
        at = path + child_at
        if isinstance(child, Group):
            found += conditions_with(child, at, operators)
        elif child.operator in operators:
            found.append((at, child))
    return found


def reference_conditions(
    group: Group, path: tuple[PathPart, ...]
) -> list[tuple[tuple[PathPart, ...], Condition]]:
    """The ``IN_SEGMENT`` / ``NOT_IN_SEGMENT`` conditions of a canonical tree."""
    return conditions_with(group, path, _REFERENCES)


_REFERENCES = frozenset({Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT})
_BUCKETS = frozenset({Operator.PERCENTAGE})


async def _read_again_unless_checked(
    expected_version: int | None, write: Callable[[], Awaitable[_T]]
) -> _T:
    """``write`` (which reads the segment, then writes it), again when an edit saved between
    its read and its write changed the version, up to :data:`_UNCHECKED_ATTEMPTS` times; with
    ``expected_version`` the version is checked, and a conflict is the caller's."""
    for _ in range(_UNCHECKED_ATTEMPTS - 1):
        try:
            return await write()
        except VersionConflict:
            if expected_version is not None:
                raise
    return await write()


def copy_bucket_warnings(tree: Group, consequence: str) -> list[UserError]:
    """``COPY_BUCKETS`` at ``id`` when a copy's tree has PERCENTAGE conditions: buckets are
    drawn per segment id, so the copy's sample is not its source's (``consequence``)."""
    if not conditions_with(tree, ("conditions",), _BUCKETS):
        return []
    why = f"PERCENTAGE buckets are drawn per segment id, so {consequence}"
    return [UserError(("id",), "COPY_BUCKETS", why)]


def draft_bucket_warnings(tree: Group, path: tuple[PathPart, ...]) -> list[UserError]:
    """For a preview: its PERCENTAGE conditions draw buckets for a draft, not for the segment
    that will be saved (buckets are drawn per segment id), so the members differ."""
    return [
        UserError(
            at,
            "DRAFT_BUCKETS",
            "PERCENTAGE buckets are drawn per segment id, and a draft has none: this preview "
            'draws them for "draft", so a saved segment with these conditions selects a '
            "different sample; segmentEditImpact previews an edit of a saved segment with its "
            "own buckets",
        )
        for at, _ in conditions_with(tree, path, _BUCKETS)
    ]


def _copy_name(name: str) -> str:
    """``name (copy)``, within :data:`MAX_NAME`: the name is shortened, not the suffix (a
    200-character name came back unchanged)."""
    suffix = " (copy)"
    return name[: MAX_NAME - len(suffix)].rstrip() + suffix
