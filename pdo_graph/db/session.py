"""Per-request database access: one lazily acquired connection behind a lock.

Strawberry resolves sibling fields concurrently, and one AsyncConnection must never run two
statements at once, so every use goes through ``read`` or ``write``, which hold the lock.
``write`` runs a whole unit of work in one transaction, retried on serialization failures and
deadlocks a bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.admission import WriteGate
from pdo_graph.db.reads import ReadPool

T = TypeVar("T")

# pg_lsn as a number (pg_lsn - '0/0' is numeric)
WAL_POSITION = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS position"
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
MAX_ATTEMPTS = 8


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


async def run_transaction(conn: AsyncConnection, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``fn`` in a transaction on ``conn``; retry serialization failures and deadlocks."""
    if conn.in_transaction():
        await conn.commit()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with conn.begin():
                return await fn(conn)
        except DBAPIError as exc:
            if sqlstate(exc) in RETRYABLE_SQLSTATES and attempt < MAX_ATTEMPTS:
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            raise
    raise AssertionError("unreachable")


async def transaction(engine: AsyncEngine, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """A unit of work on its own pooled connection (CLI, background jobs, tests)."""
    async with engine.connect() as conn:
        return await run_transaction(conn, fn)


class RequestDb:
    """The database as one GraphQL request sees it.

    ``fetch`` (the loaders' and root fields' reads) goes to the read pool when there is one: one
    autocommit statement on a pooled asyncpg connection, outside this request's connection and its
    lock. ``read`` and ``write`` run SQLAlchemy work on the request's own connection.

    With ``reads_from`` (a replica's engine, :mod:`pdo_graph.db.replica`) ``read`` and ``fetch`` go
    there (``reads``: the replica's read pool, if any), writes to ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        reads: ReadPool | None = None,
        reads_from: AsyncEngine | None = None,
        gate: WriteGate | None = None,
    ) -> None:
        self._engine = engine
        self._gate = gate  # the process's admission control of writes (``db.admission``)
        self._reads_from = reads_from if reads_from is not engine else None
        self._reads = reads
        self._conn: AsyncConnection | None = None
        self._read_conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await self._engine.connect()
        return self._conn

    async def _reading_connection(self) -> AsyncConnection:
        if self._reads_from is None:
            return await self._connection()
        if self._read_conn is None:
            self._read_conn = await self._reads_from.connect()
        return self._read_conn

    async def _read_locked(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self._lock:
            conn = await self._reading_connection()
            return await fn(conn)

    async def _write_locked(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._gate is None:
            return await self._write_now(fn)
        async with self._gate.slot():  # WritesBusy: refused before any connection is asked for
            return await self._write_now(fn)

    async def _write_now(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self._lock:
            conn = await self._connection()
            return await run_transaction(conn, fn)

    # Shielded: graphql-core cancels sibling resolvers when a non-null field fails; a statement cut
    # off half-way would break the connection, so the statement finishes and its result is dropped.
    async def read(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await asyncio.shield(self._read_locked(fn))

    async def fetch(self, sql: str, params: Mapping[str, Any], *, generic: bool = False) -> Sequence[Any]:
        """The rows of one read statement (``:name`` parameters); each row has its columns as attributes.
        ``generic``: a loader's batched statement (:class:`~pdo_graph.db.reads.ReadPool`)."""
        if self._reads is not None:
            return await self._reads.fetch(sql, params, generic=generic)

        async def run(conn: AsyncConnection) -> Sequence[Any]:
            return (await conn.execute(text(sql), params)).all()

        return await self.read(run)

    async def write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await asyncio.shield(self._write_locked(fn))

    async def written_position(self) -> int:
        """The primary's WAL insert position now: past the commit of every write made so far (a
        replica that has replayed up to it shows them). Only where reads go to the primary."""
        assert self._reads_from is None
        (row,) = await self.fetch(WAL_POSITION, {})
        return int(row[0])

    async def close(self) -> None:
        """Give the connections back (after any shielded statement); a broken one is discarded quietly."""
        async with self._lock:
            conns, self._conn, self._read_conn = (self._conn, self._read_conn), None, None
            for conn in conns:
                if conn is not None:
                    await _give_back(conn)


async def _give_back(conn: AsyncConnection) -> None:
    try:
        if conn.in_transaction():
            await conn.rollback()
    except Exception:
        with contextlib.suppress(Exception):
            await conn.invalidate()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
