"""What the benchmarks share: scratch databases, a free port, the server in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httptools
import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdo_graph import graphiql  # noqa: E402
from pdo_graph.db.embedded import EmbeddedPostgres  # noqa: E402
from pdo_graph.db.engine import async_url, driver_url, make_engine  # noqa: E402
from pdo_graph.ids import encode_id  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def admin(admin_url: str, sql: str, attempts: int = 1) -> None:
    """Run one statement outside a transaction (CREATE / DROP DATABASE), retried ``attempts`` times."""
    engine = make_engine(admin_url, 1)
    try:
        for attempt in range(attempts):
            try:
                async with engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text(sql))
                return
            except Exception:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(1)
    finally:
        await engine.dispose()


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    return driver_url(url)


def make_tmp(prefix: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    tmp.chmod(0o755)  # the embedded server runs as another user when started as root
    return tmp


def bench_postgres(tmp: Path) -> tuple[str, EmbeddedPostgres | None]:
    """The admin URL of the PostgreSQL a benchmark works on: ``PDO_DATABASE_URL``, or an embedded
    server started under ``tmp`` (returned too, for the caller to stop)."""
    external = os.environ.get("PDO_DATABASE_URL")
    if external:
        return async_url(external), None
    embedded = EmbeddedPostgres(tmp)
    return embedded.start(), embedded


ASSETS = ROOT / ".pdo" / "bench-graphiql"


def ready_assets(data_dir: Path) -> None:
    """GraphiQL's files in ``data_dir`` before the server starts: a server without them fetches and
    compresses them (brotli, seconds of CPU) in a thread at start, which would be measured. Fetched
    once into .pdo/bench-graphiql and copied; without a network the server is left to try, as before."""
    if not graphiql.assets_present(ASSETS):
        with contextlib.suppress(Exception):
            graphiql.ensure_assets(ASSETS)
    if graphiql.assets_present(ASSETS) and not graphiql.assets_present(data_dir / "assets"):
        shutil.copytree(ASSETS, data_dir / "assets", dirs_exist_ok=True)


def start_server(
    port: int, url: str, data_dir: Path, pool: int, workers: int, log: IO[bytes], settings: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``pdo-graph serve --workers N`` on ``url`` (each worker its own pool; dev tokens signed with the
    key in ``data_dir``; GraphiQL's files put there first; ``settings``: more PDO_* variables)."""
    ready_assets(data_dir)
    env = {
        **os.environ,
        "PDO_DATABASE_URL": url,
        "PDO_DATA_DIR": str(data_dir),
        "PDO_AUTH_MODE": "dev",
        "PDO_BACKGROUND_JOBS": "0",
        "PDO_DB_POOL_SIZE": str(pool),
        "PDO_LOG_FORMAT": "text",
        **(settings or {}),
    }
    command = [sys.executable, "-m", "pdo_graph.cli", "serve", "--workers", str(workers)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 90, path: str = "/healthz") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Result:
    """Latencies (seconds) of the calls completed in ``seconds`` of measuring, after the warm-up."""

    latencies: list[float]
    seconds: float
    errors: int
    by_label: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds spent in the recorded window, by whom

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, p: float) -> float:
        """The ``p`` quantile in milliseconds."""
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")

    @staticmethod
    def merge(results: list[Result]) -> Result:
        merged = Result([], 0.0, 0)
        for r in results:
            merged.latencies += r.latencies
            merged.seconds += r.seconds
            merged.errors += r.errors
            for k, v in r.by_label.items():
                merged.by_label.setdefault(k, []).extend(v)
            for k, c in r.cpu.items():
                merged.cpu[k] = merged.cpu.get(k, 0.0) + c
        return merged

    def cpu_ms(self, who: str) -> float:
        """CPU milliseconds ``who`` spent per completed call (nan when not measured)."""
        return self.cpu[who] * 1000 / len(self.latencies) if who in self.cpu and self.latencies else float("nan")


async def run_load(
    call: Callable[[int], Awaitable[None]],
    seconds: float,
    concurrency: int,
    warmup: float,
    label: Callable[[int], str] | None = None,
    cpu: Callable[[], Awaitable[dict[str, float]]] | None = None,
) -> Result:
    """Closed loop: ``concurrency`` workers call back to back, ``warmup`` seconds unrecorded, then
    ``seconds`` recorded. Worker ``w`` passes ``w, w + 1, ...`` to ``call``; a call that raises counts
    as an error (the first three are printed). ``cpu``, when given, reads CPU seconds used so far (by
    whom); it is read as recording starts and ends, and the difference goes in ``Result.cpu``."""
    result = Result([], 0.0, 0)

    async def worker(w: int, record: bool, until: float) -> None:
        i = w
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            try:
                await call(i)
            except Exception as exc:
                result.errors += 1
                if result.errors <= 3:
                    print("error:", repr(exc)[:300])
            if record:
                latency = time.perf_counter() - t0
                result.latencies.append(latency)
                if label is not None:
                    result.by_label.setdefault(label(i), []).append(latency)
            i += 1

    warm_until = time.perf_counter() + warmup
    await asyncio.gather(*(worker(w, False, warm_until) for w in range(concurrency)))
    before = await cpu() if cpu is not None else {}
    started = time.perf_counter()
    await asyncio.gather(*(worker(w, True, started + seconds) for w in range(concurrency)))
    result.seconds = time.perf_counter() - started
    if cpu is not None:
        after = await cpu()
        result.cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    return result


_TICK = os.sysconf("SC_CLK_TCK")


def running_here(pids: set[int]) -> bool:
    """Whether all ``pids`` are processes of this machine (a database server elsewhere has its own)."""
    return all(Path(f"/proc/{pid}").exists() for pid in pids)


def process_cpu(pids: set[int] | None = None, tree_of: int | None = None) -> float:
    """CPU seconds (user + system) used so far by ``pids`` and, with ``tree_of``, by that process and
    all its descendants; processes that are gone (or not on this machine) count nothing."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    wanted = set(pids or ())
    if tree_of is not None:
        wanted.add(tree_of)
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        stack = [tree_of]
        while stack:
            for child in children.get(stack.pop(), []):
                wanted.add(child)
                stack.append(child)
    return sum(stats[p][1] for p in wanted if p in stats)


class _Response:
    __slots__ = ("body", "done")

    def __init__(self) -> None:
        self.body = bytearray()
        self.done = False

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


class KeepAliveClient:
    """A lean HTTP/1.1 client for load generation: keep-alive connections to one loopback server (a
    new one only when all are busy), requests sent as prepared bytes, responses parsed by httptools
    (Content-Length or chunked). On two cores every microsecond the client spends is taken from the
    server it measures; httpx costs several times more per request than this."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def request(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
        """The bytes of a POST of ``body`` (JSON) to ``path``; send them with :meth:`send`."""
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            "Accept: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """(status, body) of one request on an idle (or new) connection."""
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            response = _Response()
            parser = httptools.HttpResponseParser(response)
            while not response.done:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                parser.feed_data(data)
        except BaseException:
            writer.close()
            raise
        if parser.should_keep_alive():
            self._idle.append((reader, writer))
        else:
            writer.close()
        return parser.get_status_code(), bytes(response.body)

    async def close(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


# --- applications over HTTP (bench/rush.py, bench/fair_opening.py) ------------------------------


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # perf_counter() at each answer's arrival (its start)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    transport_messages: Counter[str] = field(default_factory=Counter)
    top_level_errors: int = 0
    retries: int = 0
    seconds: float = 0.0

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else 0.0

    def pct_after(self, p: float, seconds: float) -> float:
        """The ``p`` quantile (ms) of the answers to requests that arrived ``seconds`` or more after the
        first one (the steady state, past the start: cold pools, the hot groups filling)."""
        if not self.arrived:
            return 0.0
        first = min(self.arrived)
        xs = sorted(lat for at, lat in zip(self.arrived, self.latencies, strict=True) if at - first >= seconds)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


class Http:
    """A minimal HTTP/1.1 keep-alive client for one connection: far cheaper per request than httpx,
    so that on a small machine the load generator does not become the bottleneck."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.headers = ""  # of the last response, lower case

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
            self.headers = headers
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


CREATE = """
mutation($c: ID!, $g: ID!, $k: String!) {
  enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: $k}) {
    enrollment { id status fromCertificate { kopecks } fromFamily { kopecks } }
    userErrors { code }
  }
}"""

Application = tuple[str, int, int, str]  # guardian subject, certificate id, group id, idempotency key
OVERLOADED = "OVERLOADED (HTTP 503, admission control)"


async def apply_over_http(
    http: Http, application: Application, tokens: dict[str, str], out: Outcome, started: float, retry: bool = False
) -> None:
    """One ``enrollmentCreate`` over ``http``; its latency (from ``started``) and outcome (the
    enrollment's status, or the userErrors' codes) go into ``out``. A 503 OVERLOADED (admission
    control: nothing written) counts as such, or with ``retry`` is sent again after its Retry-After
    (``out.retries``), as a client that honours it does."""
    subject, cert, group, key = application
    body = orjson.dumps(
        {"query": CREATE, "variables": {"c": encode_id("Certificate", cert), "g": encode_id("Group", group), "k": key}}
    )
    while True:
        try:
            status, raw = await http.post("/graphql", body, tokens[subject])
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            out.transport_errors += 1
            out.transport_messages[f"{type(exc).__name__}: {exc}"[:200]] += 1
            return
        data = orjson.loads(raw)
        busy = status == 503 and [e["extensions"]["code"] for e in data.get("errors", ())] == ["OVERLOADED"]
        if not (busy and retry):
            break
        out.retries += 1
        await asyncio.sleep(float(http.headers.split("retry-after:", 1)[1].split("\r\n", 1)[0]))
    out.latencies.append(time.perf_counter() - started)
    out.arrived.append(started)
    out.statuses[status] += 1
    if busy:
        out.outcomes[OVERLOADED] += 1
        return
    if data.get("errors") or not data.get("data"):
        out.top_level_errors += 1
        return
    payload = data["data"]["enrollmentCreate"]
    if payload["enrollment"] is not None:
        e = payload["enrollment"]
        out.outcomes[e["status"] + (" with co-pay" if e["fromFamily"]["kopecks"] else "")] += 1
    else:
        out.outcomes[",".join(sorted(err["code"] for err in payload["userErrors"]))] += 1


# --- statements ----------------------------------------------------------------------------------

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
_CONTROL = re.compile(
    r"^\s*(begin|start transaction|commit|rollback|end|savepoint|release|set\b|reset\b|select set_config)",
    re.IGNORECASE,
)


class StatementCounter:
    """A PostgreSQL wire-protocol proxy on a free loopback port that records every statement its
    clients ask the server to run: each simple Query and each Execute of the extended protocol (with
    the text of the statement it executes, from Parse and Bind), whatever the driver. It refuses SSL
    (answers 'N') so that the stream can be read; use it for counting, not for timing."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.statements: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def take(self) -> list[str]:
        """The statements recorded since the last take."""
        taken, self.statements = self.statements, []
        return taken

    @staticmethod
    def is_control(statement: str) -> bool:
        """BEGIN, COMMIT, SET, set_config() and the like: transaction and session bookkeeping."""
        return bool(_CONTROL.match(statement))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        pump = asyncio.create_task(downstream())
        prepared: dict[bytes, str] = {}
        portals: dict[bytes, str] = {}
        try:
            while True:  # the startup packet, after refusing encryption
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                rest = await reader.readexactly(length - 8)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    writer.write(b"N")
                    continue
                up_writer.write(head + rest)
                break
            while True:
                head = await reader.readexactly(5)
                kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                body = await reader.readexactly(length - 4)
                if kind == b"Q":
                    self.statements.append(body.split(b"\0", 1)[0].decode(errors="replace"))
                elif kind == b"P":
                    name, query = body.split(b"\0", 2)[:2]
                    prepared[name] = query.decode(errors="replace")
                elif kind == b"B":
                    portal, statement = body.split(b"\0", 2)[:2]
                    portals[portal] = prepared.get(statement, "?")
                elif kind == b"E":
                    self.statements.append(portals.get(body.split(b"\0", 1)[0], "?"))
                up_writer.write(head + body)
                await up_writer.drain()
                if kind == b"X":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            await asyncio.gather(pump, return_exceptions=True)
            writer.close()
