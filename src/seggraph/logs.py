"""The log lines of ``seggraph serve``: one format for seggraph's, the providers' and uvicorn's.

Every line has its time, level and logger; a line written while a request is handled (the
access line among them) starts with ``request <id>:``, the id the client received in
``X-Request-Id``; and PyMongo's description of the whole topology, which its server
selection errors append to their reason (every server, its state and last error: some 700
characters, on every request while the database is away), is left out.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: The id of the HTTP request being handled (set by
#: :class:`~seggraph.web.middleware.RequestIdMiddleware`), ``None`` outside one.
current_request_id: ContextVar[str | None] = ContextVar("seggraph_request_id", default=None)

_TOPOLOGY = re.compile(r", Timeout: [0-9.e+-]+s, Topology Description: (?=<)")


def without_topology(text: str) -> str:
    """``text`` without PyMongo's ``, Timeout: …s, Topology Description: <…>`` (the reason
    before it stays, and whatever follows the description)."""
    start = 0
    while (found := _TOPOLOGY.search(text, start)) is not None:
        depth, end = 0, len(text)
        for index in range(found.end(), len(text)):
            if text[index] == "<":
                depth += 1
            elif text[index] == ">":
                depth -= 1
                if depth == 0:
                    end = index + 1
                    break
        text = text[: found.start()] + text[end:]
        start = found.start()
    return text


class ServerFormatter(logging.Formatter):
    """:data:`LOG_FORMAT`, the current request's id before the message (unless the message
    names it already), and no topology descriptions."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        request_id = current_request_id.get()
        if request_id and f"request {request_id}" not in record.message:
            # ``format`` sets ``record.message`` afresh each time, so this changes no other
            # handler's line.
            record.message = f"request {request_id}: {record.message}"
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return without_topology(super().format(record))
