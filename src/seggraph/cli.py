"""The ``seggraph`` command line."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from seggraph import __version__
from seggraph.cli_database import command_settings
from seggraph.cli_keys import keys_app
from seggraph.demo.cli import HELP as DEMO_HELP
from seggraph.demo.cli import SEGMENTS_SHOWN as DEMO_SEGMENTS
from seggraph.demo.cli import demo_command
from seggraph.demo.generator import DEFAULT_SUBSCRIBERS
from seggraph.logs import ServerFormatter
from seggraph.settings import Settings, SettingsError

if TYPE_CHECKING:
    from seggraph.plugins.manager import ProviderInfo

#: Hosts only this machine reaches: serving the embedded database there is a trial.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

app = typer.Typer(
    name="seggraph",
    help="seggraph: which subscribers are in which segments, answered over GraphQL.\n\n"
    "Start with `seggraph serve`, then open http://127.0.0.1:8000/graphql in a browser.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown: a docstring's paragraphs are re-flowed to the terminal's width (with "rich",
    # its line breaks are kept and the text comes out ragged on an 80-column terminal).
    rich_markup_mode="markdown",
)
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    """For ``serve`` and ``plugins``, which warn of a misspelled ``SEGGRAPH_*`` name as they
    load the plugins (the server's log, ``plugins``' warnings)."""
    return command_settings(console, check_names=False, **overrides)


def _configure_logging(level: str) -> None:
    """The server's log lines, uvicorn's included (``uvicorn.run(log_config=None)`` leaves its
    loggers to this handler): :class:`~seggraph.logs.ServerFormatter`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ServerFormatter())
    logging.basicConfig(level=level, handlers=[handler])


SERVE_HELP = f"""Serve the GraphQL API.

With SEGGRAPH_MONGODB_URI set, seggraph uses that MongoDB. Without it, seggraph starts
its embedded database (SecantusDB) as a child process, keeps its data in the data
directory, and stops it when you press Ctrl-C. With --demo, an empty database gets the
demo data set ({DEFAULT_SUBSCRIBERS:,} subscribers, {DEMO_SEGMENTS}) before the API starts.
"""


@app.command(help=SERVE_HELP)
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: SEGGRAPH_HOST, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: SEGGRAPH_PORT, else 8000).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Embedded database directory "
            "(default: SEGGRAPH_DATA_DIR, else ~/.local/share/seggraph/db)."
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Load the demo data set and example segments first, unless they are loaded "
            "(see `seggraph demo --help`).",
        ),
    ] = False,
) -> None:
    """``seggraph serve`` (its help is :data:`SERVE_HELP`)."""
    import uvicorn

    from seggraph.app import create_app
    from seggraph.embedded import (
        EmbeddedDatabase,
        EmbeddedDatabaseError,
        forget_running,
        record_running,
        running_server,
    )

    settings = _settings(host=host, port=port, data_dir=data_dir)
    _configure_logging(settings.log_level.value)
    log = logging.getLogger("seggraph.serve")
    if demo:
        from seggraph.demo.cli import apply_cdp_defaults, serve_demo

        apply_cdp_defaults(log)

    # SIGTERM is a clean exit from here on, so that the embedded database is stopped by the
    # ``finally`` below instead of being orphaned: while the demo loads, and once uvicorn runs
    # (it shuts down gracefully on SIGTERM, then re-raises the signal to this handler).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def load_demo(uri: str) -> None:
        try:
            serve_demo(settings, uri, log)
        except (KeyboardInterrupt, SystemExit):
            log.warning(
                "stopped while loading the demo: it is loaded in part; `seggraph serve --demo` "
                "(or `seggraph demo`) completes it"
            )
            raise

    def run(app_settings: Settings) -> None:
        uvicorn.run(
            create_app(app_settings, freeze_after_startup=True),
            host=app_settings.host,
            port=app_settings.port,
            log_level=app_settings.log_level.value.lower(),
            log_config=None,  # its lines in seggraph's format (_configure_logging)
            # Without it, uvicorn waits for every request in flight however long (a second
            # SIGTERM does not force it), and a supervisor's SIGKILL then skips the providers'
            # shutdown, the database client's close and the embedded database's stop.
            timeout_graceful_shutdown=app_settings.shutdown_timeout_seconds,
        )

    _log_auth(log, settings)
    if not settings.embedded:
        log.info("using the MongoDB at SEGGRAPH_MONGODB_URI")
        if demo:
            load_demo(settings.mongodb_uri or "")
        run(settings)
        return
    running = running_server(settings.data_dir)
    if running is not None:
        console.print(
            f"[red]error:[/red] the data directory {settings.data_dir} is in use by another "
            f"seggraph serve (pid {running.get('serve_pid', '?')}, its database at "
            f"{running['uri']}): stop that one first, or give this one another "
            "SEGGRAPH_DATA_DIR (--data-dir)"
        )
        raise typer.Exit(1)
    embedded = EmbeddedDatabase(settings.data_dir)
    watch: _DatabaseWatch | None = None
    try:
        uri = embedded.start()
    except EmbeddedDatabaseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    try:
        log.info(
            "using the embedded database (SecantusDB) at %s, data in %s", uri, settings.data_dir
        )
        if settings.host not in LOOPBACK_HOSTS:
            # Reachable by others, so possibly a deployment whose SEGGRAPH_MONGODB_URI came out
            # empty (a missing secret in a template): say so, rather than only at INFO.
            log.warning(
                "serving on %s with the embedded database, since SEGGRAPH_MONGODB_URI is unset "
                "or empty: the data is kept in %s on this machine only. A deployment sets "
                "SEGGRAPH_MONGODB_URI to its MongoDB (README: Using a real MongoDB or Atlas)",
                settings.host,
                settings.data_dir,
            )
        # `seggraph keys` reaches this database through the record while it holds the directory.
        assert embedded.process is not None
        record_running(settings.data_dir, uri, embedded.process.pid)
        if demo:
            load_demo(uri)
        watch = _DatabaseWatch(embedded.process, log)
        watch.start()
        run(settings.model_copy(update={"mongodb_uri": uri}))
    finally:
        if watch is not None:
            watch.stop()
        forget_running(settings.data_dir)
        log.info("stopping the embedded database")
        embedded.stop()
        if watch is not None and watch.died:
            raise typer.Exit(1)  # not a clean stop: a supervisor restarts the server


def _log_auth(log: logging.Logger, settings: Settings) -> None:
    if settings.auth:
        log.info(
            "GraphQL requests need an API key: create one (in another terminal) with "
            "`seggraph keys create --mode test --role write` and send it as "
            "`Authorization: Bearer sg_…`; SEGGRAPH_AUTH=off turns keys off for local development"
        )
    else:
        log.warning(
            "SEGGRAPH_AUTH is off: /graphql answers without an API key, in the mode the "
            "X-Seggraph-Mode header names (local development only)"
        )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


class _DatabaseWatch(threading.Thread):
    """Stops ``seggraph serve`` when its embedded database dies: without it every request
    fails while ``/healthz`` says the process is fine, and nothing would ever start the
    database again. The server shuts down as on SIGTERM and exits with 1, so whatever
    supervises it starts it (and the database) again."""

    def __init__(self, process: subprocess.Popen[bytes] | None, log: logging.Logger) -> None:
        super().__init__(name="embedded-database-watch", daemon=True)
        self.process = process
        self.log = log
        self.died = False
        self._stopping = threading.Event()

    def run(self) -> None:
        process = self.process
        if process is None:
            return
        while process.poll() is None:
            if self._stopping.wait(1.0):
                return
        if self._stopping.is_set():
            return  # stopped by the server itself
        self.died = True
        self.log.error(
            "the embedded database stopped (exit code %s): stopping the server, so that "
            "whatever supervises it can start it again",
            process.returncode,
        )
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        self._stopping.set()


@app.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Argument(help="Where to write the SDL.")] = Path(
        "schema.graphql"
    ),
) -> None:
    """Write the GraphQL schema (SDL) to a file, schema.graphql by default."""
    from seggraph.api.schema import schema_sdl

    try:
        output.write_text(schema_sdl(), encoding="utf-8")
    except OSError as exc:
        console.print(f"[red]error:[/red] could not write {output}: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    console.print(f"wrote {output}")


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the installed plugins: version, status, hooks and properties.

    Plugins are found through the `seggraph` entry-point group, under SEGGRAPH_PLUGINS and
    SEGGRAPH_DISABLE_PLUGINS. Providers are not started: a provider whose properties live in
    the database may list only some of them here. A name in SEGGRAPH_PLUGINS that no
    installed plugin has is a warning on standard error (and, with --json, an entry with the
    status NOT_INSTALLED), and so are such a name in SEGGRAPH_DISABLE_PLUGINS, a SEGGRAPH_*
    variable that no setting has (a misspelled name), and a hook mistake pluggy keeps quiet
    about (a method named after a hook but not marked @hookimpl, a hook parameter with a
    default value).
    """
    import json

    from seggraph.plugins.manager import PluginManager, disabled_not_installed

    settings = _settings()
    # The table says what failed; keep the log's tracebacks out of the way.
    logging.getLogger("seggraph").addHandler(logging.NullHandler())
    logging.getLogger("seggraph").propagate = False
    manager = PluginManager.load(settings)
    manager.declare_all()
    infos = manager.describe()
    for key, first, second in manager.conflicts():
        console.print(
            f"[red]error:[/red] property {key!r} is declared by both {first!r} and {second!r}: "
            "the server will refuse to start"
        )
    for info in infos:  # what the server logs as warnings when it loads the plugin
        for mistake in manager.hook_mistakes(info.name):
            console.print(f"[yellow]warning:[/yellow] plugin {info.name!r}: {escape(mistake)}")
    missing = manager.not_installed()
    for name in missing:
        console.print(f"[yellow]warning:[/yellow] {escape(_not_installed(name))}")
    for name in manager.disabled_not_installed():
        console.print(f"[yellow]warning:[/yellow] {escape(disabled_not_installed(name))}")
    for unknown in manager.unknown_settings():
        console.print(f"[yellow]warning:[/yellow] {escape(unknown)}")
    if as_json:
        listed = [_plugin_json(info) for info in infos] + [_missing_json(n) for n in missing]
        typer.echo(json.dumps(listed, indent=2))
        return
    _print_plugins(infos)


def _not_installed(name: str) -> str:
    return f"SEGGRAPH_PLUGINS names {name!r}, which is not installed"


def _missing_json(name: str) -> dict[str, object]:
    """A name SEGGRAPH_PLUGINS gives that no installed plugin has (status NOT_INSTALLED)."""
    return {
        "name": name,
        "version": None,
        "status": "NOT_INSTALLED",
        "origin": None,
        "error": _not_installed(name),
        "hooks": [],
        "properties": [],
    }


def _plugin_json(info: ProviderInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "version": info.version,
        "status": info.status.value,
        "origin": info.origin,
        "error": info.last_error,
        "hooks": list(info.hooks),
        "properties": [
            {
                "key": d.key,
                "label": d.label,
                "namespace": d.namespace,
                "type": d.type.value,
                "description": d.description,
                "enum_values": list(d.enum_values),
                "unit": d.unit,
                "currency": d.currency,
            }
            for d in info.properties
        ],
    }


def _print_plugins(infos: list[ProviderInfo]) -> None:
    from rich.table import Table

    if not infos:
        Console().print("No plugins installed (entry-point group `seggraph`).")
        return
    table = Table(title="seggraph plugins", show_lines=True)
    for column in ("name", "version", "status", "hooks", "properties"):
        table.add_column(column, overflow="fold")
    for info in infos:
        status = info.status.value
        if info.last_error:
            status += f"\n{info.last_error}"
        table.add_row(
            info.name,
            info.version or "",
            status,
            "\n".join(info.hooks),
            "\n".join(f"{d.key} ({d.type.value})" for d in info.properties),
        )
    Console().print(table)


app.add_typer(keys_app, name="keys")
app.command("demo", help=DEMO_HELP)(demo_command)

import_app = typer.Typer(
    help="Bulk-import a provider's data from a file (see each command's --help).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

#: ``seggraph import NAME``: the bundled providers' import commands, as ``module:function``,
#: each added when its provider is installed.
IMPORT_COMMANDS: dict[str, str] = {
    "billing": "seggraph_billing.cli:import_billing",
    "custom": "seggraph_custom.cli:import_custom",
    "crm": "seggraph_crm.cli:import_crm",
}


def _add_import_commands() -> None:
    import importlib

    for name, target in IMPORT_COMMANDS.items():
        module_name, _, function = target.partition(":")
        try:
            command = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError):
            continue
        import_app.command(name)(command)


_add_import_commands()


@app.command()
def version() -> None:
    """Print seggraph's version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except SettingsError as exc:  # a provider's, met while loading the plugins
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None
