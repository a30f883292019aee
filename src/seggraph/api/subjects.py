"""Subscriber and subscription ids given as query arguments, not blank and bounded by
:data:`~seggraph.domain.context.MAX_SUBJECT_ID`: another is a GraphQL error naming the
argument, before anything is read for it (``seggraph.api.prefetch`` skips it too)."""

from __future__ import annotations

from collections.abc import Iterable

from graphql import GraphQLError

from seggraph.domain.context import MAX_SUBJECT_ID


def check_id(argument: str, value: object | None) -> None:
    """Refuses ``value`` (the GraphQL argument ``argument``) when it is blank, as the
    mutations that take a subscriber id do, or longer than :data:`MAX_SUBJECT_ID`; ``None``
    (an argument not given) passes."""
    if value is not None and not str(value).strip():
        raise GraphQLError(f"{argument}: an id cannot be blank", extensions={"code": "BLANK"})
    if not ids_fit(value):
        raise GraphQLError(
            f"{argument}: an id has at most {MAX_SUBJECT_ID} characters, got {len(str(value))}",
            extensions={"code": "TOO_LONG"},
        )


def check_ids(argument: str, values: Iterable[object]) -> None:
    """:func:`check_id` for each id of a list argument."""
    for value in values:
        check_id(argument, value)


def ids_fit(*values: object | None) -> bool:
    """Whether every given id is an id: not blank, short enough (``None``, an id not given,
    is)."""
    return all(
        value is None or (0 < len(str(value)) <= MAX_SUBJECT_ID and bool(str(value).strip()))
        for value in values
    )
