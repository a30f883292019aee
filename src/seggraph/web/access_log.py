"""uvicorn's access log without query strings.

uvicorn writes each request's path with its query string at INFO. A GraphQL request by GET
carries its operation and variables there (a subscriber id, an email address), so every such
request would put them in the log, where personal data has no business. The line keeps the
path and says that a query string was there.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class QueryStringHidden(logging.Filter):
    """Replaces the query string of an access log line's path (its third argument) by ``…``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, question, _ = args[2].partition("?")
            if question:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def hide_query_strings() -> None:
    """Install :class:`QueryStringHidden` on uvicorn's access logger (once)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, QueryStringHidden) for f in logger.filters):
        logger.addFilter(QueryStringHidden())
