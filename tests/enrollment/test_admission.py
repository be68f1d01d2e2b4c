"""Admission control of writes and the cheap refusal of a full group, on a real server.

``pdo-graph serve`` in a subprocess with a tiny write budget (``PDO_MAX_INFLIGHT_WRITES``,
``PDO_WRITE_QUEUE``, ``PDO_WRITE_QUEUE_MS``); applications arrive at once over real HTTP. Every answer
is either the mutation's payload or HTTP 503 ``OVERLOADED`` with ``Retry-After`` (nothing written);
the process never runs more writes at once than allowed (its /metrics); no seat is oversold, no
certificate overdrawn, the ledger invariants hold (the ``db`` fixture checks them after each test).
A full group is refused on a read, without a write slot or a write connection; the statements of an
application are pinned (seven in its transaction, none for a refusal or a replay).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.db import reads
from pdo_graph.db.admission import WriteGate, WritesBusy
from pdo_graph.domain.access import Role
from pdo_graph.domain.money import add_months
from pdo_graph.domain.periods import GATE_CLASS
from tests.e2e.conftest import LiveServer, running_server
from tests.enrollment.conftest import (
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    end_of_month,
    gid,
    next_month,
    open_period,
)

CREATE = """
mutation($c: ID!, $g: ID!, $k: String!) {
  enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: $k}) {
    enrollment { id status } userErrors { code }
  }
}"""

OVERSOLD = "SELECT count(*) FROM groups WHERE seats_taken > capacity"
LIVE_PER_GROUP = (
    "SELECT g.id, g.seats_taken, g.capacity, count(e.id) AS live FROM groups g LEFT JOIN enrollments e"
    " ON e.group_id = g.id AND e.status IN ('REQUESTED', 'ACTIVE') GROUP BY g.id"
)
OVERDRAWN = "SELECT count(*) FROM balances WHERE available < 0"


async def rush_world(
    db: AsyncEngine, capacities: list[int], families: int
) -> tuple[list[int], list[tuple[str, int]], int]:
    """Groups of these capacities (one certified program), funded families (the period opened after
    their certificates are issued): ([group id], [(guardian subject, certificate id)], period id)."""
    program = await add_program(db, await add_provider(db))
    starts = next_month()
    ends = end_of_month(add_months(starts, 8))
    groups = [
        await add_group(db, program, starts_on=starts, ends_on=ends, capacity=c, price=900_000, name=f"Группа {i}")
        for i, c in enumerate(capacities)
    ]
    certificates = await bulk_certificates(db, families, prefix="rush")
    return groups, certificates, await open_period(db)


@contextmanager
def server(db_url: str, data_dir: Path, tmp_path: Path, **env: str) -> Iterator[LiveServer]:
    with running_server(db_url, data_dir, tmp_path / "server.log", "--workers", "1", **env) as live:
        yield live


def metrics(url: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            values[sample.name] = sample.value
    return values


async def apply(client: httpx.AsyncClient, token: str, cert: int, group: int, key: str) -> tuple[int, Any, str]:
    """(status, body, Retry-After) of one application."""
    r = await client.post(
        "/graphql",
        json={"query": CREATE, "variables": {"c": gid("Certificate", cert), "g": gid("Group", group), "k": key}},
        headers={"authorization": f"Bearer {token}"},
    )
    return r.status_code, r.json(), r.headers.get("retry-after", "")


def outcome(status: int, body: Any, retry_after: str) -> str:
    """What one answer says: REQUESTED, the userErrors' codes, or OVERLOADED (checked to be well formed)."""
    if status == 503:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["OVERLOADED"], body
        assert body["errors"][0]["extensions"]["requestId"] and retry_after == "1", body
        assert "data" not in body
        return "OVERLOADED"
    assert status == 200 and "errors" not in body, body
    payload = body["data"]["enrollmentCreate"]
    if payload["enrollment"] is not None:
        assert payload["userErrors"] == []
        return str(payload["enrollment"]["status"])
    return ",".join(sorted(e["code"] for e in payload["userErrors"]))


async def test_a_rush_is_bounded_answered_with_typed_refusals_and_never_oversells(
    db: AsyncEngine, database_url: str, data_dir: Path, tmp_path: Path
):
    groups, families, _ = await rush_world(db, [10, 3, 3], 40)
    key = load_or_create_dev_key(data_dir)
    tokens = {s: mint_dev_token(key, role=Role.GUARDIAN, subject=s) for s, _ in families}
    requests = [(s, c, groups[(i + j) % 3], f"{s}-{j}") for i, (s, c) in enumerate(families) for j in range(2)]
    requests += requests[::7]  # double clicks: the same key again, at once
    env = {"PDO_DB_POOL_SIZE": "4", "PDO_MAX_INFLIGHT_WRITES": "2", "PDO_WRITE_QUEUE": "3", "PDO_WRITE_QUEUE_MS": "30"}
    with server(database_url, data_dir, tmp_path, **env) as live:
        limits = httpx.Limits(max_connections=len(requests))
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            answers = await asyncio.gather(*(apply(client, tokens[s], c, g, k) for s, c, g, k in requests))
            first = Counter(outcome(*a) for a in answers)
            seen = metrics(live.url)
            # the refused ones again, one at a time (a client honouring Retry-After): never refused now
            retried = [r for r, a in zip(requests, answers, strict=True) if a[0] == 503]
            again = Counter([outcome(*await apply(client, tokens[s], c, g, k)) for s, c, g, k in retried])
    assert first["OVERLOADED"] > 0, first  # 130 at once against 2 slots and 3 places in the queue
    assert seen["pdo_writes_in_flight_peak"] <= 2, seen
    assert seen["pdo_writes_refused"] == first["OVERLOADED"], seen
    assert "OVERLOADED" not in again, again
    assert set(first) | set(again) <= {"REQUESTED", "GROUP_FULL", "OVERLOADED"}, (first, again)
    async with db.connect() as conn:
        assert (await conn.execute(text(OVERSOLD))).scalar_one() == 0
        assert (await conn.execute(text(OVERDRAWN))).scalar_one() == 0
        rows = (await conn.execute(text(LIVE_PER_GROUP))).all()
        enrollments = (await conn.execute(text("SELECT count(*) FROM enrollments"))).scalar_one()
        keys = (await conn.execute(text("SELECT count(DISTINCT idempotency_key) FROM enrollments"))).scalar_one()
    assert all(r.live == r.seats_taken <= r.capacity for r in rows), rows
    assert sum(r.capacity for r in rows) == 16 == enrollments == keys  # 80 families' choices for 16 seats


async def test_a_full_group_is_refused_without_a_write_slot_or_connection(
    db: AsyncEngine, database_url: str, data_dir: Path, tmp_path: Path
):
    (open_group, full), families, period = await rush_world(db, [10, 1], 4)
    key = load_or_create_dev_key(data_dir)
    (s0, c0), (s1, c1), (s2, c2), (s3, c3) = families
    token = {s: mint_dev_token(key, role=Role.GUARDIAN, subject=s) for s, _ in families}
    env = {"PDO_DB_POOL_SIZE": "2", "PDO_MAX_INFLIGHT_WRITES": "1", "PDO_WRITE_QUEUE": "0"}
    with server(database_url, data_dir, tmp_path, **env) as live:
        async with db.connect() as holder, httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            assert outcome(*await apply(client, token[s0], c0, full, "last seat")) == "REQUESTED"  # now full
            # the period's gate held exclusively (as a close holds it): the next application takes the
            # process's only write slot and waits inside its transaction
            await holder.execute(text("SELECT pg_advisory_lock(:c, :p)"), {"c": GATE_CLASS, "p": period})
            try:
                blocked = asyncio.create_task(apply(client, token[s1], c1, open_group, "first"))
                for _ in range(100):
                    if metrics(live.url)["pdo_writes_in_flight"] == 1:
                        break
                    await asyncio.sleep(0.05)
                assert metrics(live.url)["pdo_writes_in_flight"] == 1
                assert outcome(*await apply(client, token[s2], c2, full, "full")) == "GROUP_FULL"
                assert outcome(*await apply(client, token[s3], c3, open_group, "busy")) == "OVERLOADED"
                during = metrics(live.url)
                assert not blocked.done()
            finally:
                await holder.execute(text("SELECT pg_advisory_unlock(:c, :p)"), {"c": GATE_CLASS, "p": period})
                await holder.commit()
            assert outcome(*await blocked) == "REQUESTED"
    assert during["pdo_writes_refused"] == 1  # the busy one; the full group's refusal asked for no slot
    assert during["pdo_db_pool_connections_in_use"] == 1  # only the blocked write holds a connection


async def test_the_gate_admits_queues_refuses_and_hands_over():
    gate = WriteGate(limit=2, queue=1, wait=0.05)
    release = asyncio.Event()
    order: list[str] = []

    async def write(name: str) -> str:
        try:
            async with gate.slot():
                order.append(name)
                await release.wait()
            return name
        except WritesBusy:
            return f"refused {name}"

    first = [asyncio.create_task(write(n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0)
    assert (gate.in_flight, gate.waiting) == (2, 1)
    assert await write("d") == "refused d"  # the queue is full: at once
    assert await asyncio.wait_for(first[2], 1) == "refused c"  # waited 50 ms in the queue
    assert gate.refused == 2 and gate.waiting == 0
    queued = asyncio.create_task(write("e"))
    await asyncio.sleep(0)
    release.set()
    assert [await t for t in (first[0], first[1], queued)] == ["a", "b", "e"]
    assert order == ["a", "b", "e"] and gate.in_flight == 0 and gate.peak == 2


async def test_a_cancelled_waiter_gives_its_slot_on():
    gate = WriteGate(limit=1, queue=2, wait=5)
    hold = asyncio.Event()

    async def holder() -> None:
        async with gate.slot():
            await hold.wait()

    async def waiter() -> str:
        async with gate.slot():
            return "ran"

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled, after = asyncio.create_task(waiter()), asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert gate.waiting == 2
    cancelled.cancel()
    hold.set()
    await h
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await asyncio.wait_for(after, 1) == "ran"
    assert gate.in_flight == 0 and gate.waiting == 0


@contextmanager
def statements_by_pool(engine: AsyncEngine) -> Iterator[tuple[list[str], list[str]]]:
    """(statements on the write pool's connections, statements on the read pool) inside the block."""
    writes: list[str] = []
    read: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        writes.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    reads.statement_observers.append(read.append)
    try:
        yield writes, read
    finally:
        reads.statement_observers.remove(read.append)
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_an_application_takes_seven_statements_in_its_transaction_and_a_refusal_none(gql, db, token):
    (group, full), families, _ = await rush_world(db, [10, 1], 3)
    (s0, c0), (s1, c1), (s2, c2) = families

    async def send(subject: str, cert: int, group_id: int, key: str) -> str:
        body = await gql(
            CREATE,
            {"c": gid("Certificate", cert), "g": gid("Group", group_id), "k": key},
            token=token("GUARDIAN", subject),
        )
        return outcome(200, body, "")

    assert await send(s0, c0, full, "last seat") == "REQUESTED"  # the full group is full now
    with statements_by_pool(db) as (writes, read):
        assert await send(s1, c1, group, "one") == "REQUESTED"
    # the facts (and the opening) on the read pool, then in the transaction: the period's gate and row
    # (one statement), the certificate, the seat, the balance, the enrollment, the reserve and its
    # ledger entry (one statement), the provider's notice; the payload on the read pool
    assert len(writes) == 7, "\n".join(writes)
    assert len(read) == 2, "\n".join(read)
    with statements_by_pool(db) as (writes, read):
        assert await send(s2, c2, full, "two") == "GROUP_FULL"
        assert await send(s1, c1, group, "one") == "REQUESTED"  # a double click: the replay, read only
    assert writes == [], "\n".join(writes)
    assert len(read) == 3, "\n".join(read)  # the facts of each, and the replay's payload
