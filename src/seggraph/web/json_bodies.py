"""Decoding a JSON request body, strictly where the standard library is lenient.

``json.loads`` reads integers of any size exactly (orjson turns one beyond 64 bits into a
double without a word, which a number condition or a custom value must never be); a fraction
is read as a double when the double is that very number (``0.1``, ``99.95``: what every JSON
client sends), and as a ``Decimal`` when no double is (``0.1000000000000000055511151231257827``
would silently become ``0.1``). But ``json.loads`` lets half a UTF-16 surrogate pair through:
``"\\ud800"`` decodes to a string holding no character, which the database then refuses to
store, and the write failed as an internal error. So a body whose text has a surrogate escape
at all (a whole pair is fine: it decodes to the character it encodes) has its strings looked
at, and one with half a pair is refused.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

#: A ``\uD800``-``\uDFFF`` escape in JSON text: half of a UTF-16 pair, or a whole pair's half.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: A surrogate code point left in a decoded string: a half that had no other half.
_SURROGATE = re.compile("[\ud800-\udfff]")


class HalfSurrogate(ValueError):
    """The body holds half a UTF-16 surrogate pair."""


def loads(data: str | bytes, *, strict_constants: bool = False) -> Any:
    """``data`` (UTF-8 when bytes) as JSON; with ``strict_constants``, ``NaN`` and
    ``Infinity`` (which ``json.loads`` reads) are refused too. Raises ``UnicodeDecodeError``,
    ``json.JSONDecodeError``, ``RecursionError`` (nested too deeply), :class:`HalfSurrogate`
    or ``ValueError`` (a constant)."""
    text = data.decode() if isinstance(data, bytes) else data
    # A decoder made once: json.loads with any option makes one per call, which every
    # request would pay for.
    value = (_STRICT if strict_constants else _DECODER).decode(text)
    if _SURROGATE_ESCAPE.search(text) and _holds_half_surrogate(value):
        raise HalfSurrogate(
            "it holds half a UTF-16 surrogate pair (an escape from \\ud800 to \\udfff without "
            "its other half), which is no character"
        )
    return value


def exact_float(text: str) -> float | Decimal:
    """A JSON fraction: the double when it reads back as the same decimal number (what
    ``Decimal(repr(x))`` does wherever seggraph reads a float), else the exact ``Decimal``."""
    as_float = float(text)
    if math.isfinite(as_float) and Decimal(repr(as_float)) == Decimal(text):
        return as_float
    return Decimal(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_float=exact_float)
_STRICT = json.JSONDecoder(parse_float=exact_float, parse_constant=_refuse_constant)


def _holds_half_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (keys included) holds a lone surrogate; iterative, as
    the value may be nested as deeply as the decoder allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
