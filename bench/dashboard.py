"""The family dashboard: pdo-graph against PostGraphile v5 and a one-statement SQL floor, same data.

    .venv/bin/python bench/dashboard.py [-c 8 --seconds 10 --warmup 2 --rounds 3 --workers 1 --pool 8]

A scratch database is made on the PostgreSQL server of ``--database-url`` (default: PDO_DATABASE_URL,
else postgresql://postgres@127.0.0.1:5432/postgres; the user must be allowed to create databases and
roles) and dropped afterwards, unless --keep. It is migrated and gets the demo region
(``pdo_graph.demo``), and the guardian with the most enrollments is picked (the runner-up serves
the authorization check). Both servers read the same database:

- ours: ``pdo-graph serve --workers N`` (one process by default; ``--workers 1,2`` measures each
  count side by side), ``--pool`` connections per worker, dev bearer tokens;
- the peer: PostGraphile v5 (``bench/postgraphile``: package.json and package-lock.json pinned;
  ``npm ci`` into its node_modules on first run, which also brings Node 22 from the npm package
  ``node``), one Node process, a pool of ``--pool`` connections, config in
  ``bench/postgraphile/graphile.config.mjs``. It verifies the same ES256 bearer token and runs every
  statement as a NOLOGIN role of this run with the token's subject in ``jwt.claims.sub``; row-level
  security policies created in the scratch database (not by our migrations) show that role only the
  guardian's own guardians / children / certificates / balances / ledger_entries / enrollments rows.
  Also added there for it: a composite type ``certificate_balance`` and the computed column
  ``certificates_balance(certificates)`` (credited, reserved, spent, expired, available in the
  municipality's current open period, zeros without one, as our ``Certificate.balance``).

The dashboard: the viewer's children, each with its certificate (number, balance credited /
reserved / spent / available, the last 10 transactions) and its last 20 enrollments (status, the
certificate's share, group → program → provider). ``QUERY`` is ours, ``PEER_QUERY`` the same over
PostGraphile's generated schema, ``FLOOR_SQL`` one hand-written ``json_build_object``/``json_agg``
statement sent through asyncpg (a pool of ``-c`` connections) that returns the whole dashboard.

Before measuring, the three answers are normalised to one Python structure and must be equal, and
complete (as many children, transactions and enrollments as the tables hold); another guardian's
token must see that guardian's dashboard on both servers, and no token nothing. Then the number of
SQL statements one dashboard request sends is counted on each side through a wire-protocol proxy
(``StatementCounter``; extra server instances behind it, not the measured ones).

Load: one closed-loop generator for all (``-c`` workers on keep-alive connections, ``--warmup``
unrecorded, then ``--seconds`` recorded), runs interleaved ours, peer, floor, ours, ... for
``--rounds`` rounds. Prints req/s (with the rounds' spread), p50 and p99 of each, the CPU time per
request of the server's process tree, of the database's backends (when PostgreSQL runs on this
machine) and of this client, and the ratios ours/peer and ours/floor; and the load average before,
during and after (other processes share these cores: CPU per request is the steadier figure when
they are busy). Exits non-zero when answers differ or any request fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import orjson
import uvloop
from _common import (
    ROOT,
    KeepAliveClient,
    Result,
    StatementCounter,
    admin,
    asyncpg_dsn,
    database_url,
    free_port,
    make_tmp,
    process_cpu,
    run_load,
    running_here,
    start_server,
    stop_server,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pdo_graph.auth.principal import Role
from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.config import Settings
from pdo_graph.db.engine import async_url, make_engine, migrate
from pdo_graph.demo.loader import load_demo
from pdo_graph.domain.periods import CURRENT_PERIOD_ORDER

PEER_DIR = ROOT / "bench" / "postgraphile"
PEER_STAMP = PEER_DIR / "node_modules" / ".installed-stamp"
PEER_NODE = PEER_DIR / "node_modules" / "node" / "bin" / "node"
PEER_CLI = PEER_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TRANSACTIONS, ENROLLMENTS = 10, 20

QUERY = f"""
query Dashboard {{
  viewer {{
    children {{
      fullName
      certificate {{
        number
        balance {{ credited {{ amount }} reserved {{ amount }} spent {{ amount }} available {{ amount }} }}
        transactions(first: {TRANSACTIONS}) {{
          edges {{ node {{ kind amount {{ amount }} description createdAt }} }}
        }}
      }}
      enrollments(first: {ENROLLMENTS}) {{
        edges {{
          node {{
            status
            fromCertificate {{ amount }}
            group {{ name startsOn program {{ title provider {{ name }} }} }}
          }}
        }}
      }}
    }}
  }}
}}"""

PEER_QUERY = f"""
query Dashboard {{
  allChildren(orderBy: PRIMARY_KEY_ASC) {{
    nodes {{
      fullName
      certificateByChildId {{
        number
        balance {{ credited reserved spent available }}
        ledgerEntriesByCertificateId(first: {TRANSACTIONS}, orderBy: PRIMARY_KEY_DESC) {{
          nodes {{ kind amount description createdAt }}
        }}
      }}
      enrollmentsByChildId(first: {ENROLLMENTS}, orderBy: PRIMARY_KEY_DESC) {{
        nodes {{
          status
          fromCertificate
          groupByGroupId {{ name startsOn programByProgramId {{ title providerByProviderId {{ name }} }} }}
        }}
      }}
    }}
  }}
}}"""

_TODAY = CURRENT_PERIOD_ORDER.replace(":today", "current_date")

FLOOR_SQL = f"""
SELECT coalesce(json_agg(json_build_object(
  'fullName', ch.full_name,
  'certificate', (
    SELECT json_build_object(
      'number', c.number,
      'balance', (
        SELECT json_build_object('credited', coalesce(b.credited, 0), 'reserved', coalesce(b.reserved, 0),
          'spent', coalesce(b.spent, 0), 'available', coalesce(b.available, 0))
        FROM (SELECT 1) one LEFT JOIN LATERAL (
          SELECT b.* FROM funding_periods p LEFT JOIN balances b ON b.certificate_id = c.id AND b.period_id = p.id
          WHERE p.municipality = c.municipality AND p.status = 'OPEN' ORDER BY {_TODAY} LIMIT 1
        ) b ON true),
      'transactions', (
        SELECT coalesce(json_agg(json_build_object('kind', l.kind, 'amount', l.amount,
          'description', l.description, 'createdAt', l.created_at) ORDER BY l.id DESC), '[]')
        FROM (SELECT * FROM ledger_entries WHERE certificate_id = c.id ORDER BY id DESC LIMIT {TRANSACTIONS}) l))
    FROM certificates c WHERE c.child_id = ch.id),
  'enrollments', (
    SELECT coalesce(json_agg(json_build_object('status', e.status, 'fromCertificate', e.from_certificate,
      'group', json_build_object('name', g.name, 'startsOn', g.starts_on,
        'program', json_build_object('title', p.title, 'provider', json_build_object('name', pr.name))))
      ORDER BY e.id DESC), '[]')
    FROM (SELECT * FROM enrollments WHERE child_id = ch.id ORDER BY id DESC LIMIT {ENROLLMENTS}) e
    JOIN groups g ON g.id = e.group_id JOIN programs p ON p.id = g.program_id
    JOIN providers pr ON pr.id = p.provider_id)
) ORDER BY ch.id), '[]')
FROM children ch JOIN guardians gu ON gu.id = ch.guardian_id WHERE gu.subject = $1
"""

# What the peer needs in the scratch database: its role, the policies, the balance computed column.
OWN_TABLES = {
    "guardians": "id = (SELECT pdo_bench.guardian_id())",
    "children": "guardian_id = (SELECT pdo_bench.guardian_id())",
    "enrollments": "guardian_id = (SELECT pdo_bench.guardian_id())",
    "certificates": "id = ANY ((SELECT pdo_bench.certificate_ids())::bigint[])",
    "balances": "certificate_id = ANY ((SELECT pdo_bench.certificate_ids())::bigint[])",
    "ledger_entries": "certificate_id = ANY ((SELECT pdo_bench.certificate_ids())::bigint[])",
}
CATALOG_TABLES = ["groups", "programs", "providers", "funding_periods"]


def peer_setup(role: str) -> list[str]:
    r = f'"{role}"'
    statements = [
        f"CREATE ROLE {r} NOLOGIN",
        f"GRANT {r} TO CURRENT_USER",
        "CREATE SCHEMA pdo_bench",
        # Security definer: the subject's rows, read once per statement (an init plan in each policy).
        "CREATE FUNCTION pdo_bench.guardian_id() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER"
        " SET search_path = public AS"
        " $$ SELECT id FROM guardians WHERE subject = current_setting('jwt.claims.sub', true) $$",
        "CREATE FUNCTION pdo_bench.certificate_ids() RETURNS bigint[] LANGUAGE sql STABLE SECURITY DEFINER"
        " SET search_path = public AS"
        " $$ SELECT coalesce(array_agg(c.id), '{}') FROM certificates c JOIN children ch ON ch.id = c.child_id"
        "    WHERE ch.guardian_id = pdo_bench.guardian_id() $$",
        "CREATE TYPE certificate_balance AS (credited bigint, reserved bigint, spent bigint, expired bigint,"
        " available bigint)",
        "CREATE FUNCTION certificates_balance(c certificates) RETURNS certificate_balance LANGUAGE sql STABLE AS"
        " $$ SELECT coalesce(b.credited, 0), coalesce(b.reserved, 0), coalesce(b.spent, 0), coalesce(b.expired, 0),"
        "    coalesce(b.available, 0)"
        "  FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "    SELECT b.* FROM funding_periods p LEFT JOIN balances b ON b.certificate_id = c.id AND b.period_id = p.id"
        f"   WHERE p.municipality = c.municipality AND p.status = 'OPEN' ORDER BY {_TODAY} LIMIT 1"
        "  ) b ON true $$",
        "COMMENT ON FUNCTION certificates_balance(certificates) IS"
        " 'Balance in the current period of the municipality (zeros when none is open).'",
        f"GRANT USAGE ON SCHEMA public, pdo_bench TO {r}",
        f"GRANT SELECT ON {', '.join([*OWN_TABLES, *CATALOG_TABLES])} TO {r}",
    ]
    for table, condition in OWN_TABLES.items():
        statements.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        statements.append(f"CREATE POLICY pdo_bench_own ON {table} FOR SELECT TO {r} USING ({condition})")
    return statements


# --- the answers, normalised ---------------------------------------------------------------------


BALANCE = ("credited", "reserved", "spent", "available")


@dataclass(frozen=True)
class Shape:
    """Where one kind of answer keeps the dashboard's parts, and how it writes money."""

    children: Callable[[Any], list[dict[str, Any]]]
    certificate: str
    transactions: Callable[[dict[str, Any]], list[dict[str, Any]]]
    enrollments: Callable[[dict[str, Any]], list[dict[str, Any]]]
    group: str
    program: str
    provider: str
    money: Callable[[Any], int]


OURS = Shape(
    children=lambda data: data["viewer"]["children"],
    certificate="certificate",
    transactions=lambda cert: [edge["node"] for edge in cert["transactions"]["edges"]],
    enrollments=lambda child: [edge["node"] for edge in child["enrollments"]["edges"]],
    group="group",
    program="program",
    provider="provider",
    money=lambda m: int(Decimal(m["amount"]) * 100),  # Money.amount: "1500.00"
)
PEER = Shape(
    children=lambda data: data["allChildren"]["nodes"],
    certificate="certificateByChildId",
    transactions=lambda cert: cert["ledgerEntriesByCertificateId"]["nodes"],
    enrollments=lambda child: child["enrollmentsByChildId"]["nodes"],
    group="groupByGroupId",
    program="programByProgramId",
    provider="providerByProviderId",
    money=int,  # BigInt: "150000"
)
FLOOR = Shape(
    children=lambda data: data,
    certificate="certificate",
    transactions=lambda cert: cert["transactions"],
    enrollments=lambda child: child["enrollments"],
    group="group",
    program="program",
    provider="provider",
    money=int,
)


def normalise(shape: Shape, data: Any) -> list[dict[str, Any]]:
    """The dashboard as plain Python: money in kopecks, dates and times parsed."""
    children = []
    for child in shape.children(data):
        cert = child[shape.certificate]
        children.append(
            {
                "fullName": child["fullName"],
                "certificate": None
                if cert is None
                else {
                    "number": cert["number"],
                    "balance": {k: shape.money(cert["balance"][k]) for k in BALANCE},
                    "transactions": [
                        {
                            "kind": t["kind"],
                            "amount": shape.money(t["amount"]),
                            "description": t["description"],
                            "createdAt": datetime.fromisoformat(t["createdAt"]),
                        }
                        for t in shape.transactions(cert)
                    ],
                },
                "enrollments": [
                    {
                        "status": e["status"],
                        "fromCertificate": shape.money(e["fromCertificate"]),
                        "group": {
                            "name": e[shape.group]["name"],
                            "startsOn": date.fromisoformat(e[shape.group]["startsOn"]),
                            "program": {
                                "title": e[shape.group][shape.program]["title"],
                                "provider": {"name": e[shape.group][shape.program][shape.provider]["name"]},
                            },
                        },
                    }
                    for e in shape.enrollments(child)
                ],
            }
        )
    return children


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{path or '.'}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            if (d := first_difference(a[k], b[k], f"{path}.{k}")) is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (d := first_difference(x, y, f"{path}[{i}]")) is not None:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


@dataclass
class Expected:
    """What the tables hold for a guardian, counted directly: the dashboard must show all of it."""

    children: int
    certificates: int
    transactions: int
    enrollments: int

    def check(self, dashboard: list[dict[str, Any]]) -> str | None:
        got = Expected(
            len(dashboard),
            sum(ch["certificate"] is not None for ch in dashboard),
            sum(len(ch["certificate"]["transactions"]) for ch in dashboard if ch["certificate"]),
            sum(len(ch["enrollments"]) for ch in dashboard),
        )
        return None if got == self else f"incomplete: {got} != {self}"


async def expected(conn: asyncpg.Connection, subject: str) -> Expected:
    row = await conn.fetchrow(
        "SELECT count(*) AS children, count(c.id) AS certificates,"
        " coalesce(sum((SELECT least(count(*), $2) FROM ledger_entries l WHERE l.certificate_id = c.id)), 0)"
        "   AS transactions,"
        " coalesce(sum((SELECT least(count(*), $3) FROM enrollments e WHERE e.child_id = ch.id)), 0) AS enrollments"
        " FROM children ch JOIN guardians g ON g.id = ch.guardian_id LEFT JOIN certificates c ON c.child_id = ch.id"
        " WHERE g.subject = $1",
        subject,
        TRANSACTIONS,
        ENROLLMENTS,
    )
    assert row is not None
    return Expected(*(int(row[k]) for k in ("children", "certificates", "transactions", "enrollments")))


# --- the three targets ---------------------------------------------------------------------------


class Target:
    """One thing to load: ``fetch()`` returns the normalised dashboard, ``call`` is the load call;
    ``server_pid`` is the server process (tree) whose CPU time is measured, if any."""

    name: str
    server_pid: int | None = None

    async def fetch(self, token: str | None) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def call(self, i: int) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None


class GraphQLTarget(Target):
    def __init__(self, name: str, port: int, query: str, shape: Shape, token: str, server_pid: int) -> None:
        self.name, self.port, self.query, self.shape, self.token = name, port, query, shape, token
        self.server_pid = server_pid
        self.client: KeepAliveClient | None = None
        self.request = b""

    def _request(self, client: KeepAliveClient, token: str | None) -> bytes:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.request("/graphql", orjson.dumps({"query": self.query}), headers)

    async def fetch(self, token: str | None) -> list[dict[str, Any]]:
        client = KeepAliveClient(self.port)
        try:
            status, body = await client.send(self._request(client, token))
        finally:
            await client.close()
        answer = orjson.loads(body)
        if status != 200 or answer.get("errors") or not answer.get("data"):
            raise RuntimeError(f"{self.name}: HTTP {status}: {body[:500]!r}")
        return normalise(self.shape, answer["data"])

    async def open(self) -> None:
        self.client = KeepAliveClient(self.port)
        self.request = self._request(self.client, self.token)

    async def call(self, i: int) -> None:
        assert self.client is not None
        status, body = await self.client.send(self.request)
        answer = orjson.loads(body)
        if status != 200 or "errors" in answer or not self.shape.children(answer["data"]):
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None


class FloorTarget(Target):
    name = "SQL floor (json_agg)"

    def __init__(self, dsn: str, subject: str, concurrency: int) -> None:
        self.dsn, self.subject, self.concurrency = dsn, subject, concurrency
        self.pool: asyncpg.Pool | None = None

    async def fetch(self, token: str | None) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return normalise(FLOOR, json.loads(await conn.fetchval(FLOOR_SQL, self.subject)))
        finally:
            await conn.close()

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=self.concurrency, max_size=self.concurrency)

    async def call(self, i: int) -> None:
        assert self.pool is not None
        if not orjson.loads(await self.pool.fetchval(FLOOR_SQL, self.subject)):
            raise RuntimeError("empty dashboard")

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


# --- the scratch database ------------------------------------------------------------------------


async def prepare(url: str, role: str, today: date) -> tuple[str, str]:
    """Migrate, load the demo, set the peer up; the subjects of the guardian with the most
    enrollments and of the runner-up."""
    engine = make_engine(url, 2)
    try:
        await migrate(engine)
        started = time.perf_counter()
        counts = await load_demo(engine, Settings(), today)
        print(f"demo loaded in {time.perf_counter() - started:.1f} s: {counts}")
        async with engine.begin() as conn:
            for statement in peer_setup(role):
                await conn.execute(text(statement))
            rows = (
                await conn.execute(
                    text(
                        "SELECT g.subject, count(e.id) AS enrollments FROM guardians g"
                        " LEFT JOIN enrollments e ON e.guardian_id = g.id"
                        " GROUP BY g.id ORDER BY count(e.id) DESC, g.subject LIMIT 2"
                    )
                )
            ).all()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return rows[0].subject, rows[1].subject


# --- the peer ------------------------------------------------------------------------------------


def ensure_peer() -> None:
    """``npm ci`` in bench/postgraphile when its lock file is newer than the last install."""
    lock = PEER_DIR / "package-lock.json"
    if PEER_STAMP.exists() and PEER_STAMP.stat().st_mtime >= lock.stat().st_mtime and PEER_NODE.exists():
        return
    print("installing PostGraphile and Node 22 (npm ci in bench/postgraphile) ...")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER_DIR, check=True)
    PEER_STAMP.touch()


def peer_version() -> str:
    package = json.loads((PEER_DIR / "node_modules" / "postgraphile" / "package.json").read_text())
    node = subprocess.run([str(PEER_NODE), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return f"PostGraphile {package['version']} on Node {node}"


def start_peer(port: int, url: str, role: str, public_key: Path, pool: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "PDO_BENCH_DATABASE_URL": asyncpg_dsn(url),
        "PDO_BENCH_ROLE": role,
        "PDO_BENCH_PUBLIC_KEY": str(public_key),
        "PDO_BENCH_PORT": str(port),
        "PDO_BENCH_POOL": str(pool),
    }
    command = [str(PEER_NODE), str(PEER_CLI), "-C", "graphile.config.mjs"]
    return subprocess.Popen(command, cwd=PEER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_graphql(port: int, proc: subprocess.Popen[bytes], within: float = 90) -> None:
    """Until ``{ __typename }`` is answered over HTTP (without blocking the loop: the statement
    counter's proxy runs on it)."""
    deadline = time.time() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            try:
                r = await client.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"})
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Servers:
    """The server processes of the run and their logs, stopped together."""

    tmp: Path
    procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]]

    async def start_ours(self, name: str, url: str, workers: int, pool: int) -> tuple[int, int]:
        """(port, pid) of ``pdo-graph serve`` once it answers."""
        port = free_port()
        log = (self.tmp / f"{name}.log").open("wb")
        return await self._started(name, port, start_server(port, url, self.tmp, pool, workers, log), log)

    async def start_peer(self, name: str, url: str, role: str, key: Path, pool: int) -> tuple[int, int]:
        """(port, pid) of PostGraphile once it answers."""
        port = free_port()
        log = (self.tmp / f"{name}.log").open("wb")
        return await self._started(name, port, start_peer(port, url, role, key, pool, log), log)

    async def _started(self, name: str, port: int, proc: subprocess.Popen[bytes], log: IO[bytes]) -> tuple[int, int]:
        self.procs.append((name, proc, log))
        await wait_graphql(port, proc)
        return port, proc.pid

    def stop(self, show_logs: bool) -> None:
        while self.procs:
            name, proc, log = self.procs.pop()
            stop_server(proc)
            log.close()
            if show_logs:
                print(f"--- {name} log (tail) ---")
                print((self.tmp / f"{name}.log").read_text(errors="replace")[-3000:])


async def count_statements(
    tmp: Path, url: str, role: str, key: Path, pool: int, tokens: dict[str, str], show: bool
) -> dict[str, list[str]]:
    """The statements of one dashboard request on each side: servers of their own behind a counting proxy."""
    servers = Servers(tmp, [])
    parsed = make_url(url)
    counter = StatementCounter(parsed.host or "127.0.0.1", parsed.port or 5432)
    proxied = parsed.set(host="127.0.0.1", port=await counter.start()).render_as_string(hide_password=False)
    found: dict[str, list[str]] = {}
    try:
        sides = [
            ("ours", (await servers.start_ours("ours-counted", proxied, 1, pool))[0], QUERY),
            ("peer", (await servers.start_peer("peer-counted", proxied, role, key, pool))[0], PEER_QUERY),
        ]
        for side, port, query in sides:
            client = KeepAliveClient(port)
            request = client.request(
                "/graphql", orjson.dumps({"query": query}), {"Authorization": f"Bearer {tokens['guardian']}"}
            )
            per_request = []
            for i in range(8):
                counter.take()
                status, _ = await client.send(request)
                assert status == 200
                await asyncio.sleep(0.05)  # statements after the response (a deferred COMMIT) still count
                if i >= 3:  # after warm-up: connections open, types introspected, statements prepared
                    per_request.append(counter.take())
            await client.close()
            sizes = sorted({len(s) for s in per_request})
            if len(sizes) > 1:
                print(f"note: {side} sent {sizes} statements in different requests")
            found[side] = per_request[-1]
    finally:
        await asyncio.to_thread(servers.stop, False)  # the proxy keeps serving while they shut down
        await counter.stop()
    if show:
        for side, statements in found.items():
            print(f"\nstatements of one dashboard request, {side}:")
            for s in statements:
                print("  " + " ".join(s.split())[:160])
    return found


def describe(statements: list[str]) -> str:
    control = sum(StatementCounter.is_control(s) for s in statements)
    queries = len(statements) - control
    return f"{len(statements)} ({queries} quer{'y' if queries == 1 else 'ies'} + {control} transaction/settings)"


async def check_answers(
    targets: list[GraphQLTarget], dsn: str, tokens: dict[str, str], subjects: dict[str, str], want: dict[str, Expected]
) -> None:
    """Every server's dashboard equals the SQL floor's and is complete, for the guardian and for the
    runner-up (each with their own token); without a token, no children. Exits loudly otherwise."""
    for who, subject in subjects.items():
        reference = await FloorTarget(dsn, subject, 1).fetch(None)
        if problem := want[who].check(reference):
            raise SystemExit(f"SQL floor, {subject}: {problem}")
        for target in targets:
            got = await target.fetch(tokens[who])
            if problem := want[who].check(got) or first_difference(got, reference):
                raise SystemExit(f"{target.name}, {subject}: the dashboard differs from the SQL floor's: {problem}")
    for target in targets:
        if await target.fetch(None):
            raise SystemExit(f"{target.name}: a request without a token sees children")


class CpuMeter:
    """CPU seconds used so far by a target's server process tree, by the PostgreSQL backends of the
    scratch database (when the server runs on this machine) and by this benchmark process (the
    client). On a shared machine CPU per request is steadier than requests per second."""

    def __init__(self, monitor: asyncpg.Connection, database: str, local: bool) -> None:
        self.monitor, self.database, self.local = monitor, database, local

    @classmethod
    async def start(cls, monitor: asyncpg.Connection, database: str) -> CpuMeter:
        return cls(monitor, database, running_here(await cls._backends(monitor, database)))

    @staticmethod
    async def _backends(monitor: asyncpg.Connection, database: str) -> set[int]:
        sql = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
        return {int(r["pid"]) for r in await monitor.fetch(sql, database)}

    def reader(self, target: Target) -> Callable[[], Awaitable[dict[str, float]]]:
        """For one run: the backends seen at its start and end are the ones measured."""
        backends: set[int] = set()

        async def read() -> dict[str, float]:
            backends.update(await self._backends(self.monitor, self.database))
            cpu = {"client": process_cpu({os.getpid()})}
            if target.server_pid is not None:
                cpu["server"] = process_cpu(tree_of=target.server_pid)
            if self.local:
                cpu["database"] = process_cpu(backends)
            return cpu

        return read


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


CPU_OF = ("server", "database", "client")


def report(results: dict[str, list[Result]], ours: list[str], peer: str, floor: str) -> None:
    """One table (req/s with the rounds' spread, p50, p99, CPU ms per request) and the ratios."""
    merged = {name: Result.merge(rs) for name, rs in results.items()}
    w = max(len(n) for n in merged)
    print(
        f"\n{'':<{w}} {'req/s':>8} {'(rounds)':>13} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>6}"
        f"   CPU ms/request: {'server':>6} {'db':>6} {'client':>6}"
    )
    for name, r in merged.items():
        spread = [x.rps for x in results[name]]
        cpu = " ".join(f"{r.cpu_ms(who):6.2f}" if who in r.cpu else f"{'–':>6}" for who in CPU_OF)
        print(
            f"{name:<{w}} {r.rps:8.1f} {f'({min(spread):.0f}–{max(spread):.0f})':>13}"
            f" {r.pct(0.5):8.2f} {r.pct(0.99):8.2f} {len(r.latencies):9d} {r.errors:6d}   {'':>16}{cpu}"
        )

    def cpu_total(r: Result) -> float:
        return r.cpu_ms("server") + (r.cpu_ms("database") if "database" in r.cpu else 0.0)

    print()
    for name in ours:
        o = merged[name]
        for other in (peer, floor):
            x = merged[other]
            line = f"{name} / {other}: req/s {o.rps / x.rps:.2f}×, p50 {o.pct(0.5) / x.pct(0.5):.2f}×"
            line += f", p99 {o.pct(0.99) / x.pct(0.99):.2f}×"
            if other == peer:
                line += f", CPU per request (server + db) {cpu_total(o) / cpu_total(x):.2f}×"
            print(line)
    for name in ours[1:]:
        print(f"{name} / {ours[0]}: req/s {merged[name].rps / merged[ours[0]].rps:.2f}×")


async def measure(targets: list[Target], args: argparse.Namespace, meter: CpuMeter) -> dict[str, list[Result]]:
    """Interleaved rounds: each target in turn, ``--rounds`` times."""
    results: dict[str, list[Result]] = {t.name: [] for t in targets}
    for round_no in range(1, args.rounds + 1):
        for target in targets:
            await target.open()
            try:
                r = await run_load(target.call, args.seconds, args.concurrency, args.warmup, cpu=meter.reader(target))
            finally:
                await target.close()
            results[target.name].append(r)
            print(
                f"  round {round_no} {target.name:<34} {r.rps:8.1f} req/s  p50 {r.pct(0.5):7.2f} ms"
                f"  p99 {r.pct(0.99):7.2f} ms  errors {r.errors}  (load average {loadavg()})"
            )
    return results


async def run(args: argparse.Namespace) -> int:
    workers = [int(w) for w in str(args.workers).split(",")]
    ensure_peer()
    peer_name = peer_version()
    today = date.today()
    admin_url = async_url(args.database_url)
    suffix = uuid.uuid4().hex[:8]
    name, role = f"pdo_bench_dashboard_{suffix}", f"pdo_bench_guardian_{suffix}"
    tmp = make_tmp("pdo-bench-dashboard-")
    servers = Servers(tmp, [])
    targets: list[Target] = []
    failed = False
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    url = database_url(admin_url, name)
    try:
        subject, other = await prepare(url, role, today)
        key = load_or_create_dev_key(tmp)
        public_key = tmp / "dev-signing-key.pub.pem"
        public_key.write_bytes(key.as_pem(private=False))
        tokens = {
            "guardian": mint_dev_token(key, role=Role.GUARDIAN, subject=subject),
            "other": mint_dev_token(key, role=Role.GUARDIAN, subject=other),
        }
        dsn = asyncpg_dsn(url)
        subjects = {"guardian": subject, "other": other}
        conn = await asyncpg.connect(dsn)
        try:
            want = {who: await expected(conn, s) for who, s in subjects.items()}
        finally:
            await conn.close()

        statements = await count_statements(tmp, url, role, public_key, args.pool, tokens, args.show_statements)

        ours_names = []
        for n in workers:
            port, pid = await servers.start_ours(f"ours-{n}", url, n, args.pool)
            label = f"pdo-graph ({n} worker{'s' if n > 1 else ''})"
            ours_names.append(label)
            targets.append(GraphQLTarget(label, port, QUERY, OURS, tokens["guardian"], pid))
        peer_port, peer_pid = await servers.start_peer("peer", url, role, public_key, args.pool)
        peer = GraphQLTarget(peer_name, peer_port, PEER_QUERY, PEER, tokens["guardian"], peer_pid)
        floor = FloorTarget(dsn, subject, args.concurrency)
        targets += [peer, floor]

        await check_answers([t for t in targets if isinstance(t, GraphQLTarget)], dsn, tokens, subjects, want)
        print(
            f"answers equal and complete on all {len(targets)} ({subject}: {want['guardian']});"
            f" {other} sees their own, no token sees nothing"
        )

        print(
            f"\nSQL statements per dashboard request: ours {describe(statements['ours'])},"
            f" {peer_name.split(' on ')[0]} {describe(statements['peer'])}"
        )
        print(
            f"\nload: -c {args.concurrency}, {args.seconds:.0f} s after {args.warmup:.0f} s warm-up, "
            f"{args.rounds} interleaved rounds; pool {args.pool} per server process; {os.cpu_count()} CPUs;"
            f" load average {loadavg()}"
        )
        monitor = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            results = await measure(targets, args, await CpuMeter.start(monitor, name))
        finally:
            await monitor.close()
        report(results, ours_names, peer.name, floor.name)
        print(f"load average after: {loadavg()}")
        failed = any(r.errors for rs in results.values() for r in rs)
    except BaseException:
        failed = True
        raise
    finally:
        for target in targets:
            await target.close()
        servers.stop(show_logs=failed)
        if args.keep:
            print(f"kept database {url} and role {role}")
        else:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', attempts=3)
            await admin(admin_url, f'DROP ROLE IF EXISTS "{role}"', attempts=3)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PDO_DATABASE_URL", DEFAULT_ADMIN_URL),
        help="server for the scratch database (default: PDO_DATABASE_URL, else %(default)s)",
    )
    parser.add_argument("-c", "--concurrency", type=int, default=8, help="client connections")
    parser.add_argument("--seconds", type=float, default=10, help="recorded seconds per run")
    parser.add_argument("--warmup", type=float, default=2, help="unrecorded seconds before each run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (ours, peer, floor)")
    parser.add_argument("--workers", default="1", help="our worker processes; a list (1,2) measures each")
    parser.add_argument("--pool", type=int, default=8, help="database connections per server process")
    parser.add_argument("--show-statements", action="store_true", help="print the statements of one request")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and role")
    args = parser.parse_args()
    sys.exit(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
