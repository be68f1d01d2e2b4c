"""How fast hostile documents are refused, and whether /healthz keeps answering meanwhile, over real HTTP.

    .venv/bin/python bench/limits.py [--repeat 10] [--load-seconds 3] [--only NAME ...] [--skip NAME ...]

Starts `pdo-graph serve` on a free port (embedded PostgreSQL in a temporary directory, or
PDO_DATABASE_URL) and, for each hostile document:

Every request carries a unique trailing comment, so no cache of parsed or validated documents helps
(an attacker varies the text for free).

1. sends it ``--repeat`` times one after another: the status, the error code, the median and worst
   wall time to refuse it, and the server process's CPU time per request (from /proc);
2. sends it from two clients in a loop for ``--load-seconds`` while a third asks /healthz every
   20 ms: the median, 95th percentile and worst /healthz latency while the hostile documents arrive.

The first row, a benign query, is the control: the /healthz figures under ordinary load on this
machine (on a busy machine the worst cases are the scheduler's, not the server's).

A request that takes longer than ``--timeout`` seconds is reported as such (the server may then be
busy with it for a long while: use ``--only``/``--skip`` against an old build).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx
from _common import free_port, stop_server, wait_ready

BODY_LIMIT = 1536 * 1024


def fragment_chain(n: int) -> str:
    """``query{...F0}``, ``fragment Fi on Query{...Fi+1 ...Fi+1}``: 2^n expansions if walked naively."""
    body = "".join(f"fragment F{i} on Query{{...F{i + 1} ...F{i + 1}}}" for i in range(n))
    return "query{...F0}" + body + f"fragment F{n} on Query{{municipalities{{code}}}}"


def escaped_quotes(size: int) -> str:
    """An unterminated string of escaped quotes: ``"`` then ``\\"`` repeated to ``size`` characters."""
    return '"' + '\\"' * ((size - 1) // 2)


def escaped_quotes_at_body_limit() -> str:
    # JSON doubles every backslash and quote: `\"` becomes `\\\"` (4 bytes); stay just under the body limit.
    return escaped_quotes((BODY_LIMIT - 64) // 2)


COSTLY = (
    "query Costly { programs(first: 100) { edges { node { groups(first: 100) { edges { node { program { "
    "groups(first: 100) { edges { node { id name } } } } } } } } } } }"
)
SAME_NAME = "{ " + "municipalities { code } " * 450 + "}"

CASES: dict[str, dict[str, Any]] = {
    "benign (control)": {"query": "{ viewer { role } }"},
    "fragment chain 22": {"query": fragment_chain(22)},
    "escaped quotes 28 KB": {"query": escaped_quotes(28 * 1024)},
    "escaped quotes 64 KB": {"query": escaped_quotes(64 * 1024)},
    "escaped quotes 1.5 MB": {"query": escaped_quotes_at_body_limit()},
    "2 operations, no name": {"query": COSTLY + " query Cheap { __typename }"},
    "unknown operationName": {"query": "query A { __typename }", "operationName": "B"},
    "fragment only": {"query": "fragment F on Query { __typename }"},
    "450 same-name fields": {"query": SAME_NAME},
    "nested repeats 20 × 20": {
        "query": "{ " + ("programs(first: 1) { edges { node { " + "provider { id } " * 20 + "} } } ") * 20 + "}"
    },
    "depth 50": {"query": "{ viewer { " + "children { certificate { child { " * 16 + "id" + " } } }" * 16 + " } }"},
    "1000 aliases": {"query": "{ " + " ".join(f"a{i}: municipalities {{ code }}" for i in range(1000)) + " }"},
    "2 MB query": {"query": "{ municipalities { code } }" + " " * (2 * 1024 * 1024)},
    "cost bomb": {"query": COSTLY},
    "5000 tokens": {"query": "{ municipalities { " + "code " * 5000 + "} }"},
    "1,990 unknown fields": {"query": "{ " + " ".join(f"f{i}" for i in range(1990)) + " }"},
    "1,950-item list literal": {
        "query": "{ programs(first: 1, filter: {directions: [" + ",".join(["1"] * 1950) + "]}) { totalCount } }"
    },
    "NUL in a query argument": {"query": '{ certificateByNumber(number: "77\\u000001") { id } }'},
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SERIAL = itertools.count()


def unique(payload: dict[str, Any]) -> dict[str, Any]:
    """The same document with a new trailing comment (defeats caches keyed by the text)."""
    return {**payload, "query": f"{payload['query']}\n#{next(_SERIAL)}"}


def describe(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:60]
    error = (body.get("errors") or [{}])[0]
    return str((error.get("extensions") or {}).get("code", "")), str(error.get("message", ""))[:60]


def refuse_times(url: str, payload: dict[str, Any], repeat: int, timeout: float, pid: int) -> dict[str, Any]:
    times: list[float] = []
    status, code, message = 0, "", ""
    cpu_before = cpu_seconds(pid)
    with httpx.Client(base_url=url, timeout=timeout) as client:
        for _ in range(repeat):
            started = time.perf_counter()
            try:
                r = client.post("/graphql", json=unique(payload))
            except httpx.TimeoutException:
                return {"status": "timeout", "code": "", "message": f"no answer within {timeout:.0f} s", "times": []}
            except httpx.HTTPError as exc:  # e.g. the connection dropped by an unhandled server error
                return {"status": "error", "code": "", "message": f"{type(exc).__name__}: {exc}"[:80], "times": []}
            times.append((time.perf_counter() - started) * 1000)
            status = r.status_code
            code, message = describe(r)
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, len(times))
    return {"status": status, "code": code, "message": message, "times": times, "cpu_ms": cpu_ms}


def healthz_under_load(url: str, payload: dict[str, Any], seconds: float, timeout: float) -> list[float]:
    """/healthz latencies (ms) while two clients send ``payload`` in a loop."""
    stop = threading.Event()

    def attacker() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            while not stop.is_set():
                try:
                    client.post("/graphql", json=unique(payload))
                except httpx.HTTPError:
                    return

    attackers = [threading.Thread(target=attacker, daemon=True) for _ in range(2)]
    for t in attackers:
        t.start()
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=timeout) as client:
        time.sleep(0.05)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                client.get("/healthz")
                latencies.append((time.perf_counter() - started) * 1000)
            except httpx.TimeoutException:
                latencies.append(timeout * 1000)
            time.sleep(0.02)
    stop.set()
    for t in attackers:
        t.join(timeout)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--load-seconds", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", nargs="*", help="run only these documents (names as printed)")
    parser.add_argument("--skip", nargs="*", default=[], help="skip these documents")
    args = parser.parse_args()
    cases = {k: v for k, v in CASES.items() if (not args.only or k in args.only) and k not in args.skip}
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
        wait_ready(port, server, timeout=90, path="/readyz")
        with httpx.Client(base_url=url, timeout=30) as client:
            client.post("/graphql", json={"query": "{ municipalities { code } }"})  # warm up
            idle = []
            for _ in range(50):
                started = time.perf_counter()
                client.get("/healthz")
                idle.append((time.perf_counter() - started) * 1000)
        print(f"/healthz when idle: median {statistics.median(idle):.2f} ms, max {max(idle):.2f} ms\n")
        header = f"{'document':<24} {'body KB':>7} {'status':>6} {'median ms':>9} {'max ms':>8} {'CPU ms':>7}"
        print(f"{header} {'healthz p50':>11} {'p95':>7} {'max':>7}  code: refusal")
        for name, payload in cases.items():
            size = len(json.dumps(payload).encode()) / 1024  # the request body
            r = refuse_times(url, payload, args.repeat, args.timeout, server.pid)
            if not r["times"]:
                print(f"{name:<24} {size:>7.1f} {r['status']:>6}  {r['message']}")
                continue
            health = healthz_under_load(url, payload, args.load_seconds, args.timeout)
            print(
                f"{name:<24} {size:>7.1f} {r['status']:>6} {statistics.median(r['times']):>9.2f} "
                f"{max(r['times']):>8.2f} {r['cpu_ms']:>7.1f} {statistics.median(health):>11.2f} "
                f"{percentile(health, 95):>7.2f} {max(health):>7.2f}  {r['code']}: {r['message']}",
                flush=True,
            )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
