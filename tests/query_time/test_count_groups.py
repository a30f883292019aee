"""Counts asked together share one walk, and a segment that references another still counts
against the referenced segment as it is now: not an older version of it counted in the same
walk, and not a count another request began before the referenced segment was edited.

The service runs here over an in-memory segment store and directory (no database): what is
tested is how ``EvaluationService.count`` groups and shares counts, which needs the timing of
the walks under control."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from seggraph.catalogue import Catalogue
from seggraph.domain.context import EvaluationContext
from seggraph.domain.segments import Mode, Segment
from seggraph.evaluation import EvaluationOptions, SegmentCompiler
from seggraph.services.counts import CountsUnderWay
from seggraph.services.evaluation import EvaluationService, MemberTotals
from seggraph.services.walk_slots import FairSlots
from seggraph.textform.parser import parse

SUBSCRIBERS = [f"sub_{i:03d}" for i in range(1, 101)]


def segment(segment_id: str, text: str, version: int) -> Segment:
    now = datetime.now(UTC)
    return Segment(
        id=segment_id,
        mode=Mode.TEST,
        name=segment_id,
        description="",
        tags=(),
        conditions=parse(text),
        version=version,
        archived=False,
        created_at=now,
        created_by="test",
        updated_at=now,
        updated_by="test",
    )


#: ``x`` at two versions (10% of subscribers, then 90%), and ``y``, which references it.
X1 = segment("x", "subscriber.bucket PERCENTAGE 10", 1)
X2 = segment("x", "subscriber.bucket PERCENTAGE 90", 2)
Y = segment("y", 'IN SEGMENT "x"', 1)


class Store:
    """The current versions, by id."""

    def __init__(self) -> None:
        self.current = {"x": X2, "y": Y}

    async def get_many(self, mode: Mode, ids: Sequence[str]) -> list[Segment]:
        return [self.current[i] for i in ids if i in self.current]


class Segments:
    def __init__(self, store: Store) -> None:
        self.store = store


class Directory:
    """No provider values (the segments read none); ``gate`` holds every walk's first page
    until it is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.walks = 0
        self.stopped = 0
        """Walks cancelled while held at the gate."""

    async def resolve(
        self, contexts: Sequence[EvaluationContext], keys: Any
    ) -> dict[EvaluationContext, dict[str, Any]]:
        return {}

    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        if after is None:
            self.walks += 1
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.stopped += 1
                raise
        return [i for i in SUBSCRIBERS if after is None or i > after][:limit]

    def condition_filter(self, condition: Any) -> None:
        return None

    def directory_filter(self) -> None:
        return None


OPTIONS = EvaluationOptions(timezone=ZoneInfo("UTC"), currency="USD")
CATALOGUE = Catalogue()
#: Shared by every request, as the process's compiler is.
COMPILER = SegmentCompiler()


def service(
    store: Store,
    directory: Directory,
    under_way: CountsUnderWay[MemberTotals] | None = None,
    walk_slots: FairSlots | None = None,
) -> EvaluationService:
    """One request's service; ``under_way`` is the process's counts under way and
    ``walk_slots`` its walk slots."""
    return EvaluationService(
        Segments(store),  # type: ignore[arg-type]
        directory,  # type: ignore[arg-type]
        lambda: CATALOGUE,
        OPTIONS,
        COMPILER,
        counts_under_way=under_way,
        walk_slots=walk_slots,
    )


async def counts_alone(*segments: Segment) -> list[int]:
    return [(await service(Store(), Directory()).count(Mode.TEST, s)).members for s in segments]


@pytest.mark.parametrize(
    "together",
    [[X1, Y], [Y, X1], [X1, X2, Y], [X2, X1, Y]],
    ids=lambda together: "+".join(f"{s.id}v{s.version}" for s in together),
)
def test_a_segment_counted_with_an_older_version_of_one_it_references_uses_the_current(
    together: list[Segment],
) -> None:
    async def run() -> tuple[list[int], list[int], int]:
        directory = Directory()
        asking = service(Store(), directory)
        totals: list[MemberTotals] = await asyncio.gather(
            *(asking.count(Mode.TEST, s) for s in together)
        )
        return [t.members for t in totals], await counts_alone(*together), directory.walks

    together_counts, alone, walks = asyncio.run(run())
    assert together_counts == alone
    assert sorted(set(alone)) == [12, 93]  # x v1 has 12 members; x v2, and so y, 93
    assert walks == 1  # still one walk for all of them


def test_a_count_begun_before_a_referenced_segment_changed_does_not_answer_after_it() -> None:
    """Requests asking at once share a count, ``y`` too once its reference is read; a request
    made after ``x`` was edited waits for no count made of the older ``x``."""

    async def run() -> tuple[list[int], list[int], list[int], int]:
        store, directory = Store(), Directory()
        under_way: CountsUnderWay[MemberTotals] = CountsUnderWay()

        def ask(s: Segment) -> asyncio.Future[MemberTotals]:
            return asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, s))

        store.current["x"] = X1
        directory.gate.clear()
        before = [ask(Y), ask(Y)]
        while directory.walks == 0:  # the first count's walk has begun, and waits
            await asyncio.sleep(0)
        store.current["x"] = X2  # x edited: y's version stays 1
        after = [ask(Y), ask(Y)]
        plain = [ask(X2), ask(X2)]
        for _ in range(10):
            await asyncio.sleep(0)
        directory.gate.set()
        return (
            [(await f).members for f in before],
            [(await f).members for f in after],
            [(await f).members for f in plain],
            directory.walks,
        )

    before, after, plain, walks = asyncio.run(run())
    assert before == [12, 12]
    assert after == [93, 93]
    assert plain == [93, 93]
    # y before the edit, y after it, x v2: one walk each, for both requests that asked.
    assert walks == 3


async def _walking(directory: Directory, walks: int = 1) -> None:
    """Until ``walks`` walks have begun (and wait at the gate)."""
    while directory.walks < walks:
        await asyncio.sleep(0)


def test_a_count_nobody_waits_for_any_more_is_given_up_and_frees_its_walk_slot() -> None:
    """A client that hangs up cancels its request (seggraph.web.disconnect): the walk of a
    count only it asked for stops, and the one walk slot it held serves the next count."""

    async def run() -> tuple[int, int, int]:
        slots = FairSlots(1)
        under_way: CountsUnderWay[MemberTotals] = CountsUnderWay()
        held = Directory()
        held.gate.clear()  # the abandoned walk would wait here for ever
        gone = asyncio.ensure_future(service(Store(), held, under_way, slots).count(Mode.TEST, X2))
        await _walking(held)
        gone.cancel()
        other = service(Store(), Directory(), under_way, slots).count(Mode.TEST, X1)
        totals = await asyncio.wait_for(other, timeout=5)
        return totals.members, held.stopped, len(under_way.shared)

    members, stopped, under_way = asyncio.run(run())
    assert members == 12  # the next count ran, in the slot the first had held
    assert stopped == 1
    assert under_way == 0


def test_a_shared_count_goes_on_while_another_request_waits_for_it() -> None:
    async def run() -> tuple[int, int, int]:
        store, directory = Store(), Directory()
        under_way: CountsUnderWay[MemberTotals] = CountsUnderWay()
        directory.gate.clear()
        gone = asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, X2))
        staying = asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, X2))
        await _walking(directory)
        gone.cancel()
        for _ in range(10):
            await asyncio.sleep(0)
        directory.gate.set()
        return (await staying).members, directory.walks, directory.stopped

    assert asyncio.run(run()) == (93, 1, 0)


def test_a_count_another_follows_is_given_up_only_when_both_requests_have_gone() -> None:
    """``y`` references ``x``: a second request's ``y`` follows the first's count under way
    rather than walking again. The first leaving does not stop the walk the second waits
    for; both leaving does."""

    async def run(second_stays: bool) -> tuple[int | None, int, int]:
        store, directory = Store(), Directory()
        under_way: CountsUnderWay[MemberTotals] = CountsUnderWay()
        directory.gate.clear()
        first = asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, Y))
        await _walking(directory)
        second = asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, Y))
        for _ in range(10):  # the second's count is queued, finds the first's, follows it
            await asyncio.sleep(0)
        first.cancel()
        if not second_stays:
            second.cancel()
        for _ in range(10):
            await asyncio.sleep(0)
        directory.gate.set()
        answer = (await second).members if second_stays else None
        return answer, directory.walks, directory.stopped

    assert asyncio.run(run(second_stays=True)) == (93, 1, 0)
    assert asyncio.run(run(second_stays=False)) == (None, 1, 1)


def test_a_count_given_up_by_a_cancelled_field_is_counted_again_when_asked_again() -> None:
    """A field's wait cancelled (its sibling failed on a non-null field) gave the count up,
    and the same request asking again later got the cancelled count: a CancelledError that
    ended the whole request in a 500."""

    async def run() -> tuple[int, int, int]:
        directory = Directory()
        directory.gate.clear()
        asking = service(Store(), directory)
        field = asyncio.ensure_future(asking.count(Mode.TEST, X2))
        await _walking(directory)
        field.cancel()  # the executor cancels the sibling field
        for _ in range(10):
            await asyncio.sleep(0)
        directory.gate.set()
        again = await asyncio.wait_for(asking.count(Mode.TEST, X2), timeout=5)
        return again.members, directory.walks, directory.stopped

    assert asyncio.run(run()) == (93, 2, 1)


def test_a_request_asking_while_a_count_is_given_up_counts_afresh() -> None:
    """Between giving a count up and its task ending (a turn or more of the event loop), a
    request asking for the same count joined it and got its cancellation."""

    async def run() -> tuple[int, int]:
        store, directory = Store(), Directory()
        under_way: CountsUnderWay[MemberTotals] = CountsUnderWay()
        directory.gate.clear()
        gone = asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, X2))
        await _walking(directory)
        gone.cancel()
        await asyncio.sleep(0)  # its wait ends: the count is given up, its task not yet ended
        [dying] = under_way.shared.values()
        assert not dying.done() and under_way.joinable(dying) is None
        staying = asyncio.ensure_future(service(store, directory, under_way).count(Mode.TEST, X2))
        for _ in range(10):
            await asyncio.sleep(0)
        directory.gate.set()
        return (await asyncio.wait_for(staying, timeout=5)).members, directory.walks

    assert asyncio.run(run()) == (93, 2)


def test_a_request_that_asks_no_count_or_page_frees_its_service_without_the_collector() -> None:
    """A request's evaluation service (one per request) is in no reference cycle until it
    asks for a count or a page of members, whose queues hold its bound methods: a
    ``subscriber { segments }`` request's objects go when it ends, not at the cyclic
    collector's next pass."""
    gc.disable()
    try:
        one = service(Store(), Directory())
        gone = weakref.ref(one)
        del one
        assert gone() is None
    finally:
        gc.enable()
