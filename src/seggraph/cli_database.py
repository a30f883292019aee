"""The database a one-off command (an import, the demo loader) writes to.

``SEGGRAPH_MONGODB_URI`` when it is set; otherwise the embedded database, started on the data
directory for the length of the command. The embedded database locks its directory, so while a
``seggraph serve`` runs on it, starting another one fails with
:class:`seggraph.embedded.EmbeddedDatabaseError` — unless the command asks to use the running
server's database (``use_running_server``), which ``seggraph serve`` records beside the
directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from seggraph.settings import Settings


@contextlib.contextmanager
def database_uri(settings: Settings, *, use_running_server: bool = False) -> Iterator[str]:
    """The configured MongoDB, or the embedded database started on the data directory (or,
    with ``use_running_server``, the one a running ``seggraph serve`` holds there)."""
    if settings.mongodb_uri:
        yield settings.mongodb_uri
        return
    from seggraph.embedded import EmbeddedDatabase, running_uri

    if use_running_server:
        uri = running_uri(settings.data_dir)
        if uri is not None:
            yield uri
            return
    with EmbeddedDatabase(settings.data_dir) as embedded:
        yield embedded.uri
