"""Compiling: refusals, lenient value forms, the clock, batches and the compile cache; and the
small helpers (semver, calendar arithmetic) on their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    Combinator,
    Condition,
    DateUnit,
    Group,
    Money,
    Operator,
    RelativeDate,
)
from seggraph.evaluation import (
    CompileError,
    EvaluationOptions,
    SegmentCompiler,
    Truth,
    compile_segment,
)
from seggraph.evaluation.dates import add_months, shift
from seggraph.evaluation.semver import SemverError, parse_semver
from tests.evaluation.helpers import CATALOGUE, compile_one

O = Operator  # noqa: E741
TR, FA, UN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN


@pytest.mark.parametrize(
    ("condition", "path_end"),
    [
        (Condition("nope", O.EQ, 1), "property"),
        (Condition("n", O.CONTAINS, "x"), "operator"),  # not a NUMBER operator
        (Condition("n", O.EQ, "abc"), "value"),
        (Condition("n", O.BETWEEN, (1,)), "value"),
        (Condition("s", O.MATCHES, "(unclosed"), "value"),
        (Condition("e", O.EQ, "UNDECLARED"), "value"),
        (Condition("d", O.ON, "2024-02-30"), "value"),
        (Condition("d", O.ON, "2024-03-31T10:00:00"), "value"),  # a DATE takes a date
        (Condition("d", O.IN_LAST, RelativeDate(0, DateUnit.DAY)), "value"),
        (Condition("v", O.EQ, "v1.0.0"), "value"),
        (Condition("n", O.PERCENTAGE, Decimal(5)), "property"),
        (Condition(BUCKET_PROPERTY, O.PERCENTAGE, "ten"), "value"),
        (Condition("segment", O.IN_SEGMENT, None), "value"),
    ],
)
def test_compile_refuses_what_validation_would_have(condition: Condition, path_end: str) -> None:
    root = Group(Combinator.ALL, (Condition("n", O.IS_SET), Group(Combinator.ANY, (condition,))))
    with pytest.raises(CompileError) as raised:
        compile_segment(root, CATALOGUE, segment_id="s")
    assert raised.value.path == ("conditions", "children", 1, "children", 0, path_end)


def test_lenient_value_forms() -> None:
    """ints and floats for numbers, lists for tuples, bare numbers for money, a dict for a
    relative date, date objects for dates."""
    cases: list[tuple[Condition, Any, Truth]] = [
        (Condition("n", O.EQ, 100), Decimal("100.0"), TR),
        (Condition("n", O.EQ, 99.95), Decimal("99.95"), TR),
        (Condition("n", O.IN, [1, 2]), 2, TR),
        (Condition("n", O.BETWEEN, [1, 2.5]), Decimal("2.5"), TR),
        (Condition("m", O.EQ, 100), Money(Decimal(100), "USD"), TR),
        (Condition("e", O.EQ, "active"), "ACTIVE", TR),
        (Condition("d", O.IN_LAST, {"amount": 1, "unit": "week"}), date(2024, 3, 24), TR),
        (Condition("dt", O.ON, datetime(2024, 3, 31, 23, 30, tzinfo=UTC)), "2024-03-31", TR),
    ]
    for condition, value, expected in cases:
        assert compile_one(condition).evaluate_truth({condition.property: value}, "s") is expected


def test_relative_windows_follow_the_clock_and_are_computed_once_per_day() -> None:
    now = [datetime(2024, 3, 31, 12, tzinfo=UTC)]
    calls = [0]

    def clock() -> datetime:
        calls[0] += 1
        return now[0]

    condition = Condition("d", O.IN_LAST, RelativeDate(1, DateUnit.DAY))
    compiled = compile_segment(
        Group(Combinator.ALL, (condition,)),
        CATALOGUE,
        segment_id="s",
        options=EvaluationOptions(clock=clock),
    )
    assert compiled.uses_clock
    assert compiled.evaluate_truth({"d": "2024-03-30"}, "s") is TR
    now[0] = datetime(2024, 4, 2, 0, 1, tzinfo=UTC)
    assert compiled.evaluate_truth({"d": "2024-03-30"}, "s") is FA
    assert compiled.evaluate_truth({"d": "2024-04-01"}, "s") is TR
    calls[0] = 0
    rows = [(f"s{i}", {"d": "2024-04-01"}) for i in range(100)]
    assert compiled.evaluate_many(rows) == [TR] * 100
    assert calls[0] == 1  # one clock read for the whole batch


def test_a_segment_without_relative_dates_never_reads_the_clock() -> None:
    def clock() -> datetime:
        raise AssertionError("the clock was read")

    compiled = compile_segment(
        Group(Combinator.ALL, (Condition("d", O.ON, "2024-03-31"),)),
        CATALOGUE,
        segment_id="s",
        options=EvaluationOptions(clock=clock),
    )
    assert not compiled.uses_clock
    assert compiled.evaluate_truth({"d": "2024-03-31"}, "s") is TR
    assert compiled.evaluate({"d": "2024-03-31"}, subscriber_id="s", explain=True).truth is TR
    assert compiled.evaluate_many([("s", {"d": "2024-03-31"})]) == [TR]


def test_evaluate_many_with_per_subscriber_segment_results() -> None:
    tree = Group(Combinator.ALL, (Condition("segment", O.IN_SEGMENT, "vip"),))
    compiled = compile_one(tree)
    rows: list[tuple[str, dict[str, Any]]] = [("a", {}), ("b", {}), ("c", {})]
    by_subscriber = {"a": {"vip": TR}, "b": {"vip": FA}}
    assert compiled.evaluate_many(rows, segment_results=by_subscriber) == [TR, FA, UN]

    def lookup(subscriber_id: str, segment_id: str) -> Truth | None:
        return TR if subscriber_id == "c" else None

    assert compiled.evaluate_many(rows, segment_results=lookup) == [UN, UN, TR]
    assert compiled.evaluate_many(rows) == [UN, UN, UN]


def test_truth_refuses_bool() -> None:
    with pytest.raises(TypeError):
        bool(Truth.UNKNOWN)
    assert Truth.TRUE.is_member and not Truth.UNKNOWN.is_member


# --- the compile cache ---------------------------------------------------------------------------


class _Catalogue(dict[str, Any]):
    version = 7


def test_cache_compiles_each_version_once() -> None:
    cache = SegmentCompiler(maxsize=2)
    catalogue = _Catalogue(CATALOGUE)
    opts = EvaluationOptions()
    root_v1 = Group(Combinator.ALL, (Condition("n", O.GT, Decimal(1)),))
    root_v2 = Group(Combinator.ALL, (Condition("n", O.GT, Decimal(5)),))
    first = cache.get("seg", 1, root_v1, catalogue, options=opts)
    assert cache.get("seg", 1, root_v1, catalogue, options=opts) is first
    assert (cache.hits, cache.misses) == (1, 1)
    second = cache.get("seg", 2, root_v2, catalogue, options=opts)
    assert second is not first
    assert second.evaluate_truth({"n": 3}, "s") is FA
    assert first.evaluate_truth({"n": 3}, "s") is TR
    # Other options or another catalogue version: another entry.
    paris = EvaluationOptions(timezone=ZoneInfo("Europe/Paris"))
    assert cache.get("seg", 2, root_v2, catalogue, options=paris) is not second
    assert cache.get("seg", 2, root_v2, catalogue, options=opts, catalogue_version=8) is not second
    # LRU: maxsize 2, so the oldest entries were evicted.
    assert len(cache) == 2
    misses = cache.misses
    cache.get("seg", 1, root_v1, catalogue, options=opts)
    assert cache.misses == misses + 1


def test_cache_needs_a_catalogue_version() -> None:
    cache = SegmentCompiler()
    root = Group(Combinator.ALL, ())
    with pytest.raises(ValueError, match="catalogue_version"):
        cache.get("seg", 1, root, CATALOGUE, options=EvaluationOptions())
    assert cache.get("seg", 1, root, CATALOGUE, options=EvaluationOptions(), catalogue_version=1)


def test_equal_options_share_an_entry() -> None:
    clock: Callable[[], datetime] = lambda: datetime(2024, 1, 1, tzinfo=UTC)  # noqa: E731
    a = EvaluationOptions(timezone=ZoneInfo("Europe/Paris"), currency="EUR", clock=clock)
    b = EvaluationOptions(timezone=ZoneInfo("Europe/Paris"), currency="EUR", clock=clock)
    cache = SegmentCompiler()
    root = Group(Combinator.ALL, ())
    assert cache.get("s", 1, root, CATALOGUE, options=a, catalogue_version=0) is cache.get(
        "s", 1, root, CATALOGUE, options=b, catalogue_version=0
    )


# --- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2023, 3, 31), -1, date(2023, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 1, 15), -1, date(2023, 12, 15)),
        (date(2024, 5, 31), -13, date(2023, 4, 30)),
    ],
)
def test_add_months_clamps(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_shift_clamps_at_the_ends_of_the_calendar() -> None:
    today = date(2024, 3, 31)
    assert shift(today, RelativeDate(10**6, DateUnit.YEAR), -1) == date.min
    assert shift(today, RelativeDate(10**7, DateUnit.DAY), +1) == date.max
    assert shift(today, RelativeDate(2, DateUnit.WEEK), +1) == date(2024, 4, 14)


def test_semver_parser() -> None:
    version = parse_semver("1.2.3-rc.1+build.007")
    assert (version.major, version.minor, version.patch) == (1, 2, 3)
    assert version.prerelease == ("rc", 1)
    assert version.build == ("build", "007")  # leading zeros are fine in build metadata
    assert str(version) == "1.2.3-rc.1+build.007"
    for bad in [
        "v1.2.3",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-a_b",
        "",
        " 1.2.3",
        "1.2.3 ",
        "1..3",
        "-1.2.3",
    ]:
        with pytest.raises(SemverError):
            parse_semver(bad)
