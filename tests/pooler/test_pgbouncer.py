"""pdo-graph behind PgBouncer in transaction mode: prepared statements as that mode needs them, the app,
a queue worker, migrations past the pooler."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pdo_graph.app import create_app
from pdo_graph.db.engine import Database, make_engine
from pdo_graph.db.queue import CREDIT_PERIOD
from tests.enrollment.conftest import bulk_certificates
from tests.helpers import graphql_caller, open_period
from tests.jobs.conftest import jobs, open_in_batches

pytestmark = pytest.mark.slow


async def reuse_across_server_connections(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """One client runs a statement, a second holds the server connection it ran on, the first runs the
    same statement again: PgBouncer hands it the other server connection."""
    results = []
    async with engine.connect() as first, engine.connect() as second:
        for n in range(3):
            sql = text(f"SELECT CAST(:x AS int) + {n}")
            results.append((await first.execute(sql, {"x": 1})).scalar_one())
            await first.commit()
            await second.execute(text("SELECT 1"))  # a transaction held open: it keeps its server connection
            results.append((await first.execute(sql, {"x": 2})).scalar_one())
            await first.commit()
            await second.commit()
    return results


async def test_statements_prepared_by_name_break_behind_transaction_pooling(pgbouncer):
    """The failure the pooler settings exist for: a cached statement is missing on the next server."""
    plain = make_engine(pgbouncer, 2)
    try:
        with pytest.raises(DBAPIError, match="prepared statement"):
            await reuse_across_server_connections(plain)
    finally:
        await plain.dispose()


async def test_the_pooler_settings_prepare_nothing_that_outlives_a_transaction(pgbouncer):
    pooled = make_engine(pgbouncer, 2, "pgbouncer")
    try:
        assert await reuse_across_server_connections(pooled) == [1, 2, 2, 3, 3, 4]

        async def many(k: int) -> int:
            total = 0
            for n in range(20):
                async with pooled.connect() as conn:
                    total += (await conn.execute(text("SELECT CAST(:x AS int) * 2"), {"x": k + n})).scalar_one()
            return total

        assert await asyncio.gather(*(many(k) for k in range(2))) == [
            sum(2 * (k + n) for n in range(20)) for k in range(2)
        ]
    finally:
        await pooled.dispose()


async def test_the_app_behind_pgbouncer(pgbouncer, database_url, db, settings, token):
    """Mutations and concurrent reads through the pooler; the live channel listens past it."""
    pooled = replace(settings, database_pooler="pgbouncer", database_direct_url=database_url)
    database = Database(url=pgbouncer, engine=make_engine(pgbouncer, 4, "pgbouncer"))
    database.direct_url, database.direct_engine = database_url, make_engine(database_url, 1)
    app = create_app(pooled, database=database)
    await bulk_certificates(db, 30)
    try:
        async with app.router.lifespan_context(app), graphql_caller(app) as gql:
            today = date.today()
            opened = await open_period(
                gql, token, "01", today - timedelta(days=10), today + timedelta(days=300), [(0, 18, 100_000)]
            )
            assert opened["userErrors"] == [] and opened["certificatesCredited"] == 30
            query = "{ municipalities { code currentPeriod { creditProgress { certificatesFunded done } } } }"
            seen = await asyncio.gather(*(gql(query) for _ in range(12)))
            for body in seen:
                assert "errors" not in body
                first = body["data"]["municipalities"][0]
                assert first["currentPeriod"]["creditProgress"] == {"certificatesFunded": 30, "done": True}
    finally:
        await database.dispose()


async def test_a_worker_behind_pgbouncer_credits_a_period(pgbouncer, database_url, queue, workers):
    await bulk_certificates(queue, 120)
    opened = await open_in_batches(queue, batch=20)
    workers(
        "pooled",
        PDO_DATABASE_URL=pgbouncer,
        PDO_DATABASE_POOLER="pgbouncer",
        PDO_DATABASE_DIRECT_URL=database_url,
    )
    for _ in range(1200):
        [job] = await jobs(queue, CREDIT_PERIOD)
        if job.status in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job.status == "succeeded" and job.attempts == 1
    async with queue.connect() as conn:
        funded = await conn.execute(
            text("SELECT count(*) FROM period_fundings WHERE period_id = :p AND status = 'FUNDED'"),
            {"p": opened.period_id},
        )
        assert funded.scalar_one() == 120


def test_migrations_go_past_the_pooler(pgbouncer, database_url, engine, data_dir):
    env = {
        **os.environ,
        "PDO_DATABASE_URL": pgbouncer,
        "PDO_DATABASE_POOLER": "pgbouncer",
        "PDO_DATA_DIR": str(data_dir),
        "PDO_LOG_FORMAT": "text",
    }
    missing = subprocess.run(
        [sys.executable, "-m", "pdo_graph.cli", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "PDO_DATABASE_DIRECT_URL: required" in missing.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pdo_graph.cli", "migrate"],
        env={**env, "PDO_DATABASE_DIRECT_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout + done.stderr
