"""The ledger partitioned by period (``pdo-graph ledger partition``): the money path runs on it as on one
table, retries stay idempotent, a new period gets its partition, a close seals its partition, and
``ledger check`` (default and ``--full``) holds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.app import create_app
from pdo_graph.config import Settings
from pdo_graph.db.engine import Database, make_engine, migrate
from tests.conftest import MUNICIPALITIES
from tests.enrollment.conftest import ACCEPT, CREATE, REPORT, bulk_certificates, gid, open_period, provider_token
from tests.enrollment.test_closing import CLOSE, THIS_MONTH, codes, payload, running_group
from tests.helpers import create_scratch, drop_scratch, graphql_caller


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A database of its own (its ledger gets partitioned), migrated, with the region's municipalities."""
    name, url = await create_scratch(database_url)
    engine = make_engine(url, 4)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO municipalities (code, name) VALUES (:c, :n)"),
                [{"c": c, "n": n} for c, n in MUNICIPALITIES],
            )
        yield engine, url
    finally:
        await engine.dispose()
        await drop_scratch(database_url, name)


def cli(url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PDO_DATABASE_URL": url, "PDO_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "pdo_graph.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def test_the_money_path_on_a_ledger_partitioned_by_period(scratch, settings: Settings, token, data_dir: Path):
    engine, url = scratch
    group = await running_group(engine)
    (subject, cert), (_, other) = await bulk_certificates(engine, 2, "01")
    first = await open_period(engine, "01")

    done = cli(url, data_dir, "ledger", "partition")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "the ledger is partitioned by period: 2 entries in 1 partitions"
    again = cli(url, data_dir, "ledger", "partition")
    assert again.stdout.strip() == "the ledger is partitioned by period already", again.stderr
    parts = await rows(
        engine,
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ledger_entries'::regclass ORDER BY 1",
    )
    assert [(r.relname, r.bound) for r in parts] == [
        ("ledger_entries_other", "DEFAULT"),
        (f"ledger_entries_p{first}", f"FOR VALUES IN ('{first}')"),
    ]
    # a new period gets its own partition as it opens (its credits land there)
    await bulk_certificates(engine, 1, "02", prefix="f")
    second = await open_period(engine, "02")
    assert [r.n for r in await rows(engine, f"SELECT count(*) AS n FROM ledger_entries_p{second}")] == [1]

    app = create_app(settings, database=Database(url=url, engine=engine))
    async with app.router.lifespan_context(app), graphql_caller(app) as gql:
        # the same application sent three times at once (a client's retries): one contract, one reserve
        variables = {"c": gid("Certificate", cert), "g": gid("Group", group), "k": "retry-1"}
        guardian = token("GUARDIAN", subject)
        bodies = await asyncio.gather(*(gql(CREATE, variables, token=guardian) for _ in range(3)))
        contracts = {payload(b)["enrollment"]["id"] for b in bodies}
        assert len(contracts) == 1 and all(payload(b)["userErrors"] == [] for b in bodies)
        [contract] = contracts
        again = await gql(CREATE, variables, token=guardian)
        assert payload(again)["enrollment"]["id"] == contract
        reserves = await rows(engine, "SELECT amount FROM ledger_entries WHERE kind = 'RESERVE'")
        assert [r.amount for r in reserves] == [900_000]

        provider = provider_token(token)
        assert codes(await gql(ACCEPT, {"id": contract}, token=provider)) == []
        report = {"month": THIS_MONTH.isoformat(), "items": [{"enrollmentId": contract, "completeness": 50}]}
        assert codes(await gql(REPORT, report, token=provider)) == []
        assert codes(await gql(REPORT, report, token=provider)) == ["DUPLICATE"]  # a month is charged once
        closed = payload(
            await gql(CLOSE, {"id": gid("FundingPeriod", first)}, token=token("OPERATOR", "op", municipality="01"))
        )
        assert closed["userErrors"] == [] and closed["expired"]["kopecks"] == 2 * 3_000_000 - 150_000

    # every entry is in its period's partition; the closed one is sealed
    where = await rows(
        engine, "SELECT tableoid::regclass::text AS part, period_id, count(*) AS n FROM ledger_entries GROUP BY 1, 2"
    )
    assert {(r.part, r.period_id) for r in where} == {
        (f"ledger_entries_p{first}", first),
        (f"ledger_entries_p{second}", second),
    }
    sealed = await rows(engine, "SELECT entries FROM ledger_checkpoints WHERE period_id = :p", p=first)
    assert [r.entries for r in sealed] == [sum(r.n for r in where if r.period_id == first)]
    with pytest.raises(DBAPIError, match="sealed"):
        async with engine.begin() as conn:
            await conn.execute(
                text(f"UPDATE ledger_entries_p{first} SET description = 'x' WHERE certificate_id = :c"), {"c": other}
            )
    for args in ((), ("--full",)):
        checked = cli(url, data_dir, "ledger", "check", *args)
        assert (checked.returncode, checked.stdout.strip()) == (0, "ledger invariants hold"), checked.stdout
