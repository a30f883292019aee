"""CRM fixtures."""

from __future__ import annotations

from tests.providers.servers import seggraph_database  # noqa: F401
