"""Errors a user can act on, shared by every service and mapped to GraphQL ``userErrors``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PathPart = str | int


@dataclass(frozen=True, slots=True)
class UserError:
    """One refused part of an input.

    ``path`` is the list of field names and list indices from the input's root, e.g.
    ``["conditions", "groups", 1, "conditions", 0, "value"]``; ``code`` is a stable
    machine-readable word.
    """

    path: tuple[PathPart, ...]
    code: str
    message: str


@dataclass
class InputRefused(Exception):
    """Raised by a service when any part of an input is refused; nothing was written."""

    errors: Sequence[UserError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in self.errors)


class NotFound(LookupError):
    """The object asked for does not exist (in this mode)."""


def checked_text(
    value: str,
    field: str,
    errors: list[UserError],
    *,
    max_length: int,
    blank: str | None = None,
) -> str:
    """``value`` trimmed; a ``BLANK`` error (message ``blank``) when it is empty and must not
    be, a ``TOO_LONG`` one past ``max_length`` characters."""
    text = value.strip()
    if blank is not None and not text:
        errors.append(UserError((field,), "BLANK", blank))
    elif len(text) > max_length:
        errors.append(
            UserError((field,), "TOO_LONG", f"a {field} has at most {max_length} characters")
        )
    return text


def check_first(first: int, most: int) -> None:
    """Refuses a page size (the ``first`` argument) outside ``0..most`` (``OUT_OF_RANGE``)."""
    if not 0 <= first <= most:
        raise InputRefused([UserError(("first",), "OUT_OF_RANGE", f"first must be 0..{most}")])
