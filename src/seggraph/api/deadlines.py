"""A mutation's database work bounded as a whole, by the database timeout.

A query's first read (its snapshot, :mod:`seggraph.freshness`) and a transaction have time
limits of their own, but a mutation reads before it writes (the segments a mode holds, the
segment it edits, the segments its conditions reference), and PyMongo gives such a read no
time limit: on a database that stops answering (a hung host) it waited until PyMongo's
monitor gave the server up, 20 to 30 s, whatever ``SEGGRAPH_DATABASE_TIMEOUT_SECONDS`` said.
Each mutation field's resolver runs under one deadline,
:attr:`~seggraph.db.Database.transaction_time_limit` (three times the timeout, as a
transaction with its retries), which the transaction inside shares. Only the resolver: its
payload's fields (a segment's ``memberCount``) are answered after it, as a query's are.

A query field that reads the database itself, neither through the request's snapshot nor
through a shared read (both bounded), runs its reads under :func:`read_deadline`, the database
timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from inspect import isawaitable
from typing import Any

import pymongo
import strawberry
from graphql import GraphQLFieldResolver, GraphQLResolveInfo

from seggraph.api.context import Info


def read_deadline(info: Info) -> AbstractContextManager[None]:
    """The deadline of a query field's own reads: the database timeout
    (:attr:`~seggraph.db.Database.operation_timeout`). Without it, on a database that stopped
    answering (a hung host) they waited until PyMongo gave the server up, 20 to 30 s."""
    return pymongo.timeout(info.context.services.database.operation_timeout)


def bound_mutations(schema: strawberry.Schema) -> None:
    """Run every mutation field's resolver under the database's deadline."""
    mutation = schema._schema.mutation_type
    if mutation is None:
        return
    for field in mutation.fields.values():
        if field.resolve is not None:
            field.resolve = _bounded(field.resolve)


def _bounded(resolve: GraphQLFieldResolver) -> Callable[..., Any]:
    async def bounded(source: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        with pymongo.timeout(info.context.services.database.transaction_time_limit):
            result = resolve(source, info, **arguments)
            if isawaitable(result):
                result = await result
        return result

    return bounded
