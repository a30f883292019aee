"""Splitting a text into tokens.

The lexer never raises: a character it cannot read becomes an ``ERROR`` token (the last one)
that carries its message, so that the parser reports whichever problem comes first in the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from seggraph.textform.vocabulary import WORD


class Kind(Enum):
    WORD = "word"  # subscriber.mrr, AND, USD
    QUOTED = "quoted"  # `any key` (a property key or a currency in backquotes)
    NUMBER = "number"  # 100, -3, 99.95
    STRING = "string"  # "text"
    SYMBOL = "symbol"  # ( ) , = == != <> < <= > >= ¤
    END = "end"  # the end of the text
    ERROR = "error"  # what could not be read


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # as written
    offset: int
    line: int
    column: int
    value: str | Decimal | None = None  # the decoded string, key or number
    upper: str = ""  # for a word without a dot: its upper-case form, to match keywords
    error: str = ""  # for ERROR: the message
    expected: list[str] = field(default_factory=list)  # for ERROR


_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]+")
#: An exponent after a number (``1e3``, ``2.5E-7``), which the text form does not read.
_EXPONENT = re.compile(r"[eE][+-]?[0-9]+(?![A-Za-z0-9_.])")
_SYMBOLS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ",", "¤")
_ESCAPES = {'"': '"', "\\": "\\", "`": "`", "n": "\n", "t": "\t", "r": "\r"}
_HEX = frozenset("0123456789abcdefABCDEF")
_NEWLINES = "\r\n"
_MAX_SHOWN = 30
_BOM = "\ufeff"  # a byte order mark pasted with a file's text is whitespace


def shown(text: str) -> str:
    """A piece of input as an error message quotes it: short, one line, visible."""
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    if text.isprintable() and "'" not in text:
        return f"'{text}'"
    return repr(text)


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        # offsets where a line starts: after "\n", after a "\r" not followed by "\n"
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of an offset."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def tokens(self) -> list[Token]:
        """Every token, ending with an END or an ERROR token."""
        out: list[Token] = []
        text, at, size = self.text, 0, len(self.text)
        while True:
            while at < size and (text[at].isspace() or text[at] == _BOM):
                at += 1
            if at >= size:
                out.append(self._token(Kind.END, "", at))
                return out
            token = self._next(at)
            out.append(token)
            if token.kind is Kind.ERROR:
                return out
            at += len(token.text)

    def _token(
        self, kind: Kind, raw: str, at: int, value: str | Decimal | None = None, upper: str = ""
    ) -> Token:
        line, column = self.position(at)
        return Token(kind, raw, at, line, column, value=value, upper=upper)

    def _error(self, at: int, message: str, expected: list[str]) -> Token:
        line, column = self.position(at)
        return Token(Kind.ERROR, "", at, line, column, error=message, expected=expected)

    def _next(self, at: int) -> Token:
        text = self.text
        char = text[at]
        if char == '"' or char == "`":
            return self._quoted(at)
        if char.isascii() and (char.isalpha() or char == "_"):
            match = WORD.match(text, at)
            assert match is not None
            word = match.group()
            upper = "" if "." in word else word.upper()
            return self._token(Kind.WORD, word, at, value=word, upper=upper)
        if char.isdigit() or char == "-":
            return self._number(at)
        for symbol in _SYMBOLS:
            if text.startswith(symbol, at):
                return self._token(Kind.SYMBOL, symbol, at)
        if char == "!":
            return self._error(at, "expected '!=', found '!'", ["'!='"])
        return self._error(
            at,
            f"unexpected character {shown(char)}",
            ["a property key", "a number", 'a "string"', "an operator", "'('", "')'", "','"],
        )

    def _number(self, at: int) -> Token:
        text = self.text
        match = _NUMBER.match(text, at)
        expected = ["a number such as 100, -3 or 99.95"]
        if match is None:  # "-" not followed by a digit, or a non-ASCII digit
            tail = _NUMBER_TAIL.match(text, at + 1)
            raw = text[at : tail.end() if tail else at + 1]
            return self._error(
                at, f"expected a number such as 100, -3 or 99.95, found {shown(raw)}", expected
            )
        end = match.end()
        tail = _NUMBER_TAIL.match(text, end)
        if tail is not None:  # 1.2.3, 12abc, 100USD, 1.
            raw = text[at : tail.end()]
            hint = ""
            if _EXPONENT.match(text, end):
                hint = " (a number is written without an exponent: 1000, not 1e3)"
            elif raw[len(match.group()) :][:1].isalpha():
                hint = " (put a space between a number and a currency code: 100 USD)"
            return self._error(
                at,
                f"expected a number such as 100, -3 or 99.95, found {shown(raw)}{hint}",
                expected,
            )
        raw = match.group()
        return self._token(Kind.NUMBER, raw, at, value=Decimal(raw))

    def _quoted(self, at: int) -> Token:
        """A "string" or a `quoted key`, with backslash escapes; it ends on its own line."""
        text, quote = self.text, self.text[at]
        what = "string" if quote == '"' else "quoted key"
        parts: list[str] = []
        i = at + 1
        while True:
            if i >= len(text) or text[i] in _NEWLINES:
                return self._error(
                    at,
                    f"unterminated {what}: expected a closing {quote} on the same line "
                    "(write a line break as \\n)",
                    [quote],
                )
            char = text[i]
            if char == quote:
                raw = text[at : i + 1]
                return self._token(
                    Kind.STRING if quote == '"' else Kind.QUOTED, raw, at, value="".join(parts)
                )
            if char != "\\":
                parts.append(char)
                i += 1
                continue
            escape = text[i + 1 : i + 2]
            if escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                i += 2
                continue
            digits = {"u": 4, "U": 8}.get(escape, 0)
            hex_digits = text[i + 2 : i + 2 + digits]
            expected = ['\\"', "\\\\", "\\`", "\\n", "\\t", "\\r", "\\uXXXX", "\\UXXXXXXXX"]
            if not digits:
                found = shown("\\" + escape) if escape else "the end of the text"
                return self._error(
                    i, f"expected an escape ({', '.join(expected)}), found {found}", expected
                )
            if len(hex_digits) != digits or not set(hex_digits) <= _HEX:
                return self._error(
                    i,
                    f"expected \\{escape} and {digits} hexadecimal digits, "
                    f"found {shown(text[i : i + 2 + digits])}",
                    [f"\\{escape}" + "X" * digits],
                )
            code = int(hex_digits, 16)
            if code > 0x10FFFF:
                return self._error(
                    i, f"\\U{hex_digits} is beyond the last Unicode code point (10FFFF)", []
                )
            low = _low_surrogate(text, i + 2 + digits) if 0xD800 <= code <= 0xDBFF else None
            if low is not None:  # a pair, as JSON and JavaScript write 😀: \uD83D\uDE00
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                digits += 6
            elif 0xD800 <= code <= 0xDFFF:  # half of a pair alone: no character to store
                return self._error(
                    i,
                    f"\\{escape}{hex_digits} is a UTF-16 surrogate, not a character: write the "
                    "character itself, or its code point as \\UXXXXXXXX",
                    [],
                )
            parts.append(chr(code))
            i += 2 + digits


def _low_surrogate(text: str, at: int) -> int | None:
    """The code of a ``\\uDC00``-``\\uDFFF`` escape at ``at`` (a pair's second half), or None."""
    if text[at : at + 2] != "\\u":
        return None
    hex_digits = text[at + 2 : at + 6]
    if len(hex_digits) != 4 or not set(hex_digits) <= _HEX:
        return None
    code = int(hex_digits, 16)
    return code if 0xDC00 <= code <= 0xDFFF else None
