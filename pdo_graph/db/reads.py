"""The read pool: GraphQL reads go straight to asyncpg, one autocommit statement each.

SQLAlchemy stays for migrations, writes and the domain's units of work; the hot read path (every
loader, every root field's list) skips its async adapter (a greenlet switch and a cache key per
statement) and the explicit transaction: a read is one statement on a pooled connection, prepared
once per connection (asyncpg's statement cache) and given back at once, so sibling loaders of one
request run side by side on different connections.

This module is the one place the pool is made (``open_read_pool``): a read replica or a pooler in
front of the database is a different URL here, nothing else changes. Statements keep SQLAlchemy's
``:name`` parameters, translated once per statement text to asyncpg's ``$n``.

A loader's batched statement (``generic=True``: its best plan does not depend on the keys it is
given) runs on connections with ``plan_cache_mode = force_generic_plan``: PostgreSQL plans it once
per connection instead of at every execution (its default keeps re-planning statements whose
generic plan it estimates dearer; for the dashboard's three statements planning was ~3.8 ms of the
~4.9 ms they cost the database). Other reads (searches, filtered lists) keep custom plans: their
best plan depends on their parameters. The two kinds have a pool each (``size`` connections at most
each, opened lazily).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

import asyncpg

from pdo_graph.db.engine import driver_url

# what SQLAlchemy's text() takes for a bind parameter: ``:name``, not ``::type`` nor ``\:``
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class Row(asyncpg.Record):  # type: ignore[misc]
    """A row whose columns are attributes too (``row.id``), as SQLAlchemy's rows are."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@lru_cache(maxsize=1024)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``:name`` parameters as ``$1, $2, ...`` and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _BIND.sub(number, sql), tuple(names)


statement_observers: list[Callable[[str], None]] = []
"""Called with the text of every read statement before it is sent (tests count statements with it)."""


class ReadPool:
    """Pooled asyncpg connections for reads (``fetch``: one statement, no transaction)."""

    def __init__(self, pool: asyncpg.Pool[Row], generic: asyncpg.Pool[Row] | None = None) -> None:
        self._pool = pool
        self._generic = pool if generic is None else generic
        # set by tracing: a span around each statement, given its text (never its parameters)
        self.span: Callable[[str], AbstractContextManager[object]] | None = None

    async def fetch(self, sql: str, params: Mapping[str, Any], *, generic: bool = False) -> Sequence[Row]:
        """The rows of one statement; ``generic``: a loader's batched statement, planned once per
        connection (see the module's note)."""
        statement, names = positional(sql)
        for observe in statement_observers:
            observe(statement)
        args = [params[n] for n in names]
        pool = self._generic if generic else self._pool
        rows: list[Row]
        if self.span is None:
            rows = await pool.fetch(statement, *args)
        else:
            with self.span(statement):
                rows = await pool.fetch(statement, *args)
        return rows

    @property
    def size(self) -> int:
        size: int = self._pool.get_max_size()
        return size

    async def close(self) -> None:
        await self._pool.close()
        if self._generic is not self._pool:
            await self._generic.close()


def _same(value: str) -> str:
    return value


async def _json_codecs(connection: asyncpg.Connection[Row]) -> None:
    """json and jsonb come back as Python values and go in as JSON text, as through SQLAlchemy."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=_same, decoder=json.loads, schema="pg_catalog")


async def _keep_session(connection: asyncpg.Connection[Row]) -> None:
    """A read leaves no session state (one statement, no transaction, no SET): a connection goes back
    to the pool as it is, without asyncpg's default reset (a round trip of ``RESET ALL`` and the like
    after every statement). asyncpg still rolls back a transaction left open."""


async def open_read_pool(url: str, size: int) -> ReadPool:
    """The read pool of a database URL (SQLAlchemy's or asyncpg's form), ``size`` connections at most
    for each kind of read (custom and generic plans), opened lazily (none at start), with the session
    settings of the SQLAlchemy engine."""

    async def make(**settings: str) -> asyncpg.Pool[Row]:
        return await asyncpg.create_pool(
            driver_url(url),
            min_size=0,
            max_size=size,
            record_class=Row,
            max_inactive_connection_lifetime=300,
            reset=_keep_session,
            init=_json_codecs,
            server_settings={"application_name": "pdo-graph-reads", "timezone": "UTC", **settings},
        )

    return ReadPool(await make(), await make(plan_cache_mode="force_generic_plan"))
