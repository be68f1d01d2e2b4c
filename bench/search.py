"""Navigator search benchmark: GraphQL over real HTTP against the same searches as plain SQL.

    .venv/bin/python bench/search.py [--programs 50000 --groups 150000 --seconds 20 --concurrency 8]

With PDO_DATABASE_URL a scratch database is created on that server (and dropped afterwards,
unless --keep); without it an embedded PostgreSQL runs in a temporary directory. The data is
generated set-based (INSERT ... SELECT over generate_series, with Russian titles and descriptions
from the demo generator). The app runs under uvicorn in a subprocess on a free loopback port; the
client sends a fixed mix of navigator searches (text and filters, every order, one with
coveredByCertificate) from ``--concurrency`` workers. Then the same searches run as plain SQL
through asyncpg (the same statements the app sends: the search, the providers and the groups of the
page), which is the floor. Prints throughput, p50 and p99 of both and their ratio, and with
--explain the plan of the typical query.

The client is ``_common.KeepAliveClient`` (keep-alive connections, requests as prepared bytes,
responses parsed by httptools): on two cores the load generator's CPU is taken from the server it
measures, and httpx costs several times as much per request as asyncpg does on the floor's side.
CPU milliseconds per request are printed for the server's process tree, the database's backends
(when PostgreSQL runs on this machine) and the client.

The server is the real one: ``pdo-graph serve --workers N`` (default: as many workers as CPUs) in a
subprocess on a free loopback port, each worker with a pool of ``--pool`` connections; for the
embedded case the bench starts the embedded server and hands its URL over.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import orjson
from _common import (
    KeepAliveClient,
    Result,
    admin,
    bench_postgres,
    database_url,
    free_port,
    make_tmp,
    process_cpu,
    run_load,
    running_here,
    start_server,
    stop_server,
    wait_ready,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.crypto import KeyRing
from pdo_graph.db.engine import make_engine, migrate
from pdo_graph.db.session import transaction
from pdo_graph.demo import content
from pdo_graph.domain import certificates, periods
from pdo_graph.domain import search as search_domain
from pdo_graph.domain.access import Actor, Role
from pdo_graph.reads.catalog import Along, search_statement

FIRST = 20
NOMINAL = 2_500_000

QUERY = """
query($first: Int!, $search: String, $filter: ProgramFilter, $order: ProgramOrder) {
  programs(first: $first, search: $search, filter: $filter, orderBy: $order) {
    totalCount
    facets { direction count }
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id title direction minAge maxAge certified rating
        provider { id name }
        groups(first: 5) { edges { node { id startsOn price { kopecks } seatsLeft } } }
      }
    }
  }
}"""


# the bench's child has no СНИЛС: the ring seals nothing, apply() only needs one
BENCH_KEYS = KeyRing([("bench", b"b" * 32)])


@dataclass(frozen=True)
class Search:
    name: str
    text: str | None
    filter: dict[str, Any]
    order: str
    needs_certificate: bool = False


MIX = [
    Search(
        "robotics 10y muni free",
        "робототехника",
        {"age": 10, "municipality": "01", "certifiedOnly": True, "hasFreeSeats": True},
        "RELEVANCE",
    ),
    Search("chess typing, muni", "шахмат", {"municipality": "02"}, "RELEVANCE"),
    Search("dance max price", "танц", {"age": 8, "maxPrice": 1_500_000}, "PRICE_ASC"),
    Search("arts by rating", None, {"municipality": "03", "direction": "ARTS"}, "RATING_DESC"),
    Search("english free seats", "английский язык", {"hasFreeSeats": True}, "STARTS_ON_ASC"),
    Search("covered by certificate", None, {"municipality": "01"}, "PRICE_ASC", needs_certificate=True),
    Search("typing 'програм'", "програм", {}, "RELEVANCE"),
    Search("browse muni 12y", None, {"municipality": "04", "age": 12}, "RELEVANCE"),
]


# --- database ----------------------------------------------------------------------------------


def vocabulary(today: date, size: int = 3000) -> dict[str, list[Any]]:
    """Realistic program texts from the demo generator, reused round-robin by the set-based insert."""
    providers = content.providers(random.Random("bench:providers"), 8)
    specs = content.programs(random.Random("bench:programs"), providers, size, today)
    return {
        "titles": [p.title for p in specs],
        "descriptions": [p.description for p in specs],
        "directions": [p.direction for p in specs],
        "min_ages": [p.min_age for p in specs],
        "max_ages": [p.max_age for p in specs],
    }


async def generate(url: str, programs: int, groups: int, today: date) -> str:
    """Fill the catalog set-based; returns the global id of a certificate with an open period."""
    engine = make_engine(url, 2)
    await migrate(engine)
    vocab = vocabulary(today)
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO municipalities (code, name) VALUES (:c, :n)"),
            [{"c": c, "n": n} for c, n in content.MUNICIPALITIES],
        )
        await conn.execute(text("SELECT setseed(0.42)"))
        n_providers = max(6, programs // 50)
        await conn.execute(
            text(
                "INSERT INTO providers (name, inn, municipality, address)"
                " SELECT 'Центр дополнительного образования № ' || i, '47' || lpad(i::text, 8, '0'),"
                " '0' || (1 + i % 6), 'ул. Ленина, д. ' || (1 + i % 120) FROM generate_series(1, :n) i"
            ),
            {"n": n_providers},
        )
        await conn.execute(
            text(
                "INSERT INTO programs (provider_id, external_id, title, description, direction, min_age, max_age,"
                " hours, municipality, certified, archived, rating_sum, rating_count, normative_cost)"
                " SELECT pr.id, 'bench-' || i, t.title || CASE WHEN i > :pool THEN ' (группа ' || i || ')' ELSE '' END,"
                "  t.description, t.direction, t.min_age, t.max_age, 72, pr.municipality,"
                "  random() < 0.85, random() < 0.03, r.cnt * (3 + (i % 3)), r.cnt,"
                "  CASE WHEN random() < 0.5 THEN 3000000 END"
                " FROM generate_series(1, :n) i"
                " JOIN unnest(CAST(:titles AS text[]), CAST(:descriptions AS text[]), CAST(:directions AS text[]),"
                "   CAST(:min_ages AS int[]), CAST(:max_ages AS int[]))"
                "   WITH ORDINALITY AS t(title, description, direction, min_age, max_age, k) ON t.k = 1 + i % :pool"
                " JOIN providers pr ON pr.id = 1 + (i * 7919) % :providers"
                " CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.4 THEN (random() * 20)::int ELSE 0 END"
                "   + 0 * i AS cnt) r"
            ),
            {"n": programs, "pool": len(vocab["titles"]), "providers": n_providers, **vocab},
        )
        await conn.execute(
            text(
                "INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, seats_taken, price,"
                " enrollment_open, archived)"
                " SELECT p, 'Группа ' || i, s, s + (90 + (random() * 180)::int), c,"
                "  CASE WHEN random() < 0.08 THEN c ELSE (random() * c / 2)::int END,"
                "  (30 + (random() * 370)::int) * 10000, random() < 0.9, random() < 0.03"
                " FROM generate_series(1, :n) i"
                " CROSS JOIN LATERAL (SELECT 1 + (i - 1) % :programs + 0 * i AS p,"
                "   CAST(:today AS date) + (random() * 150 - 40)::int + 0 * i AS s,"
                "   8 + (random() * 17)::int + 0 * i AS c) x"
            ),
            {"n": groups, "programs": programs, "today": today},
        )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    print(f"generated {programs} programs, {groups} groups in {time.perf_counter() - started:.1f} s")

    guardian = Actor.guardian("bench-guardian")
    operator = Actor.operator("bench-operator", "01")

    async def certificate(conn: Any) -> int:
        req = certificates.ApplicationRequest("Смирнов Артём Павлович", date(today.year - 10, 3, 1), None, "01")
        app_id = await certificates.apply(conn, guardian, req, today, BENCH_KEYS)
        cert_id = await certificates.issue(conn, operator, app_id, today, "77")
        start = today - timedelta(days=60)
        await periods.open_period(
            conn,
            operator,
            periods.PeriodRequest("01", start, start + timedelta(days=364), [periods.Nominal(5, 17, NOMINAL)]),
        )
        return cert_id

    cert_id = await transaction(engine, certificate)
    await engine.dispose()
    from pdo_graph.ids import encode_id

    return encode_id("Certificate", cert_id)


# --- measuring ---------------------------------------------------------------------------------


def label(i: int) -> str:
    return MIX[i % len(MIX)].name


def search_query(s: Search, today: date, coverage: search_domain.Coverage | None) -> search_domain.SearchQuery:
    f = s.filter
    return search_domain.SearchQuery(
        today=today,
        text=s.text,
        direction=f.get("direction"),
        age=f.get("age"),
        municipality=f.get("municipality"),
        max_price=f.get("maxPrice"),
        has_free_seats=bool(f.get("hasFreeSeats")),
        covered=coverage if s.needs_certificate else None,
        certified_only=bool(f.get("certifiedOnly")),
        order=search_domain.Order(s.order),
    )


_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")


def positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQLAlchemy-style :named parameters to asyncpg's $n."""
    names: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAM.sub(sub, sql), [params[n] for n in names]


COVERAGE_SQL = (
    "SELECT DISTINCT ON (c.id) c.id, p.cap_at_normative,"
    " coalesce(b.available, 0) AS available"
    " FROM certificates c JOIN funding_periods p ON p.municipality = c.municipality AND p.status = 'OPEN'"
    " LEFT JOIN balances b ON b.certificate_id = c.id AND b.period_id = p.id"
    f" WHERE c.id = ANY($1) ORDER BY c.id, {periods.CURRENT_PERIOD_ORDER.replace(':today', '$2')}"
)
CERTIFICATE_SQL = (
    "SELECT c.id, c.number, c.status, c.municipality, g.subject FROM certificates c"
    " JOIN children ch ON ch.id = c.child_id JOIN guardians g ON g.id = ch.guardian_id WHERE c.id = ANY($1)"
)


Cpu = Callable[[], Awaitable[dict[str, float]]]


def cpu_reader(dsn: str, server_pid: int | None) -> Cpu:
    """CPU seconds used so far by the client (this process), the server's process tree and the
    backends of the bench's database (those seen at the start and the end of a run)."""
    backends: set[int] = set()

    async def read() -> dict[str, float]:
        conn = await asyncpg.connect(dsn)
        try:
            sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            backends.update(int(r["pid"]) for r in await conn.fetch(sql))
        finally:
            await conn.close()
        cpu = {"client": process_cpu({os.getpid()})}
        if server_pid is not None:
            cpu["server"] = process_cpu(tree_of=server_pid)
        if running_here(backends):
            cpu["database"] = process_cpu(backends)
        return cpu

    return read


async def sql_floor(dsn: str, args: argparse.Namespace, today: date, cert_pk: int) -> Result:
    pool = await asyncpg.create_pool(dsn, min_size=args.concurrency, max_size=args.concurrency)
    assert pool is not None
    along = Along(provider=True, groups=True)  # QUERY selects both

    async def call(i: int) -> None:
        s = MIX[i % len(MIX)]
        async with pool.acquire() as conn:
            coverage = None
            if s.needs_certificate:
                await conn.fetch(CERTIFICATE_SQL, [cert_pk])
                row = (await conn.fetch(COVERAGE_SQL, [cert_pk], today))[0]
                coverage = search_domain.Coverage(int(row["available"]), bool(row["cap_at_normative"]))
            sql, params, _ = search_statement(search_query(s, today, coverage), FIRST, None, True, along)
            q, values = positional(sql, params)
            rows = [r for r in await conn.fetch(q, *values) if r["id"] is not None]
            assert all(r["provider_along"] is not None for r in rows)

    try:
        return await run_load(call, args.seconds, args.concurrency, args.warmup, label, cpu_reader(dsn, None))
    finally:
        await pool.close()


async def graphql_load(
    port: int, args: argparse.Namespace, certificate: str, tokens: dict[str, str], cpu: Cpu
) -> Result:
    client = KeepAliveClient(port)
    requests = []
    for s in MIX:
        f = dict(s.filter)
        headers = {}
        if s.needs_certificate:
            f["coveredByCertificate"] = certificate
            headers["authorization"] = f"Bearer {tokens['guardian']}"
        body = {"query": QUERY, "variables": {"first": FIRST, "search": s.text, "filter": f, "order": s.order}}
        requests.append(client.request("/graphql", orjson.dumps(body), headers))

    async def call(i: int) -> None:
        status, raw = await client.send(requests[i % len(MIX)])
        data = orjson.loads(raw)
        if status != 200 or "errors" in data or not data["data"]["programs"]["edges"]:
            raise RuntimeError(str(data)[:300])

    try:
        return await run_load(call, args.seconds, args.concurrency, args.warmup, label, cpu)
    finally:
        await client.close()


async def explain(dsn: str, today: date) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for s in (MIX[0], MIX[2]):
            sql, params, _ = search_domain.build(search_query(s, today, None), FIRST, None, counts=True)
            q, values = positional(sql, params)
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + q, *values)
            print(f"\nEXPLAIN ANALYZE — {s.name}:")
            for row in plan:
                print("  " + row[0])
    finally:
        await conn.close()


def report(name: str, r: Result) -> None:
    cpu = "  ".join(f"{who} {r.cpu_ms(who):5.2f}" for who in ("server", "database", "client") if who in r.cpu)
    print(
        f"{name:<10} {len(r.latencies):>7} req in {r.seconds:5.1f} s  {r.rps:8.1f} req/s"
        f"  p50 {r.pct(0.50):7.2f} ms  p99 {r.pct(0.99):7.2f} ms  errors {r.errors}   CPU ms/req: {cpu}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=150_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument("--pool", type=int, default=8, help="database connections per server worker")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of typical queries")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    today = date.today()
    tmp = make_tmp("pdo-bench-")
    admin_url, embedded = bench_postgres(tmp)
    name = f"pdo_bench_{uuid.uuid4().hex[:8]}"
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    url = database_url(admin_url, name)
    server: subprocess.Popen[bytes] | None = None
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    try:
        certificate = await generate(url, args.programs, args.groups, today)
        from pdo_graph.ids import decode_pk

        cert_pk = decode_pk(certificate, "Certificate")
        assert cert_pk is not None
        key = load_or_create_dev_key(tmp)
        tokens = {"guardian": mint_dev_token(key, role=Role.GUARDIAN, subject="bench-guardian")}

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        if args.explain:
            await explain(dsn, today)

        port = free_port()
        server = start_server(port, url, tmp, args.pool, args.workers, log)
        wait_ready(port, server, timeout=60)
        print(
            f"\nmix of {len(MIX)} searches, first={FIRST}, concurrency {args.concurrency}, {args.seconds:.0f} s each"
            f" (after {args.warmup:.0f} s warm-up); server: pdo-graph serve --workers {args.workers},"
            f" pool {args.pool} per worker; SQL floor: asyncpg pool of {args.concurrency}; {os.cpu_count()} CPUs;"
            f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        gql = await graphql_load(port, args, certificate, tokens, cpu_reader(dsn, server.pid))
        stop_server(server)
        server = None
        floor = await sql_floor(dsn, args, today, cert_pk)
        print()
        report("GraphQL", gql)
        report("SQL floor", floor)
        print(
            f"ratio      throughput GraphQL/SQL {gql.rps / floor.rps:.2f}"
            f"   p50 {gql.pct(0.5) / floor.pct(0.5):.2f}x   p99 {gql.pct(0.99) / floor.pct(0.99):.2f}x"
        )
        print(
            f"           mean latency GraphQL {statistics.fmean(gql.latencies) * 1000:.2f} ms,"
            f" SQL {statistics.fmean(floor.latencies) * 1000:.2f} ms"
        )
        print("\np50 by search (ms)            GraphQL       SQL")
        for s in MIX:
            g, f = gql.by_label.get(s.name, []), floor.by_label.get(s.name, [])
            gm = statistics.median(g) * 1000 if g else float("nan")
            fm = statistics.median(f) * 1000 if f else float("nan")
            print(f"  {s.name:<26} {gm:9.2f} {fm:9.2f}")
    finally:
        if server is not None:
            stop_server(server)
            log.close()
            print(log_path.read_text(errors="replace")[-4000:])
        log.close()
        if not args.keep:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print("kept database", url)
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
