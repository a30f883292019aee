"""How the API reaches the custom properties provider: through the process's services.

The bundled provider (``plugins/custom_properties``) registers itself as the backend when it
starts; without it the queries answer empty and the mutations refuse with
``PROVIDER_UNAVAILABLE``.
"""

from __future__ import annotations

from seggraph.api.context import Info
from seggraph.domain.custom_properties import CustomPropertiesBackend
from seggraph.domain.errors import InputRefused, UserError


def backend_or_none(info: Info) -> CustomPropertiesBackend | None:
    backend: CustomPropertiesBackend | None = getattr(
        info.context.services, "custom_properties", None
    )
    return backend


def backend(info: Info) -> CustomPropertiesBackend:
    found = backend_or_none(info)
    if found is None:
        raise InputRefused(
            [
                UserError(
                    (),
                    "PROVIDER_UNAVAILABLE",
                    "the custom properties provider is not installed or did not start",
                )
            ]
        )
    return found
