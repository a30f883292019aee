"""Three-valued truth (Kleene logic) for conditions, groups and segment membership."""

from __future__ import annotations

from enum import Enum


class Truth(Enum):
    """``TRUE``, ``FALSE`` or ``UNKNOWN``; only ``TRUE`` makes a member.

    Truth values refuse ``bool()`` on purpose: ``if truth:`` would silently treat ``UNKNOWN`` as
    one of the other two. Compare with ``is`` or use :attr:`is_member`.
    """

    TRUE = "TRUE"
    FALSE = "FALSE"
    UNKNOWN = "UNKNOWN"

    #: Hashed by identity, which is what equality is for these singletons: the hot path looks
    #: truths up in tables, and ``Enum.__hash__`` hashes the name in Python on every lookup.
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError("Truth has three values; compare with `is Truth.TRUE` or use .is_member")

    @property
    def is_member(self) -> bool:
        return self is Truth.TRUE

    @classmethod
    def of(cls, value: bool) -> Truth:
        return TRUE if value else FALSE


TRUE = Truth.TRUE
FALSE = Truth.FALSE
UNKNOWN = Truth.UNKNOWN

#: Kleene negation: NOT UNKNOWN is UNKNOWN.
NEGATION: dict[Truth, Truth] = {TRUE: FALSE, FALSE: TRUE, UNKNOWN: UNKNOWN}


def negate(truth: Truth) -> Truth:
    return NEGATION[truth]
