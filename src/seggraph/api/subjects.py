"""Subscriber and subscription ids given as query arguments, bounded by
:data:`~seggraph.domain.context.MAX_SUBJECT_ID`: a longer one is a GraphQL error naming the
argument, before anything is read for it (``seggraph.api.prefetch`` skips it too)."""

from __future__ import annotations

from collections.abc import Iterable

from graphql import GraphQLError

from seggraph.domain.context import MAX_SUBJECT_ID


def check_id(argument: str, value: object | None) -> None:
    """Refuses ``value`` (the GraphQL argument ``argument``) when it is longer than
    :data:`MAX_SUBJECT_ID`; ``None`` (an argument not given) passes."""
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
    """Whether every given id is short enough (``None``, an id not given, is)."""
    return all(value is None or len(str(value)) <= MAX_SUBJECT_ID for value in values)
