"""seggraph's plugins: the hook specifications, the manager, and what providers answer.

For plugin authors::

    from seggraph.plugins import hookimpl, ProviderError, MISSING

See ``seggraph.plugins.hookspecs`` for every hook and ``docs/writing-a-provider.md`` for a
walk-through.
"""

from seggraph.domain.context import EvaluationContext
from seggraph.plugins.hookspecs import PROJECT, hookimpl, hookspec
from seggraph.plugins.results import (
    MISSING,
    ProviderError,
    ProviderStatus,
    ResolvedValue,
    SubscriberFilter,
    Unknown,
    UnknownReason,
)

__all__ = [
    "MISSING",
    "PROJECT",
    "EvaluationContext",
    "ProviderError",
    "ProviderStatus",
    "ResolvedValue",
    "SubscriberFilter",
    "Unknown",
    "UnknownReason",
    "hookimpl",
    "hookspec",
]
