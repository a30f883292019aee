"""``seggraph keys``: create, list and revoke API keys.

The commands reach the database the server uses (:func:`seggraph.cli_database.command_database`):
``SEGGRAPH_MONGODB_URI`` when it is set; otherwise the embedded database of a running
``seggraph serve`` (recorded beside the data directory), or, when no server is running, a
temporary embedded database on the data directory.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from seggraph.cli_database import command_database, command_settings
from seggraph.domain.api_keys import MAX_NAME, ApiKey, Role, parse_key
from seggraph.domain.segments import Mode
from seggraph.settings import Settings

if TYPE_CHECKING:
    from seggraph.services.api_keys import ApiKeyService

T = TypeVar("T")

keys_app = typer.Typer(
    help="Create, list and revoke API keys (every GraphQL request needs one; see README "
    '"Security").',
    no_args_is_help=True,
)
console = Console(stderr=True)


class ModeOption(StrEnum):
    test = "test"
    live = "live"


class RoleOption(StrEnum):
    read = "read"
    write = "write"


def _settings() -> Settings:
    return command_settings(console)


def _run(
    settings: Settings,
    work: Callable[[ApiKeyService], Awaitable[T]],
    after_failure: str = "nothing was changed",
) -> T:
    """Run ``work(ApiKeyService)`` against the server's database; ``after_failure`` says what
    a database failure in the middle leaves."""
    from seggraph.db import Database
    from seggraph.services.api_keys import ApiKeyService
    from seggraph.store.api_keys import INDEXES, ApiKeyStore

    async def main(uri: str) -> T:
        database = Database(uri, settings.database)
        try:
            await database.ensure_indexes(INDEXES)
            return await work(ApiKeyService(ApiKeyStore(database.db), cache_seconds=0))
        finally:
            await database.close()

    with command_database(
        settings,
        console,
        after_failure=after_failure,
        after_interrupt="`seggraph keys list` shows whether it took effect",
    ) as uri:
        return asyncio.run(main(uri))


def _shown(name: str) -> str:
    """A key name for the terminal: control characters (refused in new names, but a key made
    before may hold one) as escapes, never sent raw."""
    return "".join(ascii(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in name)


def _key_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "mode": key.mode.value,
        "role": key.role.value,
        "name": key.name,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@keys_app.command("create")
def create(
    # In any case: `keys list` shows modes and roles as TEST and WRITE.
    mode: Annotated[
        ModeOption, typer.Option(case_sensitive=False, help="The mode the key works in.")
    ],
    role: Annotated[
        RoleOption,
        typer.Option(
            case_sensitive=False, help="read: queries only; write: queries and mutations."
        ),
    ],
    name: Annotated[
        str,
        typer.Option(
            help=f"What the key is for (shown in lists and history; at most {MAX_NAME} "
            "characters, no control characters)."
        ),
    ] = "",
) -> None:
    """Create a key; it is printed once, on standard output.

    Store it now: only a hash of it is kept. Send it as `Authorization: Bearer <key>`.
    """
    settings = _settings()

    async def work(service: ApiKeyService) -> tuple[ApiKey, str]:
        try:
            return await service.create(Mode(mode.value.upper()), Role(role.value.upper()), name)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None

    key, full = _run(
        settings,
        work,
        "no key was shown: create one again (a key this attempt may have stored is listed by "
        "`seggraph keys list`; its secret was never shown, so revoke it)",
    )
    console.print(
        f"created {key.mode.value} {key.role.value} key [bold]{key.id}[/bold]"
        + (f" ({escape(_shown(key.name))})" if key.name else "")
        + ". It is shown once, below: store it now."
    )
    typer.echo(full)


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List keys (never their secrets): id, mode, role, name, created, revoked."""
    settings = _settings()

    async def work(service: ApiKeyService) -> list[ApiKey]:
        return await service.list(include_revoked=include_revoked)

    keys = _run(settings, work)
    if as_json:
        typer.echo(json.dumps([_key_json(key) for key in keys], indent=2))
        return
    from rich.table import Table
    from rich.text import Text

    if not keys:
        Console().print(
            "No API keys. Create one with `seggraph keys create --mode test --role write`."
        )
        return
    table = Table(title="seggraph API keys")
    for column in ("id", "mode", "role", "name", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            key.id,
            key.mode.value,
            key.role.value,
            Text(_shown(key.name)),
            key.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M:%S UTC") if key.revoked_at else "",
        )
    Console().print(table)


#: What may be an id a ``keys revoke`` names (ids are 12 hex digits): said back as given.
_ID_LIKE = re.compile(r"[0-9A-Za-z]{1,16}")


def _asked(argument: str) -> str:
    """The argument of ``keys revoke`` as an error repeats it: an id as given, anything else
    (a whole key mistyped or pasted with ``Bearer``, say) not at all, since it may hold a
    key's secret, which would then be on the terminal and in whatever records its output."""
    if _ID_LIKE.fullmatch(argument.strip()):
        return escape(repr(argument.strip()))
    return (
        "with that id (it is not repeated here, as it may hold a secret: give the id, 12 hex "
        "digits after `sg_<mode>_`, or the whole key `sg_<mode>_<id>_<secret>`)"
    )


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[
        str, typer.Argument(help="The key's id (the part after `sg_<mode>_`), or the whole key.")
    ],
) -> None:
    """Revoke a key: servers refuse it within SEGGRAPH_API_KEY_CACHE_SECONDS.

    Revoking a revoked key changes nothing, says so and exits 0.
    """
    settings = _settings()
    whole = parse_key(key_id)
    if whole is not None:
        key_id = whole.key_id

    async def work(service: ApiKeyService) -> tuple[ApiKey, bool] | None:
        return await service.revoke(key_id)

    found = _run(
        settings,
        work,
        "whether the key is revoked is not known: run the command again (it says so when the "
        "key already is)",
    )
    if found is None:
        console.print(
            f"[red]error:[/red] there is no key {_asked(key_id)} (see `seggraph keys list`)"
        )
        raise typer.Exit(1)
    key, revoked_now = found
    if not revoked_now and key.revoked_at is not None:
        console.print(
            f"key {key.id} was already revoked "
            f"({key.revoked_at.strftime('%Y-%m-%d %H:%M:%S UTC')}); nothing changed"
        )
        return
    console.print(
        f"revoked key {key.id}; servers refuse it within {settings.api_key_cache_seconds:g} s"
    )
