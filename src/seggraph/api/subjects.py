"""The ids GraphQL arguments name (subscribers, subscriptions, segments), read as every write
reads an id: trimmed (:func:`~seggraph.domain.context.trimmed_id`), so that ``" cus_1"`` asks
about the subscriber a write of ``" cus_1"`` stored as ``cus_1``. Subscriber and subscription
ids are also not blank and bounded by :data:`~seggraph.domain.context.MAX_SUBJECT_ID`: another
is a GraphQL error naming the argument, before anything is read for it
(``seggraph.api.prefetch`` skips it too)."""

from __future__ import annotations

from collections.abc import Iterable

from graphql import GraphQLError

from seggraph.domain.context import MAX_SUBJECT_ID, trimmed_id


def given_id(value: object) -> str:
    """An ``ID`` argument as seggraph compares it: trimmed."""
    return trimmed_id(str(value))


def check_id(argument: str, value: object) -> str:
    """``value`` (the GraphQL argument ``argument``) trimmed; refused when that is blank, as
    the mutations that take a subscriber id do, or longer than :data:`MAX_SUBJECT_ID`."""
    text = given_id(value)
    if not text:
        raise GraphQLError(f"{argument}: an id cannot be blank", extensions={"code": "BLANK"})
    if len(text) > MAX_SUBJECT_ID:
        raise GraphQLError(
            f"{argument}: an id has at most {MAX_SUBJECT_ID} characters, got {len(text)}",
            extensions={"code": "TOO_LONG"},
        )
    return text


def check_optional_id(argument: str, value: object | None) -> str | None:
    """:func:`check_id`, but ``None`` (an argument not given) passes."""
    return None if value is None else check_id(argument, value)


def check_ids(argument: str, values: Iterable[object]) -> list[str]:
    """:func:`check_id` for each id of a list argument."""
    return [check_id(argument, value) for value in values]


def ids_fit(*values: object | None) -> bool:
    """Whether every given id is an id once trimmed: not blank, short enough (``None``, an id
    not given, is)."""
    return all(value is None or 0 < len(given_id(value)) <= MAX_SUBJECT_ID for value in values)
