"""``seggraph import billing FILE``: the bulk import, with a progress bar."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from seggraph.cli_database import command_database, command_settings
from seggraph.cli_text import counted
from seggraph_billing.importer import DEFAULT_BATCH, ImportReport, default_as_of, import_file
from seggraph_billing.store import BillingStore

console = Console(stderr=True)
MAX_ERRORS_SHOWN = 20


#: What a database failure in the middle of an import leaves, and what to do.
AFTER_FAILURE = (
    "the objects written before it are kept; run the same command again to complete the "
    "import (objects are upserted by id, so what is written already is not changed)"
)


class AsOfRefused(ValueError):
    """``--as-of`` reads as a time, but not one an import may take."""


#: How far ahead of this machine's clock ``--as-of`` may be (another machine's clock skew).
AS_OF_AHEAD = 300.0


def parse_as_of(text: str, now: float | None = None) -> float:
    """Unix seconds, or an ISO-8601 date-time (UTC when it has no offset), not in the future:
    objects imported as of a later time than a webhook event's keep it out (it is stale), so
    a typo such as 2099 or 1e99 would have stopped every webhook update of them for good."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    if not math.isfinite(seconds):
        raise AsOfRefused(f"{text!r} is not a time")
    if seconds > (time.time() if now is None else now) + AS_OF_AHEAD:
        raise AsOfRefused(
            f"{text!r} is in the future: webhook events created before it would be ignored "
            "as stale until then"
        )
    return seconds


def import_billing(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="JSON lines of Stripe objects."
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            help="When the file's data was current (Unix seconds or ISO date-time, read as "
            "UTC without an offset). Webhook events created later win over it. Default: the "
            "file's modification time."
        ),
    ] = None,
    start_line: Annotated[
        int, typer.Option(min=1, help="Resume from this line (earlier lines are skipped).")
    ] = 1,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Objects written per batch.")
    ] = DEFAULT_BATCH,
) -> None:
    """Import billing objects (customers, subscriptions, prices, products, coupons, discounts,
    invoices) from a file of JSON lines.

    Each line is one Stripe-shaped object with its "object" field, e.g.
    {"object": "customer", "id": "cus_1", ...}. Objects are upserted by id: importing the same
    file again changes nothing, so an interrupted import is finished by running it again.
    Bad lines are reported with their line number and skipped; the exit status is 1 when
    there were any.

    With SEGGRAPH_MONGODB_URI unset this writes to the embedded database in the data
    directory: through the running `seggraph serve` when there is one, so the data is
    served at once.
    """
    settings = command_settings(console)
    try:
        version = parse_as_of(as_of) if as_of is not None else default_as_of(file)
    except ValueError as exc:
        why = f": {exc}" if isinstance(exc, AsOfRefused) else ""
        console.print(
            "[red]error:[/red] --as-of: expected Unix seconds or an ISO date-time, not in the "
            f"future, got {as_of!r}{why}"
        )
        raise typer.Exit(2) from None
    written = _Written(start_line)
    with command_database(
        settings, console, after_failure=AFTER_FAILURE, after_interrupt=written.after_interrupt
    ) as uri:
        report = asyncio.run(
            _run(uri, settings.database, file, version, start_line, batch_size, written)
        )
    _print_report(report, file)
    if report.errors:
        raise typer.Exit(1)


class _Written:
    """How far the import has written: every line before ``next_line`` is done (its batch
    written), which an interrupted import says, so that it can be resumed from there."""

    def __init__(self, start_line: int) -> None:
        self.start_line = start_line
        self.next_line = start_line

    def after_interrupt(self) -> str:
        if self.next_line == self.start_line:
            done = "no batch was written yet"
        else:
            done = f"lines {self.start_line} to {self.next_line - 1} are written"
        return (
            f"{done} (the batch in progress may be in part); run the same command again to "
            f"complete the import, or add --start-line {self.next_line} to skip what is written"
        )


async def _run(
    uri: str,
    database: str,
    file: Path,
    version: float,
    start_line: int,
    batch_size: int,
    written: _Written | None = None,
) -> ImportReport:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        store = BillingStore(client[database])
        await store.ensure_indexes()
        with Progress(
            TextColumn("[bold]importing[/bold] {task.fields[lines]} lines"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("import", total=file.stat().st_size, lines=0)

            def advance(done_bytes: int, lines: int) -> None:
                progress.update(task, completed=done_bytes, lines=lines)
                if written is not None:
                    written.next_line = start_line + lines

            return await import_file(
                store,
                file,
                as_of=version,
                start_line=start_line,
                batch_size=batch_size,
                progress=advance,
            )
    finally:
        await client.close()


def _print_report(report: ImportReport, file: Path) -> None:
    kinds = ", ".join(counted(count, kind) for kind, count in sorted(report.by_type.items()))
    console.print(
        f"{file}: {counted(report.lines, 'line')} read; {counted(report.applied, 'object')} "
        f"written, {report.stale} older than what was stored (kept the newer)"
        + (f"; {kinds}" if kinds else "")
    )
    for number, message in report.warnings[:MAX_ERRORS_SHOWN]:
        console.print(f"[yellow]line {number}:[/yellow] {message}")
    if len(report.warnings) > MAX_ERRORS_SHOWN:
        more = len(report.warnings) - MAX_ERRORS_SHOWN
        console.print(f"… and {counted(more, 'more subscription')} with items left out")
    for number, message in report.errors[:MAX_ERRORS_SHOWN]:
        console.print(f"[red]line {number}:[/red] {_about_the_line(number, message)}")
    if len(report.errors) > MAX_ERRORS_SHOWN:
        console.print(f"… and {counted(len(report.errors) - MAX_ERRORS_SHOWN, 'more bad line')}")
    if report.errors:
        console.print(f"[red]{counted(len(report.errors), 'bad line')} skipped[/red]")


def _about_the_line(number: int, message: str) -> str:
    """What is wrong with line ``number``, without the line it is printed after: the importer
    says ``line 4: not JSON`` and ``line 4.customer must be a customer id`` (the object's
    field), which were printed as ``line 4: line 4.customer must be a customer id``."""
    for prefix in (f"line {number}: ", f"line {number}."):
        if message.startswith(prefix):
            return message.removeprefix(prefix)
    return message
