"""``seggraph import custom FILE``: custom property values in bulk, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from seggraph.cli_database import command_database, command_settings
from seggraph.cli_text import counted
from seggraph.db import Database
from seggraph.domain.errors import InputRefused
from seggraph_custom.importer import ImportFileError, ImportRows, read_rows
from seggraph_custom.service import CustomPropertiesService
from seggraph_custom.store import CustomStore

console = Console(stderr=True)
MAX_ERRORS_SHOWN = 20
#: What a database failure in the middle of an import leaves, and what to do.
AFTER_FAILURE = (
    "the values written before it are kept; run the same command again to complete the "
    "import (a value written again replaces itself)"
)


def import_custom(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV (subscriber_id,key,value) or JSON lines.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row; write nothing.")
    ] = False,
) -> None:
    """Import custom property values from CSV or JSON lines.

    CSV needs a header row subscriber_id,key,value (subscription_id,key,value for properties
    that describe subscriptions); each cell is text, coerced by the property's type. JSON lines
    hold one {"subscriber_id", "key", "value"} object each; a null value removes the value.
    Every row is checked first: when any is refused, nothing is written and each refused row
    is listed with the subscriber, the key and why (exit status 1).

    With SEGGRAPH_MONGODB_URI unset this writes to the embedded database in the data
    directory: through the running `seggraph serve` when there is one, so the data is
    served at once.
    """
    settings = command_settings(console)
    try:
        rows = read_rows(file)
    except ImportFileError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    with command_database(
        settings, console, after_failure=AFTER_FAILURE, after_interrupt=AFTER_FAILURE
    ) as uri:
        code = asyncio.run(_run(uri, settings.database, file, rows, dry_run))
    if code:
        raise typer.Exit(code)


async def _run(uri: str, name: str, file: Path, rows: ImportRows, dry_run: bool) -> int:
    database = Database(uri, name)
    try:
        service = CustomPropertiesService(database, CustomStore(database.db))
        stored, errors = await service.check_values(rows.assignments)
        problems = rows.report(errors)
        if problems:
            for line in problems[:MAX_ERRORS_SHOWN]:
                console.print(f"[red]refused[/red] {line}")
            if len(problems) > MAX_ERRORS_SHOWN:
                console.print(f"… and {len(problems) - MAX_ERRORS_SHOWN} more")
            console.print(
                f"[red]{counted(len(problems), 'row')} refused; nothing was written[/red]"
            )
            return 1
        if dry_run:
            console.print(
                f"{file}: {counted(len(stored), 'value')} checked; nothing written (--dry-run)"
            )
            return 0
        await service.store.ensure_indexes()  # only now: a check writes nothing
        with Progress(
            TextColumn("[bold]importing[/bold] custom values"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(stored))
            written = 0

            def advance(count: int) -> None:
                nonlocal written
                written += count
                progress.advance(task, count)

            try:
                stored = await service.import_values(rows.assignments, advance)
            except InputRefused as changed:
                # A property deleted or given another type since the rows were checked: its
                # values are checked again as each chunk is written, beside the definition.
                progress.stop()
                for line in rows.report(list(changed.errors))[:MAX_ERRORS_SHOWN]:
                    console.print(f"[red]refused[/red] {line}")
                console.print(
                    "[red]a custom property changed while the import ran: the first "
                    f"{counted(written, 'row')} of the file were written, the rest were not[/red] "
                    "(change the rows refused and run the import again)"
                )
                return 1
        removed = sum(1 for s in stored if s.value is None)
        console.print(f"{file}: {counted(len(stored) - removed, 'value')} set, {removed:,} removed")
        return 0
    finally:
        await database.close()
