"""``seggraph demo`` and ``seggraph serve --demo``: load the demo data set, with a progress bar.

Imports nothing heavy at module level: ``seggraph.cli`` registers :func:`demo_command` at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from seggraph.demo.generator import CDP_EVENTS, CDP_TRAITS, DEFAULT_SUBSCRIBERS, PERSONAS
from seggraph.demo.segments import SEGMENTS

if TYPE_CHECKING:
    from seggraph.demo.loader import DemoReport
    from seggraph.settings import Settings

console = Console(stderr=True)
#: What ``--demo`` declares for the CDP when the variables are unset (the demo's traits and
#: events then have properties: ``cdp.trait.plan``, ``cdp.event.login.count_30d`` …).
CDP_DEFAULTS = {"SEGGRAPH_CDP_TRAITS": CDP_TRAITS, "SEGGRAPH_CDP_EVENTS": CDP_EVENTS}


def apply_cdp_defaults(log: logging.Logger | None = None) -> None:
    """Declare the demo's CDP traits and events, unless the environment (or ``.env``) declares
    its own.

    Call before the plugins are loaded (they read their settings when they are created).
    """
    from seggraph.settings import configured_value

    for name, value in CDP_DEFAULTS.items():
        if (configured_value(name) or "").strip():
            continue  # the environment's, or .env's (the environment would win over it)
        os.environ[name] = value
        if log is not None:
            log.info("demo: %s=%s", name, value)


class RichProgress:
    """The loader's progress as one rich bar per stage."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]demo[/bold] {task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.task: object | None = None

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def stage(self, name: str, total: int) -> None:
        self.task = self.progress.add_task(name, total=total)

    def advance(self, count: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, count)  # type: ignore[arg-type]


def run_load(settings: Settings, uri: str, subscribers: int) -> DemoReport:
    """Load the demo (with a progress bar); raises the loader's errors."""
    from seggraph.demo.loader import load_demo

    with RichProgress() as progress:
        return asyncio.run(load_demo(settings, uri, subscribers=subscribers, progress=progress))


def print_report(report: DemoReport, database: str) -> None:
    if not report.loaded:
        console.print(
            f"the demo is already loaded in database {database!r} "
            f"({report.subscribers:,} subscribers); nothing to do"
        )
        return
    counts = report.counts
    console.print(
        f"[green]demo loaded[/green] into database {database!r} in {report.seconds:.1f} s: "
        f"{report.subscribers:,} subscribers, {counts.get('billing_subscriptions', 0):,} "
        f"subscriptions, {counts.get('billing_invoices', 0):,} invoices, "
        f"{counts.get('crm_contacts', 0):,} CRM contacts, {counts.get('cdp_messages', 0):,} CDP "
        f"messages, {counts.get('custom_values', 0):,} custom values, "
        f"{len(report.segments)} segments ({len(report.live_segments)} also in LIVE)"
    )
    first = "cus_demo_00001"
    console.print(
        f'try: {{ subscriber(id: "{first}") {{ segments {{ segment {{ name tags }} result }} }} }}'
        f"  — {first} is {PERSONAS[1]}"
    )


def serve_demo(settings: Settings, uri: str, log: logging.Logger) -> None:
    """For ``seggraph serve --demo``: load the demo unless it is there, then let the server
    start. Data that is not the demo's is left alone (the server starts without the demo)."""
    from seggraph.demo.loader import DemoError, DemoRefused

    try:
        report = run_load(settings, uri, DEFAULT_SUBSCRIBERS)
    except DemoRefused as exc:
        log.warning("demo not loaded: %s", exc)
        return
    except DemoError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if report.loaded:
        print_report(report, settings.database)
    else:
        log.info(
            "demo: already loaded in database %r (%d subscribers)",
            settings.database,
            report.subscribers,
        )


#: The demo's segments, for help texts: counted, so that it stays true as segments come and go.
SEGMENTS_SHOWN = f"{len(SEGMENTS)} example segments"
HELP = f"""Load the demo data set: subscribers with billing, CRM, CDP and custom data, and
{SEGMENTS_SHOWN} ({sum(1 for s in SEGMENTS if s.live)} of them copied to LIVE).

Writes to SEGGRAPH_MONGODB_URI, else to the embedded database on the data directory (the
one a running `seggraph serve` holds, when there is one). Loads only into a database
without data of its own; running it again when the demo is loaded does nothing.
`seggraph serve --demo` does the same at start-up, and declares the demo's CDP traits and
events (SEGGRAPH_CDP_TRAITS / SEGGRAPH_CDP_EVENTS, when they are unset).
"""

#: What an interrupted ``seggraph demo`` says: the loader completes an interrupted load.
AFTER_INTERRUPT = (
    "the demo is loaded in part; run `seggraph demo` again (or `seggraph serve --demo`) to "
    "complete it"
)


def demo_command(
    subscribers: Annotated[
        int,
        typer.Option(min=1, max=1_000_000, help="How many subscribers the demo has."),
    ] = DEFAULT_SUBSCRIBERS,
) -> None:
    """``seggraph demo`` (its help is :data:`HELP`)."""
    from seggraph.cli_database import command_database, command_settings
    from seggraph.demo.loader import DemoError

    settings = command_settings(console)
    apply_cdp_defaults()
    try:
        with command_database(settings, console, after_interrupt=AFTER_INTERRUPT) as uri:
            report = run_load(settings, uri, subscribers)
    except DemoError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    print_report(report, settings.database)
