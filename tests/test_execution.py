"""The plain-field executor answers exactly what graphql-core's own executor answers.

``seggraph.api.execution.PlainFieldExecutor`` reads plain attribute fields directly instead of
going through graphql-core's per-field machinery. These tests run the same documents on the
same objects through both executors, with values of every kind a field can meet (right ones,
``None`` where the type forbids it, values that do not coerce, attributes that raise or are
missing), and require the same data and the same errors; and they check that the short path is
really taken, and that field middleware still sees every field.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import weakref
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar, NewType

import pytest
import strawberry
from graphql import GraphQLError, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.utils.str_converters import to_camel_case

from seggraph.api.execution import PlainFieldExecutor, SharedView
from seggraph.api.schema import schema as seggraph_schema


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


BOOM = "<raises>"
ABSENT = "<absent>"
ITERATOR = "<iterator>"


class Source:
    """An object whose attributes are given by a dict: :data:`BOOM` raises, :data:`ABSENT` is
    missing, :data:`ITERATOR` is a fresh iterator over two strings."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        value = self._values.get(name, ABSENT)
        if value == BOOM:
            raise ValueError(f"{name} broke")
        if value == ABSENT:
            raise AttributeError(name)
        if value == ITERATOR:
            return iter(["x", "y"])
        if isinstance(value, dict) and "__child__" in value:
            return Source(value["__child__"])
        return value


Odd = NewType("Odd", int)
ODD = strawberry.scalar(
    name="Odd",
    serialize=lambda value: value if value % 2 else None,
    parse_value=int,
    description="An int that serializes to null when even (a scalar refusing a value).",
)


@strawberry.type
class Item:
    name: str
    label: str | None
    count: int
    score: float | None
    ident: strawberry.ID
    color: Color
    maybe_color: Color | None
    when: datetime | None
    payload: JSON | None
    tags: list[str]
    maybe_tags: list[str] | None
    loose: list[str | None]
    odd: Odd | None
    odds: list[Odd]
    child: Item | None
    sibling: Item

    @strawberry.field
    def shout(self) -> str:
        return str(self.name).upper()

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return f"later {self.name}"


ITEMS: list[Any] = []


@strawberry.type
class Shown(SharedView):
    """A view that may be shared (made once, shown by every request, never changed)."""

    name: str
    count: int


SHOWN: list[Shown] = []


@strawberry.type
class Query:
    @strawberry.field
    def shown(self) -> list[Shown]:
        return SHOWN

    @strawberry.field
    def items(self) -> list[Item]:
        return ITEMS

    @strawberry.field
    def first(self) -> Item:
        return ITEMS[0]

    @strawberry.field
    def nullable_items(self) -> list[Item | None]:
        return ITEMS


def _schema(executor: type | None, extensions: list[Any] | None = None) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        execution_context_class=executor,
        extensions=extensions or [],
        config=StrawberryConfig(scalar_map={Odd: ODD}),
    )


ORDINARY = _schema(None)
SHORT = _schema(PlainFieldExecutor)

#: Values each field meets: first the ones it takes, then the ones that make errors.
COMMON_BAD = [None, BOOM, ABSENT, object(), ValueError("returned, not raised")]
GOOD: dict[str, list[Any]] = {
    "name": ["a", "", 5, True],
    "label": ["b", 1.5, None],
    "count": [0, 7, -3, True],
    "score": [1.5, 2, None, float("nan")],
    "ident": ["s1", 5],
    "color": [Color.RED, Color.BLUE],
    "maybe_color": [Color.BLUE, None],
    "when": [datetime(2026, 1, 2, 3, 4, tzinfo=UTC), None],
    "payload": [{"a": [1, 2]}, [1, "x"], "s", 3, None],
    "tags": [["a", "b"], [], ("t",), ITERATOR],
    "maybe_tags": [["a"], [], None, ITERATOR],
    "loose": [["a", None], [None], [], ("u", None)],
    "odd": [1, 3, None],
    "odds": [[1, 3], []],
}
BAD: dict[str, list[Any]] = {
    "name": COMMON_BAD,
    "label": COMMON_BAD[1:],
    "count": [2**40, "12", 1.5, *COMMON_BAD],
    "score": ["x", *COMMON_BAD[1:]],
    "ident": [1.5, *COMMON_BAD],
    "color": ["red", "RED", "nope", *COMMON_BAD],
    "maybe_color": ["blue", "nope", *COMMON_BAD[1:]],
    "when": ["not a date", 3, *COMMON_BAD[1:]],
    "payload": COMMON_BAD[1:],
    "tags": [["a", None], ["a", 3], "abc", [object()], *COMMON_BAD],
    "maybe_tags": ["abc", ["a", None], *COMMON_BAD[1:]],
    "loose": ["abc", [3.5j], *COMMON_BAD],
    "odd": [2, "x", *COMMON_BAD[1:]],
    "odds": [[1, 2], [2], *COMMON_BAD],
}
LEAVES = sorted(GOOD)
OBJECT_FIELDS = ["shout", "later", "__typename"]


@st.composite
def objects(draw: st.DrawFn, depth: int, asked: list[str]) -> dict[str, Any]:
    """A source: every field a value it takes, then each field the document asks for, one
    time in four, a value that makes an error."""
    values = {name: draw(st.sampled_from(good)) for name, good in GOOD.items()}
    for name in sorted(set(asked)):
        if draw(st.integers(0, 3)) == 0:
            values[name] = draw(st.sampled_from(BAD[name]))
    if depth > 0:
        for name in ("child", "sibling"):
            values[name] = draw(
                st.one_of(
                    st.sampled_from([None, BOOM, ABSENT, ValueError("returned")]),
                    objects(depth - 1, asked).map(lambda child: {"__child__": child}),
                )
            )
    return values


@st.composite
def selections(draw: st.DrawFn, depth: int, asked: list[str]) -> str:
    """A selection set (aliases, a fragment, a nested ``child``); the leaf fields it asks for
    are added to ``asked`` by their Python names."""
    names = draw(st.lists(st.sampled_from(LEAVES + OBJECT_FIELDS), min_size=1, max_size=6))
    if draw(st.booleans()):
        names.append("... on Item { " + to_camel_case(draw(st.sampled_from(LEAVES))) + " }")
    parts = []
    for i, name in enumerate(names):
        if name in GOOD:
            asked.append(name)
        elif name == "later":
            asked.append("name")  # ``later`` reads ``name``: an error that comes later
        alias = draw(st.sampled_from(["", f"a{i}: "])) if name[0].isalpha() else ""
        parts.append(alias + (to_camel_case(name) if name in GOOD else name))
    for name in ("child", "sibling"):
        if depth > 0 and draw(st.booleans()):
            parts.append(f"{name} {{ " + draw(selections(depth - 1, asked)) + " }")
    return " ".join(parts)


def _errors(errors: list[GraphQLError] | None) -> list[tuple[str, list[Any] | None]]:
    return sorted(((e.message, e.path) for e in errors or []), key=repr)


async def _settled(schema: strawberry.Schema, query: str) -> Any:
    """The answer, once the work the executor left to settle in the background is done.

    An error that nulls a parent does not wait for its siblings' pending fields: both
    executors hand them to graphql-core's ``settle_in_background``, which a served request's
    loop runs to the end. ``asyncio.run`` would close its loop first and cancel them midway,
    and their completion, resumed by the cancellation, made coroutines nothing awaited ("coroutine
    '_gather' was never awaited" at interpreter clean-up, seen by tracemalloc allocated
    inside ``_cancel_all_tasks``). So they are awaited here before the loop closes."""
    answer = await schema.execute(query)
    while pending := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)
    return answer


def both(query: str) -> tuple[Any, Any]:
    ordinary = asyncio.run(_settled(ORDINARY, query))
    short = asyncio.run(_settled(SHORT, query))
    return ordinary, short


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_the_same_data_and_errors_as_graphql_core(data: st.DataObject) -> None:
    root = data.draw(st.sampled_from(["items", "first", "nullableItems"]))
    asked: list[str] = []
    body = data.draw(selections(2, asked))
    # A list item may itself be null or an error the resolver returned.
    odd_items = st.sampled_from([None, ValueError("item returned")])
    sources = data.draw(st.lists(st.one_of(objects(2, asked), odd_items), max_size=4))
    ITEMS[:] = [Source(values) if isinstance(values, dict) else values for values in sources]
    if root == "first" and not ITEMS:
        ITEMS.append(Source({}))
    if data.draw(st.booleans()):  # the selection in a named fragment, as frontends write it
        query = f"{{ {root} {{ ...Body }} }} fragment Body on Item {{ {body} }}"
    else:
        query = f"{{ {root} {{ {body} }} }}"
    ordinary, short = both(query)
    assert not any(e.locations and e.path is None for e in ordinary.errors or []), ordinary
    assert short.data == ordinary.data
    assert _errors(short.errors) == _errors(ordinary.errors)


def test_a_bad_value_is_reported_with_its_path_and_the_rest_still_answered() -> None:
    ITEMS[:] = [
        Item(
            name="ok",
            label=None,
            count=2**40,
            score=None,
            ident="i",
            color=Color.RED,
            maybe_color=None,
            when=None,
            payload=None,
            tags=["a"],
            maybe_tags=None,
            loose=[None],
            odd=None,
            odds=[],
            child=None,
            sibling=None,
        )
    ]
    ordinary, short = both("{ items { name count tags } }")
    # ``items`` is ``[Item!]!``: the null reaches the root, as the ordinary executor has it.
    assert short.data is None and ordinary.data is None
    assert _errors(short.errors) == _errors(ordinary.errors)
    assert short.errors is not None and short.errors[0].path == ["items", 0, "count"]
    ordinary, short = both("{ items { name label tags loose maybeColor } }")
    assert short.errors is None
    assert short.data == {
        "items": [{"name": "ok", "label": None, "tags": ["a"], "loose": [None], "maybeColor": None}]
    }


BROKEN = {"name": BOOM}
NESTED_ERRORS = [
    Source({"name": "ok", "child": {"__child__": BROKEN}, "sibling": {"__child__": BROKEN}}),
    Source({"name": "fine", "child": None, "sibling": {"__child__": {"name": "fine"}}}),
]
ITEM_ERRORS = [Source({"name": "ok"}), Source({"name": BOOM})]


@pytest.mark.parametrize(
    ("query", "items"),
    [
        ("{ items { name child { later } } }", NESTED_ERRORS),
        ("{ items { name sibling { later } } }", NESTED_ERRORS),
        ("{ nullableItems { name sibling { later } } }", NESTED_ERRORS),
        ("{ nullableItems { name child { sibling { later } } } }", NESTED_ERRORS),
        ("{ first { child { later name } } }", NESTED_ERRORS),
        ("{ nullableItems { later } }", ITEM_ERRORS),
        ("{ items { later } }", ITEM_ERRORS),
    ],
)
def test_an_error_that_comes_later_is_placed_as_graphql_core_places_it(
    query: str, items: list[Source]
) -> None:
    """``later`` is an async field reading ``name``: a name that raises makes an error only
    once awaited, inside a plain object or a list item."""
    ITEMS[:] = items
    ordinary, short = both(query)
    assert ordinary.errors, "the document must meet the error"
    assert short.data == ordinary.data
    assert _errors(short.errors) == _errors(ordinary.errors)


class Counting(PlainFieldExecutor):
    """Counts the ``GraphQLResolveInfo`` objects built (one per field taking the long path),
    the field loops (``execute_fields``: one per object answered field by field), the plans
    made and the list items completed one by one."""

    built = 0
    loops = 0
    plans = 0
    items = 0

    @classmethod
    def reset(cls) -> None:
        cls.built = cls.loops = cls.plans = cls.items = 0

    def build_resolve_info(self, *args: Any, **kwargs: Any) -> Any:
        Counting.built += 1
        return super().build_resolve_info(*args, **kwargs)

    def execute_fields(self, *args: Any, **kwargs: Any) -> Any:
        Counting.loops += 1
        return super().execute_fields(*args, **kwargs)

    def complete_list_item_value(self, *args: Any, **kwargs: Any) -> Any:
        Counting.items += 1
        return super().complete_list_item_value(*args, **kwargs)

    def _make_plan(self, *args: Any, **kwargs: Any) -> Any:
        Counting.plans += 1
        return super()._make_plan(*args, **kwargs)


COUNTING = _schema(Counting)
#: As the service's schema: the same query text gives the same parsed document.
COUNTING_CACHED = _schema(Counting, [lambda: ParserCache(maxsize=16)])


def test_plain_leaf_fields_take_the_short_path() -> None:
    ITEMS[:] = [Source({"name": f"n{i}", "count": i, "tags": ["t"]}) for i in range(10)]
    Counting.reset()
    result = asyncio.run(COUNTING.execute("{ items { name count tags shout } }"))
    assert result.errors is None
    assert result.data is not None and result.data["items"][3] == {
        "name": "n3",
        "count": 3,
        "tags": ["t"],
        "shout": "N3",
    }
    # ``items`` and the ten ``shout`` (a resolver) only: no info for the thirty leaves.
    assert Counting.built == 11


class SeesEveryField(SchemaExtension):
    seen: ClassVar[list[str]] = []

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        SeesEveryField.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


def test_field_middleware_still_sees_every_field() -> None:
    ITEMS[:] = [Source({"name": "a", "count": 1}), Source({"name": "b", "count": 2})]
    SeesEveryField.seen = []
    result = asyncio.run(
        _schema(PlainFieldExecutor, [SeesEveryField]).execute("{ items { name count } }")
    )
    assert result.errors is None
    assert sorted(SeesEveryField.seen) == ["count", "count", "items", "name", "name"]


def test_awaited_fields_beside_short_ones_keep_their_order() -> None:
    ITEMS[:] = [Source({"name": "a", "count": 1}), Source({"name": "b", "count": 2})]
    ordinary, short = both("{ items { later name l2: later count } }")
    assert short.errors is None and short.data == ordinary.data
    assert list(short.data["items"][1]) == ["later", "name", "l2", "count"]
    assert short.data["items"][1]["l2"] == "later b"


def test_the_service_schema_uses_the_plain_field_executor() -> None:
    assert seggraph_schema.execution_context_class is PlainFieldExecutor


def test_a_list_of_plain_objects_is_answered_without_a_field_loop() -> None:
    """Items whose sub-selection is plain fields all the way down (leaves, plain objects) are
    answered by reading attributes; nulls where the types allow them stay in the answer."""
    ITEMS[:] = [
        Source(
            {
                "name": f"n{i}",
                "label": None if i % 2 else "l",
                "maybe_color": None,
                "child": None if i % 2 else {"__child__": {"name": "c", "label": None}},
                "sibling": {"__child__": {"count": i, "tags": []}},
            }
        )
        for i in range(4)
    ]
    query = "{ items { name label maybeColor child { name label } sibling { count tags } } }"
    ordinary, short = both(query)
    assert short.errors is None and short.data == ordinary.data
    assert short.data is not None and short.data["items"][:2] == [
        {
            "name": "n0",
            "label": "l",
            "maybeColor": None,
            "child": {"name": "c", "label": None},
            "sibling": {"count": 0, "tags": []},
        },
        {
            "name": "n1",
            "label": None,
            "maybeColor": None,
            "child": None,
            "sibling": {"count": 1, "tags": []},
        },
    ]
    Counting.reset()
    assert asyncio.run(COUNTING.execute(query)).data == ordinary.data
    assert Counting.loops == 1  # the root's fields; none per item or nested object
    assert Counting.items == 0  # the list answered in one loop, no item completed on its own
    # One unusual value (a count that does not fit an Int) sends the list the ordinary way,
    # then its item: the same answer and error as graphql-core's.
    ITEMS[2]._values["sibling"] = {"__child__": {"count": 2**40, "tags": []}}
    ordinary, short = both(query)
    assert ordinary.errors and short.data == ordinary.data
    assert _errors(short.errors) == _errors(ordinary.errors)
    Counting.reset()
    assert asyncio.run(COUNTING.execute(query)).data == ordinary.data
    assert Counting.items == 3  # one by one, up to the item whose error nulls the list


def test_a_document_s_plans_are_made_once_and_serve_every_request_of_it() -> None:
    ITEMS[:] = [Source({"name": f"n{i}", "child": {"__child__": {"name": "c"}}}) for i in range(3)]
    query = "{ items { name child { name } } }"
    Counting.reset()
    answers = [asyncio.run(COUNTING_CACHED.execute(query)) for _ in range(3)]
    assert all(a.errors is None for a in answers)
    assert answers[2].data == {
        "items": [{"name": f"n{i}", "child": {"name": "c"}} for i in range(3)]
    }
    assert Counting.plans == 2  # the item's and its child's, for the first request only
    # Another document (here, the same fields in another order) gets plans of its own.
    other = asyncio.run(COUNTING_CACHED.execute("{ items { child { name } name } }"))
    assert other.data is not None and list(other.data["items"][0]) == ["child", "name"]
    assert Counting.plans == 4


def test_a_directive_on_a_variable_is_honoured_each_time_the_document_comes_again() -> None:
    """With a directive, which fields an object answers may depend on the variables: such a
    document's plans are made per request, never shared."""
    ITEMS[:] = [Source({"name": "n", "count": 1, "label": "l"})]
    query = (
        "query($with: Boolean!) { items { name count @include(if: $with) label @skip(if: $with) } }"
    )
    Counting.reset()
    for flag in (True, False, True):
        answer = asyncio.run(COUNTING_CACHED.execute(query, variable_values={"with": flag}))
        expected = {"name": "n", "count": 1} if flag else {"name": "n", "label": "l"}
        assert answer.errors is None and answer.data == {"items": [expected]}
    assert Counting.plans == 3


def test_a_directive_in_a_named_fragment_is_honoured_each_time_the_document_comes_again() -> None:
    ITEMS[:] = [Source({"name": "n", "count": 1})]
    query = (
        "query($with: Boolean!) { items { ...Fields } } "
        "fragment Fields on Item { name count @include(if: $with) }"
    )
    Counting.reset()
    for flag in (True, False, True):
        answer = asyncio.run(COUNTING_CACHED.execute(query, variable_values={"with": flag}))
        expected = {"name": "n", "count": 1} if flag else {"name": "n"}
        assert answer.errors is None and answer.data == {"items": [expected]}
    assert Counting.plans == 3  # made per request: which fields depends on the variables
    plain = "{ items { ...Fields } } fragment Fields on Item { name count }"
    for _ in range(2):
        answer = asyncio.run(COUNTING_CACHED.execute(plain))
        assert answer.errors is None and answer.data == {"items": [{"name": "n", "count": 1}]}
    assert Counting.plans == 4  # without a directive, made once for the document


def test_a_shared_view_is_answered_from_what_its_plan_answered_before() -> None:
    """A view marked shared (``SharedView.share``) is read once per plan; later requests of
    the document get that answer. The contract (a shared view never changes) is broken here on
    purpose, to see where each answer comes from."""
    SHOWN[:] = [Shown(name=f"v{i}", count=i) for i in range(3)]
    SHOWN[0].share()
    SHOWN[1].share()  # the third is not shared: read every time
    query = "{ shown { name count } }"
    first = asyncio.run(COUNTING_CACHED.execute(query))
    assert first.errors is None
    assert first.data == {"shown": [{"name": f"v{i}", "count": i} for i in range(3)]}
    for view in SHOWN:
        view.name = "changed"
    again = asyncio.run(COUNTING_CACHED.execute(query))
    assert again.data is not None
    assert [item["name"] for item in again.data["shown"]] == ["v0", "v1", "changed"]
    # Another selection is another plan: the views are read for it.
    other = asyncio.run(COUNTING_CACHED.execute("{ shown { count name } }"))
    assert other.data is not None
    assert other.data["shown"] == [{"count": i, "name": "changed"} for i in range(3)]
    # More documents than a view keeps answers for: each still gets its own fields.
    for n in range(12):
        aliased = asyncio.run(COUNTING_CACHED.execute(f"{{ shown {{ a{n}: count }} }}"))
        assert aliased.data == {"shown": [{f"a{n}": i} for i in range(3)]}


def test_a_view_not_shared_is_read_every_time() -> None:
    SHOWN[:] = [Shown(name="before", count=1)]
    query = "{ shown { name } }"
    assert asyncio.run(COUNTING_CACHED.execute(query)).data == {"shown": [{"name": "before"}]}
    SHOWN[0].name = "after"
    assert asyncio.run(COUNTING_CACHED.execute(query)).data == {"shown": [{"name": "after"}]}


class Remembered(PlainFieldExecutor):
    """Keeps a weak reference to every executor made, to see when each is freed."""

    made: ClassVar[list[weakref.ref[PlainFieldExecutor]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Remembered.made.append(weakref.ref(self))


REMEMBERED = _schema(Remembered)


def test_an_executor_and_what_it_reaches_are_freed_when_the_request_ends() -> None:
    """Without a reference cycle through the executor, a request's objects (its context, its
    values) go when it ends, not at the cyclic collector's next pass."""
    ITEMS[:] = [Source({"name": "a"}), Source({"name": "b"})]
    context = {"values": Source({"read": "by the request"})}
    kept = weakref.ref(context["values"])
    Remembered.made.clear()
    gc.disable()
    try:
        result = asyncio.run(REMEMBERED.execute("{ items { name later } }", context_value=context))
        assert result.errors is None and result.data is not None
        assert result.data["items"][1] == {"name": "b", "later": "later b"}
        del result, context
        assert Remembered.made and all(ref() is None for ref in Remembered.made)
        assert kept() is None
    finally:
        gc.enable()


def test_the_resolver_helpers_serve_their_executor_and_each_copy_of_it() -> None:
    """``info.async_helpers`` (graphql-core uses them for an abstract type's async
    ``is_type_of``) hold their executor weakly; a copy (a sub-executor) gets its own."""
    executor = PlainFieldExecutor.build(SHORT._schema, parse("{ items { name } }"))
    assert isinstance(executor, PlainFieldExecutor)

    async def value(v: int) -> int:
        await asyncio.sleep(0)
        return v

    async def gather(helpers: Any) -> list[int]:
        result: list[int] = await helpers.gather([value(1), value(2)])
        return result

    assert asyncio.run(gather(executor.async_helpers)) == [1, 2]
    twin = copy.copy(executor)
    first_helpers = executor.async_helpers
    del executor
    assert asyncio.run(gather(twin.async_helpers)) == [1, 2]

    async def track(helpers: Any) -> None:
        helpers.track([value(3), "not awaitable"])
        await asyncio.sleep(0.01)

    asyncio.run(track(twin.async_helpers))
    coroutine = value(4)
    with pytest.raises(RuntimeError, match="execution has ended"):
        first_helpers.gather([coroutine])
    coroutine.close()
