"""seggraph with the evaluation's answers kept (stage 2's third server): the floor of
``subscriber { segments }`` in this stack.

    python -m bench.floor_server --port P --mongodb-uri URI

The same application as ``seggraph serve`` (the bundled providers, the same settings), except
that :meth:`EvaluationService.segments_for` and :meth:`EvaluationService.evaluate` keep each
answer by their arguments and give it again, and that :meth:`EvaluationService.prefetch`
starts no read: after the first request, ``subscriber { segments }`` reads no segment, calls
no provider and evaluates nothing. What it still costs is HTTP,
Strawberry and graphql-core (two fields with arguments, a list of 20 objects) and making the
20 results: the least that any evaluation, however fast, can cost a request of this shape
here. Its ratio to the trivial query is therefore the floor under the target's ratio.

Never a way to serve: the kept answers never change. The methods are replaced in this process
only (this module is not imported by seggraph).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import uvicorn

from seggraph.app import create_app
from seggraph.services.evaluation import EvaluationService
from seggraph.settings import Settings


def kept(method: Callable[..., Awaitable[Any]], key: Callable[..., Any]) -> Any:
    """``method`` answering from a dict by ``key(*args, **kwargs)`` after its first answer."""
    answers: dict[Any, Any] = {}

    @wraps(method)
    async def answer(self: EvaluationService, *args: Any, **kwargs: Any) -> Any:
        found = key(*args, **kwargs)
        if found not in answers:
            answers[found] = await method(self, *args, **kwargs)
        return answers[found]

    return answer


def keep_answers(name: str, key: Callable[..., Any]) -> None:
    """``EvaluationService.<name>`` made to answer by ``key`` from its first answer (:func:`kept`),
    in this process."""
    setattr(EvaluationService, name, kept(getattr(EvaluationService, name), key))


def no_prefetch(self: EvaluationService, *args: Any, **kwargs: Any) -> None:
    """No early read of the subscriber's values (``seggraph.api.prefetch``): with the answers
    kept, nothing would use it, and the floor reads nothing."""


def _segments_key(mode: Any, **kwargs: Any) -> Any:
    return mode, repr(sorted(kwargs.items()))


def _evaluate_key(mode: Any, context: Any, targets: Any, **kwargs: Any) -> Any:
    return mode, context, tuple((s.id, s.version) for s in targets), repr(sorted(kwargs.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--database", default="seggraph")
    args = parser.parse_args()
    keep_answers("segments_for", _segments_key)
    keep_answers("evaluate", _evaluate_key)
    EvaluationService.prefetch = no_prefetch  # type: ignore[method-assign]
    settings = Settings(
        mongodb_uri=args.mongodb_uri, database=args.database, auth=False, _env_file=None
    )
    app = create_app(settings, freeze_after_startup=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
