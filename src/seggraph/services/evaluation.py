"""Query-time evaluation: which segments a subscriber is in, why, and who the members are.

The I/O around the pure core: load the segments asked about (and those they reference), compile
each version once (cached), find the property keys they need, fetch those keys from the
providers in ONE batched call per provider, then evaluate in reference order. A bulk question
(members, counts, edit impact) walks the subscriber directory in pages and costs one batched
provider call per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Collection,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeVar, cast

from pymongo.errors import OperationFailure

from seggraph.catalogue import Catalogue
from seggraph.chunking import chunks
from seggraph.coalescing import retrieve_outcome
from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    Group,
    Node,
    iter_conditions,
)
from seggraph.domain.context import EvaluationContext
from seggraph.domain.errors import InputRefused, UserError, check_first
from seggraph.domain.segments import Mode, Segment, canonical_id
from seggraph.evaluation import (
    CompiledSegment,
    EvaluationOptions,
    EvaluationResult,
    ReferenceCycleError,
    SegmentCompiler,
    Truth,
    compile_segment,
    evaluation_order,
    results_of,
    unwrapped,
)
from seggraph.lru import LruCache
from seggraph.plugins.results import SubscriberFilter, selected_ids
from seggraph.services.counts import Asked, AskedTogether, CountsUnderWay, fail
from seggraph.services.properties import PropertyBatcher, PropertyResolver
from seggraph.services.segments import MAX_EVALUATED_SEGMENTS, SegmentService, tag_filter_errors
from seggraph.services.walk_slots import FairSlots
from seggraph.store.filters import all_of
from seggraph.store.pagination import BadCursor, decode_member_cursor, encode_member_cursor
from seggraph.store.segments import SegmentFilter

#: How many subscribers a bulk question asks the providers about at once: a provider's
#: ``$in`` of that many ids. Larger pages save few operations and cost some servers more than
#: their share (the embedded database: 16.4 s for a billing count over 20,000 subscribers in
#: pages of 200, 11.4 s in pages of 100).
PAGE_SIZE = 100
#: How many pages ahead of the one being evaluated a walk reads the values of.
WALK_AHEAD = 1
#: How many subscriber ids a walk asks the directory for: DIRECTORY_FIRST_PAGE first (a
#: member page found early reads little), then twice as many each time up to
#: DIRECTORY_MAX_PAGE, so a walk over 100,000 subscribers costs 8 directory queries. Some
#: databases scan from the start of the collection for each range (the embedded database: a
#: read of 2,000 ids costs as much as one of all 20,000), so fewer, larger reads matter.
DIRECTORY_FIRST_PAGE = 1000
DIRECTORY_MAX_PAGE = 32_000
#: A pushed-down answer is checked against the directory by ``$in`` chunks of this size when
#: it has at most DIRECTORY_CHECK_IN_LIMIT ids, else by reading the directory's ids once. An
#: ``$in`` costs some servers more than its length's share (the embedded database: 0.78 s
#: for 1,000 ids in one chunk, 0.11 s in ten of 100), and a chunk costs MongoDB little.
DIRECTORY_CHECK_CHUNK = 100
DIRECTORY_CHECK_IN_LIMIT = 5000
MAX_PREVIEW_SUBSCRIBERS = 100
MAX_MEMBERS_PAGE = 500
# MAX_EVALUATED_SEGMENTS (imported above, one number with the segments' own limit): how many
# segments one question evaluates at once, which is also how many active segments a mode holds.
#: The id an unsaved draft is evaluated under (previewConditions).
DRAFT_ID = "draft"

log = logging.getLogger(__name__)
#: The stored reference cycles logged so far (once each per process: every question of the
#: mode meets them).
_CYCLES_REPORTED: set[tuple[Mode, frozenset[str]]] = set()


def _report_cycle(mode: Mode, cycle: list[str]) -> None:
    key = (mode, frozenset(cycle))
    if key in _CYCLES_REPORTED:
        return
    _CYCLES_REPORTED.add(key)
    log.error(
        "%s segments reference each other in a cycle (%s): their IN_SEGMENT conditions are "
        "UNKNOWN until one of them is edited to break it",
        mode.value,
        " -> ".join(cycle),
    )


class ValueSource(Protocol):
    """Where property values come from (the plugin manager's batched resolver)."""

    async def resolve(
        self, contexts: Sequence[EvaluationContext], keys: Collection[str]
    ) -> Mapping[EvaluationContext, Mapping[str, Any]]:
        """Values (raw, ``MISSING``, ``Unknown`` or ``ResolvedValue``) per context and key."""
        ...

    async def subscriber_ids(self, after: str | None, limit: int) -> Sequence[str]:
        """The subscriber directory, in a stable order, a page at a time."""
        ...

    def condition_filter(self, condition: Condition) -> SubscriberFilter | None:
        """The owning provider's MongoDB translation of a condition, if it has one."""
        ...

    def directory_filter(self) -> SubscriberFilter | None:
        """The directory's query for the subscribers it lists, if it gives one."""
        ...


class SegmentOutcome(NamedTuple):
    """A segment and one subscriber's result in it (a tuple: twenty are made per question)."""

    segment: Segment
    result: EvaluationResult


@dataclass
class SegmentSet:
    """Segments compiled for one question, with everything they reference."""

    targets: list[str]
    compiled: dict[str, CompiledSegment]
    order: list[str]
    keys: frozenset[str]

    @functools.cached_property
    def references(self) -> bool:
        """Whether a segment of the set references another."""
        return any(c.segment_refs for c in self.compiled.values())

    @functools.cached_property
    def compiled_targets(self) -> list[CompiledSegment]:
        """The targets' compiled segments, in the targets' order."""
        return [self.compiled[segment_id] for segment_id in self.targets]


#: How many questions' keys :attr:`PreparedSets.question_keys` keeps (a frontend asks a few
#: questions, by a few tag sets, again and again).
QUESTIONS_KEPT = 256


def segments_question(tags: Iterable[str] | None) -> Hashable:
    """``subscriber { segments(tags:) }`` as a question whose keys are remembered
    (:attr:`PreparedSets.question_keys`): the tags given, in any order."""
    return ("segments", tuple(sorted(set(tags or ()))))


def membership_question(segment_ids: Iterable[str]) -> Hashable:
    """``subscriber { membership(segmentIds:) }`` as a question whose keys are remembered."""
    return ("membership", tuple(segment_ids))


class PreparedSets(LruCache[Hashable, SegmentSet]):
    """Prepared segment sets, by what they were prepared from (shared by the process)."""

    def __init__(self, maxsize: int = 256) -> None:
        super().__init__(maxsize)
        self.last_keys: dict[Mode, frozenset[str]] = {}
        """Per mode, the keys the last question about one subscriber read: what the next
        such question most likely reads too (:meth:`EvaluationService.prefetch`)."""
        self.question_keys: LruCache[tuple[Mode, Hashable], frozenset[str]] = LruCache(
            QUESTIONS_KEPT
        )
        """Per mode and question (:func:`segments_question`, :func:`membership_question`),
        the keys it read the last time it was asked: what it reads next time, unless its
        segments changed meanwhile."""


class Strategy(StrEnum):
    """How a bulk question was answered (the answers are the same either way)."""

    PUSHED_DOWN = "PUSHED_DOWN"
    """By database queries built from the providers' translations of every condition."""
    EVALUATED = "EVALUATED"
    """By walking the subscriber directory, one batched provider call per page."""


@dataclass
class MemberPage:
    member_ids: list[str]
    end_cursor: str | None
    has_next_page: bool
    strategy: Strategy = Strategy.EVALUATED
    #: Subscribers of the page's range (after its cursor, up to its end cursor, or to the
    #: end of the directory on the last page) whose result was UNKNOWN: not on the page.
    unknown: int = 0


@dataclass
class MemberTotals:
    members: int
    unknown: int
    strategy: Strategy


@dataclass
class EditImpact:
    evaluated: int
    leaving: list[str] = field(default_factory=list)
    joining: list[str] = field(default_factory=list)
    leaving_count: int = 0
    joining_count: int = 0
    unknown_count: int = 0


class RequestValueSource:
    """The providers as one request sees them: single-subscriber questions go through the
    request's batcher (so every field, segment and condition of a request shares one provider
    call per provider); bulk pages go straight to the resolver (nothing cached), each call
    under ``bulk_timeout``: a page of hundreds of subscribers is not held to the latency
    budget of one."""

    def __init__(
        self, batcher: PropertyBatcher, resolver: PropertyResolver, bulk_timeout: float
    ) -> None:
        self.batcher = batcher
        self.resolver = resolver
        self.bulk_timeout = bulk_timeout

    async def resolve(
        self, contexts: Sequence[EvaluationContext], keys: Collection[str]
    ) -> Mapping[EvaluationContext, Mapping[str, Any]]:
        if len(contexts) != 1:
            return await self.resolver.resolve(contexts, keys, timeout=self.bulk_timeout)
        # Fields of one request reach the providers at different moments (one after reading
        # segments from the database, another at once), so coalescing by timing alone is not
        # enough. A provider asked about a subscriber is asked at once for all of its keys
        # read with the ones it must read (their read group): every later field finds them in
        # the batcher's cache, and each provider is called once per request (per read group
        # it declares) however the fields interleave.
        siblings = self.resolver.catalogue.with_siblings
        return await self.batcher.load_many(contexts, keys, along=siblings)

    def prefetch(
        self, context: EvaluationContext, keys: frozenset[str], *, widen: bool = True
    ) -> None:
        """Start reading ``keys`` for ``context`` without waiting; a later :meth:`resolve`
        finds them read or under way. ``widen``: with their read groups, as :meth:`resolve`
        reads them (for a request that may read more keys of those groups later)."""
        along = self.resolver.catalogue.with_siblings if widen else ()
        self.batcher.prefetch(context, keys, along=along)

    async def subscriber_ids(self, after: str | None, limit: int) -> Sequence[str]:
        return await self.resolver.plugins.subscriber_ids(after, limit, timeout=self.bulk_timeout)

    def condition_filter(self, condition: Condition) -> SubscriberFilter | None:
        return self.resolver.plugins.condition_filter(self.resolver.catalogue, condition)

    def directory_filter(self) -> SubscriberFilter | None:
        return self.resolver.plugins.directory_filter()


class EvaluationService:
    """Built per request around that request's batched value source; the compiled-segment
    cache (``compiler``) is shared by the whole process."""

    def __init__(
        self,
        segments: SegmentService,
        values: ValueSource,
        catalogue: Callable[[], Catalogue],
        options: EvaluationOptions,
        compiler: SegmentCompiler | None = None,
        *,
        pushdown: bool = True,
        walk_slots: FairSlots | None = None,
        walk_owner: Hashable = None,
        prepared_sets: PreparedSets | None = None,
        counts_under_way: CountsUnderWay[WalkAnswer] | None = None,
    ) -> None:
        self.segments = segments
        self.values = values
        self.catalogue = catalogue
        self.options = options
        # Not `compiler or ...`: an empty cache has len() 0, so it is falsy.
        self.compiler = compiler if compiler is not None else SegmentCompiler()
        self.pushdown = pushdown
        self.prepared_sets = prepared_sets if prepared_sets is not None else PreparedSets()
        """Shared by the process, like ``compiler``."""
        self.walk_slots = walk_slots
        """Shared by the process: how many walks over the directory may run at once
        (``SEGGRAPH_BULK_CONCURRENCY``), so a burst of counts cannot swamp the providers."""
        self.walk_owner = walk_owner
        """Whose walks this request's are (its client), for sharing the walk slots fairly."""
        self.counts_under_way = (
            counts_under_way if counts_under_way is not None else CountsUnderWay()
        )
        """Shared by the process: the counts and pages of members being made, and who waits for
        each (a walk nobody waits for any more is given up). A request asking for the same
        count of the same segment version meanwhile waits for that count rather than walking
        again; a page is never shared with another request."""
        self._counts: dict[tuple[Mode, str, int], asyncio.Future[WalkAnswer]] = {}
        """This request's member counts, so a count asked twice walks once."""
        self._following: set[asyncio.Future[WalkAnswer]] = set()
        """This request's counts that wait for another request's (they end as it ends)."""

    # The queue of counts and pages of members is made when a request first asks for one: it
    # holds a bound method of this service (a reference cycle), and a request that asks for
    # neither, as ``subscriber { segments }`` does not, is freed when it ends, not by the
    # cyclic collector (bench/README.md, finding 19).

    @functools.cached_property
    def _walks_asked(self) -> AskedTogether[WalkAsked, WalkAnswer]:
        """The counts and pages of members asked and not yet started: the ones asked together
        are made together, in one walk for those not pushed down (:meth:`_walk_together`)."""
        return AskedTogether(self._walk_together, self.counts_under_way, self._following)

    # -- preparing ----------------------------------------------------------------------------

    def compile(self, segment: Segment) -> CompiledSegment:
        """A saved segment's version, compiled once and cached."""
        catalogue = self.catalogue()
        return self.compiler.get(
            segment.id,
            segment.version,
            segment.conditions,
            catalogue,
            options=self.options,
            catalogue_version=catalogue.version,
        )

    def compile_draft(self, root: Group, segment_id: str = DRAFT_ID) -> CompiledSegment:
        """An unsaved tree, never cached. ``segment_id`` seeds its PERCENTAGE buckets."""
        return compile_segment(root, self.catalogue(), segment_id=segment_id, options=self.options)

    async def prepare(
        self, mode: Mode, compiled: dict[str, CompiledSegment], targets: Sequence[str]
    ) -> SegmentSet:
        """Add, transitively, every segment the ``compiled`` ones reference; order them."""
        asked = set(compiled)
        pending = {ref for c in compiled.values() for ref in c.segment_refs} - asked
        while pending:
            asked |= pending
            for segment in await self.segments.store.get_many(mode, sorted(pending)):
                compiled[segment.id] = self.compile(segment)
            pending = {ref for c in compiled.values() for ref in c.segment_refs} - asked
        try:
            order = evaluation_order(compiled)
        except ReferenceCycleError as cycle:
            # Saving refuses cycles; one stored all the same (written before that check, or
            # by another tool) must not fail every question of the mode: its segments answer
            # UNKNOWN, the others as usual.
            _report_cycle(mode, cycle.cycle)
            order = evaluation_order(compiled, break_cycles=True)
        keys = frozenset(k for c in compiled.values() for k in c.keys)
        return SegmentSet(list(targets), compiled, order, keys)

    async def prepare_saved(self, mode: Mode, segments: Sequence[Segment]) -> SegmentSet:
        """The saved segments prepared. Segments that reference none are prepared once per
        list of versions (``subscriber { segments }`` asks for the same list each time);
        a reference is read afresh every time, so a set with one is never remembered."""
        catalogue = self.catalogue()
        key = (mode, catalogue.version, self.options, tuple((s.id, s.version) for s in segments))
        found = self.prepared_sets.get(key)
        if found is not None:
            return found
        prepared = await self.prepare(
            mode, {s.id: self.compile(s) for s in segments}, [s.id for s in segments]
        )
        if len(prepared.compiled) == len(prepared.targets):  # nothing but them is read
            self.prepared_sets.put(key, prepared)
        return prepared

    async def segments_for(
        self, mode: Mode, *, segment_ids: Sequence[str] | None = None, tags: Sequence[str] = ()
    ) -> list[Segment]:
        """The segments a question is about: by id, or every active one (optionally tagged)."""
        if segment_ids is not None:
            if len(segment_ids) > MAX_EVALUATED_SEGMENTS:
                raise InputRefused(
                    [
                        UserError(
                            ("segmentIds",),
                            "TOO_MANY",
                            f"ask about at most {MAX_EVALUATED_SEGMENTS} segments at once",
                        )
                    ]
                )
            found = {s.id: s for s in await self.segments.store.get_many(mode, list(segment_ids))}
            # An id in capitals is the segment, as segment(id:) reads it.
            missing = [i for i in segment_ids if canonical_id(i) not in found]
            if missing:
                raise InputRefused(
                    [
                        UserError(
                            ("segmentIds",),
                            "NOT_FOUND",
                            f"no {mode.value} segment {', '.join(map(repr, missing))}",
                        )
                    ]
                )
            return [found[canonical_id(i)] for i in segment_ids]
        refused = tag_filter_errors(tags, ("tags",))
        if refused:
            raise InputRefused(refused)
        active = await self.segments.store.all_matching(
            mode, SegmentFilter(tags=tuple(tags)), limit=MAX_EVALUATED_SEGMENTS + 1
        )
        if len(active) > MAX_EVALUATED_SEGMENTS:
            # Answering for the newest 500 alone would say "not a member" of the others.
            limit = MAX_EVALUATED_SEGMENTS
            if tags:
                error = UserError(
                    ("tags",),
                    "TOO_MANY",
                    f"more than {limit} active {mode.value} segments carry these tags; ask "
                    f"about at most {limit} at once (by fewer tags, or by id with membership)",
                )
            else:  # no tags were asked for: the error is about no argument
                error = UserError(
                    (),
                    "TOO_MANY",
                    f"more than {limit} active {mode.value} segments exist, and every one is "
                    f"evaluated when no tags are given; ask about at most {limit} at once (by "
                    f"tags, or by id with membership), or archive or delete segments until "
                    f"at most {limit} are active",
                )
            raise InputRefused([error])
        return active

    # -- one subscriber -----------------------------------------------------------------------

    async def evaluate(
        self,
        mode: Mode,
        context: EvaluationContext,
        targets: list[Segment],
        *,
        explain: bool = False,
        question: Hashable | None = None,
    ) -> list[SegmentOutcome]:
        """Each target's result for one subscriber: one provider call per provider in all.
        ``question``: what was asked (:func:`segments_question`...), whose keys the next
        request asking it reads early (:meth:`prefetch`)."""
        prepared = await self.prepare_saved(mode, targets)
        if prepared.keys:
            self.prepared_sets.last_keys[mode] = prepared.keys
        if question is not None:
            self.prepared_sets.question_keys.put((mode, question), prepared.keys)
        values = await self._values_for([context], prepared.keys)
        results = self._evaluate_one(prepared, context, values.get(context, {}), explain)
        return list(map(SegmentOutcome, targets, results))

    def prefetch(
        self,
        mode: Mode,
        context: EvaluationContext,
        *,
        questions: Sequence[Hashable] = (),
        keys: frozenset[str] = frozenset(),
        complete: bool = False,
    ) -> None:
        """Start reading ``context``'s values before the request's fields ask for them (the
        request's snapshot still being read), in one round: ``keys``, and for each of the
        ``questions`` about its segments (which the question does not know yet), the keys it
        read the last time it was asked (:attr:`PreparedSets.question_keys`), or else the
        keys the last such question in ``mode`` read (:attr:`PreparedSets.last_keys`).
        :meth:`evaluate` and the fields that read values then find them read or under way,
        and read only what they need beyond them. Values are read after the request began,
        so they are as fresh as the fields' own reads would be.

        ``complete``: the request reads nothing but ``keys`` and the questions' keys. When
        every question's keys are known too, exactly those keys are read; otherwise, as a
        field's read does, every key read with them (their read groups), so that a field
        asking for a sibling finds it read. Reading the siblings for nothing cost a
        ``subscriber { segments }`` over four billing keys a tenth of its throughput (the
        provider derives, and the batcher carries, the twenty-one keys of the group)."""
        exact = complete
        for question in questions:
            known = self.prepared_sets.question_keys.get((mode, question))
            if known is None:
                exact = False
                known = self.prepared_sets.last_keys.get(mode)
            if known:
                keys = keys | known if keys else known
        if keys and isinstance(self.values, RequestValueSource):
            self.values.prefetch(context, keys, widen=not exact)

    def _evaluate_one(
        self,
        prepared: SegmentSet,
        context: EvaluationContext,
        values: Mapping[str, Any],
        explain: bool,
    ) -> list[EvaluationResult]:
        """The result of each of ``prepared``'s targets, in their order."""
        plain = unwrapped(values)
        if not explain and not prepared.references:  # the usual question: each on its own
            return results_of(prepared.compiled_targets, values, plain, context.subscriber_id)
        wanted = set(prepared.targets)
        truths: dict[str, Truth] = {}
        results: dict[str, EvaluationResult] = {}
        for segment_id in prepared.order:
            compiled = prepared.compiled[segment_id]
            result = compiled.evaluate(
                values,
                subscriber_id=context.subscriber_id,
                segment_results=truths,
                explain=explain and segment_id in wanted,
                plain=plain,
            )
            truths[segment_id] = result.truth
            results[segment_id] = result
        return [results[segment_id] for segment_id in prepared.targets]

    async def preview(
        self,
        mode: Mode,
        root: Group,
        contexts: Sequence[EvaluationContext],
        *,
        explain: bool = True,
    ) -> list[tuple[EvaluationContext, EvaluationResult]]:
        """Evaluate an unsaved (already validated) tree for a few subscribers."""
        if len(contexts) > MAX_PREVIEW_SUBSCRIBERS:
            raise InputRefused(
                [
                    UserError(
                        ("subscriberIds",),
                        "TOO_MANY",
                        f"preview at most {MAX_PREVIEW_SUBSCRIBERS} subscribers at once",
                    )
                ]
            )
        prepared = await self.prepare(mode, {DRAFT_ID: self.compile_draft(root)}, [DRAFT_ID])
        values = await self._values_for(list(contexts), prepared.keys)
        return [
            (ctx, self._evaluate_one(prepared, ctx, values.get(ctx, {}), explain)[0])
            for ctx in contexts
        ]

    async def _values_for(
        self, contexts: list[EvaluationContext], keys: frozenset[str]
    ) -> Mapping[EvaluationContext, Mapping[str, Any]]:
        if not keys:
            return {}
        return await self.values.resolve(contexts, keys)

    # -- many subscribers ---------------------------------------------------------------------

    async def _pages(self, after: str | None = None) -> AsyncIterator[list[str]]:
        """Pages of ``PAGE_SIZE`` subscriber ids from the directory, in its stable order (read
        ``DIRECTORY_FIRST_PAGE`` ids first, then twice as many a time up to
        ``DIRECTORY_MAX_PAGE``)."""
        source = self.values
        size = DIRECTORY_FIRST_PAGE
        while True:
            ids = list(await source.subscriber_ids(after, size))
            for page in chunks(ids, PAGE_SIZE):
                yield list(page)
            if len(ids) < size:
                return
            after = ids[-1]
            size = min(2 * size, DIRECTORY_MAX_PAGE)

    def _walk(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold one of the process's walk slots for a walk over the whole directory, as
        this request's client's."""
        if self.walk_slots is None:
            return contextlib.nullcontext()
        return self.walk_slots.hold(self.walk_owner)

    async def _valued_pages(
        self, keys: frozenset[str], after: str | None = None
    ) -> AsyncGenerator[tuple[list[EvaluationContext], Mapping[EvaluationContext, Any]], None]:
        """The directory's pages in order, each with its values of ``keys``. The values of
        the next ``WALK_AHEAD`` pages are being read while the caller works on one, so the
        database answers them while this process derives and evaluates. Use it in
        ``contextlib.aclosing``: a caller that stops early cancels the reads under way."""
        ahead: deque[tuple[list[EvaluationContext], asyncio.Future[Any]]] = deque()
        try:
            async for ids in self._pages(after=after):
                contexts = [EvaluationContext(i) for i in ids]
                ahead.append((contexts, asyncio.ensure_future(self._values_for(contexts, keys))))
                if len(ahead) > WALK_AHEAD:
                    contexts, read = ahead.popleft()
                    yield contexts, await read
            while ahead:
                contexts, read = ahead.popleft()
                yield contexts, await read
        finally:
            for _, read in ahead:
                read.cancel()
                read.add_done_callback(retrieve_outcome)

    async def members(
        self, mode: Mode, segment: Segment, *, first: int, after: str | None
    ) -> MemberPage:
        """Members in ascending subscriber id order, ``first`` at a time after the cursor (the
        ``end_cursor`` of the previous page: it names the segment and the last id).

        The pages and counts a request asks for together (a page of segments, each with its
        ``members`` and ``memberCount``) are made together: each segment that is pushed down
        by its query, the others in one walk over the directory (:meth:`_walk_together`),
        where each page and each group of counts was a walk of its own. A page is answered as
        soon as the walk has found it, while the walk goes on for the counts. A refused
        ``first`` or cursor fails this page alone, before it is asked."""
        check_first(first, MAX_MEMBERS_PAGE)
        try:
            last = None if after is None else decode_member_cursor(after, segment.id)
        except BadCursor as bad:
            raise InputRefused([UserError(("after",), "INVALID_CURSOR", str(bad))]) from None
        future = self._walks_asked.ask(mode, _PageAsked(segment, first, last))
        return cast(MemberPage, await self.counts_under_way.wait(future))

    async def count(self, mode: Mode, segment: Segment) -> MemberTotals:
        """How many members (and UNKNOWN subscribers) over the whole directory; asked again
        in the same request (``memberCount`` and ``members { totalCount }``), counted once.

        The counts a request asks for together (a page of segments, each with its
        ``memberCount``) share one walk over the directory: its pages are read once, with
        every key those segments need, and each subscriber is evaluated against all of them.
        A page of a hundred segments walked the directory a hundred times, one at a time
        (``SEGGRAPH_BULK_CONCURRENCY``). And a count of a segment version that another
        request is making already (two people opening the same list) waits for that one."""
        key = (mode, segment.id, segment.version)
        under_way = self.counts_under_way
        found = under_way.joinable(self._counts.get(key))
        if found is None:  # not asked yet, or given up (this request stopped waiting for it)
            # A segment that references others is shared once its references are read
            # (``_count_together``): its version does not change when one of them is edited,
            # and a count begun before the edit must not answer a request made after it.
            shared = None if self.compile(segment).segment_refs else self._shared_key(key)
            found = under_way.joinable(under_way.shared.get(shared)) if shared is not None else None
            if found is None:
                found = self._walks_asked.ask(mode, segment)
                if shared is not None:
                    self.counts_under_way.share(shared, found)
            self._counts[key] = found
        return cast(MemberTotals, await self.counts_under_way.wait(found))

    def _shared_key(self, key: Hashable) -> Hashable:
        return (key, self.catalogue().version, self.options)

    async def _walk_together(
        self, mode: Mode, asked: Sequence[Asked[WalkAsked, WalkAnswer]]
    ) -> None:
        """The counts and pages of members asked together: each pushed down when its
        segment's providers can translate it, the rest made in one walk over the directory
        (:meth:`_walk_directory`)."""
        counts = [(item, future) for item, future in asked if isinstance(item, Segment)]
        pages = [(item, future) for item, future in asked if isinstance(item, _PageAsked)]
        walks = await self._counts_to_walk(mode, counts) if counts else []
        paged = await self._push_down_each(
            mode, [(page.segment, page, future) for page, future in pages], _PageAsked.pushed
        )
        if not walks and not paged:
            return
        totals = await self._walk_directory(
            [prepared for _, prepared in walks], [_OpenPage(*one) for one in paged]
        )
        for (group, _), counted in zip(walks, totals, strict=True):
            for segment, future, _ in group:
                future.set_result(counted[segment.id])

    async def _counts_to_walk(
        self, mode: Mode, asked: Sequence[tuple[Segment, asyncio.Future[WalkAnswer]]]
    ) -> list[tuple[list[_Walked], SegmentSet]]:
        """The counts that must walk, in groups each evaluated as one prepared set: each
        segment pushed down when its provider can translate it, and one that references
        others and is being counted by another request already left to follow that count."""
        walked: list[_Walked] = await self._push_down_each(
            mode, [(segment, segment, future) for segment, future in asked], _pushed_totals
        )
        walks: list[tuple[list[_Walked], SegmentSet]] = []
        for group in _walk_groups(walked):
            segment, future, prepared = group[0]
            if prepared.references:
                # A segment that references others, alone in its group, prepared with them as
                # they are now: shared by the compiled versions of everything it reads (an
                # edit of any gives another key).
                shared = (mode, segment.id, segment.version, frozenset(prepared.compiled.values()))
                under_way = self.counts_under_way.joinable(self.counts_under_way.shared.get(shared))
                if under_way is not None:
                    self._following.add(future)
                    self.counts_under_way.follow(future, under_way)
                    under_way.add_done_callback(functools.partial(_pass_on, to=future))
                    continue
                self.counts_under_way.share(shared, future)
            elif len(group) > 1:
                prepared = await self.prepare_saved(mode, [s for s, _, _ in group])
            walks.append((group, prepared))
        return walks

    async def _push_down_each(
        self,
        mode: Mode,
        asked: Sequence[tuple[Segment, _Question, asyncio.Future[_Answer]]],
        pushed: Callable[[_Question, list[str]], _Answer],
    ) -> list[tuple[_Question, asyncio.Future[_Answer], SegmentSet]]:
        """Each question's segment prepared and, when it is pushed down, the question answered
        from its members (``pushed``); a question whose segment fails gets the error. The
        others are left to walk, each with its segment's prepared set."""

        async def one(segment: Segment) -> tuple[SegmentSet, list[str] | None]:
            prepared = await self.prepare_saved(mode, [segment])
            return prepared, await self._pushed_down(prepared, segment)

        outcomes = await asyncio.gather(
            *(one(segment) for segment, _, _ in asked), return_exceptions=True
        )
        walked: list[tuple[_Question, asyncio.Future[_Answer], SegmentSet]] = []
        for (_, question, future), outcome in zip(asked, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                fail(future, outcome)
            elif outcome[1] is None:
                walked.append((question, future, outcome[0]))
            else:
                future.set_result(pushed(question, outcome[1]))
        return walked

    async def _walk_directory(
        self, counted: Sequence[SegmentSet], pages: Sequence[_OpenPage]
    ) -> list[dict[str, MemberTotals]]:
        """One walk over the directory, holding one walk slot, for the counts of each of
        ``counted``'s targets (members and UNKNOWN subscribers) and for ``pages``: each page of
        the directory read once with every key any of them needs, each set evaluated on its
        own, each subscriber evaluated for each page still open whose cursor it is past.

        A page is answered as soon as it has found one member more than it holds (more
        follow), the others when the directory ends. The walk starts at the earliest cursor
        among the pages (the start when one has none, or when there are counts) and stops
        once every page is answered, unless there are counts. Each page is what a walk of its
        own from its cursor finds: the directory lists ids in ascending order, strictly after
        the one it is given."""
        members = [dict.fromkeys(p.targets, 0) for p in counted]
        unknown = [dict.fromkeys(p.targets, 0) for p in counted]
        keys = frozenset().union(
            *(p.keys for p in counted), *(page.prepared.keys for page in pages)
        )
        lasts = [page.asked.last for page in pages]
        start = None
        if not counted and None not in lasts:
            start = min(last for last in lasts if last is not None)
        open_pages = list(pages)
        async with self._walk(), contextlib.aclosing(self._valued_pages(keys, start)) as walked:
            async for contexts, values in walked:
                for ctx in contexts:
                    row = unwrapped(values.get(ctx, {}))
                    for one, its_members, its_unknown in zip(
                        counted, members, unknown, strict=True
                    ):
                        truths = _truths(one, ctx, row)
                        for segment_id in one.targets:
                            truth = truths[segment_id]
                            if truth is Truth.TRUE:
                                its_members[segment_id] += 1
                            elif truth is Truth.UNKNOWN:
                                its_unknown[segment_id] += 1
                    if not open_pages:
                        continue
                    answered = False
                    for page in open_pages:
                        if page.takes(ctx, row):
                            answered |= page.add(ctx.subscriber_id)
                    if answered:
                        open_pages = [page for page in open_pages if not page.future.done()]
                        if not open_pages and not counted:
                            return []
        for page in open_pages:
            page.answer(more=False)
        return [
            {
                segment_id: MemberTotals(m[segment_id], u[segment_id], Strategy.EVALUATED)
                for segment_id in one.targets
            }
            for one, m, u in zip(counted, members, unknown, strict=True)
        ]

    async def _pushed_down(self, prepared: SegmentSet, segment: Segment) -> list[str] | None:
        """The members (sorted ids) from database queries, or None when that is not exact.

        Every condition must be translated by its provider into a complete filter (one
        ``distinct`` query per condition, at most); the sets are then combined by the tree's
        logic. Subscribers in no condition's set have every condition FALSE (their values are
        missing), so the push-down is only used when such a subscriber is not a member.
        ``IN_SEGMENT`` and ``PERCENTAGE`` conditions are evaluated, not pushed down. The
        answer is kept to the ids the directory lists (its ``directory_filter``), as a walk's
        is; without that filter nothing is pushed down.
        """
        if not self.pushdown or len(prepared.compiled) != 1:
            return None
        compiled = prepared.compiled[segment.id]
        conditions = iter_conditions(segment.conditions)
        if not conditions or any(c.property in _PSEUDO_PROPERTIES for c in conditions):
            return None
        if compiled.evaluate_truth({}, "") is not Truth.FALSE:
            return None
        filters = [self.values.condition_filter(c) for c in conditions]
        if any(f is None or not f.complete for f in filters):
            return None
        directory = self.values.directory_filter()
        if directory is None or not directory.complete:
            return None
        sets: dict[tuple[str, str, str], set[str]] = {}
        by_condition: list[set[str]] = []
        for f in filters:
            assert f is not None
            key = (f.collection, f.id_field, repr(sorted(f.filter.items())))
            if key not in sets:
                try:
                    found = await self.segments.database.db[f.collection].distinct(
                        f.id_field, dict(f.filter)
                    )
                except OperationFailure as refused:  # a translation the database refuses
                    log.warning(
                        "a condition's translation for %s was refused by the database (%s); "
                        "the members are evaluated instead",
                        f.collection,
                        refused,
                    )
                    return None
                sets[key] = {str(i) for i in found}
            by_condition.append(sets[key])
        universe: set[str] = set().union(*by_condition)
        members = _select(segment.conditions, iter(by_condition), universe)
        return sorted(await self._listed(directory, members))

    async def _listed(self, directory: SubscriberFilter, ids: set[str]) -> set[str]:
        """Those of ``ids`` the directory lists: by ``$in`` in chunks when they are few,
        else by reading the directory's ids once (fewer round trips than many chunks)."""
        if not ids:
            return set()
        db = self.segments.database.db
        if len(ids) > DIRECTORY_CHECK_IN_LIMIT:
            return await selected_ids(db, directory) & ids
        field = directory.id_field
        listed: set[str] = set()
        for chunk in chunks(sorted(ids), DIRECTORY_CHECK_CHUNK):
            query = all_of(directory.filter, {field: {"$in": list(chunk)}})
            listed.update(str(i) for i in await db[directory.collection].distinct(field, query))
        return listed

    async def edit_impact(
        self, mode: Mode, segment: Segment, new_root: Group, sample: int = 10
    ) -> EditImpact:
        """Who would leave and who would join if ``segment`` had ``new_root``."""
        current = await self.prepare_saved(mode, [segment])
        proposed = await self.prepare(
            mode, {segment.id: self.compile_draft(new_root, segment.id)}, [segment.id]
        )
        impact = EditImpact(evaluated=0)
        keys = current.keys | proposed.keys
        async with self._walk(), contextlib.aclosing(self._valued_pages(keys)) as pages:
            async for contexts, values in pages:
                for ctx in contexts:
                    row = values.get(ctx, {})
                    before = _truth(current, segment.id, ctx, row)
                    after = _truth(proposed, segment.id, ctx, row)
                    impact.evaluated += 1
                    if Truth.UNKNOWN in (before, after):
                        impact.unknown_count += 1
                    elif before is Truth.TRUE and after is not Truth.TRUE:
                        impact.leaving_count += 1
                        if len(impact.leaving) < sample:
                            impact.leaving.append(ctx.subscriber_id)
                    elif after is Truth.TRUE and before is not Truth.TRUE:
                        impact.joining_count += 1
                        if len(impact.joining) < sample:
                            impact.joining.append(ctx.subscriber_id)
        return impact


_PSEUDO_PROPERTIES = frozenset({SEGMENT_PROPERTY, BUCKET_PROPERTY})


def _select(node: Node, sets: Iterator[set[str]], universe: set[str]) -> set[str]:
    """The subscribers of ``universe`` for whom ``node`` is TRUE, given each condition's set
    (consumed in tree order)."""
    if isinstance(node, Condition):
        return next(sets)
    parts = [_select(child, sets, universe) for child in node.children]
    if node.combinator is Combinator.ALL:
        return set.intersection(*parts) if parts else set(universe)
    union: set[str] = set().union(*parts)
    return union if node.combinator is Combinator.ANY else universe - union


#: What :meth:`EvaluationService._push_down_each` answers (a count, a page of members), and
#: what it answers it with.
_Question = TypeVar("_Question")
_Answer = TypeVar("_Answer")

#: A count to walk: the segment, its future and its own prepared set.
_Walked = tuple[Segment, asyncio.Future["WalkAnswer"], SegmentSet]


def _pushed_totals(_: Segment, members: list[str]) -> MemberTotals:
    """A count from the segment's pushed-down members."""
    return MemberTotals(len(members), 0, Strategy.PUSHED_DOWN)


class _PageAsked(NamedTuple):
    """A page of members asked: the segment, how many, and after which subscriber id (the
    cursor's; ``None`` from the start)."""

    segment: Segment
    first: int
    last: str | None

    def page(self, ids: list[str], more: bool, strategy: Strategy, unknown: int = 0) -> MemberPage:
        end = ids[-1] if ids else self.last  # an empty page ends where it began
        cursor = None if end is None else encode_member_cursor(self.segment.id, end)
        return MemberPage(ids, cursor, more, strategy, unknown)

    def pushed(self, members: list[str]) -> MemberPage:
        """The page from the segment's pushed-down members (sorted ids)."""
        ids = [i for i in members if self.last is None or i > self.last]
        return self.page(ids[: self.first], len(ids) > self.first, Strategy.PUSHED_DOWN)


#: What a walk over the directory is asked: a segment's count, or a page of its members.
WalkAsked = Segment | _PageAsked
#: What it answers: a count, or a page of members.
WalkAnswer = MemberTotals | MemberPage


@dataclass(eq=False)
class _OpenPage:
    """A page of members a walk is making: what was asked, its future, its segment's own
    prepared set (read as it is now, with whatever it references) and the members found."""

    asked: _PageAsked
    future: asyncio.Future[WalkAnswer]
    prepared: SegmentSet
    found: list[str] = field(default_factory=list)
    #: UNKNOWN subscribers up to the last member found (in the page's range), and since it
    #: (in the range only if no member follows before the directory ends).
    unknown: int = 0
    unknown_since: int = 0

    def takes(self, ctx: EvaluationContext, row: Mapping[str, Any]) -> bool:
        """Whether the subscriber is past the page's cursor and a member (an UNKNOWN one past
        the cursor is counted)."""
        last = self.asked.last
        if last is not None and ctx.subscriber_id <= last:
            return False
        truth = _truth(self.prepared, self.asked.segment.id, ctx, row)
        if truth is Truth.UNKNOWN:
            self.unknown_since += 1
        return truth is Truth.TRUE

    def add(self, member: str) -> bool:
        """A member found: on the page while it has room, else the page is answered (more
        follow). Whether it was."""
        if len(self.found) < self.asked.first:
            self.found.append(member)
            self.unknown += self.unknown_since
            self.unknown_since = 0
            return False
        self.answer(more=True)
        return True

    def answer(self, *, more: bool) -> None:
        if not self.future.done():
            # With more members, the page ends at its last member: the UNKNOWN subscribers
            # after it are the next page's.
            unknown = self.unknown if more else self.unknown + self.unknown_since
            self.future.set_result(self.asked.page(self.found, more, Strategy.EVALUATED, unknown))


def _walk_groups(walked: Sequence[_Walked]) -> list[list[_Walked]]:
    """The counts of one walk, in groups each evaluated as one prepared set. A set holds one
    version of each segment id, and resolves a reference to a segment among its targets to
    that target: so a segment that references others is a group of its own (its own set,
    with its references read as they are now), and two versions of one segment are in
    different groups."""
    plain: list[list[_Walked]] = []
    referencing: list[list[_Walked]] = []
    for item in walked:
        if item[2].references:
            referencing.append([item])
            continue
        group = next((g for g in plain if all(s.id != item[0].id for s, _, _ in g)), None)
        if group is None:
            plain.append([item])
        else:
            group.append(item)
    return plain + referencing


def _pass_on(done: asyncio.Future[WalkAnswer], *, to: asyncio.Future[WalkAnswer]) -> None:
    """What ``done`` ended with, given to ``to`` (a count that waited for another)."""
    if to.done():
        return
    if done.cancelled():
        to.cancel()
    elif (error := done.exception()) is not None:
        fail(to, error)
    else:
        to.set_result(done.result())


def _truth(
    prepared: SegmentSet, segment_id: str, ctx: EvaluationContext, row: Mapping[str, Any]
) -> Truth:
    """One segment's truth for one subscriber, evaluating what it references first."""
    return _truths(prepared, ctx, row)[segment_id]


def _truths(
    prepared: SegmentSet, ctx: EvaluationContext, row: Mapping[str, Any]
) -> dict[str, Truth]:
    """Every segment of ``prepared``'s truth for one subscriber, in reference order."""
    truths: dict[str, Truth] = {}
    for sid in prepared.order:
        truths[sid] = prepared.compiled[sid].evaluate_truth(row, ctx.subscriber_id, truths)
    return truths
