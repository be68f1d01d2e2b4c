"""The row types of ``pdo_graph/reads`` are what their statements return: every column a row type
names comes back from its loader's SQL (run on the real schema)."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import pdo_graph.reads
from pdo_graph.db.reads import open_read_pool
from pdo_graph.db.session import RequestDb
from pdo_graph.reads.base import Key, Loaders, Scope
from pdo_graph.reads.family import CHILD


def simple_keys() -> list[Key]:  # type: ignore[type-arg]
    keys: dict[int, Key] = {}  # type: ignore[type-arg]  # a key imported by another module is one key
    for module in pkgutil.iter_modules(pdo_graph.reads.__path__):
        loaded = importlib.import_module(f"pdo_graph.reads.{module.name}")
        keys |= {id(v): v for v in vars(loaded).values() if isinstance(v, Key) and v.sql is not None}
    return list(keys.values())


def columns_of(row_type: type) -> set[str]:
    names: set[str] = set()
    for klass in row_type.__mro__:
        names |= {n for n in getattr(klass, "__annotations__", {}) if not n.startswith("_")}
    return names


async def test_every_simple_loader_returns_the_columns_of_its_row_type(db: AsyncEngine) -> None:
    keys = simple_keys()
    assert {k.name for k in keys} >= {"child", "certificate", "enrollment", "program", "source", "run"}
    async with db.connect() as conn:
        for key in keys:
            assert isinstance(key.row, type), key.name
            result = await conn.execute(text(key.sql or ""), {"keys": [], "today": date.today()})
            missing = columns_of(key.row) - set(result.keys())
            assert not missing, (key.name, missing)


def test_key_names_are_unique() -> None:
    names = [k.name for k in simple_keys()]
    assert len(names) == len(set(names))


async def test_a_cancelled_caller_does_not_cancel_the_others_waiting_for_the_same_row(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await conn.execute(text("INSERT INTO guardians (subject) VALUES ('g-cancel')"))
        child = (
            await conn.execute(
                text(
                    "INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)"
                    " SELECT id, 'Ким Ли', 'ким ли', DATE '2016-03-01', '01' FROM guardians WHERE subject = 'g-cancel'"
                    " RETURNING id"
                )
            )
        ).scalar_one()
    reads = await open_read_pool(db.url.render_as_string(hide_password=False), 2)
    request = RequestDb(db, reads)
    try:
        loader = Loaders(Scope(request, date.today()))[CHILD]

        async def get() -> Any:  # a resolver awaiting the row
            return await loader.load(child)

        first, second = asyncio.create_task(get()), asyncio.create_task(get())
        await asyncio.sleep(0)
        first.cancel()
        row = await second  # the same row: not cancelled with the first caller
        assert row is not None and row.full_name == "Ким Ли"
        assert first.cancelled()
        again = await loader.load(child)
        assert again is not None and again.id == child
    finally:
        await request.close()
        await reads.close()
