"""Loader keys and the request's loader registry; builders of the usual batched reads.

A :class:`Key` names a loader and knows how to build it for one request; the request context
holds a :class:`Loaders` registry that builds each key's loader on first use and keeps it for the
request (dropped after a write, so a payload shows the new state). Object types ask the context
for ``ctx.loaders[KEY]`` and never see SQL.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, namedtuple
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from pdo_graph import clock
from pdo_graph.db.reads import ReadPool
from pdo_graph.db.session import RequestDb

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Scope:
    """What a read runs with: the request's database and its day (``:today`` in SQL); ``loaders``
    (set by the request's :class:`Loaders`) lets a statement that read rows of other keys along
    prime their loaders."""

    __slots__ = ("db", "loaders", "today")

    def __init__(self, db: RequestDb, today: date) -> None:
        self.db = db
        self.today = today
        self.loaders: Loaders | None = None

    async def fetch(self, sql: str, params: dict[str, Any], *, generic: bool = False) -> Sequence[Any]:
        """The rows of one statement (columns as attributes), through the read pool when there is one;
        ``generic``: a loader's batched statement, whose plan does not depend on its keys (planned
        once per connection: :class:`~pdo_graph.db.reads.ReadPool`)."""
        return await self.db.fetch(sql, params, generic=generic)

    async def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """``fetch`` for a caller that types the rows (``rows: list[ChildRow] = await scope.rows(...)``)."""
        return list(await self.fetch(sql, params))


class Loader(DataLoader[K, V]):
    """A DataLoader whose callers wait for a row each on their own: one caller cancelled (graphql-core
    cancels the siblings of a failed non-null field; a subscriber goes away while its round reads)
    does not cancel the shared future that the others of the request, or of the round, wait for."""

    def load(self, key: K) -> Awaitable[V]:
        future = super().load(key)
        if isinstance(future, asyncio.Future) and not future.done():
            return asyncio.shield(future)
        return future


Build = Callable[[Scope], DataLoader[Any, Any]]


@dataclass(frozen=True, eq=False)
class Key(Generic[K, V]):
    """A loader of the request context: ``ctx.loaders[KEY].load(k)`` gives a ``V``.

    Its module declares what a key gives (``CHILD: Key[int, ChildRow | None] = one_by_key(...)``);
    ``sql`` and ``row`` of the simple loaders are kept so a test can check that the statement's
    columns are those of the row type.
    """

    name: str
    build: Build
    sql: str | None = None
    row: object = None
    column: str = "id"  # of a one_by_key key: the row's column that is the loader's key


class Loaders:
    """The loaders of one request, built on first use by key."""

    __slots__ = ("_built", "_scope")

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._built: dict[Key[Any, Any], DataLoader[Any, Any]] = {}
        scope.loaders = self

    def __getitem__(self, key: Key[K, V]) -> DataLoader[K, V]:
        loader = self._built.get(key)
        if loader is None:
            loader = self._built[key] = key.build(self._scope)
        return loader

    def reset(self) -> None:
        """Drop every cached row (after a write)."""
        self._built.clear()


class _Round:
    __slots__ = ("db", "holders", "loaders", "scope")

    def __init__(self, engine: AsyncEngine, reads: ReadPool | None) -> None:
        self.db = RequestDb(engine, reads)
        self.scope = Scope(self.db, clock.today())
        self.loaders = Loaders(self.scope)
        self.holders = 0


class SharedReads:
    """Reads shared by the subscriptions one change wakes on this process (a *round*, named by the
    live hub's stamp): one database connection and one set of loaders, so a thousand subscribers of a
    group re-read it with one statement, not a thousand (nor a thousand pooled connections).

    Loaders hold rows, never a caller: who may see a row is decided by the object types with each
    subscriber's own actor, so sharing loaders shares rows, not permissions. A round's connection
    goes back to the pool when its last subscriber has built its result.
    """

    def __init__(self, engine: AsyncEngine, reads: ReadPool | None = None) -> None:
        self._engine = engine
        self._reads = reads
        self._rounds: dict[int, _Round] = {}

    def acquire(self, stamp: int) -> tuple[Scope, Loaders]:
        """The scope and loaders of round ``stamp`` (opened on first use); release it after use."""
        round_ = self._rounds.get(stamp)
        if round_ is None:
            round_ = self._rounds[stamp] = _Round(self._engine, self._reads)
        round_.holders += 1
        return round_.scope, round_.loaders

    async def release(self, stamp: int) -> None:
        round_ = self._rounds.get(stamp)
        if round_ is None:
            return
        round_.holders -= 1
        if round_.holders <= 0:
            del self._rounds[stamp]
            await round_.db.close()

    @property
    def open(self) -> int:
        """Rounds whose connection is not yet given back (for tests)."""
        return len(self._rounds)


def one_by_key(name: str, sql: str, row: object, key: str = "id") -> Key[Any, Any]:
    """One row (of type ``row``) per key, or None; ``sql`` filters with ``= ANY(:keys)``."""

    def build(scope: Scope) -> DataLoader[Any, Any]:
        async def load(keys: list[Hashable]) -> list[Any]:
            rows = await scope.fetch(sql, {"keys": list(keys), "today": scope.today}, generic=True)
            by_key = {getattr(r, key): r for r in rows}
            return [by_key.get(k) for k in keys]

        return Loader(load_fn=load)

    return Key(name, build, sql, row, key)


def row_columns(row: object) -> tuple[str, ...]:
    """The columns a row type (a ``Protocol``) names, its bases' first."""
    names: dict[str, None] = {}
    for klass in reversed(getattr(row, "__mro__", ())):
        names.update({n: None for n in getattr(klass, "__annotations__", {}) if not n.startswith("_")})
    return tuple(names)


@dataclass(frozen=True)
class Along:
    """The row of a one-row key (``one_by_key``) read along in another key's statement, to prime its
    loader: the level below costs no statement of its own. ``of`` is the SQL expression, over the
    other statement's row ``o``, of the loader's key (``o.group_id``). The row comes back as one
    ``ROW(...)`` value of the row type's columns (their types kept), or NULL when there is none."""

    key: Key[Any, Any]
    of: str

    def select(self, n: int) -> str:
        columns = row_columns(self.key.row)
        assert self.key.sql is not None and self.key.sql.count(":keys") == 1, self.key.name
        inner = self.key.sql.replace(":keys", f"ARRAY[{self.of}]")
        values = ", ".join(f"x.{c}" for c in columns)
        return f"({self.of}) AS along_{n}_key, (SELECT ROW({values}) FROM ({inner}) x LIMIT 1) AS along_{n}"

    @cached_property
    def build_row(self) -> Callable[..., Any]:
        return namedtuple(f"{self.key.name}_row", row_columns(self.key.row))


def with_along(sql: str, along: Sequence[Along], order: str) -> str:
    """``sql`` with the rows of ``along`` as extra columns (``along_N``, ``along_N_key``), in ``order``."""
    extra = ", ".join(a.select(n) for n, a in enumerate(along))
    return f"SELECT o.*, {extra} FROM ({sql}) o ORDER BY {order}"


def prime_along(scope: Scope, along: Sequence[Along], rows: Sequence[Any]) -> None:
    """Prime the loaders of ``along`` with the rows read along (a loader keeps what it has already)."""
    if scope.loaders is None:
        return
    for n, a in enumerate(along):
        loader = scope.loaders[a.key]
        make = a.build_row
        for r in rows:
            key, value = r[f"along_{n}_key"], r[f"along_{n}"]
            if key is not None:
                loader.prime(key, None if value is None else make(*value))


def many_by_key(
    name: str, sql: str, row: object, key: str, along: Sequence[Along] = (), order: str = ""
) -> Key[Any, Any]:
    """A list of rows (of type ``row``) per key, ordered as the SQL orders them (with ``along``:
    as ``order`` orders the columns of the SQL's rows ``o``)."""
    statement = with_along(sql, along, order) if along else sql

    def build(scope: Scope) -> DataLoader[Any, Any]:
        async def load(keys: list[Hashable]) -> list[list[Any]]:
            rows = await scope.fetch(statement, {"keys": list(keys), "today": scope.today}, generic=True)
            prime_along(scope, along, rows)
            grouped: dict[Any, list[Any]] = defaultdict(list)
            for r in rows:
                grouped[getattr(r, key)].append(r)
            return [grouped.get(k, []) for k in keys]

        return Loader(load_fn=load)

    return Key(name, build, statement, row)


Page = tuple[int, int, int | None]  # (owner id, first, after id): one page of an owner's list, newest first


def pages_by_owner(name: str, select: str, owner: str, along: Sequence[Along] = ()) -> Key[Page, Any]:
    """Pages of several owners' lists (by id, newest first) in one statement, whatever each page's
    ``first`` and ``after``: ``select`` reads one table aliased ``r`` (with an ``id``), ``owner`` is
    the column that names the owner. Each page holds up to first + 1 rows (the extra one says more
    follow)."""
    sql = (
        "SELECT k.n AS batch_key, p.* FROM unnest(CAST(:owners AS bigint[]), CAST(:firsts AS int[]),"
        " CAST(:afters AS bigint[]), CAST(:ns AS int[])) AS k(owner_id, first, after_id, n)"
        f" CROSS JOIN LATERAL ({select} WHERE {owner} = k.owner_id AND (k.after_id IS NULL OR r.id < k.after_id)"
        " ORDER BY r.id DESC LIMIT k.first + 1) p ORDER BY k.n, p.id DESC"
    )
    if along:
        sql = with_along(sql, along, "o.batch_key, o.id DESC")

    def build(scope: Scope) -> DataLoader[Page, list[Any]]:
        async def load(keys: list[Page]) -> list[list[Any]]:
            rows = await scope.fetch(
                sql,
                {
                    "owners": [k[0] for k in keys],
                    "firsts": [k[1] for k in keys],
                    "afters": [k[2] for k in keys],
                    "ns": list(range(len(keys))),
                    "today": scope.today,
                },
                generic=True,
            )
            prime_along(scope, along, rows)
            grouped: list[list[Any]] = [[] for _ in keys]
            for r in rows:
                grouped[r.batch_key].append(r)
            return grouped

        return Loader(load_fn=load)

    return Key(name, build)


def counts_by_owner(name: str, table: str, owner: str) -> Key[int, int]:
    """How many rows of ``table`` each owner has (one ``GROUP BY`` statement per batch)."""
    sql = f"SELECT {owner} AS owner_id, count(*) AS n FROM {table} WHERE {owner} = ANY(:keys) GROUP BY {owner}"

    def build(scope: Scope) -> DataLoader[int, int]:
        async def load(keys: list[int]) -> list[int]:
            rows = await scope.fetch(sql, {"keys": list(keys)}, generic=True)
            counts = {r.owner_id: int(r.n) for r in rows}
            return [counts.get(k, 0) for k in keys]

        return Loader(load_fn=load)

    return Key(name, build)
