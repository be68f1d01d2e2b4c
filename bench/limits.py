"""How fast hostile documents are refused (before any database work), over real HTTP.

    .venv/bin/python bench/limits.py [--repeat 20]

Starts `pdo-graph serve` on a free port (embedded PostgreSQL in a temporary directory, or
PDO_DATABASE_URL) and sends each hostile document ``--repeat`` times; prints the status, the
error and the median and worst time to refuse it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from _common import free_port, stop_server, wait_ready

DEPTH = "{ viewer { " + "children { certificate { child { " * 16 + "id" + " } } }" * 16 + " } }"
ALIASES = "{ " + " ".join(f"a{i}: municipalities {{ code }}" for i in range(1000)) + " }"
HUGE = "{ municipalities { code } }" + " " * (2 * 1024 * 1024)
BOMB = (
    "{ programs(first: 100) { edges { node { groups(first: 100) { edges { node { program { "
    "groups(first: 100) { edges { node { id } } } } } } } } } } }"
)
TOKENS = "{ municipalities { " + "code " * 5000 + "} }"
CASES = {"depth 50": DEPTH, "1000 aliases": ALIASES, "2 MB query": HUGE, "cost bomb": BOMB, "5000 tokens": TOKENS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    env = {
        **os.environ,
        "PDO_PORT": str(port),
        "PDO_DATA_DIR": tempfile.mkdtemp(prefix="pdo-limits-"),
        "PDO_BACKGROUND_JOBS": "0",
        "PDO_LOG_FORMAT": "text",
    }
    os.chmod(env["PDO_DATA_DIR"], 0o755)
    server = subprocess.Popen(
        [sys.executable, "-m", "pdo_graph.cli", "serve", "--migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(port, server, timeout=60, path="/readyz")
        with httpx.Client(base_url=url, timeout=30) as client:
            client.post("/graphql", json={"query": "{ municipalities { code } }"})  # warm up
            print(f"{'document':<14} {'status':>6} {'median ms':>10} {'max ms':>8}  refusal")
            for name, query in CASES.items():
                times, status, message = [], 0, ""
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    r = client.post("/graphql", json={"query": query})
                    times.append((time.perf_counter() - started) * 1000)
                    status = r.status_code
                    body = r.json()
                    message = (body.get("errors") or [{}])[0].get("message", "")[:70]
                    assert body.get("data") is None, name
                print(f"{name:<14} {status:>6} {statistics.median(times):>10.2f} {max(times):>8.2f}  {message}")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
