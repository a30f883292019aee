"""The database a one-off command (an import, the demo loader) writes to.

``SEGGRAPH_MONGODB_URI`` when it is set; otherwise the embedded database, started on the data
directory for the length of the command. Only one process at a time runs a database on a data
directory (:class:`seggraph.embedded.DirectoryLock`), so while a ``seggraph serve`` starts or
runs on it, starting another one fails with :class:`seggraph.embedded.DataDirectoryInUse` —
unless the command asks to use the running server's database (``use_running_server``), which
``seggraph serve`` records beside the directory once its database is up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

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


#: What a command that the database failed in the middle of says it leaves, by default.
AFTER_FAILURE = "run the command again once the database answers"


@contextlib.contextmanager
def command_database(
    settings: Settings, console: Console, *, after_failure: str = AFTER_FAILURE
) -> Iterator[str]:
    """:func:`database_uri` for a CLI command, through a running ``seggraph serve`` when there
    is one: an embedded database that cannot start (SecantusDB not installed, the directory
    held by another process, a failed start) is an ``error:`` line and exit status 1, not a
    traceback. So is the database failing while the command works (unreachable, or refusing a
    read or write): the line says so, then ``after_failure``, what the command's writes may
    have left and what to do (run it again, ...)."""
    from pymongo.errors import PyMongoError

    from seggraph.db import database_unavailable
    from seggraph.embedded import EmbeddedDatabaseError

    try:
        with database_uri(settings, use_running_server=True) as uri:
            yield uri
    except EmbeddedDatabaseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except PyMongoError as exc:
        console.print(
            f"[red]error:[/red] {_failure(exc, database_unavailable(exc))}; {after_failure}"
        )
        raise typer.Exit(1) from None


def _failure(exc: BaseException, unavailable: bool) -> str:
    """The database's failure in one line: unavailable, or what it refused (its code and the
    first line of its message, which for a bulk write is a summary, not the documents)."""
    if unavailable:
        return "the database is unavailable"
    code = getattr(exc, "code", None)
    first = (str(exc).splitlines() or [""])[0][:200]
    said = f"{type(exc).__name__}" + (f" {code}" if code is not None else "")
    return f"the database failed an operation ({said}: {escape(first)})"
