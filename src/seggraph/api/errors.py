"""``userErrors``: how mutations report refused input instead of throwing."""

from __future__ import annotations

import strawberry

from seggraph.domain.errors import UserError


@strawberry.type(
    name="UserError",
    description="A problem with one part of an input. In userErrors: a refusal (a mutation "
    "then wrote nothing; a query answered nothing else). In warnings: the input was accepted "
    "(written, or evaluated) all the same, and this is worth knowing.",
)
class UserErrorType:
    path: list[str] = strawberry.field(
        description="Where in the input: argument and field names and list indices, as "
        'strings, e.g. ["conditions", "groups", "1", "conditions", "0", "value"], '
        '["expectedVersion"] or ["values", "3", "key"]. A mutation taking one input object '
        'starts at its fields (["name"]), except setCustomPropertyValue (["input", "value"]). '
        "Empty when no one part is at fault (PROVIDER_UNAVAILABLE; createSegment's TOO_MANY, "
        "its mode holding as many active segments as it may)."
    )
    code: str = strawberry.field(
        description="A stable machine-readable code, e.g. BLANK, TOO_LONG, VERSION_CONFLICT "
        "or SEGMENT_IN_USE."
    )
    message: str = strawberry.field(
        description="What is wrong and what was expected, in English, for a person."
    )

    @classmethod
    def of(cls, error: UserError) -> UserErrorType:
        return cls(path=[str(p) for p in error.path], code=error.code, message=error.message)


def user_errors(errors: list[UserError] | tuple[UserError, ...]) -> list[UserErrorType]:
    return [UserErrorType.of(e) for e in errors]
