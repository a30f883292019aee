"""A resolver marked ``@direct`` answers exactly what Strawberry's wrapper answers.

``seggraph.api.direct`` lets graphql-core call such a resolver without Strawberry's per-call
wrapper. These tests run the same documents through two schemas of the same types, one with
the direct resolvers installed and one without, and require the same data and errors; they
check which resolvers are refused, and that the service's hot fields are direct.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission

from seggraph.api.direct import direct, install_direct_resolvers
from seggraph.api.schema import schema as seggraph_schema


@strawberry.type
class Item:
    name: str

    @strawberry.field
    @direct
    async def echo(
        self,
        info: strawberry.Info,
        words: list[str] | None = None,
        times: int = 1,
        loud: bool = False,
        weight: float = 0.5,
    ) -> str:
        said = " ".join(words or [self.name]) * times
        return f"{info.context['who']}:{said.upper() if loud else said}:{weight}"

    @strawberry.field
    @direct
    def grown(self, extra: list[str] = ("kept",)) -> list[str]:  # type: ignore[assignment]
        # A resolver that changes its list: the default must stay what it was.
        extra.append(self.name)
        return extra

    @strawberry.field
    @direct
    def fails(self, why: str) -> str | None:
        raise GraphQLError(f"refused: {why}")


@strawberry.type
class Query:
    @strawberry.field
    @direct
    def item(self, id: strawberry.ID, name: str | None = None) -> Item:
        return Item(name=name or str(id))

    @strawberry.field
    @direct
    def items(self, ids: list[strawberry.ID]) -> list[Item]:
        return [Item(name=str(i)) for i in ids]

    @strawberry.field
    @direct
    async def total(self, numbers: list[int | None]) -> int:
        return sum(n for n in numbers if n is not None)


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    """The same types twice: Strawberry's wrappers, and the direct resolvers."""
    wrapped = strawberry.Schema(query=Query)
    quick = strawberry.Schema(query=Query)
    installed = install_direct_resolvers(quick)
    assert installed.fields == [
        "Item.echo",
        "Item.fails",
        "Item.grown",
        "Query.item",
        "Query.items",
        "Query.total",
    ]
    return wrapped, quick


DOCUMENTS: list[tuple[str, dict[str, Any] | None]] = [
    ('{ item(id: "a1") { name echo } }', None),
    ('{ item(id: 7, name: "x") { echo(words: ["hi", "there"], times: 2, loud: true) } }', None),
    ("query($w: [String!], $t: Int!) { item(id: 1) { echo(words: $w, times: $t) } }", None),
    (
        "query($w: [String!], $t: Int!) { item(id: 1) { echo(words: $w, times: $t) } }",
        {"w": ["a", "b"], "t": 3},
    ),
    ('{ item(id: "z") { echo(words: null, weight: 2) } }', None),
    ('{ items(ids: ["p", "q"]) { name grown } again: items(ids: ["r"]) { grown } }', None),
    ('{ item(id: "g") { grown(extra: ["given"]) } }', None),
    ('{ item(id: "e") { name fails(why: "no") } }', None),
    ("{ total(numbers: [1, null, 5]) }", None),
    ('{ total(numbers: ["x"]) }', None),
    ("{ item { name } }", None),
]


@pytest.mark.parametrize(("document", "variables"), DOCUMENTS)
async def test_a_direct_resolver_answers_what_strawberrys_wrapper_answers(
    document: str, variables: dict[str, Any] | None
) -> None:
    wrapped, quick = _schemas()
    results = [
        await schema.execute(document, variable_values=variables, context_value={"who": "ann"})
        for schema in (wrapped, quick)
    ]
    expected, got = results
    assert got.data == expected.data
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]


async def test_a_list_default_is_not_changed_by_the_resolver_that_gets_it() -> None:
    _, quick = _schemas()
    for _ in range(2):
        result = await quick.execute('{ item(id: "n") { grown } }', context_value={})
        assert result.data == {"item": {"grown": ["kept", "n"]}}


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


class Nobody(BasePermission):
    message = "nobody"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.enum
class Size(Enum):
    S = "s"


@strawberry.input
class Box:
    size: int


@strawberry.type
class Refused:
    @strawberry.field(extensions=[Upper()])
    @direct
    def extended(self) -> str:
        return "x"

    @strawberry.field(permission_classes=[Nobody])
    @direct
    def guarded(self) -> str:
        return "x"

    @strawberry.field
    @direct
    def sized(self, size: Size) -> str:
        return size.value

    @strawberry.field
    @direct
    def boxed(self, box: Box) -> int:
        return box.size

    @strawberry.field
    @direct
    def rooted(self, root: Any) -> str:
        return "x"

    @strawberry.field
    def unmarked(self, n: int) -> int:
        return n


async def test_what_strawberry_must_convert_or_wrap_keeps_its_wrapper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = strawberry.Schema(query=Refused)
    with caplog.at_level(logging.WARNING, logger="seggraph.api.direct"):
        installed = install_direct_resolvers(schema)
    assert installed.fields == []
    warned = caplog.text
    assert "Refused.extended keeps Strawberry's resolver: it has field extensions" in warned
    assert "Refused.guarded keeps Strawberry's resolver: it has field extensions" in warned
    assert "Refused.sized keeps Strawberry's resolver: argument 'size'" in warned
    assert "Refused.boxed keeps Strawberry's resolver: argument 'box'" in warned
    assert "Refused.rooted keeps Strawberry's resolver: its resolver takes root" in warned
    assert "unmarked" not in warned
    # And they still work as Strawberry makes them work.
    answered = await schema.execute("{ extended sized(size: S) boxed(box: {size: 2}) }")
    assert answered.errors is None
    assert answered.data == {"extended": "X", "sized": "s", "boxed": 2}
    guarded = await schema.execute("{ guarded }")
    assert [e.message for e in guarded.errors or []] == ["nobody"]


def test_the_questions_of_a_cancellation_flow_are_resolved_directly() -> None:
    assert seggraph_schema.direct_resolvers is not None
    assert seggraph_schema.direct_resolvers.fields == [
        "Query.segment",
        "Query.subscriber",
        "Segment.evaluate",
        "SegmentConnection.nodes",
        "Subscriber.membership",
        "Subscriber.properties",
        "Subscriber.segments",
    ]
    core = seggraph_schema._schema
    assert core.query_type is not None
    assert core.query_type.fields["subscriber"].resolve is not None
    assert core.query_type.fields["subscriber"].resolve.__name__ == "direct_subscriber"


def test_restore_puts_strawberrys_resolvers_back() -> None:
    schema = strawberry.Schema(query=Query)
    before = schema._schema.query_type.fields["item"].resolve  # type: ignore[union-attr]
    installed = install_direct_resolvers(schema)
    assert schema._schema.query_type.fields["item"].resolve is not before  # type: ignore[union-attr]
    installed.restore()
    assert schema._schema.query_type.fields["item"].resolve is before  # type: ignore[union-attr]
    assert installed.fields == []


class Oops(Exception):
    pass


@strawberry.type
class OopsError:
    message: str


class OopsHandler(strawberry.ExceptionHandler[Oops, OopsError]):
    def handle(self, exception: Oops, *, field: Any, info: Any) -> OopsError:
        return OopsError(message=str(exception))


def test_a_schema_with_exception_handlers_keeps_strawberrys_resolvers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = strawberry.Schema(query=Query, exception_handlers=[OopsHandler()])
    with caplog.at_level(logging.WARNING, logger="seggraph.api.direct"):
        assert install_direct_resolvers(schema).fields == []
    assert "Query.item keeps Strawberry's resolver: the schema has exception handlers" in (
        caplog.text
    )
