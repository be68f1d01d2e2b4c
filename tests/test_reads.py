"""The row types of ``pdo_graph/reads`` are what their statements return: every column a row type
names comes back from its loader's SQL (run on the real schema)."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import pdo_graph.reads
from pdo_graph.reads.base import Key


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
