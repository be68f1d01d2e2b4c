"""What the benchmarks share: scratch databases, a free port, the server in a subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdo_graph.db.engine import make_engine  # noqa: E402


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
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_tmp(prefix: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    tmp.chmod(0o755)  # the embedded server runs as another user when started as root
    return tmp


def start_server(
    port: int, url: str, data_dir: Path, pool: int, workers: int, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """``pdo-graph serve --workers N`` on ``url`` (each worker its own pool; dev tokens signed with the
    key in ``data_dir``)."""
    env = {
        **os.environ,
        "PDO_DATABASE_URL": url,
        "PDO_DATA_DIR": str(data_dir),
        "PDO_AUTH_MODE": "dev",
        "PDO_BACKGROUND_JOBS": "0",
        "PDO_DB_POOL_SIZE": str(pool),
        "PDO_LOG_FORMAT": "text",
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
