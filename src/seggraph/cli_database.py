"""The settings of a one-off command (an import, ``seggraph keys``, the demo loader) and the
database it writes to.

``SEGGRAPH_MONGODB_URI`` when it is set; otherwise the embedded database, started on the data
directory for the length of the command. Only one process at a time runs a database on a data
directory (:class:`seggraph.embedded.DirectoryLock`), so while a ``seggraph serve`` starts or
runs on it, starting another one fails with :class:`seggraph.embedded.DataDirectoryInUse` —
unless the command asks to use the running server's database (``use_running_server``), which
``seggraph serve`` records beside the directory once its database is up.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import typer
from rich.console import Console
from rich.markup import escape

from seggraph.settings import Settings, SettingsError, load_settings


def command_settings(
    console: Console, *, check_names: bool = True, **overrides: object
) -> Settings:
    """The settings of a CLI command (``overrides``, its options, win when not ``None``): a
    malformed one is an ``error:`` line and exit status 2. With ``check_names``, each
    ``SEGGRAPH_*`` variable that no setting has (a misspelled name: ``SEGGRAPH_MONGO_URI``
    would leave the command writing to the embedded database) is a ``warning:`` line naming
    the closest setting, never the value, as ``seggraph serve`` logs it (``serve`` and
    ``seggraph plugins``, which say so themselves, do not ask)."""
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if check_names:
        for warning in unknown_settings(settings):
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    return settings


def unknown_settings(settings: Settings) -> list[str]:
    """:meth:`~seggraph.plugins.manager.PluginManager.unknown_settings` of the installed
    plugins, imported and made (they are not started), as ``seggraph serve`` loads them.
    Quiet: a plugin that cannot be loaded (``seggraph plugins`` says why), or whose own
    setting is malformed (the command does not need it), keeps its ``SEGGRAPH_<NAME>_``
    variables, unchecked."""
    from seggraph.plugins import loader
    from seggraph.plugins.manager import PluginManager

    manager = PluginManager(settings)
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the plugins' log lines too: not this command's
    try:
        for source in loader.discover():
            try:
                manager.add_entry_point(source)
            except SettingsError:
                continue  # not loaded: its variables are its own
        return manager.unknown_settings()
    finally:
        logging.disable(previous)


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
#: What a command stopped by Ctrl-C or SIGTERM says it leaves, by default.
AFTER_INTERRUPT = "what it wrote before is kept; run the same command again to complete it"
#: The exit status of a command stopped by a signal: 128 and the signal's number.
EXIT_INTERRUPTED = {"Ctrl-C": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


class _Interruption:
    """Which signal stopped the command (Ctrl-C unless SIGTERM came)."""

    def __init__(self) -> None:
        self.by = "Ctrl-C"


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[_Interruption]:
    """SIGTERM taken as Ctrl-C while a command works: by default it ended the process at once,
    without a word, leaving the embedded database to stop on its own after seggraph had
    released the data directory (the next command then failed to start it)."""
    seen = _Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        seen.by = "SIGTERM"
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint):  # Python's, or asyncio.run's (it cancels the main task)
            on_sigint(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job of a script)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def command_database(
    settings: Settings,
    console: Console,
    *,
    after_failure: str = AFTER_FAILURE,
    after_interrupt: str | Callable[[], str] = AFTER_INTERRUPT,
) -> Iterator[str]:
    """:func:`database_uri` for a CLI command, through a running ``seggraph serve`` when there
    is one: an embedded database that cannot start (SecantusDB not installed, the directory
    held by another process, a failed start) is an ``error:`` line and exit status 1, not a
    traceback. So is the database failing while the command works (unreachable, or refusing a
    read or write): the line says so, then ``after_failure``, what the command's writes may
    have left and what to do (run it again, ...). Ctrl-C or SIGTERM stops the command and
    the embedded database, then says so and ``after_interrupt`` (a text, or a function
    giving it then), with the exit status 130 (143 for SIGTERM), not a traceback."""
    from pymongo.errors import PyMongoError

    from seggraph.db import database_unavailable
    from seggraph.embedded import EmbeddedDatabaseError

    interruption = _Interruption()
    try:
        with (
            _sigterm_as_ctrl_c() as interruption,
            database_uri(settings, use_running_server=True) as uri,
        ):
            yield uri
    except KeyboardInterrupt:
        said = after_interrupt if isinstance(after_interrupt, str) else after_interrupt()
        console.print(f"[yellow]interrupted[/yellow] ({interruption.by}): {said}")
        raise typer.Exit(EXIT_INTERRUPTED[interruption.by]) from None
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
