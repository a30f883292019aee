"""seggraph's plugins: the hook specifications, the manager, and what providers answer.

For plugin authors::

    from seggraph.plugins import hookimpl, ProviderError, MISSING, Noted

See ``seggraph.plugins.hookspecs`` for every hook and ``docs/writing-a-provider.md`` for a
walk-through.
"""

from seggraph.domain.context import EvaluationContext
from seggraph.plugins.hookspecs import PROJECT, hookimpl, hookspec
from seggraph.plugins.results import (
    MISSING,
    Noted,
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
    "Noted",
    "ProviderError",
    "ProviderStatus",
    "ResolvedValue",
    "SubscriberFilter",
    "Unknown",
    "UnknownReason",
    "hookimpl",
    "hookspec",
]
