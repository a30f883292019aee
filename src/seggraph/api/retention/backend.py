"""How the API reaches the provider keeping retention events: through the process's services.

The bundled billing provider registers itself as the backend when it starts; without it the
query answers empty and the mutation refuses with ``PROVIDER_UNAVAILABLE``.
"""

from __future__ import annotations

from seggraph.api.context import Info
from seggraph.domain.errors import InputRefused, UserError
from seggraph.domain.retention import RetentionBackend


def backend_or_none(info: Info) -> RetentionBackend | None:
    found: RetentionBackend | None = getattr(info.context.services, "retention", None)
    return found


def backend(info: Info) -> RetentionBackend:
    found = backend_or_none(info)
    if found is None:
        raise InputRefused(
            [
                UserError(
                    (),
                    "PROVIDER_UNAVAILABLE",
                    "the billing provider, which keeps retention events, is not installed or "
                    "did not start",
                )
            ]
        )
    return found
