"""The ``seggraph`` command line."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from seggraph import __version__
from seggraph.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    name="seggraph",
    help="seggraph: which subscribers are in which segments, answered over GraphQL.\n\n"
    "Start with `seggraph serve`, then open http://127.0.0.1:8000/graphql in a browser.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env: SEGGRAPH_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [env: SEGGRAPH_PORT].")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Embedded database directory [env: SEGGRAPH_DATA_DIR]."),
    ] = None,
) -> None:
    """Serve the GraphQL API.

    With SEGGRAPH_MONGODB_URI set, seggraph uses that MongoDB. Without it, seggraph starts
    its embedded database (SecantusDB) as a child process, keeps its data in the data
    directory, and stops it when you press Ctrl-C.
    """
    import uvicorn

    from seggraph.app import create_app
    from seggraph.embedded import EmbeddedDatabase, EmbeddedDatabaseError

    settings = _settings(host=host, port=port, data_dir=data_dir)
    _configure_logging(settings.log_level.value)
    log = logging.getLogger("seggraph.serve")

    def run(app_settings: Settings) -> None:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to the handler
        # that was installed before it: make that a clean exit, so the embedded database is
        # stopped by the ``finally`` below instead of being orphaned.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        uvicorn.run(
            create_app(app_settings),
            host=app_settings.host,
            port=app_settings.port,
            log_level=app_settings.log_level.value.lower(),
        )

    if not settings.embedded:
        log.info("using the MongoDB at SEGGRAPH_MONGODB_URI")
        run(settings)
        return
    embedded = EmbeddedDatabase(settings.data_dir)
    try:
        uri = embedded.start()
    except EmbeddedDatabaseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    try:
        log.info(
            "using the embedded database (SecantusDB) at %s, data in %s", uri, settings.data_dir
        )
        run(settings.model_copy(update={"mongodb_uri": uri}))
    finally:
        log.info("stopping the embedded database")
        embedded.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@app.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Argument(help="Where to write the SDL.")] = Path(
        "schema.graphql"
    ),
) -> None:
    """Write the GraphQL schema (SDL) to a file, schema.graphql by default."""
    from seggraph.api.schema import schema_sdl

    output.write_text(schema_sdl(), encoding="utf-8")
    console.print(f"wrote {output}")


@app.command()
def version() -> None:
    """Print seggraph's version."""
    typer.echo(__version__)


def main() -> None:
    app()
