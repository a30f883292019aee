"""Conditions on ``support.tags`` as MongoDB queries that select exactly the subscribers the
evaluation selects.

The evaluation (``seggraph.evaluation.predicates``) compares a subscriber's tags with a
condition's values exactly, or, with ``caseInsensitive``, after ``str.casefold`` on both sides.
The store keeps each tag as the ingestion wrote it: stripped and ``str.lower``-ed
(``ingest.parse_tickets``). So:

- case-sensitive, a stored tag matches a value only when it is that very string (``"Billing"``
  matches nothing: every stored tag is lower-case), and ``$in`` of the values as given is exact;
- case-insensitive, a stored tag ``t`` matches a value ``v`` when ``t.casefold() ==
  v.casefold()``. Lower-casing is not case folding: ``"ß"``, ``"ſ"`` and the ligatures (``"ﬁ"``)
  are stored as they are but fold to ``"ss"``, ``"s"``, ``"fi"``. The query therefore lists
  every lower-case spelling that folds to the value's fold (:func:`lower_case_spellings`): for
  ``"Billing"`` just ``"billing"``; for ``"Boss"`` ``"boss"``, ``"boß"``, ``"boſs"``... When there
  are too many spellings to list, the condition is not translated (the service evaluates it).

A subscriber's tags are the union over all of its tickets, so a query over ticket documents
can say "some ticket has one of these tags" (``CONTAINS_ANY``, and ``CONTAINS_ALL`` of a single
tag) and "some ticket has a tag" (``IS_NOT_EMPTY``), but not "no ticket has it" (a subscriber
without tickets has ``[]``, for which ``CONTAINS_NONE`` and ``IS_EMPTY`` are TRUE, yet no
document names it) nor "the tickets have these tags between them": those are not translated.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from functools import cache

from seggraph.domain.conditions import Condition, Operator

#: Past this many spellings of one condition's values, the condition is evaluated instead.
MAX_SPELLINGS = 256


@cache
def _folds_from() -> dict[str, tuple[str, ...]]:
    """For each string a character folds to, the characters that ``str.lower`` leaves as they
    are but ``str.casefold`` changes into it (``"ss"``: ``"ß"``; ``"s"``: ``"ſ"``). Built once,
    from Python's own Unicode tables, so it follows whatever ``casefold`` does."""
    found: dict[str, list[str]] = {}
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        folded = char.casefold()
        if folded != char and char.lower() == char:
            found.setdefault(folded, []).append(char)
    return {folded: tuple(chars) for folded, chars in found.items()}


def lower_case_spellings(value: str, limit: int = MAX_SPELLINGS) -> list[str] | None:
    """Every string made of characters that ``str.lower`` leaves as they are whose
    ``casefold()`` equals ``value.casefold()`` (so every stored tag that matches ``value``
    case-insensitively is among them), or ``None`` when there are more than ``limit``."""
    target = value.casefold()
    folds = _folds_from()
    longest = max(len(folded) for folded in folds)
    # spellings[i]: the spellings of target[i:], built from the end.
    spellings: list[list[str]] = [[] for _ in range(len(target))] + [[""]]
    for i in range(len(target) - 1, -1, -1):
        here = [target[i] + rest for rest in spellings[i + 1]]
        for size in range(1, min(longest, len(target) - i) + 1):
            for char in folds.get(target[i : i + size], ()):
                here += [char + rest for rest in spellings[i + size]]
        if len(here) > limit:
            return None
        spellings[i] = here
    return sorted(set(spellings[0]))


def tags_matching(values: Iterable[str], case_insensitive: bool) -> list[str] | None:
    """The stored tags that match any of ``values`` as the evaluation compares them, or
    ``None`` when they are too many to list."""
    if not case_insensitive:
        return sorted(set(values))
    found: set[str] = set()
    for value in values:
        spellings = lower_case_spellings(value)
        if spellings is None:
            return None
        found.update(spellings)
        if len(found) > MAX_SPELLINGS:
            return None
    return sorted(found)


def tags_filter(condition: Condition) -> dict[str, object] | None:
    """The filter on ticket documents selecting exactly the subscribers for whom
    ``condition`` (on ``support.tags``) is TRUE, or ``None`` when there is none."""
    operator = condition.operator
    if operator is Operator.IS_NOT_EMPTY:
        return {"tags.0": {"$exists": True}}
    if operator not in (Operator.CONTAINS_ANY, Operator.CONTAINS_ALL):
        return None
    values = [str(value) for value in condition.value]
    if operator is Operator.CONTAINS_ALL:
        distinct = {v.casefold() for v in values} if condition.case_insensitive else set(values)
        if len(distinct) != 1:
            return None  # several tags, possibly on different tickets: not one document's
    tags = tags_matching(values, condition.case_insensitive)
    if tags is None:
        return None
    return {"tags": {"$in": tags}}
