"""A real streaming replica (:mod:`tests.replica.pair`) with pdo-graph's schema, for the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.engine import make_engine, migrate
from pdo_graph.db.replica import Replica
from tests.conftest import MUNICIPALITIES
from tests.replica.pair import Pair
from tests.replica.pair import streaming_pair as make_pair


@pytest.fixture(scope="session")
def streaming_pair() -> Iterator[Pair]:
    with make_pair() as pair:
        yield pair


@dataclass
class Replicated:
    primary: AsyncEngine
    replica: Replica
    primary_url: str


async def caught_up(replica: Replica) -> None:
    for _ in range(600):
        if await replica.measure_lag() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica did not catch up within 30 s")


@pytest.fixture(scope="session")
async def replicated(streaming_pair: Pair) -> AsyncIterator[Replicated]:
    """pdo-graph's schema on the primary, streamed to the replica."""
    admin = make_engine(streaming_pair.url(streaming_pair.primary_port), 1)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text('CREATE DATABASE "pdo"'))
    await admin.dispose()
    primary_url = streaming_pair.url(streaming_pair.primary_port, "pdo")
    primary = make_engine(primary_url, 4)
    await migrate(primary)
    replica = Replica(primary, make_engine(streaming_pair.url(streaming_pair.replica_port, "pdo"), 4), 5.0)
    await caught_up(replica)
    yield Replicated(primary, replica, primary_url)
    await replica.engine.dispose()
    await primary.dispose()


@pytest.fixture
async def fresh(replicated: Replicated) -> AsyncIterator[Replicated]:
    """Empty tables with the municipalities, replay running, the replica caught up; the ledger checked after."""
    from tests.conftest import TABLES

    async with replicated.replica.engine.connect() as conn:
        if (await conn.execute(text("SELECT pg_is_wal_replay_paused()"))).scalar_one():
            await conn.execute(text("SELECT pg_wal_replay_resume()"))
    async with replicated.primary.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await conn.execute(
            text("INSERT INTO municipalities (code, name) VALUES (:c, :n)"),
            [{"c": c, "n": n} for c, n in MUNICIPALITIES],
        )
    await caught_up(replicated.replica)
    replicated.replica.max_lag_seconds = 5.0
    replicated.replica.forget()
    yield replicated
    from pdo_graph.domain.ledger import check_invariants

    async with replicated.primary.connect() as conn:
        assert await check_invariants(conn) == []
