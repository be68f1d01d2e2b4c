"""`serve --workers 2`: one scrape of /metrics covers every worker (Prometheus multiprocess mode),
and a worker that dies leaves the live gauges while its counts stay; connections opened at once are
spread over the workers."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import running_server

PROBE = {"query": "query Probe { municipalities { code } }", "operationName": "Probe"}


def pids(directory: Path, kind: str) -> set[int]:
    return {int(m.group(1)) for f in directory.glob(f"{kind}_*.db") if (m := re.search(r"_(\d+)\.db$", f.name))}


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pdo_graphql_requests_total" and sample.labels.get("operation") == "Probe":
                values["probe"] = values.get("probe", 0) + sample.value
            if sample.name in ("pdo_db_pool_size", "pdo_db_pool_connections_in_use"):
                values[sample.name] = sample.value
    return values


def until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_one_scrape_covers_every_worker(database_url, engine, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    stale = data / "metrics"
    stale.mkdir()
    (stale / "counter_999999.db").write_bytes(b"left by an earlier run")
    with running_server(database_url, data, tmp_path / "server.log", "--workers", "2", PDO_DB_POOL_SIZE="3") as server:
        metrics = data / "metrics"
        until(lambda: len(pids(metrics, "gauge_livesum")) == 2)  # both workers have started
        assert 999999 not in pids(metrics, "counter"), "the directory is emptied at start"
        sent = 0
        while len(pids(metrics, "counter")) < 2 or sent < 20:  # until both workers have answered some
            assert sent < 500, "one worker answered everything"
            r = httpx.post(f"{server.url}/graphql", json=PROBE, timeout=10)  # a new connection each time
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            sent += 1
        for _ in range(6):  # whichever worker answers the scrape, it reports both
            seen = scrape(server.url)
            assert seen["probe"] == sent, (seen, sent)
            assert seen["pdo_db_pool_size"] == 6  # 3 per worker, summed over the live ones

        victim = min(pids(metrics, "gauge_livesum"))
        os.kill(victim, signal.SIGKILL)
        until(lambda: victim not in pids(metrics, "gauge_livesum") and len(pids(metrics, "gauge_livesum")) == 2)
        until(lambda: httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200)
        for _ in range(4):
            seen = scrape(server.url)
            assert seen["probe"] == sent, "a dead worker's counts stay counted"
            assert seen["pdo_db_pool_size"] == 6, "the dead worker left the live gauges, its successor joined"
        assert victim in pids(metrics, "counter") or victim in pids(metrics, "histogram")


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def connections_held(pid: int, port: int) -> int:
    """Established TCP connections to ``port`` whose sockets process ``pid`` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
        held += local_port == port and state == "01" and inode in inodes
    return held


def test_connections_opened_at_once_are_spread_over_the_workers(database_url, engine, tmp_path: Path):
    """Sixteen keep-alive connections opened at once (a proxy's pool, a benchmark's clients): each
    worker holds some (one shared socket gave them all to the worker that woke first); and a worker
    that dies takes its socket along, so new connections all reach live workers."""
    data = tmp_path / "data"
    data.mkdir()
    with running_server(database_url, data, tmp_path / "server.log", "--workers", "2") as server:
        until(lambda: len(pids(data / "metrics", "gauge_livesum")) == 2)  # both workers listen
        port = int(server.url.rsplit(":", 1)[1])
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
        try:
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in clients:  # each is answered, so each was accepted by a worker
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            held = {pid: connections_held(pid, port) for pid in children(server.pid)}
            assert sum(held.values()) == 16, held
            assert sum(1 for n in held.values() if n) == 2, held  # each worker holds some
        finally:
            for c in clients:
                c.close()

        victim = min(pids(data / "metrics", "gauge_livesum"))
        os.kill(victim, signal.SIGKILL)
        until(lambda: victim not in pids(data / "metrics", "gauge_livesum"))
        for _ in range(40):  # a new connection each time: none waits on the dead worker's socket
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
