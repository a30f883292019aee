"""The one exception of the text form."""

from __future__ import annotations


class TextFormError(ValueError):
    """A text that does not parse.

    ``line`` and ``column`` are 1-based and point at the first character of what was found (a
    column counts characters, a tab is one). ``expected`` lists what would have been accepted
    there, in words a person can read (``"')'"``, ``"AND"``, ``'a "string"'``); it is empty when
    the problem is not a missing piece (a number too large, nesting too deep).

    ``str(error)`` reads ``line 2, column 14: expected a value (...), found ')'``.
    """

    def __init__(self, message: str, line: int, column: int, expected: list[str]) -> None:
        super().__init__(message, line, column, expected)
        self.message = message
        self.line = line
        self.column = column
        self.expected = list(expected)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"
