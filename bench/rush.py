"""The opening-minute rush: thousands of families apply at once, over real HTTP, against the SQL floor.

    .venv/bin/python bench/rush.py [--certificates 5000 --groups 200 --hot 20 --choices 2 --concurrency 200]

With PDO_DATABASE_URL a scratch database is created on that server (dropped afterwards unless
--keep); without it the bench starts an embedded PostgreSQL in a temporary directory and hands
its URL to the server. Set-based seeding: one municipality, providers and certified programs,
``--groups`` groups (15..30 seats, 3 000..35 000 ₽, so some families co-pay), ``--certificates``
children with certificates funded by opening a period (30 000 ₽ each). A second scratch database
is copied from the seeded one (``CREATE DATABASE ... TEMPLATE``) for the SQL floor.

The server is the real one: ``pdo-graph serve --workers N`` (default: as many workers as CPUs) in a
subprocess on a free loopback port, each worker with a pool of ``--pool`` connections.

At "the minute", every family submits ``enrollmentCreate`` for ``--choices`` groups: with
probability ``--hot-share`` a choice is one of the ``--hot`` hot groups, otherwise any of the
others; all at once through ``--concurrency`` keep-alive client connections with guardian bearer
tokens; ``--double-click`` of them send the same request twice (same idempotency key).

Then the floor: the same requests, in the same order, at the same concurrency, each as one
transaction sent directly over asyncpg with a pool of the same total size (workers × pool) to the
copy: the statements enrollment.create sends (the facts read, the period and certificate share
locks, the guarded seat UPDATE, the balance row lock, INSERT enrollment, the guarded balance UPDATE
and the RESERVE ledger entry), with the rule (enrollment.assess) in between. Prints applications/s, p50/p95/p99 of both and the ratio.

Checks after each run: every request answered (HTTP 200, no top-level error), no oversold seat,
no overdrawn certificate, the ledger invariants (ledger.check_invariants), fromCertificate +
fromFamily = price, one enrollment per idempotency key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import IO

import asyncpg
from _common import (
    OVERLOADED,
    Application,
    Http,
    Outcome,
    admin,
    apply_over_http,
    asyncpg_dsn,
    bench_postgres,
    database_url,
    free_port,
    make_tmp,
    start_server,
    stop_server,
    wait_ready,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.db.engine import make_engine, migrate
from pdo_graph.db.session import RETRYABLE_SQLSTATES, transaction
from pdo_graph.domain import enrollment, ledger, periods
from pdo_graph.domain.access import Actor, Role
from pdo_graph.domain.enrollment import eligibility
from pdo_graph.domain.errors import ErrorCode
from pdo_graph.domain.ledger import check_invariants
from pdo_graph.domain.money import add_months, format_amount

NOMINAL = 3_000_000
MUNICIPALITY = "01"


# --- data ----------------------------------------------------------------------------------------


async def seed(url: str, certificates: int, groups: int, today: date) -> tuple[list[tuple[str, int]], list[int]]:
    """[(guardian subject, certificate id)], [group id]; the period is opened (certificates credited)."""
    engine = make_engine(url, 2)
    try:
        await migrate(engine)
        starts = add_months(today.replace(day=1), 1)
        ends = add_months(starts, 9) - timedelta(days=1)
        birth_min, birth_max = today - timedelta(days=365 * 16), today - timedelta(days=365 * 6)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO municipalities (code, name) VALUES (:m, 'Бенчмарк')"), {"m": MUNICIPALITY}
            )
            await conn.execute(
                text(
                    "INSERT INTO providers (name, inn, municipality)"
                    " SELECT 'Центр ' || i, lpad((7700000000 + i)::text, 10, '0'), :m FROM generate_series(1, 20) i"
                ),
                {"m": MUNICIPALITY},
            )
            await conn.execute(
                text(
                    "INSERT INTO programs (provider_id, title, description, direction, min_age, max_age,"
                    " municipality, certified)"
                    " SELECT 1 + i % 20, 'Программа ' || i, 'Описание программы ' || i,"
                    " (ARRAY['TECHNICAL','ARTS','PHYSICAL_SPORTS','NATURAL_SCIENCE'])[1 + i % 4], 5, 17, :m, true"
                    " FROM generate_series(0, 59) i"
                ),
                {"m": MUNICIPALITY},
            )
            rows = await conn.execute(
                text(
                    "INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, price)"
                    " SELECT 1 + i % 60, 'Группа ' || i, :s, :e, 15 + (i * 7) % 16,"
                    " 300000 + ((i * 7919) % 33) * 100000 FROM generate_series(0, :n - 1) i RETURNING id"
                ),
                {"s": starts, "e": ends, "n": groups},
            )
            group_ids = [int(r.id) for r in rows]
            await conn.execute(
                text("INSERT INTO guardians (subject) SELECT 'family-' || i FROM generate_series(1, :n) i"),
                {"n": certificates},
            )
            await conn.execute(
                text(
                    "INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)"
                    " SELECT g.id, 'Ребёнок ' || g.id || ' Бенчмарков', 'ребенок ' || g.id || ' бенчмарков',"
                    " CAST(:bmin AS date) + CAST(g.id * 37 % (CAST(:bmax AS date) - CAST(:bmin AS date)) AS int), :m"
                    " FROM guardians g"
                ),
                {"bmin": birth_min, "bmax": birth_max, "m": MUNICIPALITY},
            )
            await conn.execute(
                text(
                    "INSERT INTO certificates (number, child_id, municipality, issued_on, valid_until)"
                    " SELECT '77' || :m || lpad(ch.id::text, 6, '0'), ch.id, :m, :t,"
                    " (ch.birth_date + interval '18 years' - interval '1 day')::date FROM children ch"
                ),
                {"m": MUNICIPALITY, "t": today},
            )
            pairs = (
                await conn.execute(
                    text(
                        "SELECT g.subject, c.id FROM certificates c JOIN children ch ON ch.id = c.child_id"
                        " JOIN guardians g ON g.id = ch.guardian_id ORDER BY c.id"
                    )
                )
            ).all()
        operator = Actor.operator("bench-operator", MUNICIPALITY)
        request = periods.PeriodRequest(
            municipality=MUNICIPALITY,
            starts_on=today - timedelta(days=60),
            ends_on=today + timedelta(days=330),
            nominals=[periods.Nominal(0, 18, NOMINAL)],
        )
        await transaction(engine, lambda c: periods.open_period(c, operator, request))
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        return [(str(s), int(c)) for s, c in pairs], group_ids
    finally:
        await engine.dispose()


async def capacities(url: str) -> dict[int, int]:
    engine = make_engine(url, 1)
    try:
        async with engine.connect() as conn:
            return {int(r.id): int(r.capacity) for r in await conn.execute(text("SELECT id, capacity FROM groups"))}
    finally:
        await engine.dispose()


# --- the plan ------------------------------------------------------------------------------------

Request = Application


def plan(
    families: list[tuple[str, int]],
    groups: list[int],
    hot: int,
    hot_share: float,
    choices: int,
    double: float,
    seed: int,
) -> tuple[list[Request], list[int]]:
    """The requests (shuffled; double clicks repeat a request with its key) and the hot groups.

    Each of a family's ``choices`` distinct groups is, with probability ``hot_share``, one of the
    ``hot`` hot groups (uniformly), otherwise one of the others (uniformly).
    """
    rng = random.Random(seed)
    hot_groups = sorted(rng.sample(groups, min(hot, len(groups))))
    hot_set = set(hot_groups)
    cold_groups = [g for g in groups if g not in hot_set]
    requests: list[Request] = []
    for subject, cert in families:
        picked: set[int] = set()
        while len(picked) < min(choices, len(groups)):
            pool = hot_groups if (rng.random() < hot_share and hot_groups) or not cold_groups else cold_groups
            picked.add(rng.choice(pool))
        for g in sorted(picked):
            key = f"{subject}:{g}:{uuid.uuid4().hex[:8]}"
            requests.append((subject, cert, g, key))
            if rng.random() < double:
                requests.append((subject, cert, g, key))
    rng.shuffle(requests)
    return requests, hot_groups


# --- measuring -----------------------------------------------------------------------------------


async def rush(port: int, requests: list[Request], tokens: dict[str, str], concurrency: int) -> Outcome:
    """``concurrency`` workers, each on its own keep-alive connection, drain the requests at once."""
    out = Outcome()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)

    async def worker() -> None:
        http = Http(port)
        try:
            while not queue.empty():
                await apply_over_http(http, queue.get_nowait(), tokens, out, time.perf_counter())
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.seconds = time.perf_counter() - started
    return out


async def arrivals(requests: list[Request], rate: float, send: Callable[[Request, float], Awaitable[None]]) -> float:
    """Open loop: request ``i`` arrives at ``i / rate`` seconds whatever the answers so far, and
    ``send(request, arrival)`` measures its latency from its arrival (time spent waiting for a free
    client connection counts: a slow server cannot slow the arrivals down). Returns the seconds from
    the first arrival to the last answer."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        arrival = time.perf_counter() - max(0.0, loop.time() - due)
        tasks.append(asyncio.create_task(send(request, arrival)))
    await asyncio.gather(*tasks)
    return loop.time() - start


async def open_rush(
    port: int, requests: list[Request], tokens: dict[str, str], rate: float, connections: int
) -> Outcome:
    """The applications at a fixed arrival rate over up to ``connections`` keep-alive connections."""
    out = Outcome()
    free: asyncio.Queue[Http] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(Http(port))

    async def send(request: Request, arrival: float) -> None:
        http = await free.get()
        try:
            await apply_over_http(http, request, tokens, out, arrival)
        finally:
            free.put_nowait(http)

    out.seconds = await arrivals(requests, rate, send)
    while not free.empty():
        await free.get_nowait().close()
    return out


# --- CPU accounting (Linux /proc; None elsewhere) ------------------------------------------------


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, command, user + system CPU seconds) of a process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        return int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def process_cpu() -> dict[int, tuple[int, str, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (s := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = s
    return out


def tree(pid: int, procs: dict[int, tuple[int, str, float]]) -> list[int]:
    """``pid`` and its descendants."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (pp, _, _) in procs.items() if pp == parent]
        found += children
        frontier += children
    return [p for p in found if p in procs]


def machine_busy() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]
        total = sum(values[:8])
        return float(total - idle), float(total)
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class CpuSample:
    procs: dict[int, tuple[int, str, float]]
    busy: tuple[float, float] | None
    client: float

    @classmethod
    def take(cls) -> CpuSample:
        return cls(process_cpu(), machine_busy(), time.process_time())


def report_cpu(before: CpuSample, after: CpuSample, requests: int, seconds: float, server: int | None) -> None:
    def used(pids: list[int]) -> float:
        return sum(after.procs[p][2] - before.procs.get(p, (0, "", 0.0))[2] for p in pids if p in after.procs)

    client = after.client - before.client
    attributed = client
    parts = [f"client (this process) {client / requests * 1000:.2f} ms"]
    mine = {os.getpid()}
    if after.procs:
        if server is not None:
            pids = tree(server, after.procs)
            mine.update(pids)
            loads = [used([p]) / seconds for p in pids]
            per = ", ".join(f"{b * 100:.0f}%" for b in loads if b >= 0.01)
            parts.insert(0, f"server {used(pids) / requests * 1000:.2f} ms (busy processes at {per} of a core)")
            attributed += used(pids)
        pg = [p for p, (_, comm, _) in after.procs.items() if comm.startswith("postgres")]
        parts.append(f"postgres {used(pg) / requests * 1000:.2f} ms")
        attributed += used(pg)
        mine.update(pg)
    print("CPU per application: " + "; ".join(parts))
    others = sorted(((used([p]), p) for p in after.procs if p not in mine), reverse=True)[:3]
    if others and others[0][0] / seconds >= 0.02:
        listed = ", ".join(
            f"{after.procs[p][1]} ({p}) {t / seconds * 100:.0f}%" for t, p in others if t / seconds >= 0.02
        )
        print(f"busiest other processes (of a core): {listed}")
    if before.busy and after.busy:
        cores = os.cpu_count() or 1
        busy = (after.busy[0] - before.busy[0]) / max(1.0, after.busy[1] - before.busy[1])
        other = busy * cores - attributed / seconds
        print(
            f"machine CPU busy {busy * 100:.0f}% of {cores} cores during the run;"
            f" not attributed to the above (kernel, other processes) {other:.2f} cores"
        )


# --- the SQL floor -------------------------------------------------------------------------------

_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")


def positional(sql: str) -> tuple[str, list[str]]:
    """SQLAlchemy-style :named parameters to asyncpg's $n; returns the names in order."""
    names: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return _PARAM.sub(sub, sql), names


FACTS_SQL, FACTS_PARAMS = positional(eligibility._FACTS_SQL)
SEAT_SQL = (
    "UPDATE groups SET seats_taken = seats_taken + 1"
    " WHERE id = $1 AND seats_taken < capacity AND enrollment_open AND NOT archived RETURNING seats_taken"
)
RELEASE_SEAT_SQL = "UPDATE groups SET seats_taken = seats_taken - 1 WHERE id = $1"
PERIOD_SHARE_SQL = (
    "SELECT id, status, open_for_applications FROM funding_periods WHERE id = ANY($1) ORDER BY id FOR SHARE"
)
CERTIFICATE_SHARE_SQL = "SELECT status FROM certificates WHERE id = $1 FOR SHARE"
BALANCE_LOCK_SQL = "SELECT available FROM balances WHERE certificate_id = $1 AND period_id = $2 FOR NO KEY UPDATE"
INSERT_ENROLLMENT_SQL = (
    "INSERT INTO enrollments (certificate_id, child_id, group_id, period_id, guardian_id, status, price,"
    " from_certificate, from_family, first_month, months, reserved, idempotency_key, request_hash)"
    " VALUES ($1, $2, $3, $4, $5, 'REQUESTED', $6, $7, $8, $9, $10, $7, $11, $12)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
RESERVE_SQL = (
    "UPDATE balances SET reserved = reserved + $1"
    " WHERE certificate_id = $2 AND period_id = $3 AND available >= $1 RETURNING 1"
)
LEDGER_SQL = (
    "INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, month, completeness,"
    " amount, debit_account, credit_account, description, idempotency_key, actor)"
    " VALUES ('RESERVE', $1, $2, $3, NULL, NULL, $4, $5, $6, $7, $8, $9) RETURNING id"
)


class Refused(Exception):
    """Ends the transaction with a rollback; ``label`` is the outcome (sorted error codes)."""

    def __init__(self, *codes: ErrorCode | str) -> None:
        self.label = ",".join(sorted(str(c) for c in codes))


async def facts_of(conn: asyncpg.Connection, request: Request, today: date) -> enrollment.Facts:
    _, cert, group, key = request
    values = {"cid": cert, "gid": group, "today": today, "key": key}
    row = await conn.fetchrow(FACTS_SQL, *(values[n] for n in FACTS_PARAMS))
    if row is None:
        raise Refused(ErrorCode.NOT_FOUND)
    return enrollment.Facts(**dict(row))


def replayed(facts: enrollment.Facts, wanted: str) -> str:
    if facts.key_request_hash != wanted:
        raise Refused(ErrorCode.IDEMPOTENCY_KEY_REUSED)
    return "REQUESTED (replay of the same key)"


async def apply_sql(conn: asyncpg.Connection, request: Request, today: date) -> str:
    """enrollment.create as plain statements in one transaction; returns the outcome label."""
    subject, cert, group, key = request
    wanted = enrollment.request_hash(cert, group)
    async with conn.transaction():
        facts = await facts_of(conn, request, today)
        if facts.guardian_subject != subject:
            raise Refused(ErrorCode.FORBIDDEN)
        if facts.key_enrollment_id is not None:
            return replayed(facts, wanted)
        _, problems = enrollment.assess(facts, today)
        if problems:
            raise Refused(*(p.code for p in problems))
        assert facts.period_id is not None
        period = await conn.fetchrow(PERIOD_SHARE_SQL, [facts.period_id])
        status = await conn.fetchval(CERTIFICATE_SHARE_SQL, cert)
        facts = replace(
            facts,
            certificate_status=status,
            period_id=None if period["status"] == "CLOSED" else facts.period_id,
            open_for_applications=period["open_for_applications"],
        )
        _, problems = enrollment.assess(facts, today)
        if problems:
            raise Refused(*(p.code for p in problems))
        if await conn.fetchrow(SEAT_SQL, group) is None:
            facts = await facts_of(conn, request, today)
            if facts.key_enrollment_id is not None:
                return replayed(facts, wanted)
            _, problems = enrollment.assess(facts, today)
            raise Refused(*(p.code for p in problems)) if problems else Refused(ErrorCode.GROUP_FULL)
        assert facts.period_id is not None
        available = await conn.fetchval(BALANCE_LOCK_SQL, cert, facts.period_id)
        terms, _ = enrollment.assess(replace(facts, available=int(available or 0)), today, holding_seat=True)
        enrollment_id = await conn.fetchval(
            INSERT_ENROLLMENT_SQL,
            cert,
            facts.child_id,
            group,
            facts.period_id,
            facts.guardian_id,
            terms.price,
            terms.from_certificate,
            terms.from_family,
            terms.first_month,
            terms.months,
            key,
            wanted,
        )
        if enrollment_id is None:
            again = await facts_of(conn, request, today)
            if again.key_enrollment_id is not None:
                await conn.execute(RELEASE_SEAT_SQL, group)
                return replayed(again, wanted)
            raise Refused(ErrorCode.ALREADY_ENROLLED)
        if terms.from_certificate > 0:
            if await conn.fetchrow(RESERVE_SQL, terms.from_certificate, cert, facts.period_id) is None:
                raise ledger.InsufficientFunds(cert)
            debit, credit = ledger.ACCOUNTS[ledger.Kind.RESERVE]
            await conn.fetchval(
                LEDGER_SQL,
                cert,
                facts.period_id,
                enrollment_id,
                terms.from_certificate,
                debit,
                credit,
                f"Резерв по заявке на зачисление в группу: {format_amount(terms.from_certificate)} ₽",
                key,
                f"guardian:{subject}",
            )
        return "REQUESTED" + (" with co-pay" if terms.from_family else "")


async def send_sql(pool: asyncpg.Pool, request: Request, today: date, out: Outcome, started: float) -> None:
    """One application as one asyncpg transaction (retried as db.session.run_transaction does)."""
    async with pool.acquire() as conn:
        for attempt in range(1, 9):
            try:
                label = await apply_sql(conn, request, today)
            except Refused as refused:
                label = refused.label
            except asyncpg.PostgresError as exc:
                if exc.sqlstate in RETRYABLE_SQLSTATES and attempt < 8:
                    out.retries += 1
                    await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                    continue
                out.transport_errors += 1
                out.transport_messages[f"{type(exc).__name__}: {exc}"[:200]] += 1
                label = None
            break
    if label is not None:
        out.latencies.append(time.perf_counter() - started)
        out.arrived.append(started)
        out.outcomes[label] += 1


async def floor(
    dsn: str, requests: list[Request], concurrency: int, pool_size: int, today: date, rate: float | None = None
) -> tuple[Outcome, CpuSample, CpuSample]:
    """The same requests as one asyncpg transaction each: ``concurrency`` tasks over ``pool_size``
    connections (or, with ``rate``, arriving at that rate); the latency runs from waiting for a
    connection (from the arrival) to the commit, as over HTTP. The CPU samples bracket the run
    (taken while the pool's backends are alive)."""
    out = Outcome()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=pool_size,
        max_size=pool_size,
        server_settings={"application_name": "pdo-rush-floor", "timezone": "UTC"},
    )
    assert pool is not None
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)

    async def worker() -> None:
        while not queue.empty():
            await send_sql(pool, queue.get_nowait(), today, out, time.perf_counter())

    try:
        before = CpuSample.take()
        started = time.perf_counter()
        if rate is None:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            out.seconds = time.perf_counter() - started
        else:
            out.seconds = await arrivals(
                requests, rate, lambda request, arrival: send_sql(pool, request, today, out, arrival)
            )
        after = CpuSample.take()
    finally:
        await pool.close()
    return out, before, after


# --- checks --------------------------------------------------------------------------------------

OVERSOLD_SQL = (
    "SELECT coalesce(sum(greatest(greatest(g.seats_taken, coalesce(e.n, 0)) - g.capacity, 0)), 0) FROM groups g"
    " LEFT JOIN (SELECT group_id, count(*) AS n FROM enrollments WHERE status IN ('REQUESTED', 'ACTIVE')"
    " GROUP BY group_id) e ON e.group_id = g.id"
)
OVERDRAWN_SQL = "SELECT count(*) FROM balances WHERE available < 0"
OTHER_CHECKS = {
    "split != price": "SELECT count(*) FROM enrollments WHERE from_certificate + from_family <> price",
    "reserve != fromCertificate": "SELECT count(*) FROM enrollments WHERE reserved <> from_certificate",
    "two enrollments per key": "SELECT count(*) FROM (SELECT 1 FROM enrollments"
    " GROUP BY guardian_id, idempotency_key HAVING count(*) > 1) d",
}


@dataclass
class Checks:
    oversold: int
    overdrawn: int
    ledger: list[tuple[str, str]]
    other: list[str]

    @property
    def ok(self) -> bool:
        return not (self.oversold or self.overdrawn or self.ledger or self.other)

    def print(self) -> None:
        print(f"oversold seats: {self.oversold}")
        print(f"overdrawn certificates: {self.overdrawn}")
        if not self.ledger:
            print("ledger check: ok")
        else:
            print(f"ledger check: {len(self.ledger)} violation(s)")
            for kind, detail in self.ledger[:10]:
                print(f"  FAILED ledger {kind}: {detail}")
        for problem in self.other:
            print(f"  FAILED {problem}")


async def verify(url: str) -> Checks:
    engine = make_engine(url, 1)
    try:
        async with engine.connect() as conn:
            oversold = int((await conn.execute(text(OVERSOLD_SQL))).scalar_one())
            overdrawn = int((await conn.execute(text(OVERDRAWN_SQL))).scalar_one())
            violations = await check_invariants(conn)
            other = []
            for name, sql in OTHER_CHECKS.items():
                n = int((await conn.execute(text(sql))).scalar_one())
                if n:
                    other.append(f"{name}: {n}")
    finally:
        await engine.dispose()
    return Checks(oversold, overdrawn, violations, other)


async def summary(url: str) -> dict[str, int]:
    engine = make_engine(url, 1)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM enrollments) AS enrollments,"
                        " (SELECT sum(capacity) FROM groups) AS seats,"
                        " (SELECT sum(seats_taken) FROM groups) AS taken,"
                        " (SELECT count(*) FROM groups WHERE seats_taken = capacity) AS full_groups,"
                        " (SELECT sum(reserved) FROM balances) AS reserved,"
                        " (SELECT count(*) FROM ledger_entries WHERE kind = 'RESERVE') AS reserves"
                    )
                )
            ).one()
            return {k: int(v or 0) for k, v in row._asdict().items()}
    finally:
        await engine.dispose()


def print_totals(totals: dict[str, int]) -> None:
    print(
        f"enrollments {totals['enrollments']}, seats taken {totals['taken']}/{totals['seats']}"
        f" ({totals['full_groups']} groups full), reserved {totals['reserved'] / 100:.2f} ₽"
        f" in {totals['reserves']} RESERVE entries"
    )


# --- the server ----------------------------------------------------------------------------------


# --- main ----------------------------------------------------------------------------------------


def print_run(name: str, out: Outcome, total: int) -> None:
    print(
        f"{name}: {len(out.latencies)}/{total} applications in {out.seconds:.1f} s: {out.rate:.0f} applications/s;"
        f" latency p50 {out.pct(0.50):.0f} ms, p95 {out.pct(0.95):.0f} ms, p99 {out.pct(0.99):.0f} ms,"
        f" max {out.pct(1.0):.0f} ms"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--hot", type=int, default=20, help="hot groups")
    parser.add_argument("--hot-share", type=float, default=0.8, help="share of choices that go to the hot groups")
    parser.add_argument("--choices", type=int, default=2, help="groups each family applies to")
    parser.add_argument("--double-click", type=float, default=0.1, help="share of requests sent twice (same key)")
    parser.add_argument("--concurrency", type=int, default=200, help="client connections (floor: tasks) in flight")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument("--pool", type=int, default=8, help="database connections per server worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-floor", action="store_true", help="skip the SQL floor")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument(
        "--rates",
        help="open loop: arrival rates (applications/s, e.g. 100,200,400,700), each on fresh copies of the seeded"
        " database; reports the highest rate at which p99 stays under --p99-ms",
    )
    parser.add_argument("--p99-ms", type=float, default=100.0, help="the open loop's latency bound")
    parser.add_argument("--cpu", action="store_true", help="open loop: CPU per application (server, postgres, client)")
    args = parser.parse_args()

    today = date.today()
    tmp = make_tmp("pdo-rush-")
    admin_url, embedded = bench_postgres(tmp)
    suffix = uuid.uuid4().hex[:8]
    name, floor_name = f"pdo_rush_{suffix}", f"pdo_rush_{suffix}_floor"
    created: list[str] = []
    server: subprocess.Popen[bytes] | None = None
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    total_pool = args.workers * args.pool
    try:
        await admin(admin_url, f'CREATE DATABASE "{name}"')
        created.append(name)
        url = database_url(admin_url, name)
        t0 = time.perf_counter()
        families, groups = await seed(url, args.certificates, args.groups, today)
        if not args.no_floor and not args.rates:
            await admin(admin_url, f'CREATE DATABASE "{floor_name}" TEMPLATE "{name}"', attempts=10)
            created.append(floor_name)
        print(
            f"seeded {len(families)} funded certificates, {len(groups)} groups in {time.perf_counter() - t0:.1f} s"
            + ("" if args.no_floor or args.rates else " (and a copy for the floor)")
        )
        key = load_or_create_dev_key(tmp)
        tokens = {s: mint_dev_token(key, role=Role.GUARDIAN, subject=s) for s, _ in families}
        requests, hot = plan(families, groups, args.hot, args.hot_share, args.choices, args.double_click, args.seed)
        seats = await capacities(url)
        hot_set = set(hot)
        to_hot = sum(1 for r in requests if r[2] in hot_set)
        print(
            f"demand: {len(requests)} requests ({len(families)} families x {args.choices} choices,"
            f" {args.double_click:.0%} double clicks); {to_hot} ({to_hot / len(requests):.0%}) to {len(hot)} hot groups"
            f" with {sum(seats[g] for g in hot)} seats, {len(requests) - to_hot} to {len(groups) - len(hot)} others"
            f" with {sum(c for g, c in seats.items() if g not in hot_set)} seats"
        )

        if args.rates:
            rates = [float(r) for r in args.rates.split(",")]
            return await ladder(args, admin_url, name, tmp, requests, tokens, today, rates, log, created)

        port = free_port()
        server = start_server(port, url, tmp, args.pool, args.workers, log)
        await asyncio.to_thread(wait_ready, port, server)
        print(
            f"\nGraphQL: pdo-graph serve --workers {args.workers}, PDO_DB_POOL_SIZE={args.pool}"
            f" ({total_pool} connections), {args.concurrency} keep-alive client connections,"
            f" {os.cpu_count()} CPUs, database {'embedded' if embedded else make_url(admin_url).host}"
        )
        before = CpuSample.take()
        gql = await rush(port, requests, tokens, args.concurrency)
        after = CpuSample.take()
        server_pid = server.pid
        stop_server(server)
        server = None

        answered = sum(gql.statuses.values())
        five_xx = sum(n for status, n in gql.statuses.items() if status >= 500) - gql.outcomes[OVERLOADED]
        print_run("GraphQL", gql, len(requests))
        print(
            f"HTTP statuses {dict(gql.statuses)}; transport errors {gql.transport_errors};"
            f" top-level GraphQL errors {gql.top_level_errors}"
        )
        report_cpu(before, after, len(requests), gql.seconds, server_pid)
        for message, n in gql.transport_messages.most_common():
            print(f"  transport error x{n}: {message}")
        for outcome, n in gql.outcomes.most_common():
            print(f"  {n:>6}  {outcome}")
        print_totals(await summary(url))
        checks = await verify(url)
        checks.print()
        failed = not checks.ok
        if gql.transport_errors or five_xx or gql.top_level_errors or answered != len(requests):
            print("  FAILED not every request was answered with 200 and a payload")
            failed = True

        if not args.no_floor:
            floor_url = database_url(admin_url, floor_name)
            print(
                f"\nSQL floor: the same {len(requests)} applications as asyncpg transactions on a copy of the seeded"
                f" database, {args.concurrency} tasks over a pool of {total_pool} connections"
            )
            sql, before, after = await floor(asyncpg_dsn(floor_url), requests, args.concurrency, total_pool, today)
            print_run("SQL floor", sql, len(requests))
            print(f"deadlock/serialization retries {sql.retries}; errors {sql.transport_errors}")
            report_cpu(before, after, len(requests), sql.seconds, None)
            for message, n in sql.transport_messages.most_common():
                print(f"  error x{n}: {message}")
            for outcome, n in sql.outcomes.most_common():
                print(f"  {n:>6}  {outcome}")
            print_totals(await summary(floor_url))
            floor_checks = await verify(floor_url)
            floor_checks.print()
            failed = failed or not floor_checks.ok or bool(sql.transport_errors)

            print("\n                 applications/s    p50 ms    p95 ms    p99 ms")
            for label, out in (("GraphQL", gql), ("SQL floor", sql)):
                print(f"  {label:<14} {out.rate:14.0f} {out.pct(0.5):9.1f} {out.pct(0.95):9.1f} {out.pct(0.99):9.1f}")
            print(
                f"ratio GraphQL/floor: throughput {gql.rate / sql.rate:.2f},"
                f" p50 {gql.pct(0.5) / max(sql.pct(0.5), 1e-9):.2f}x, p99 {gql.pct(0.99) / max(sql.pct(0.99), 1e-9):.2f}x"
            )
        print("\nchecks: " + ("all hold" if not failed else "FAILED"))
        return 1 if failed else 0
    finally:
        if server is not None:
            stop_server(server)
        log.close()
        if server is not None or os.environ.get("PDO_RUSH_SERVER_LOG"):
            print(log_path.read_text(errors="replace")[-4000:])
        for db in created:
            if args.keep:
                print("kept database", database_url(admin_url, db))
            else:
                await admin(admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def ladder(
    args: argparse.Namespace,
    admin_url: str,
    template: str,
    tmp: Path,
    requests: list[Request],
    tokens: dict[str, str],
    today: date,
    rates: list[float],
    log: IO[bytes],
    created: list[str],
) -> int:
    """The open loop: for each rate, the same applications arriving at that rate, over HTTP on a fresh
    copy of the seeded database and as SQL transactions on another; the checks on both after each."""
    total_pool = args.workers * args.pool
    print(
        f"\nopen loop: {len(requests)} applications at each rate; pdo-graph serve --workers {args.workers},"
        f" PDO_DB_POOL_SIZE={args.pool}, up to {args.concurrency} client connections; SQL floor: a pool of"
        f" {total_pool}; p99 bound {args.p99_ms:g} ms; {os.cpu_count()} CPUs"
    )
    print(f"\n{'rate/s':>8} {'':10} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8}  checks")
    failed, best = False, None
    for n, rate in enumerate(rates):
        outs: dict[str, Outcome] = {}
        for side in ("GraphQL", "SQL floor"):
            if side == "SQL floor" and args.no_floor:
                continue
            copy = f"{template}_r{n}" + ("_floor" if side == "SQL floor" else "")
            await admin(admin_url, f'CREATE DATABASE "{copy}" TEMPLATE "{template}"', attempts=10)
            created.append(copy)
            url = database_url(admin_url, copy)
            if side == "GraphQL":
                port = free_port()
                server = start_server(port, url, tmp, args.pool, args.workers, log)
                try:
                    await asyncio.to_thread(wait_ready, port, server)
                    before = CpuSample.take()
                    out = await open_rush(port, requests, tokens, rate, args.concurrency)
                    after = CpuSample.take()
                finally:
                    stop_server(server)
                answered = sum(out.statuses.values())
                problems = [
                    f"{what} {n}"
                    for what, n in (
                        ("transport errors", out.transport_errors),
                        ("top-level errors", out.top_level_errors),
                        ("unanswered", len(requests) - answered),
                        (
                            "5xx",
                            sum(n for status, n in out.statuses.items() if status >= 500) - out.outcomes[OVERLOADED],
                        ),
                    )
                    if n
                ]
            else:
                out, before, after = await floor(asyncpg_dsn(url), requests, args.concurrency, total_pool, today, rate)
                problems = [f"errors {out.transport_errors}"] if out.transport_errors else []
            checks = await verify(url)
            if not checks.ok:
                problems.append(
                    f"checks: oversold {checks.oversold}, overdrawn {checks.overdrawn}, ledger {checks.ledger}, {checks.other}"
                )
            failed = failed or bool(problems)
            outs[side] = out
            print(
                f"{rate:8.0f} {side:10} {out.rate:10.0f} {out.pct(0.5):8.1f} {out.pct(0.99):8.1f}  "
                + ("FAILED: " + "; ".join(problems) if problems else "hold (0 oversold, 0 overdrawn)")
            )
            print(
                f"{'':20}after the first 3 s of arrivals: p50 {out.pct_after(0.5, 3):.1f} ms, p99 {out.pct_after(0.99, 3):.1f} ms"
            )
            for message, count in out.transport_messages.most_common(3):
                print(f"{'':20}x{count}: {message}")
            if out.outcomes[OVERLOADED]:
                print(f"{'':20}{out.outcomes[OVERLOADED]} refused by admission control (HTTP 503 OVERLOADED)")
            if args.cpu:
                report_cpu(before, after, len(requests), out.seconds, server.pid if side == "GraphQL" else None)
            if not args.keep:
                await admin(admin_url, f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
                created.remove(copy)
        gql = outs["GraphQL"]
        # sustained: answered at the arrival rate, p99 under the bound, and (nearly) every application
        # served, not turned away by admission control (at most 1 % refused with 503)
        served = gql.outcomes[OVERLOADED] <= 0.01 * len(requests)
        if gql.pct(0.99) < args.p99_ms and gql.rate >= 0.95 * rate and served:
            best = (rate, gql, outs.get("SQL floor"))
    if best is None:
        print(f"\nno rate kept GraphQL's p99 under {args.p99_ms:g} ms")
    else:
        rate, gql, sql = best
        ratio = (
            ""
            if sql is None
            else f"; floor p99 {sql.pct(0.99):.1f} ms, throughput GraphQL/floor {gql.rate / sql.rate:.2f}"
        )
        print(
            f"\nhighest rate with GraphQL p99 under {args.p99_ms:g} ms: {rate:.0f} applications/s (p99 {gql.pct(0.99):.1f} ms{ratio})"
        )
    print("checks: " + ("all hold" if not failed else "FAILED"))
    return 1 if failed else 0


def run() -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


if __name__ == "__main__":
    sys.exit(run())
