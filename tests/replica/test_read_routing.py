"""Reads from a real streaming replica: lag-tolerant queries (here the navigator's) read the replica
while it is fresh enough; mutations, their payloads and the caller who just wrote read the primary
(read-your-writes: tests/replica/test_read_your_writes.py); a replica lagging beyond
PDO_REPLICA_MAX_LAG_SECONDS (or down) sends those reads to the primary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from pdo_graph.app import create_app
from pdo_graph.db.engine import Database, make_engine
from pdo_graph.db.replica import Replica
from tests.helpers import graphql_caller, open_period
from tests.replica.conftest import Replicated, caught_up

pytestmark = pytest.mark.slow

CURRENT = "{ municipalities { code currentPeriod { id startsOn } } }"


@pytest.fixture
async def served(fresh: Replicated, settings) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    database = Database(url=fresh.primary_url, engine=fresh.primary, replica=fresh.replica)
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app), graphql_caller(app) as gql:
        yield gql


def current_of(body: dict[str, Any], code: str = "01") -> Any:
    assert "errors" not in body, body
    return next(m["currentPeriod"] for m in body["data"]["municipalities"] if m["code"] == code)


async def test_the_replica_streams_from_the_primary(fresh: Replicated):
    async with fresh.replica.engine.connect() as conn:
        assert (await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is True
        names = (await conn.execute(text("SELECT count(*) FROM municipalities"))).scalar_one()
    async with fresh.primary.connect() as conn:
        streaming = (
            await conn.execute(text("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"))
        ).scalar_one()
    assert names == 3 and streaming == 1


async def test_what_each_caller_sees_right_after_a_write(fresh: Replicated, served, token):
    async with fresh.replica.engine.connect() as conn:  # the replica stops replaying: it falls behind
        await conn.execute(text("SELECT pg_wal_replay_pause()"))
    today = date.today()
    opened = await open_period(
        served, token, "01", today - timedelta(days=5), today + timedelta(days=200), [(0, 18, 100)]
    )
    assert opened["userErrors"] == [] and opened["period"]["startsOn"] == (today - timedelta(days=5)).isoformat(), (
        "the mutation's payload reads the primary"
    )
    operator = token("OPERATOR", "op-01", municipality="01")
    assert current_of(await served(CURRENT, token=operator)) is not None, (
        "the operator who opened it reads the primary (its own write)"
    )
    analyst = token("ANALYST", "an-1")
    # within the allowed lag, anonymous visitors and analysts read the replica: not there yet (the lag
    # counts from the last transaction replayed, so an idle while before the write counts too: allow an hour)
    fresh.replica.max_lag_seconds = 3600
    fresh.replica.forget()
    assert current_of(await served(CURRENT)) is None
    assert current_of(await served(CURRENT, token=analyst)) is None
    # the same replica lagging beyond the setting: their reads go to the primary
    fresh.replica.max_lag_seconds = 0
    fresh.replica.forget()
    assert current_of(await served(CURRENT)) is not None
    assert current_of(await served(CURRENT, token=analyst)) is not None
    assert fresh.replica.lag is not None and fresh.replica.lag > 0
    # replay resumes, the replica catches up: back on it, and the write is there
    async with fresh.replica.engine.connect() as conn:
        await conn.execute(text("SELECT pg_wal_replay_resume()"))
    await caught_up(fresh.replica)
    fresh.replica.forget()
    assert await fresh.replica.reads_engine() is fresh.replica.engine
    assert current_of(await served(CURRENT)) is not None


async def test_a_replica_that_does_not_answer_sends_reads_to_the_primary(fresh: Replicated, settings, token):
    closed = make_engine("postgresql://postgres@127.0.0.1:9/pdo", 1)  # nothing listens on port 9
    database = Database(url=fresh.primary_url, engine=fresh.primary, replica=Replica(fresh.primary, closed, 5.0))
    app = create_app(settings, database=database)
    try:
        async with app.router.lifespan_context(app), graphql_caller(app) as gql:
            assert current_of(await gql(CURRENT)) is None  # answered (from the primary), no error
            assert database.replica is not None and database.replica.lag is None
            assert await database.replica.reads_engine() is fresh.primary
    finally:
        await closed.dispose()


async def test_the_settings_open_the_replica(fresh: Replicated, streaming_pair, settings):
    """PDO_DATABASE_REPLICA_URL and PDO_REPLICA_MAX_LAG_SECONDS as the server reads them."""
    from dataclasses import replace

    from pdo_graph.db.engine import open_database

    configured = replace(
        settings,
        database_url=fresh.primary_url,
        database_replica_url=streaming_pair.url(streaming_pair.replica_port, "pdo"),
        replica_max_lag_seconds=2.5,
    )
    database = await open_database(configured)
    try:
        assert database.replica is not None and database.replica.max_lag_seconds == 2.5
        engine = await database.replica.reads_engine()
        assert engine is database.replica.engine and database.replica.lag == 0
    finally:
        await database.dispose()
