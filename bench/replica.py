"""The family dashboard with and without a read replica, side by side on one streaming pair.

    .venv/bin/python bench/replica.py [-c 8 --seconds 8 --warmup 2 --rounds 2 --pool 8]

Makes its own pair (``tests/replica/pair.py``: initdb, ``pg_basebackup -R``, the machine's PostgreSQL
binaries; fsync off on both), migrates the primary, loads the demo region and waits for the replica to
replay it. Two ``pdo-graph serve`` processes (one worker each) read the same data:

- ``primary only``: without ``PDO_DATABASE_REPLICA_URL``;
- ``replica``: with it: the dashboard (a lag-tolerant query) reads the replica;
- ``replica, sticky``: the same server, the client carrying ``x-pdo-min-lsn`` of a write the replica
  has not replayed (a position far ahead), as a guardian right after a mutation: its reads go to the
  primary, through the routing.

Before measuring, the three answers must be equal; after, the ``replica`` server's
``pdo_graphql_read_source_total`` must show the replica and the primary answering as expected.
Interleaved rounds (closed loop, ``-c`` keep-alive connections); prints req/s, p50, p99 and the
ratios to ``primary only``, with the load average. Both clusters run on this machine: this measures
what the routing costs and that the replica serves the reads, not a second machine's capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import time
from datetime import date
from typing import IO

import httpx
import orjson
from _common import (
    ROOT,
    KeepAliveClient,
    Result,
    free_port,
    make_tmp,
    run_load,
    start_server,
    stop_server,
    wait_ready,
)
from dashboard import QUERY, loadavg
from sqlalchemy import text

from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.config import Settings
from pdo_graph.db.engine import make_engine, migrate
from pdo_graph.db.replica import Replica
from pdo_graph.demo.loader import load_demo
from pdo_graph.domain.access import Role
from tests.replica.pair import Pair, streaming_pair

FAR_AHEAD = "FFFFFFF/0"  # a WAL position no replica reaches here: the reads of a writer not yet replayed


async def prepare(pair: Pair) -> str:
    """pdo-graph's schema and the demo region on the primary, replayed by the replica; the subject of
    the guardian with the most enrollments."""
    admin = make_engine(pair.url(pair.primary_port), 1)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text('CREATE DATABASE "pdo"'))
    await admin.dispose()
    primary = make_engine(pair.url(pair.primary_port, "pdo"), 2)
    replica = make_engine(pair.url(pair.replica_port, "pdo"), 1)
    try:
        await migrate(primary)
        started = time.perf_counter()
        counts = await load_demo(primary, Settings(), date.today())
        print(f"demo loaded in {time.perf_counter() - started:.1f} s: {counts}")
        async with primary.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
            subject = (
                await conn.execute(
                    text(
                        "SELECT g.subject FROM guardians g JOIN enrollments e ON e.guardian_id = g.id"
                        " GROUP BY g.id ORDER BY count(*) DESC, g.subject LIMIT 1"
                    )
                )
            ).scalar_one()
        watch = Replica(primary, replica, 0)
        for _ in range(1200):
            if await watch.measure_lag() == 0:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the replica did not catch up within 60 s")
    finally:
        await replica.dispose()
        await primary.dispose()
    return str(subject)


class Dashboard:
    def __init__(self, name: str, port: int, token: str, lsn: str | None = None) -> None:
        self.name, self.port = name, port
        self.client = KeepAliveClient(port)
        headers = {"Authorization": f"Bearer {token}"}
        if lsn is not None:
            headers["x-pdo-min-lsn"] = lsn
        self.request = self.client.request("/graphql", orjson.dumps({"query": QUERY}), headers)

    async def fetch(self) -> object:
        status, body = await self.client.send(self.request)
        answer = orjson.loads(body)
        if status != 200 or answer.get("errors") or not answer["data"]["viewer"]["children"]:
            raise RuntimeError(f"{self.name}: HTTP {status}: {body[:300]!r}")
        return answer["data"]

    async def call(self, i: int) -> None:
        await self.fetch()


def sources(port: int) -> dict[str, float]:
    found = re.findall(
        r'pdo_graphql_read_source_total\{source="(\w+)"\} ([0-9.e+]+)',
        httpx.get(f"http://127.0.0.1:{port}/metrics").text,
    )
    return {source: float(n) for source, n in found}


async def run(args: argparse.Namespace) -> None:
    tmp = make_tmp("pdo-bench-replica-")
    servers = []
    logs: list[IO[bytes]] = []
    targets: list[Dashboard] = []
    try:
        with streaming_pair() as pair:
            subject = await prepare(pair)
            token = mint_dev_token(load_or_create_dev_key(tmp), role=Role.GUARDIAN, subject=subject)
            primary_url, replica_url = pair.url(pair.primary_port, "pdo"), pair.url(pair.replica_port, "pdo")
            ports = {}
            for name, extra in (("primary", {}), ("replica", {"PDO_DATABASE_REPLICA_URL": replica_url})):
                port = free_port()
                log = (tmp / f"{name}.log").open("wb")
                logs.append(log)
                server = start_server(port, primary_url, tmp, args.pool, 1, log, extra)
                servers.append(server)
                wait_ready(port, server)
                ports[name] = port
            targets = [
                Dashboard("primary only", ports["primary"], token),
                Dashboard("replica", ports["replica"], token),
                Dashboard("replica, sticky", ports["replica"], token, FAR_AHEAD),
            ]
            answers = [await t.fetch() for t in targets]
            if any(a != answers[0] for a in answers):
                raise RuntimeError("the answers differ")
            print(f"answers equal on all three ({subject})")
            before = sources(ports["replica"])
            print(
                f"\nload: -c {args.concurrency}, {args.seconds:.0f} s after {args.warmup:.0f} s warm-up, {args.rounds}"
                f" interleaved rounds; pool {args.pool}; {os.cpu_count()} CPUs; load average {loadavg()}"
            )
            results: dict[str, list[Result]] = {t.name: [] for t in targets}
            for _ in range(args.rounds):
                for t in targets:
                    results[t.name].append(await run_load(t.call, args.seconds, args.concurrency, args.warmup))
            after = sources(ports["replica"])
            served = {k: after.get(k, 0) - before.get(k, 0) for k in ("replica", "primary")}
            calls = {name: sum(len(r.latencies) + r.errors for r in rs) for name, rs in results.items()}
            print(f"read sources of the replica's server during the runs: {served}")
            base = Result.merge(results["primary only"])
            print(f"\n{'':18} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} errors")
            for name, rs in results.items():
                r = Result.merge(rs)
                print(f"{name:18} {r.rps:8.1f} {r.pct(0.5):8.1f} {r.pct(0.99):8.1f} {r.rps / base.rps:6.2f} {r.errors}")
            print(f"load average after: {loadavg()}")
            if served["replica"] < calls["replica"] or served["primary"] < calls["replica, sticky"]:
                raise RuntimeError(f"the reads did not go where expected: {served} for {calls}")
            for t in targets:
                await t.client.close()
            for server in servers:
                stop_server(server)
            servers = []
    finally:
        for server in servers:
            stop_server(server)
        for log in logs:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8)
    args = parser.parse_args()
    os.chdir(ROOT)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
