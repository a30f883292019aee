"""Conditions given as a tree or as text."""

from __future__ import annotations

from seggraph.api.segments.conditions import ConditionGroupInput, to_domain
from seggraph.domain.conditions import Group
from seggraph.domain.errors import InputRefused, PathPart, UserError
from seggraph.textform import TextFormError, parse
from seggraph.textform.vocabulary import MAX_TEXT

MAX_CONDITIONS_TEXT = MAX_TEXT


def conditions_input(
    tree: ConditionGroupInput | None, text: str | None, *, required: bool
) -> tuple[Group | None, tuple[PathPart, ...]]:
    """The domain tree and the input path its errors are reported under."""
    if tree is not None and text is not None:
        raise InputRefused(
            [
                UserError(
                    ("conditionsText",),
                    "AMBIGUOUS",
                    "give the conditions as a tree (conditions) or as text (conditionsText), "
                    "not both",
                )
            ]
        )
    if text is not None:
        if len(text) > MAX_CONDITIONS_TEXT:
            raise InputRefused(
                [
                    UserError(
                        ("conditionsText",),
                        "TOO_LONG",
                        f"conditionsText has at most {MAX_CONDITIONS_TEXT} characters",
                    )
                ]
            )
        try:
            return parse(text), ("conditionsText",)
        except TextFormError as error:
            raise InputRefused(
                [UserError(("conditionsText",), "PARSE_ERROR", str(error))]
            ) from None
    if tree is not None:
        return to_domain(tree), ("conditions",)
    if required:
        raise InputRefused(
            [UserError(("conditions",), "REQUIRED", "give conditions or conditionsText")]
        )
    return None, ("conditions",)
