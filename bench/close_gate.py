"""A period's close under a steady stream of money movements: how many movements slip in while the
close waits, with the period's gate (an advisory lock, shared by movements, exclusive for the close)
and without it (the period row's own locks only: FOR SHARE by movements, FOR NO KEY UPDATE by the close).

    PDO_DATABASE_URL=postgresql://... .venv/bin/python bench/close_gate.py [--workers 6 --hold-ms 20]

A scratch database is created on that server (and dropped). ``--workers`` connections move money in
one period without pause, each holding the period for ``--hold-ms`` (a movement's transaction), so
that at any moment some movement holds it. After a warm-up the close asks for the period; we count
the movements that asked for the period after the close did and got it before the close (they
slipped in), those already queued when the close asked, and how long the close waited (given up after ``--patience`` seconds: the close starved). The movements here take only the
locks (``periods.lock_shared`` is the real gate of every movement; the close takes the real
``periods._lock_open_period``); what a movement writes does not change who waits for whom.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import date

from _common import ROOT, admin, database_url  # noqa: F401  (puts the project on sys.path)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.engine import async_url, make_engine, migrate
from pdo_graph.domain import periods


async def seed(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO municipalities (code, name) VALUES ('01', 'Бенчмарк')"))
        return int(
            (
                await conn.execute(
                    text(
                        "INSERT INTO funding_periods (municipality, starts_on, ends_on) VALUES ('01', :s, :e) RETURNING id"
                    ),
                    {"s": date(2030, 9, 1), "e": date(2031, 5, 31)},
                )
            ).scalar_one()
        )


async def trial(engine: AsyncEngine, period: int, gate: bool, workers: int, hold: float, patience: float) -> dict:
    stop = asyncio.Event()
    acquired: list[tuple[float, float]] = []  # (asked, got) of each movement

    async def movement_loop(n: int) -> None:
        await asyncio.sleep(hold * n / workers)  # staggered: the holds overlap
        async with engine.connect() as conn:
            while not stop.is_set():
                async with conn.begin():
                    requested = time.perf_counter()
                    if gate:
                        await periods.lock_shared(conn, [period])
                    else:
                        await conn.execute(
                            text("SELECT status FROM funding_periods WHERE id = :p FOR SHARE"), {"p": period}
                        )
                    acquired.append((requested, time.perf_counter()))
                    await conn.execute(text("SELECT pg_sleep(:s)"), {"s": hold})

    tasks = [asyncio.create_task(movement_loop(n)) for n in range(workers)]
    await asyncio.sleep(0.5)
    asked = time.perf_counter()
    got: float | None = None
    async with engine.connect() as conn:
        try:
            async with conn.begin():
                await conn.execute(
                    text("SELECT set_config('lock_timeout', :t, true)"), {"t": f"{int(patience * 1000)}ms"}
                )
                if gate:
                    await periods._lock_open_period(conn, "01", period)
                else:
                    await conn.execute(text("SELECT 1 FROM municipalities WHERE code = '01' FOR NO KEY UPDATE"))
                    await conn.execute(
                        text("SELECT status FROM funding_periods WHERE id = :p FOR NO KEY UPDATE"), {"p": period}
                    )
                got = time.perf_counter()
                await conn.rollback()  # the bench does not close the period: the next trial uses it
        except Exception as exc:  # lock_timeout: the close starved
            if "lock timeout" not in str(exc) and "LockNotAvailable" not in type(exc.__cause__ or exc).__name__:
                raise
    stop.set()
    await asyncio.gather(*tasks)
    end = got if got is not None else asked + patience
    slipped = sum(1 for r, t in acquired if asked < r and t < end)  # asked after the close, served before it
    inside = sum(1 for r, t in acquired if r <= asked < t < end)  # asked before the close, served while it waited
    waited = None if got is None else round((got - asked) * 1000, 1)
    return {"gate": gate, "slipped": slipped, "before": inside, "waited_ms": waited, "movements": len(acquired)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--hold-ms", type=float, default=20)
    parser.add_argument("--patience", type=float, default=5.0, help="seconds the close waits at most")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    external = os.environ.get("PDO_DATABASE_URL")
    if not external:
        sys.exit("set PDO_DATABASE_URL to a PostgreSQL server (a scratch database is created there)")
    admin_url = async_url(external)
    name = f"pdo_bench_gate_{uuid.uuid4().hex[:8]}"
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    engine = make_engine(database_url(admin_url, name), args.workers + 4)
    try:
        await migrate(engine)
        period = await seed(engine)
        print(
            f"{args.workers} movements at a time, each holding the period {args.hold_ms:g} ms; the close waits"
            f" at most {args.patience:g} s"
        )
        print(f"{'':22} {'asked after the close, served first':>36} {'queued before it':>17} {'close waited':>13}")
        for gate in (False, True):
            for n in range(args.trials):
                r = await trial(engine, period, gate, args.workers, args.hold_ms / 1000, args.patience)
                waited = "starved" if r["waited_ms"] is None else f"{r['waited_ms']} ms"
                label = "with the gate" if gate else "row locks only"
                print(f"{label + f' #{n + 1}':22} {r['slipped']:>36} {r['before']:>17} {waited:>13}")
    finally:
        await engine.dispose()
        await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', attempts=5)


if __name__ == "__main__":
    asyncio.run(main())
