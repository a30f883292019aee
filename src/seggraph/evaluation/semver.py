"""A strict Semantic Versioning 2.0.0 parser and its precedence order (semver.org, §2, §9–§11).

Written here rather than taken from a dependency because the rules are short and the evaluator
needs exactly them: no leading ``v``, no leading zeros in numeric identifiers, build metadata
parsed but ignored by precedence.
"""

from __future__ import annotations

from dataclasses import dataclass

_DIGITS = frozenset("0123456789")
_IDENTIFIER_CHARS = _DIGITS | frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")

#: A pre-release identifier's sort key: numeric ones ``(0, n)`` sort before alphanumeric ones
#: ``(1, text)``, which compare in ASCII order (semver.org §11.4).
IdentifierKey = tuple[int, int] | tuple[int, str]
Precedence = tuple[int, int, int, bool, tuple[IdentifierKey, ...]]


class SemverError(ValueError):
    """The text is not a strict semantic version."""


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version. Compare versions by :attr:`precedence`, never with ``==`` on the object
    (which also compares build metadata)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def precedence(self) -> Precedence:
        """Sort key for precedence: a release (``True``) sorts after its pre-releases, and a
        longer pre-release sorts after its prefix (tuple order gives both). Build metadata
        is not part of it."""
        pre: tuple[IdentifierKey, ...] = tuple(
            (0, part) if isinstance(part, int) else (1, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, not self.prerelease, pre)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def _numeric(part: str, what: str) -> int:
    if not part or not set(part) <= _DIGITS:
        raise SemverError(f"{what} must be a number, got {part!r}")
    if len(part) > 1 and part[0] == "0":
        raise SemverError(f"{what} has a leading zero: {part!r}")
    return int(part)


def _identifiers(text: str, what: str) -> list[str]:
    parts = text.split(".")
    for part in parts:
        if not part:
            raise SemverError(f"{what} has an empty identifier")
        if not set(part) <= _IDENTIFIER_CHARS:
            raise SemverError(f"{what} identifier {part!r} has characters outside [0-9A-Za-z-]")
    return parts


def parse_semver(text: str) -> Version:
    """Parse ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` strictly, or raise :class:`SemverError`."""
    if not isinstance(text, str):
        raise SemverError(f"expected a string, got {type(text).__name__}")
    if text[:1] in ("v", "V"):
        raise SemverError(f"a version has no leading 'v': {text!r}")
    core_pre, plus, build_text = text.partition("+")
    build = tuple(_identifiers(build_text, "build metadata")) if plus else ()
    core, dash, pre_text = core_pre.partition("-")
    numbers = core.split(".")
    if len(numbers) != 3:
        raise SemverError(f"expected MAJOR.MINOR.PATCH, got {text!r}")
    major = _numeric(numbers[0], "major")
    minor = _numeric(numbers[1], "minor")
    patch = _numeric(numbers[2], "patch")
    prerelease: tuple[int | str, ...] = ()
    if dash:
        prerelease = tuple(
            _numeric(part, "a numeric pre-release identifier") if set(part) <= _DIGITS else part
            for part in _identifiers(pre_text, "pre-release")
        )
    return Version(major, minor, patch, prerelease, build)
