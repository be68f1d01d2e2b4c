"""The channel of live updates on a real PostgreSQL: what the triggers of migration 0040 announce (and
what they do not), and the hub that listens (waking watches, folding bursts, reconnecting)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.engine import driver_url
from pdo_graph.live import CHANNEL, Hub, Topic, notification_key
from pdo_graph.live.topics import parse
from pdo_graph.reads.base import SharedReads
from tests.enrollment.conftest import (
    CANCEL,
    PROVIDER_INN,
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    end_of_month,
    enroll,
    gid,
    next_month,
    open_period,
    pk,
)


class Listener:
    """A LISTEN connection of the test's own; ``heard`` holds (topic, key) in the order delivered."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.heard: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on(self, _c: object, _pid: int, _channel: str, payload: str) -> None:
        data = orjson.loads(payload)
        self.heard.put_nowait((data["topic"], data["key"]))

    async def until(self, marker: tuple[str, Any]) -> list[tuple[str, Any]]:
        """Everything heard up to and including ``marker`` (notifications come in commit order)."""
        got: list[tuple[str, Any]] = []
        while not got or got[-1] != marker:
            got.append(await asyncio.wait_for(self.heard.get(), 15))
        return got


@pytest.fixture
async def listener(database_url: str, db: AsyncEngine) -> AsyncIterator[Listener]:
    connection = await asyncpg.connect(driver_url(database_url))
    found = Listener(connection)
    await connection.add_listener(CHANNEL, found.on)
    yield found
    await connection.close()


async def run(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(sql), params)


async def group_of(engine: AsyncEngine, inn: str = PROVIDER_INN) -> int:
    provider = await add_provider(engine, inn)
    program = await add_program(engine, provider)
    starts = next_month()
    return await add_group(engine, program, starts_on=starts, ends_on=end_of_month(starts), capacity=10)


async def test_seats_and_capacity_are_announced_when_committed(db: AsyncEngine, listener: Listener) -> None:
    group = await group_of(db)
    await run(db, "UPDATE groups SET name = 'Другая', schedule = 'пн' WHERE id = :g", g=group)  # not seats
    async with db.connect() as conn:  # rolled back: never announced
        await conn.execute(text("UPDATE groups SET seats_taken = 5 WHERE id = :g"), {"g": group})
        await conn.rollback()
    async with db.begin() as conn:  # twice in one transaction: one notification
        await conn.execute(text("UPDATE groups SET seats_taken = 1 WHERE id = :g"), {"g": group})
        await conn.execute(text("UPDATE groups SET seats_taken = 2 WHERE id = :g"), {"g": group})
    await run(db, "UPDATE groups SET capacity = 12 WHERE id = :g", g=group)
    await run(db, "UPDATE groups SET capacity = 12, seats_taken = 2 WHERE id = :g", g=group)  # no change
    marker = await group_of(db, "7707083893")
    await run(db, "UPDATE groups SET capacity = 3 WHERE id = :g", g=marker)
    assert await listener.until(("group", marker)) == [("group", group), ("group", group), ("group", marker)]
    await run(db, "UPDATE groups SET seats_taken = 0")  # no enrollment holds those seats (ledger check)


async def test_balances_and_enrollment_statuses_are_announced(
    db: AsyncEngine, listener: Listener, gql: Any, token: Any
) -> None:
    group = await group_of(db)
    [(subject, cert)] = await bulk_certificates(db, 1)
    await open_period(db)  # credits the certificate: its balance row is inserted
    assert await listener.until(("certificate", cert)) == [("certificate", cert)]

    created = await enroll(gql, token, subject, gid("Certificate", cert), gid("Group", group))
    enrollment = pk(created["enrollment"]["id"])
    # one transaction: the seat and the reservation, announced at its commit
    got = [await asyncio.wait_for(listener.heard.get(), 15) for _ in range(2)]
    assert sorted(got) == sorted([("group", group), ("certificate", cert)])

    cancelled = await gql(CANCEL, {"id": created["enrollment"]["id"]}, token=token("GUARDIAN", subject))
    assert cancelled["data"]["r"]["userErrors"] == []
    got = [await asyncio.wait_for(listener.heard.get(), 15) for _ in range(3)]
    assert sorted(got) == sorted([("enrollment", enrollment), ("group", group), ("certificate", cert)])
    marker = await group_of(db, "7707083893")
    await run(db, "UPDATE groups SET capacity = 3 WHERE id = :g", g=marker)
    assert await listener.until(("group", marker)) == [("group", marker)]  # nothing more was announced


async def test_a_notification_is_announced_to_its_recipient_key(db: AsyncEngine, listener: Listener) -> None:
    [(subject, _)] = await bulk_certificates(db, 1)
    await run(
        db,
        "INSERT INTO notifications (guardian_id, kind, title, body)"
        " SELECT id, 'CERTIFICATE_ISSUED', 'Сертификат выдан', '' FROM guardians WHERE subject = :s",
        s=subject,
    )
    key = notification_key(subject)
    assert await listener.until(("notification", key)) == [("notification", key)]
    assert len(key) == 32


def test_payloads_that_are_not_ours_are_ignored() -> None:
    assert parse('{"topic": "group", "key": 7}') == ("group", 7)
    assert parse('{"topic": "notification", "key": "ab"}') == ("notification", "ab")
    for bad in ("", "nope", "[1]", '{"topic": 1, "key": 2}', '{"topic": "group", "key": true}', '{"topic": "g"}'):
        assert parse(bad) is None


# --- the hub ------------------------------------------------------------------------------------------


@pytest.fixture
async def hub(database_url: str, db: AsyncEngine) -> AsyncIterator[Hub]:
    found = Hub(driver_url(database_url), keepalive=1.0)
    found.start()
    await asyncio.wait_for(found.listening.wait(), 15)
    yield found
    await found.close()


async def announce(engine: AsyncEngine, topic: str, key: int) -> None:
    payload = orjson.dumps({"topic": topic, "key": key}).decode()
    await run(engine, "SELECT pg_notify(:c, :p)", c=CHANNEL, p=payload)


async def test_the_hub_wakes_the_watches_of_a_key_and_folds_bursts(db: AsyncEngine, hub: Hub) -> None:
    with hub.watch(Topic.GROUP, 1) as one, hub.watch(Topic.GROUP, 1) as same, hub.watch(Topic.GROUP, 2) as two:
        assert hub.watching == 3
        for _ in range(5):  # a burst while nobody is waiting
            await announce(db, "group", 1)
        await run(db, "SELECT pg_notify(:c, 'not ours')", c=CHANNEL)
        await announce(db, "group", 2)
        stamp = await asyncio.wait_for(two.next(), 15)  # heard after the burst: the burst is heard too
        assert one.pending and same.pending
        first, second = await one.next(), await same.next()
        assert first == second < stamp  # the newest wake-up of that key, shared by its watches
        assert not one.pending and not same.pending and not two.pending  # five changes, one wake-up each
    assert hub.watching == 0


async def test_the_hub_reconnects_and_wakes_everyone(db: AsyncEngine, hub: Hub) -> None:
    with hub.watch(Topic.CERTIFICATE, 9) as watch:
        await run(
            db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pdo-graph-live'"
            " AND datname = current_database()",
        )
        await asyncio.wait_for(watch.next(), 15)  # woken when listening again: it may have missed something
        assert hub.listening.is_set()
        await announce(db, "certificate", 9)
        await asyncio.wait_for(watch.next(), 15)


async def test_the_hub_keeps_trying_while_the_database_is_away() -> None:
    away = Hub("postgresql://postgres@127.0.0.1:1/nothing", keepalive=1.0)
    away.start()
    with away.watch(Topic.GROUP, 1) as watch:
        await asyncio.sleep(0.5)  # several attempts, none of which may raise out of the hub
        assert not away.listening.is_set() and not watch.pending
    await away.close()


async def test_shared_reads_give_their_connection_back_with_the_last_holder(db: AsyncEngine) -> None:
    shared = SharedReads(db)
    before = db.pool.checkedout()  # type: ignore[attr-defined]
    scope, loaders = shared.acquire(7)
    assert shared.acquire(7) == (scope, loaders)  # the second subscriber of that change shares them
    assert [r.n for r in await scope.fetch("SELECT 1 AS n", {})] == [1]
    assert db.pool.checkedout() == before + 1  # type: ignore[attr-defined]
    await shared.release(7)
    assert shared.open == 1 and db.pool.checkedout() == before + 1  # type: ignore[attr-defined]
    await shared.release(7)
    assert shared.open == 0 and db.pool.checkedout() == before  # type: ignore[attr-defined]
