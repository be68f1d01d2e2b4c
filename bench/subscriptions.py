"""Live fan-out: many subscribers of one group's seats, spread over two server processes; the seats
change, and each change must reach every subscriber.

    .venv/bin/python bench/subscriptions.py [--subscribers 1000 --changes 50 --burst 20 --anonymous]

With PDO_DATABASE_URL a scratch database is created on that server (dropped afterwards unless
--keep); without it the bench starts an embedded PostgreSQL in a temporary directory. Two real
servers (``pdo-graph serve``, one process each, ``--pool`` connections each) run on the scratch
database; ``--subscribers`` WebSocket clients (graphql-transport-ws, the ``websockets`` package, all
in this process) subscribe to ``groupSeats`` of one group, half on each server, each with its own
guardian's bearer token (``--anonymous``: without one).

Paced: ``--changes`` times, the bench commits ``UPDATE groups SET seats_taken = seats_taken + 1``
on its own asyncpg connection (the change reaches the servers only through PostgreSQL's
LISTEN/NOTIFY), takes the moment COMMIT returns as the commit time, and waits until every subscriber
has received the new ``seatsLeft``. Latency = receipt (in the client) - commit; p50/p90/p99/max over
every (subscriber, change), and the fan-out time of a change (commit to its last receipt), whose
inverse times the subscribers is the fan-out throughput.

Burst: ``--burst`` changes committed back to back; then how long until every subscriber holds the
final value, how many messages that took (a subscriber busy while changes come gets the newest state
once: bursts are coalesced), deliveries per second.

CPU seconds of each server process and of this client process are reported per change (on a small
machine the clients share the CPUs with the servers and the database: read the latencies with that).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
import orjson
import websockets
from _common import (
    admin,
    bench_postgres,
    database_url,
    free_port,
    make_tmp,
    process_cpu,
    start_server,
    stop_server,
    wait_ready,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.db.engine import driver_url, make_engine, migrate
from pdo_graph.domain.access import Role
from pdo_graph.ids import encode_id

CAPACITY = 1_000_000
SEATS = "subscription($g: ID!) { groupSeats(groupId: $g) { id seatsLeft } }"


async def seed(url: str) -> int:
    engine = make_engine(url, 2)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO municipalities (code, name) VALUES ('01', 'Бенчмарк')"))
            provider = (
                await conn.execute(
                    text(
                        "INSERT INTO providers (name, inn, municipality) VALUES ('Центр', '7701234567', '01') RETURNING id"
                    )
                )
            ).scalar_one()
            program = (
                await conn.execute(
                    text(
                        "INSERT INTO programs (provider_id, title, description, direction, min_age, max_age,"
                        " municipality, certified) VALUES (:p, 'Робототехника', 'Занятия', 'TECHNICAL', 5, 17,"
                        " '01', true) RETURNING id"
                    ),
                    {"p": provider},
                )
            ).scalar_one()
            group = (
                await conn.execute(
                    text(
                        "INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, price)"
                        " VALUES (:p, 'Группа', current_date + 30, current_date + 200, :c, 500000) RETURNING id"
                    ),
                    {"p": program, "c": CAPACITY},
                )
            ).scalar_one()
        return int(group)
    finally:
        await engine.dispose()


@dataclass
class Fanout:
    """Who has received which ``seatsLeft`` value, and when."""

    subscribers: int
    receipts: dict[int, list[float]] = field(default_factory=dict)  # value -> receipt times
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    messages: int = 0

    def expect(self, value: int) -> asyncio.Event:
        self.receipts.setdefault(value, [])
        return self.done.setdefault(value, asyncio.Event())

    def heard(self, value: int, at: float) -> None:
        self.messages += 1
        times = self.receipts.setdefault(value, [])
        times.append(at)
        if len(times) == self.subscribers and value in self.done:
            self.done[value].set()


class Subscriber:
    def __init__(self, url: str, token: str | None, group: str, fanout: Fanout) -> None:
        self.url, self.token, self.group, self.fanout = url, token, group, fanout
        self.ws: websockets.ClientConnection | None = None
        self.ready = asyncio.Event()
        self.last: int | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ws = self.ws = await websockets.connect(
            self.url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], max_size=None, open_timeout=60
        )
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
        ack = orjson.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        query = {"id": "seats", "type": "subscribe", "payload": {"query": SEATS, "variables": {"g": self.group}}}
        await ws.send(orjson.dumps(query).decode())
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            at = time.time()
            message = orjson.loads(raw)
            kind = message["type"]
            if kind == "next":
                value = message["payload"]["data"]["groupSeats"]["seatsLeft"]
                if self.last is None:
                    self.last = value
                    self.ready.set()
                    continue
                self.last = value
                self.fanout.heard(value, at)
            elif kind == "ping":
                await self.ws.send('{"type":"pong"}')
            else:
                raise RuntimeError(f"unexpected message {message}")

    async def stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def pct(values: list[float], p: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


async def commit_change(conn: asyncpg.Connection, group: int) -> tuple[int, float]:
    """One committed change of the seats: (the new seatsLeft, when COMMIT returned)."""
    tr = conn.transaction()
    await tr.start()
    taken = await conn.fetchval(
        "UPDATE groups SET seats_taken = seats_taken + 1 WHERE id = $1 RETURNING seats_taken", group
    )
    await tr.commit()
    return CAPACITY - taken, time.time()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=50, help="paced changes (each waits for its fan-out)")
    parser.add_argument("--burst", type=int, default=20, help="changes committed back to back")
    parser.add_argument("--pool", type=int, default=8, help="database connections per server process")
    parser.add_argument("--anonymous", action="store_true", help="subscribe without tokens")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    tmp = make_tmp("pdo-live-bench-")
    admin_url, embedded = bench_postgres(tmp)
    name = f"pdo_live_{uuid.uuid4().hex[:8]}"
    servers: list[subprocess.Popen[bytes]] = []
    logs = [(tmp / f"server-{n}.log").open("wb") for n in range(2)]
    subscribers: list[Subscriber] = []
    failed = False
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = database_url(admin_url, name)
        group = await seed(url)
        ports = [free_port(), free_port()]
        servers = [start_server(port, url, tmp, args.pool, 1, log) for port, log in zip(ports, logs, strict=True)]
        for port, server in zip(ports, servers, strict=True):
            await asyncio.to_thread(wait_ready, port, server)
        key = load_or_create_dev_key(tmp)
        fanout = Fanout(args.subscribers)
        group_id = encode_id("Group", group)
        for i in range(args.subscribers):
            token = None if args.anonymous else mint_dev_token(key, role=Role.GUARDIAN, subject=f"bench-{i}")
            subscribers.append(Subscriber(f"ws://127.0.0.1:{ports[i % 2]}/graphql", token, group_id, fanout))
        t0 = time.perf_counter()
        gate = asyncio.Semaphore(50)

        async def start(s: Subscriber) -> None:
            async with gate:
                await s.start()
                await asyncio.wait_for(s.ready.wait(), 60)

        await asyncio.gather(*(start(s) for s in subscribers))
        print(
            f"{args.subscribers} subscribers of groupSeats ({'anonymous' if args.anonymous else 'each its own guardian token'}),"
            f" {args.subscribers - args.subscribers // 2} + {args.subscribers // 2} on two server processes"
            f" (PDO_DB_POOL_SIZE={args.pool}), connected and served their first result in {time.perf_counter() - t0:.1f} s;"
            f" {os.cpu_count()} CPUs, database {'embedded' if embedded else make_url(admin_url).host}"
        )

        writer = await asyncpg.connect(driver_url(url))
        pids = {s.pid for s in servers}
        cpu_before = {pid: process_cpu({pid}) for pid in pids}
        own_before = time.process_time()
        latencies: list[float] = []
        spans: list[float] = []
        for _ in range(args.changes):
            value, committed = await commit_change(writer, group)
            done = fanout.expect(value)
            if len(fanout.receipts[value]) == args.subscribers:
                done.set()
            try:
                await asyncio.wait_for(done.wait(), 60)
            except TimeoutError:
                print(
                    f"  change to {value}: only {len(fanout.receipts[value])} of {args.subscribers} received it in 60 s"
                )
                failed = True
                break
            times = fanout.receipts[value]
            latencies += [t - committed for t in times]
            spans.append(max(times) - committed)
        cpu_after = {pid: process_cpu({pid}) for pid in pids}
        own = time.process_time() - own_before
        n = max(len(spans), 1)
        print(
            f"\npaced: {len(spans)} changes, each awaited by all {args.subscribers} subscribers ({len(latencies)} deliveries)"
        )
        print(
            f"  commit -> receipt   p50 {pct(latencies, 0.5):.1f} ms   p90 {pct(latencies, 0.9):.1f} ms   p99 {pct(latencies, 0.99):.1f} ms   max {max(latencies, default=0) * 1000:.1f} ms"
        )
        print(
            f"  fan-out of one change (commit -> last receipt)   p50 {pct(spans, 0.5):.1f} ms   max {max(spans, default=0) * 1000:.1f} ms"
        )
        if spans:
            print(
                f"  fan-out throughput {args.subscribers / (sorted(spans)[len(spans) // 2]):,.0f} deliveries/s"
                " (subscribers / median fan-out time)"
            )
        per_server = " + ".join(f"{(cpu_after[p] - cpu_before[p]) * 1000 / n:.0f}" for p in sorted(pids))
        print(f"  CPU per change: servers {per_server} ms, this client {own * 1000 / n:.0f} ms")

        if args.burst:
            messages_before = fanout.messages
            started = time.time()
            last = None
            for _ in range(args.burst):
                last, committed = await commit_change(writer, group)
            assert last is not None
            final = fanout.expect(last)
            if len(fanout.receipts[last]) == args.subscribers:
                final.set()
            try:
                await asyncio.wait_for(final.wait(), 60)
            except TimeoutError:
                print(
                    f"  burst: only {len(fanout.receipts[last])} of {args.subscribers} reached the final value in 60 s"
                )
                failed = True
            else:
                ended = max(fanout.receipts[last])
                sent = fanout.messages - messages_before
                finals = [t - committed for t in fanout.receipts[last]]
                print(f"\nburst: {args.burst} changes committed back to back in {(committed - started) * 1000:.0f} ms")
                print(
                    f"  every subscriber held the final value {(ended - committed) * 1000:.0f} ms after the last commit"
                    f" (last commit -> receipt of the final value p50 {pct(finals, 0.5):.0f} ms, p99 {pct(finals, 0.99):.0f} ms)"
                )
                print(
                    f"  {sent} messages for {args.burst * args.subscribers} (subscriber, change) pairs:"
                    f" {1 - sent / (args.burst * args.subscribers):.0%} coalesced;"
                    f" {sent / (ended - started):,.0f} deliveries/s"
                )
        await writer.close()
        stray = sum(1 for s in subscribers if s.task is not None and s.task.done())
        if stray:
            print(f"  FAILED {stray} subscriber connections ended early")
            failed = True
        print("\nchecks: " + ("all hold" if not failed else "FAILED"))
        return 1 if failed else 0
    finally:
        await asyncio.gather(*(s.stop() for s in subscribers), return_exceptions=True)
        for server in servers:
            stop_server(server)
        for log in logs:
            log.close()
        if failed:
            for n in range(2):
                print((tmp / f"server-{n}.log").read_text(errors="replace")[-3000:])
        if args.keep:
            print("kept database", database_url(admin_url, name))
        else:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', attempts=5)
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run() -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


if __name__ == "__main__":
    raise SystemExit(run())
