"""seggraph with one in-memory provider in place of the bundled ones (stage 2's second server):

    python -m bench.memory_server --port P --mongodb-uri URI [--subscribers N]

The provider declares the billing keys the bench segments use and answers them from the
synthetic values (``bench.workload``) without a database read; segments are still read from
the database. Measured against this server, ``subscriber { segments }`` costs seggraph's own
work (GraphQL, reading and evaluating the segments) with the providers' data access taken out.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn

from seggraph.app import create_app
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition
from seggraph.plugins.hookspecs import hookimpl
from seggraph.settings import Settings

from .workload import CATALOGUE, seggraph_values, subscribers

NAME = "memory"


class MemoryProvider:
    """The billing keys of ``bench.workload.CATALOGUE``, answered from a dict."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.ids = sorted(rows)

    @hookimpl
    def register_properties(self, register: Callable[[PropertyDefinition], None]) -> None:
        for definition in CATALOGUE.values():
            if definition.provider == "billing":
                register(definition)

    @hookimpl
    def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> list[dict[str, Any]]:
        empty: dict[str, Any] = {}
        out = []
        for context in contexts:
            row = self.rows.get(context.subscriber_id, empty)
            out.append({key: row[key] for key in keys if key in row})
        return out

    @hookimpl
    def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        start = (
            0
            if after is None
            else next((i for i, s in enumerate(self.ids) if s > after), len(self.ids))
        )
        return self.ids[start : start + limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--database", default="seggraph")
    parser.add_argument("--subscribers", type=int, default=100_000)
    args = parser.parse_args()
    rows = {s.id: seggraph_values(s) for s in subscribers(args.subscribers)}
    settings = Settings(
        mongodb_uri=args.mongodb_uri,
        database=args.database,
        auth=False,
        plugins=[NAME],
        subscriber_directory=NAME,
        _env_file=None,
    )
    app = create_app(
        settings, extra_plugins=[(NAME, MemoryProvider(rows))], freeze_after_startup=True
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
