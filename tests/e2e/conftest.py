"""A real server: `pdo-graph serve` in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    def __init__(self, url: str, env: dict[str, str], pid: int = 0) -> None:
        self.url = url
        self.env = env
        self.pid = pid

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "pdo_graph.cli", *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip()


@contextmanager
def running_server(
    database_url: str, data_dir: Path, log_path: Path, *args: str, **env_overrides: str
) -> Iterator[LiveServer]:
    """`pdo-graph serve [args]` in a subprocess on a free port; everything it writes (stdout and
    stderr) goes to ``log_path``. Stopped (SIGTERM, then kill) on exit."""
    port = free_port()
    env = {
        **os.environ,
        "PDO_DATABASE_URL": database_url,
        "PDO_DATA_DIR": str(data_dir),
        "PDO_AUTH_MODE": "dev",
        "PDO_PORT": str(port),
        "PDO_BACKGROUND_JOBS": "0",
        **env_overrides,
    }
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdo_graph.cli", "serve", *args], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    try:
        yield LiveServer(url, env, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def live_server(database_url: str, data_dir: Path, engine) -> Iterator[LiveServer]:
    with running_server(database_url, data_dir, data_dir / "server.log") as server:
        yield server
