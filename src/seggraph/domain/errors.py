"""Errors a user can act on, shared by every service and mapped to GraphQL ``userErrors``."""

from __future__ import annotations

import unicodedata
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
        return "; ".join(_located(e) for e in self.errors)


def _located(error: UserError) -> str:
    """``path: message``, or the message alone when it starts by naming the path's field
    (``first must be 0..100``, not ``first: first must be 0..100``)."""
    where = ".".join(map(str, error.path))
    named = bool(error.path) and error.message.startswith(f"{error.path[-1]} ")
    return error.message if named or not where else f"{where}: {error.message}"


class NotFound(LookupError):
    """The object asked for does not exist (in this mode)."""


#: What multi-line text (a description) may hold of the control characters.
LINE_BREAKS = frozenset("\n\r\t")


#: The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and
#: the byte order mark: invisible, and the first reorder how the text around them is shown
#: ("Trojan Source"), so a name could show another name than it holds.
_INVISIBLE_CONTROLS = frozenset(
    [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\ufeff"]
)


def _is_control(c: str) -> bool:
    return unicodedata.category(c) == "Cc" or c in _INVISIBLE_CONTROLS


def escaped_controls(text: str) -> str:
    """``text`` with its control characters (as :func:`control_characters` finds them)
    written as Python's escapes (``\\x1b``, ``\\n``, ``\\u202e``) and the rest as it is:
    for text stored before its controls were refused, shown in a message."""
    return "".join(repr(c)[1:-1] if _is_control(c) else c for c in text)


def control_characters(text: str, allowed: frozenset[str] = frozenset()) -> str:
    """The control characters of ``text`` (but ``allowed``), as ``U+001B, U+202E``, or "":
    Unicode's controls (``Cc``), the bidirectional overrides and isolates and the byte order
    mark. Names and tags are shown in terminals, logs, history and segment lists: a newline or
    an escape sequence would forge lines there or recolour a terminal, and a right-to-left
    override would show the name's characters in another order than they are."""
    found = sorted({c for c in text if c not in allowed and _is_control(c)})
    return ", ".join(f"U+{ord(c):04X}" for c in found)


def checked_text(
    value: str,
    field: str,
    errors: list[UserError],
    *,
    max_length: int,
    blank: str | None = None,
    multiline: bool = False,
    path: tuple[PathPart, ...] | None = None,
) -> str:
    """``value`` trimmed and in Unicode's composed form (NFC: ``e`` + a combining accent is
    ``é``, so text that looks the same is the same); a ``BLANK`` error (message ``blank``)
    when it is empty and must not be, a ``TOO_LONG`` one past ``max_length`` characters, a
    ``CONTROL_CHARACTERS`` one for control characters (but line breaks and tabs when
    ``multiline``). Errors are at ``path`` (``(field,)`` by default)."""
    at = path if path is not None else (field,)
    text = unicodedata.normalize("NFC", value.strip())
    if blank is not None and not text:
        errors.append(UserError(at, "BLANK", blank))
    elif len(text) > max_length:
        errors.append(UserError(at, "TOO_LONG", f"a {field} has at most {max_length} characters"))
    elif (refused := controls_error(at, field, text, multiline=multiline)) is not None:
        errors.append(refused)
    return text


def controls_error(
    at: tuple[PathPart, ...], field: str, text: str, *, multiline: bool = False
) -> UserError | None:
    """A ``CONTROL_CHARACTERS`` error at ``at`` when ``text`` (the ``field``) holds control
    characters (:func:`control_characters`; line breaks and tabs allowed when ``multiline``),
    else None."""
    controls = control_characters(text, LINE_BREAKS if multiline else frozenset())
    if not controls:
        return None
    return UserError(
        at,
        "CONTROL_CHARACTERS",
        f"a {field} cannot hold control characters (such as "
        f"{'an escape' if multiline else 'a newline or an escape'}); this one has {controls}",
    )


def check_first(first: int, most: int, least: int = 0) -> None:
    """Refuses a page size (the ``first`` argument) outside ``least..most``
    (``OUT_OF_RANGE``)."""
    check_range("first", first, least, most)


def check_range(name: str, value: int, least: int, most: int) -> None:
    """Refuses an integer argument outside ``least..most`` (``OUT_OF_RANGE``, naming it)."""
    if not least <= value <= most:
        raise InputRefused(
            [UserError((name,), "OUT_OF_RANGE", f"{name} must be {least}..{most}, got {value}")]
        )
