"""Errors of the evaluation core."""

from __future__ import annotations

from seggraph.domain.errors import PathPart


class CompileError(ValueError):
    """A condition tree cannot be compiled: it was not validated against this catalogue (an
    unknown property, an operator its type does not allow, a value of the wrong form)."""

    def __init__(self, path: tuple[PathPart, ...], message: str) -> None:
        super().__init__(f"{'.'.join(map(str, path))}: {message}")
        self.path = path
        self.message = message


class ReferenceCycleError(ValueError):
    """Segments reference each other in a cycle; ``cycle`` names it, first id repeated last
    (``["a", "b", "a"]``: a references b, which references a)."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("segment reference cycle: " + " -> ".join(cycle))
        self.cycle = cycle
