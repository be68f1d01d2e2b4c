"""The fair opening minute: 5 000 families apply for a 20-seat group within the first seconds of its
fair window, over real HTTP; then the draw; then the same rush first come, first served as the peer.

    .venv/bin/python bench/fair_opening.py [--families 5000 --seats 20 --concurrency 200 --workers N]

With PDO_DATABASE_URL a scratch database is created on that server (dropped afterwards unless
--keep); without it an embedded PostgreSQL is started in a temporary directory. Seeding is
``bench/rush.py``'s (funded certificates of 30 000 ₽); two groups get ``--seats`` seats at 9 000 ₽.

1. The fair group's opening is scheduled (the seed is committed and its hash published) a minute
   ahead; when the server is ready the opening is moved to "now" (a bench shortcut: nobody waits a
   minute), and every family sends ``enrollmentCreate`` at once through ``--concurrency`` keep-alive
   connections (each request a separate family): every one must be answered (HTTP 200, no
   top-level error) and become PENDING_DRAW.
2. The window is shortened to end now and ``pdo-graph draw run`` draws (timed); ``pdo-graph draw
   verify`` recomputes it from the published seed and the application ids.
3. Checks: exactly ``--seats`` winners (REQUESTED), every other application EXPIRED with its reserve
   returned and queued on the waitlist in drawn order, no oversold seat, no overdrawn certificate,
   the ledger invariants. Fairness: where the winners stood in arrival order (under first come,
   first served the first ``--seats`` arrivals win; a fair draw spreads them over the whole window).
4. The peer: the same families rush a second group of the same size without an opening (first
   come, first served), same server and concurrency; p50/p99 side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from _common import (
    Http,
    Outcome,
    admin,
    apply_over_http,
    bench_postgres,
    database_url,
    free_port,
    make_tmp,
    start_server,
    stop_server,
    wait_ready,
)
from rush import print_run, seed, verify
from sqlalchemy import text

from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.db.engine import make_engine
from pdo_graph.db.session import transaction
from pdo_graph.domain.access import Role
from pdo_graph.domain.enrollment import draw
from pdo_graph.ids import encode_id

ROOT = Path(__file__).resolve().parents[1]
PRICE = 900_000


async def rush(
    port: int, families: list[tuple[str, int]], group: int, tokens: dict[str, str], concurrency: int, tag: str
) -> Outcome:
    """Every family applies once, ``concurrency`` at a time; a 503 OVERLOADED is sent again after
    its Retry-After (the families keep trying within the window)."""
    out = Outcome()
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    for f in families:
        queue.put_nowait(f)

    async def worker() -> None:
        http = Http(port)
        try:
            while not queue.empty():
                subject, cert = queue.get_nowait()
                application = (subject, cert, group, f"{tag}-{subject}")
                await apply_over_http(http, application, tokens, out, time.perf_counter(), retry=True)
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.seconds = time.perf_counter() - started
    return out


def cli(url: str, data_dir: Path, *args: str) -> tuple[int, str, float]:
    env = {**os.environ, "PDO_DATABASE_URL": url, "PDO_DATA_DIR": str(data_dir), "PDO_LOG_FORMAT": "text"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pdo_graph.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    tmp = make_tmp("pdo-fair-")
    admin_url, embedded = bench_postgres(tmp)
    name = f"pdo_fair_{uuid.uuid4().hex[:8]}"
    server: subprocess.Popen[bytes] | None = None
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    failed = False
    try:
        await admin(admin_url, f'CREATE DATABASE "{name}"')
        url = database_url(admin_url, name)
        t0 = time.perf_counter()
        families, groups = await seed(url, args.families, 2, date.today())
        fair, peer = groups
        engine = make_engine(url, 2)
        async with engine.begin() as c:
            await c.execute(
                text("UPDATE groups SET capacity = :n, price = :p WHERE id = ANY(:g)"),
                {"n": args.seats, "p": PRICE, "g": groups},
            )
        await transaction(
            engine,
            lambda c: draw.schedule(
                c, fair, datetime.now().astimezone() + timedelta(minutes=1), draw.DEFAULT_WINDOW_MINUTES
            ),
        )
        print(
            f"seeded {len(families)} funded certificates; two groups of {args.seats} seats at {PRICE / 100:.0f} ₽"
            f" in {time.perf_counter() - t0:.1f} s; fair opening scheduled, seed hash published"
        )
        key = load_or_create_dev_key(tmp)
        tokens = {s: mint_dev_token(key, role=Role.GUARDIAN, subject=s) for s, _ in families}
        port = free_port()
        server = start_server(port, url, tmp, args.pool, args.workers, log)
        await asyncio.to_thread(wait_ready, port, server)
        async with engine.begin() as c:  # the opening minute is now
            await c.execute(
                text("UPDATE groups SET enrollment_opens_at = now() - interval '1 second' WHERE id = :g"), {"g": fair}
            )
            await c.execute(
                text("UPDATE group_draws SET window_ends_at = now() + interval '10 minutes' WHERE group_id = :g"),
                {"g": fair},
            )
        print(
            f"\nserver: pdo-graph serve --workers {args.workers}, PDO_DB_POOL_SIZE={args.pool};"
            f" {args.concurrency} keep-alive client connections; {os.cpu_count()} CPUs"
        )
        window = await rush(port, families, fair, tokens, args.concurrency, "fair")
        print_run("fair window", window, len(families))
        print(
            f"HTTP statuses {dict(window.statuses)}; transport errors {window.transport_errors};"
            f" top-level errors {window.top_level_errors}; outcomes {dict(window.outcomes)}"
        )
        five_xx = sum(n for s, n in window.statuses.items() if s >= 500)
        if (
            window.transport_errors
            or five_xx
            or window.top_level_errors
            or sum(window.statuses.values()) != len(families)
        ):
            print("  FAILED not every request was answered with 200 and a payload")
            failed = True

        async with engine.begin() as c:  # the window ends now
            await c.execute(text("UPDATE group_draws SET window_ends_at = now() WHERE group_id = :g"), {"g": fair})
        code, output, seconds = cli(url, tmp, "draw", "run")
        print(f"\npdo-graph draw run: {output.strip()} in {seconds:.1f} s (process start included)")
        code, output, _ = cli(url, tmp, "draw", "verify", encode_id("Group", fair))
        print("pdo-graph draw verify: " + output.strip().replace("\n", "\n  "))
        failed = failed or code != 0

        async with engine.connect() as c:
            statuses = Counter(
                dict(
                    (
                        await c.execute(
                            text("SELECT status, count(*) FROM enrollments WHERE group_id = :g GROUP BY status"),
                            {"g": fair},
                        )
                    ).all()
                )
            )
            ranks = [
                int(r[0])
                for r in await c.execute(
                    text(
                        "SELECT rank FROM (SELECT id, status, row_number() OVER (ORDER BY id) AS rank FROM enrollments"
                        " WHERE group_id = :g) x WHERE status = 'REQUESTED' ORDER BY rank"
                    ),
                    {"g": fair},
                )
            ]
            queued = int(
                (
                    await c.execute(
                        text("SELECT count(*) FROM waitlist_entries WHERE group_id = :g AND state = 'WAITING'"),
                        {"g": fair},
                    )
                ).scalar_one()
            )
            leftover = int(
                (
                    await c.execute(
                        text(
                            "SELECT coalesce(sum(reserved), 0) FROM enrollments WHERE group_id = :g AND status = 'EXPIRED'"
                        ),
                        {"g": fair},
                    )
                ).scalar_one()
            )
        n = sum(statuses.values())
        print(f"\nafter the draw: {dict(statuses)}; waitlist {queued}; reserve left on losers {leftover}")
        if (
            statuses.get("REQUESTED") != args.seats
            or statuses.get("PENDING_DRAW")
            or queued != n - args.seats
            or leftover
        ):
            print("  FAILED the draw's outcome")
            failed = True
        if ranks:
            first = sum(1 for r in ranks if r <= args.seats)
            print(f"fairness: winners' places in arrival order (1..{n}): {ranks}")
            print(
                f"  median place {statistics.median(ranks):.0f} (uniform: {(n + 1) / 2:.0f});"
                f" winners among the first {args.seats} arrivals: {first} (first come, first served: {args.seats};"
                f" uniform expectation {args.seats * args.seats / n:.2f});"
                f" winners in each fifth of the arrivals: {[sum(1 for r in ranks if k * n / 5 < r <= (k + 1) * n / 5) for k in range(5)]}"
            )

        peer_run = await rush(port, families, peer, tokens, args.concurrency, "fcfs")
        print_run("\npeer, first come first served", peer_run, len(families))
        print(f"HTTP statuses {dict(peer_run.statuses)}; outcomes {dict(peer_run.outcomes)}")
        stop_server(server)
        server = None
        checks = await verify(url)
        # rush.py's check "reserve = fromCertificate" holds for live applications only: a lost draw returned its reserve
        checks.other = [o for o in checks.other if not o.startswith("reserve != fromCertificate")]
        async with engine.connect() as c:
            live_short = int(
                (
                    await c.execute(
                        text(
                            "SELECT count(*) FROM enrollments WHERE status IN ('PENDING_DRAW', 'REQUESTED') AND reserved <> from_certificate"
                        )
                    )
                ).scalar_one()
            )
        if live_short:
            checks.other.append(f"live application's reserve != fromCertificate: {live_short}")
        checks.print()
        failed = failed or not checks.ok
        print("\n                              p50 ms    p99 ms   max ms   applications/s")
        for label, out in (("fair window (PENDING_DRAW)", window), ("first come, first served", peer_run)):
            print(f"  {label:<27} {out.pct(0.5):7.1f} {out.pct(0.99):9.1f} {out.pct(1.0):8.1f} {out.rate:12.0f}")
        await engine.dispose()
        print("\nchecks: " + ("all hold" if not failed else "FAILED"))
        return 1 if failed else 0
    finally:
        if server is not None:
            stop_server(server)
        log.close()
        if failed or os.environ.get("PDO_RUSH_SERVER_LOG"):
            print(log_path.read_text(errors="replace")[-3000:])
        if args.keep:
            print("kept database", database_url(admin_url, name))
        else:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
