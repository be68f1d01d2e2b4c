"""Subscriptions woken by one change share its reads: many subscribers of a group re-read it with one
statement, each result still built with its own caller; and a subscription sets its watch before it
reads, so a change committed right after the first read is not missed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.engine import driver_url
from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import ANONYMOUS, Actor
from pdo_graph.graphql_schema import build_schema
from pdo_graph.ids import encode_id
from pdo_graph.live import Hub
from pdo_graph.reads.base import SharedReads
from pdo_graph.schema.context import Context, Live
from tests.helpers import recorded_statements
from tests.live.test_channel import group_of, run

SEATS = "subscription($g: ID!) { groupSeats(groupId: $g) { seatsLeft capacity program { title } } }"


@pytest.fixture
async def live(database_url: str, db: AsyncEngine) -> AsyncIterator[Live]:
    hub = Hub(driver_url(database_url))
    hub.start()
    await asyncio.wait_for(hub.listening.wait(), 15)
    yield Live(hub=hub, reads=SharedReads(db))
    await hub.close()


def context(engine: AsyncEngine, settings: Settings, live: Live, n: int) -> Context:
    actor = Actor.guardian(f"family-{n}") if n % 2 else ANONYMOUS
    return Context(actor=actor, db=RequestDb(engine), settings=settings, live=live)


async def test_subscribers_woken_by_one_change_share_one_read(db: AsyncEngine, settings: Settings, live: Live) -> None:
    schema = build_schema(settings)
    group = await group_of(db)
    contexts = [context(db, settings, live, n) for n in range(20)]
    streams: list[Any] = []
    for ctx in contexts:
        stream = await schema.subscribe(SEATS, variable_values={"g": encode_id("Group", group)}, context_value=ctx)
        first = await stream.__anext__()
        assert first.errors is None and first.data["groupSeats"]["capacity"] == 10
        await ctx.end_delivery()
        streams.append(stream)
    pending = [asyncio.create_task(s.__anext__()) for s in streams]
    with recorded_statements(db) as seen:
        await run(db, "UPDATE groups SET capacity = 15 WHERE id = :g", g=group)
        results = await asyncio.wait_for(asyncio.gather(*pending), 15)
    assert [r.data["groupSeats"] for r in results] == [
        {"seatsLeft": 15, "capacity": 15, "program": {"title": "Робототехника"}}
    ] * 20
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, reads  # the group, then its program: once for all twenty
    for ctx in contexts:
        await ctx.end_delivery()
    assert live.reads.open == 0  # the round's connection went back to the pool with its last subscriber
    for stream in streams:
        await stream.aclose()
    assert live.hub.watching == 0


async def test_a_change_right_after_the_first_read_is_not_missed(
    db: AsyncEngine, settings: Settings, live: Live
) -> None:
    schema = build_schema(settings)
    group = await group_of(db)
    ctx = context(db, settings, live, 1)
    stream = await schema.subscribe(SEATS, variable_values={"g": encode_id("Group", group)}, context_value=ctx)
    first = await stream.__anext__()  # the watch is set, then the group read
    await run(db, "UPDATE groups SET capacity = 11 WHERE id = :g", g=group)  # before the subscriber waits again
    await ctx.end_delivery()
    second = await asyncio.wait_for(stream.__anext__(), 15)
    assert (first.data["groupSeats"]["capacity"], second.data["groupSeats"]["capacity"]) == (10, 11)
    await ctx.end_delivery()
    await stream.aclose()


async def test_a_group_that_goes_away_ends_the_subscription(db: AsyncEngine, settings: Settings, live: Live) -> None:
    schema = build_schema(settings)
    group = await group_of(db)
    ctx = context(db, settings, live, 0)
    stream = await schema.subscribe(SEATS, variable_values={"g": encode_id("Group", group)}, context_value=ctx)
    await stream.__anext__()
    await ctx.end_delivery()
    async with db.begin() as conn:  # the row goes, and its seats with it: the trigger announces the update
        await conn.execute(text("UPDATE groups SET capacity = 9 WHERE id = :g"), {"g": group})
        await conn.execute(text("DELETE FROM groups WHERE id = :g"), {"g": group})
    last = await asyncio.wait_for(stream.__anext__(), 15)
    assert last.data is None and last.errors[0].extensions == {"code": "NOT_FOUND"}
    await ctx.end_delivery()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
