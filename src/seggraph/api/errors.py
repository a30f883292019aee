"""``userErrors``: how mutations report refused input instead of throwing."""

from __future__ import annotations

import strawberry

from seggraph.domain.errors import UserError


@strawberry.type(name="UserError", description="One refused part of an input. Nothing was written.")
class UserErrorType:
    path: list[str] = strawberry.field(
        description="Field names and list indices from the input root, "
        'e.g. ["conditions", "children", "2", "value"].'
    )
    code: str = strawberry.field(
        description="A stable machine-readable code, e.g. BLANK or VERSION_CONFLICT."
    )
    message: str = strawberry.field(description="What was expected, for a person.")

    @classmethod
    def of(cls, error: UserError) -> UserErrorType:
        return cls(path=[str(p) for p in error.path], code=error.code, message=error.message)


def user_errors(errors: list[UserError] | tuple[UserError, ...]) -> list[UserErrorType]:
    return [UserErrorType.of(e) for e in errors]
