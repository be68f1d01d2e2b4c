"""The opening-minute rush: thousands of families apply at once, over real HTTP.

    .venv/bin/python bench/rush.py [--certificates 5000 --groups 200 --choices 2 --concurrency 200]

With PDO_DATABASE_URL a scratch database is created on that server (dropped afterwards unless
--keep); without it an embedded PostgreSQL runs in a temporary directory. Set-based seeding: one
municipality, providers and certified programs, ``--groups`` groups (15..30 seats, 3 000..35 000 ₽,
so some families co-pay), ``--certificates`` children with certificates funded by opening a period
(30 000 ₽ each). The app runs under uvicorn in a subprocess on a free loopback port.

At "the minute", every family submits ``enrollmentCreate`` for ``--choices`` groups drawn with a
Zipf-like popularity (a few groups are hot), all at once through ``--concurrency`` client
connections; ``--double-click`` of them send the same request twice (same idempotency key).

Checks afterwards: every request answered with HTTP 200 and no top-level error, no 5xx; no group
oversold (seats taken = live enrollments <= capacity); no certificate overdrawn (available >= 0);
fromCertificate + fromFamily = price for every enrollment; one enrollment per idempotency key;
the ledger invariants (ledger.check_invariants). Prints throughput, p50/p95/p99 and the outcomes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdo_graph.auth.principal import Principal, Role  # noqa: E402
from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token  # noqa: E402
from pdo_graph.db.embedded import EmbeddedPostgres  # noqa: E402
from pdo_graph.db.engine import async_url, make_engine, migrate  # noqa: E402
from pdo_graph.db.session import transaction  # noqa: E402
from pdo_graph.domain import periods  # noqa: E402
from pdo_graph.domain.ledger import check_invariants  # noqa: E402
from pdo_graph.domain.money import add_months  # noqa: E402
from pdo_graph.schema.ids import encode_id  # noqa: E402

NOMINAL = 3_000_000
MUNICIPALITY = "01"

CREATE = """
mutation($c: ID!, $g: ID!, $k: String!) {
  enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: $k}) {
    enrollment { id status fromCertificate { kopecks } fromFamily { kopecks } }
    userErrors { code }
  }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def admin(admin_url: str, sql: str) -> None:
    engine = make_engine(admin_url, 1)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(sql))
    await engine.dispose()


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
        operator = Principal(role=Role.OPERATOR, subject="bench-operator", municipality=MUNICIPALITY)
        request = periods.PeriodRequest(
            municipality=MUNICIPALITY,
            starts_on=today - timedelta(days=60),
            ends_on=today + timedelta(days=330),
            nominals=[periods.Nominal(0, 18, NOMINAL)],
        )
        await transaction(engine, lambda c: periods.open_period(c, operator, request))
        return [(str(s), int(c)) for s, c in pairs], group_ids
    finally:
        await engine.dispose()


# --- the rush ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    transport_messages: Counter[str] = field(default_factory=Counter)
    top_level_errors: int = 0
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else 0.0


def plan(families: list[tuple[str, int]], groups: list[int], choices: int, double: float, seed: int) -> list[Any]:
    """(subject, certificate id, group id, key) per request: Zipf-like choices, some double clicks."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(groups))]
    requests = []
    for subject, cert in families:
        picked: set[int] = set()
        while len(picked) < min(choices, len(groups)):
            picked.add(rng.choices(groups, weights)[0])
        for g in picked:
            key = f"{subject}:{g}:{uuid.uuid4().hex[:8]}"
            requests.append((subject, cert, g, key))
            if rng.random() < double:
                requests.append((subject, cert, g, key))
    rng.shuffle(requests)
    return requests


class Http:
    """A minimal HTTP/1.1 keep-alive client for one connection: far cheaper per request than httpx,
    so that on a small machine the load generator does not become the bottleneck."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {token}\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self.writer.write(head + body)
            await self.writer.drain()
            raw = await self.reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            headers = raw.decode("latin-1").lower()
            length = int(headers.split("content-length:", 1)[1].split("\r\n", 1)[0])
            payload = await self.reader.readexactly(length)
            if "connection: close" in headers:
                await self.close()
            return status, payload
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def rush(port: int, requests: list[Any], tokens: dict[str, str], concurrency: int) -> Outcome:
    """``concurrency`` workers, each on its own keep-alive connection, drain the requests at once."""
    out = Outcome()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)

    async def worker() -> None:
        http = Http(port)
        try:
            while not queue.empty():
                subject, cert, group, key = queue.get_nowait()
                body = orjson.dumps(
                    {
                        "query": CREATE,
                        "variables": {"c": encode_id("Certificate", cert), "g": encode_id("Group", group), "k": key},
                    }
                )
                started = time.perf_counter()
                try:
                    status, raw = await http.post("/graphql", body, tokens[subject])
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                    out.transport_errors += 1
                    out.transport_messages[f"{type(exc).__name__}: {exc}"[:200]] += 1
                    continue
                out.latencies.append(time.perf_counter() - started)
                out.statuses[status] += 1
                data = orjson.loads(raw)
                if data.get("errors") or not data.get("data"):
                    out.top_level_errors += 1
                    continue
                payload = data["data"]["enrollmentCreate"]
                if payload["enrollment"] is not None:
                    e = payload["enrollment"]
                    out.outcomes["REQUESTED" + (" with co-pay" if e["fromFamily"]["kopecks"] else "")] += 1
                else:
                    out.outcomes[",".join(sorted(err["code"] for err in payload["userErrors"]))] += 1
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.seconds = time.perf_counter() - started
    return out


async def verify(url: str) -> list[str]:
    """Everything that must hold after the rush; empty when it all does."""
    problems: list[str] = []
    engine = make_engine(url, 1)
    try:
        async with engine.connect() as conn:
            problems += [f"ledger {kind}: {detail}" for kind, detail in await check_invariants(conn)]
            checks = {
                "oversold group": "SELECT count(*) FROM groups g WHERE seats_taken > capacity OR seats_taken <>"
                " (SELECT count(*) FROM enrollments e WHERE e.group_id = g.id AND e.status IN ('REQUESTED','ACTIVE'))",
                "overdrawn certificate": "SELECT count(*) FROM balances WHERE credited - reserved - spent - expired < 0",
                "split != price": "SELECT count(*) FROM enrollments WHERE from_certificate + from_family <> price",
                "reserve != fromCertificate": "SELECT count(*) FROM enrollments WHERE reserved <> from_certificate",
                "two enrollments per key": "SELECT count(*) FROM (SELECT 1 FROM enrollments"
                " GROUP BY guardian_id, idempotency_key HAVING count(*) > 1) d",
            }
            for name, sql in checks.items():
                n = int((await conn.execute(text(sql))).scalar_one())
                if n:
                    problems.append(f"{name}: {n}")
    finally:
        await engine.dispose()
    return problems


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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def make_tmp() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="pdo-rush-"))
    tmp.chmod(0o755)  # the embedded server runs as another user when started as root
    return tmp


def app_with_cached_validation() -> Any:
    """The app with the depth and alias rules built once (uvicorn factory for --cached-validation).

    ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` build a new rule class per instance; given as
    per-request factories, every request has new rules, so ``ValidationCache`` (keyed by the rules)
    never hits. This shows what building them once gains.
    """
    from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter

    from pdo_graph.app import create_app
    from pdo_graph.schema import root

    original = root._extensions

    def extensions(settings: Any) -> list[Any]:
        out: list[Any] = []
        for factory in original(settings):
            probe = factory()
            if isinstance(probe, (QueryDepthLimiter, MaxAliasesLimiter)):
                rules = list(probe.validation_rules)
                out.append(lambda rules=rules: AddValidationRules(rules))
            else:
                out.append(factory)
        return out

    root._extensions = extensions
    return create_app()


def start_server(
    port: int, url: str, data_dir: Path, pool: int, cached_validation: bool = False
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PDO_DATABASE_URL": url,
        "PDO_DATA_DIR": str(data_dir),
        "PDO_AUTH_MODE": "dev",
        "PDO_BACKGROUND_JOBS": "0",
        "PDO_DB_POOL_SIZE": str(pool),
    }
    factory = "bench.rush:app_with_cached_validation" if cached_validation else "pdo_graph.app:create_app"
    command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--loop", "uvloop"]
    command += ["--http", "httptools", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--backlog", "4096", "--timeout-keep-alive", "30"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--choices", type=int, default=2, help="groups each family applies to")
    parser.add_argument("--double-click", type=float, default=0.1, help="share of requests sent twice (same key)")
    parser.add_argument("--concurrency", type=int, default=200, help="client connections in flight")
    parser.add_argument("--pool", type=int, default=8, help="the app's database pool size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cached-validation", action="store_true", help="build the depth/alias rules once (see the factory below)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    today = date.today()
    tmp = make_tmp()
    embedded: EmbeddedPostgres | None = None
    external = os.environ.get("PDO_DATABASE_URL")
    admin_url = async_url(external) if external else None
    if admin_url is None:
        embedded = EmbeddedPostgres(tmp)
        admin_url = embedded.start()
    name = f"pdo_rush_{uuid.uuid4().hex[:8]}"
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    server: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        families, groups = await seed(url, args.certificates, args.groups, today)
        print(f"seeded {len(families)} funded certificates, {len(groups)} groups in {time.perf_counter() - t0:.1f} s")
        key = load_or_create_dev_key(tmp)
        tokens = {s: mint_dev_token(key, role=Role.GUARDIAN, subject=s) for s, _ in families}
        requests = plan(families, groups, args.choices, args.double_click, args.seed)

        port = free_port()
        server = start_server(port, url, tmp, args.pool, args.cached_validation)
        await asyncio.to_thread(wait_ready, port, server)
        print(
            f"rush: {len(requests)} enrollmentCreate requests at once, {args.concurrency} keep-alive client connections,"
            f" uvicorn subprocess with a pool of {args.pool} database connections, {os.cpu_count()} CPUs"
            + (", validation rules built once" if args.cached_validation else "")
        )
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        out = await rush(port, requests, tokens, args.concurrency)
        server_cpu_after, client_cpu = cpu_seconds(server.pid), time.process_time() - client_cpu
        server.terminate()
        server.wait(20)
        server = None

        answered = sum(out.statuses.values())
        five_xx = sum(n for status, n in out.statuses.items() if status >= 500)
        print(
            f"\n{answered}/{len(requests)} answered in {out.seconds:.1f} s: {answered / out.seconds:.0f} req/s;"
            f" latency p50 {out.pct(0.50):.0f} ms, p95 {out.pct(0.95):.0f} ms, p99 {out.pct(0.99):.0f} ms,"
            f" max {out.pct(1.0):.0f} ms"
        )
        print(
            f"HTTP statuses {dict(out.statuses)}; transport errors {out.transport_errors};"
            f" top-level GraphQL errors {out.top_level_errors}"
        )
        if server_cpu is not None and server_cpu_after is not None:
            print(
                f"CPU per request: server {(server_cpu_after - server_cpu) / len(requests) * 1000:.1f} ms"
                f" ({(server_cpu_after - server_cpu) / out.seconds * 100:.0f}% of a core),"
                f" client {client_cpu / len(requests) * 1000:.1f} ms"
            )
        for message, n in out.transport_messages.most_common():
            print(f"  transport error x{n}: {message}")
        for outcome, n in out.outcomes.most_common():
            print(f"  {n:>6}  {outcome}")
        totals = await summary(url)
        print(
            f"enrollments {totals['enrollments']}, seats taken {totals['taken']}/{totals['seats']}"
            f" ({totals['full_groups']} groups full), reserved {totals['reserved'] / 100:.2f} ₽"
            f" in {totals['reserves']} RESERVE entries"
        )
        problems = await verify(url)
        if out.transport_errors or five_xx or out.top_level_errors or answered != len(requests):
            problems.append("not every request was answered with 200 and a payload")
        print("checks: " + ("all hold (no oversell, no overdraw, ledger consistent)" if not problems else ""))
        for p in problems:
            print("  FAILED", p)
        return 1 if problems else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        if args.keep:
            print("kept database", url)
        else:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
