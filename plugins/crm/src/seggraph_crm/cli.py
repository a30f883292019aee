"""``seggraph import crm FILE``: contacts and companies in bulk, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from seggraph.cli_database import command_database, command_settings
from seggraph.cli_text import counted
from seggraph_crm.importer import ImportFileError
from seggraph_crm.provider import CrmProvider
from seggraph_crm.records import ParsedRecords, RecordKind

console = Console(stderr=True)
MAX_ERRORS_SHOWN = 20
#: What a database failure in the middle of an import leaves, and what to do.
AFTER_FAILURE = (
    "the records written before it are kept; run the same command again to complete the "
    "import (a record written again replaces itself)"
)


def import_crm(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, JSON or JSON lines."),
    ],
    kind: Annotated[
        RecordKind | None,
        typer.Option(help="What the file holds; guessed from its name or header when omitted."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every record; write nothing.")
    ] = False,
) -> None:
    """Import CRM contacts and companies (HubSpot-shaped) from CSV or JSON.

    A CSV file holds one kind (contacts or companies); a JSON file may hold both as
    {"contacts": [...], "companies": [...]}. Columns are HubSpot's property names or export
    labels (see plugins/crm/README.md). Every record is checked first: when any is refused,
    nothing is written and each problem is listed (exit status 1). A record whose id was
    imported before replaces it.

    With SEGGRAPH_MONGODB_URI unset this writes to the embedded database in the data
    directory: through the running `seggraph serve` when there is one, so the data is
    served at once.
    """
    settings = command_settings(console)
    provider = CrmProvider()
    provider.currency = settings.currency
    try:
        parsed = provider.read_file(file, kind)
    except ImportFileError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if parsed.errors:
        for error in parsed.errors[:MAX_ERRORS_SHOWN]:
            console.print(f"[red]refused[/red] {error}")
        if len(parsed.errors) > MAX_ERRORS_SHOWN:
            console.print(f"… and {len(parsed.errors) - MAX_ERRORS_SHOWN} more")
        console.print(f"[red]{counted(len(parsed.errors), 'problem')}; nothing was written[/red]")
        raise typer.Exit(1)
    summary = (
        f"{counted(len(parsed.contacts), 'contact')}, "
        f"{counted(len(parsed.companies), 'company', 'companies')}"
    )
    if dry_run:
        console.print(f"{file}: {summary} checked; nothing written (--dry-run)")
        return
    with command_database(
        settings, console, after_failure=AFTER_FAILURE, after_interrupt=AFTER_FAILURE
    ) as uri:
        asyncio.run(_run(uri, settings.database, provider, parsed))
    console.print(f"{file}: {summary} imported")


async def _run(uri: str, name: str, provider: CrmProvider, parsed: ParsedRecords) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        provider.bind(client[name], currency=provider.currency)
        await provider.start()
        total = len(parsed.contacts) + len(parsed.companies)
        with Progress(
            TextColumn("[bold]importing[/bold] CRM records"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=total)
            await provider.write(parsed, lambda n: progress.advance(task, n))
    finally:
        await client.close()
