"""The ledger at a region's scale: ``ledger check`` and a certificate's history over a generated ledger
of N entries (default 10 million), as one table and partitioned by period.

    .venv/bin/python bench/ledger_partitions.py [--entries 10000000 --certificates 400000 --periods 24]

A scratch database on PDO_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
gets pdo-graph's schema; the foreign keys of ``ledger_entries`` and ``balances`` are dropped there (the
generator writes no certificates, only their money). Periods: ``--periods`` of them, all closed but
the last year's; each certificate is credited in every period of its municipality, then RESERVE,
CHARGE, RELEASE and EXPIRE entries fill the ledger to N; balances are summed from the ledger, so every
invariant holds.

Measured, each the median of ``--repeat`` runs, on the plain table and then on the same rows
partitioned by ``period_id`` (one partition per period, LIST):
- ``ledger check``: the real ``INVARIANTS_SQL`` over the whole ledger;
- the check of the open periods only: the same SQL with every ledger and balance read limited to
  ``period_id = ANY(open periods)`` (with partitions: pruned to theirs; a closed period's money cannot
  move, so its check holds once made);
- a certificate's history: the family dashboard's transactions page (the newest 20 entries of one
  certificate, ``reads/family.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import admin, database_url
from pdo_graph.db.engine import make_engine, migrate
from pdo_graph.domain.ledger import INVARIANTS_SQL
from pdo_graph.reads.family import TRANSACTION_SQL

HISTORY_SQL = TRANSACTION_SQL + " WHERE r.certificate_id = :c ORDER BY r.id DESC LIMIT 20"
OPEN_ONLY = (
    INVARIANTS_SQL.replace("FROM ledger_entries GROUP BY", "FROM ledger_entries WHERE period_id = ANY(:open) GROUP BY")
    .replace(
        "FROM balances b FULL JOIN sums", "FROM (SELECT * FROM balances WHERE period_id = ANY(:open)) b FULL JOIN sums"
    )
    .replace(
        "FROM ledger_entries WHERE amount <= 0", "FROM ledger_entries WHERE period_id = ANY(:open) AND (amount <= 0"
    )
    .replace("OR debit_account = credit_account\n", "OR debit_account = credit_account)\n")
)
MUNICIPALITIES = 6


async def timed(engine, sql: str, params: dict, repeat: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Median seconds of ``repeat`` runs, and the rows of the last."""
    times, rows = [], 0
    async with engine.connect() as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            rows = len((await conn.execute(text(sql), params)).all())
            times.append(time.perf_counter() - started)
            await conn.rollback()
    return statistics.median(times), rows


async def generate(engine, args: argparse.Namespace) -> list[int]:  # type: ignore[no-untyped-def]
    """Periods, the ledger and balances; the ids of the open periods."""
    per_municipality = args.periods // MUNICIPALITIES
    async with engine.begin() as conn:
        foreign = await conn.execute(
            text(
                "SELECT conrelid::regclass::text AS t, conname FROM pg_constraint"
                " WHERE contype = 'f' AND conrelid IN ('ledger_entries'::regclass, 'balances'::regclass)"
            )
        )
        for table, name in foreign.all():
            await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        await conn.execute(
            text(
                "INSERT INTO municipalities (code, name) SELECT lpad(m::text, 2, '0'), 'М' || m FROM generate_series(1, :n) m"
            ),
            {"n": MUNICIPALITIES},
        )
        # period k of a municipality: the school year 2020+k; the newest is open
        await conn.execute(
            text(
                "INSERT INTO funding_periods (municipality, starts_on, ends_on, status, open_for_applications)"
                " SELECT lpad(m::text, 2, '0'), make_date(2019 + k, 9, 1), make_date(2020 + k, 8, 31),"
                " CASE WHEN k = :k THEN 'OPEN' ELSE 'CLOSED' END, k = :k"
                " FROM generate_series(1, :n) m, generate_series(1, :k) k ORDER BY m, k"
            ),
            {"n": MUNICIPALITIES, "k": per_municipality},
        )
    credits = args.certificates * per_municipality
    rest = max(0, args.entries - credits)
    print(f"generating {credits:,} credits and {rest:,} other entries ...", flush=True)
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL synchronous_commit = off"))
        # certificate c belongs to municipality c % M + 1; its periods are that municipality's
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account,"
                " description, actor)"
                " SELECT 'CREDIT', c, p.id, 3000000, 'available', 'budget', 'Зачисление номинала', 'bench'"
                " FROM generate_series(1, :c) c JOIN funding_periods p ON p.municipality = lpad((c % :m + 1)::text, 2, '0')"
            ),
            {"c": args.certificates, "m": MUNICIPALITIES},
        )
        # the other entries: reserve / charge pairs (and a release or expiry), spread over certificates and periods
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account,"
                " description, actor, month)"
                " SELECT k.kind, x.c, p.id, 10000, k.debit, k.credit, 'Оплата месяца', 'bench', p.starts_on"
                " FROM (SELECT n, (n::bigint * 7919) % :c + 1 AS c, n % :k + 1 AS pk FROM generate_series(1, :pairs) n) x"
                " JOIN LATERAL (SELECT id, starts_on FROM funding_periods"
                "   WHERE municipality = lpad((x.c % :m + 1)::text, 2, '0') ORDER BY starts_on OFFSET x.pk - 1 LIMIT 1) p ON true"
                " CROSS JOIN (VALUES ('RESERVE', 'reserved', 'available'), ('CHARGE', 'spent', 'reserved')) k(kind, debit, credit)"
            ),
            {"c": args.certificates, "k": per_municipality, "m": MUNICIPALITIES, "pairs": rest // 2},
        )
        await conn.execute(
            text(
                "INSERT INTO balances (certificate_id, period_id, credited, reserved, spent, expired)"
                " SELECT certificate_id, period_id,"
                " coalesce(sum(amount) FILTER (WHERE kind = 'CREDIT'), 0),"
                " coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)"
                "   - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0),"
                " coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0),"
                " coalesce(sum(amount) FILTER (WHERE kind = 'EXPIRE'), 0)"
                " FROM ledger_entries GROUP BY certificate_id, period_id"
            )
        )
        # closed periods hold no money: what was left expired at the close
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account,"
                " description, actor)"
                " SELECT 'EXPIRE', b.certificate_id, b.period_id, b.available, 'expired', 'available', 'Сгорел остаток', 'bench'"
                " FROM balances b JOIN funding_periods p ON p.id = b.period_id WHERE p.status = 'CLOSED' AND b.available > 0"
            )
        )
        await conn.execute(
            text(
                "UPDATE balances b SET expired = b.expired + b.available FROM funding_periods p"
                " WHERE p.id = b.period_id AND p.status = 'CLOSED' AND b.available > 0"
            )
        )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE ledger_entries"))
        await conn.execute(text("VACUUM ANALYZE balances"))
        count = (await conn.execute(text("SELECT count(*) FROM ledger_entries"))).scalar_one()
        open_ids = [
            int(i) for i in (await conn.execute(text("SELECT id FROM funding_periods WHERE status = 'OPEN'"))).scalars()
        ]
    print(f"generated {count:,} ledger entries in {time.perf_counter() - started:.0f} s", flush=True)
    return open_ids


async def partition(engine) -> None:  # type: ignore[no-untyped-def]
    """The same rows in a ledger partitioned by period (LIST, one partition each), swapped in."""
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL synchronous_commit = off"))
        await conn.execute(
            text(
                "CREATE TABLE ledger_parted (LIKE ledger_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                " PARTITION BY LIST (period_id)"
            )
        )
        for pid in (await conn.execute(text("SELECT id FROM funding_periods ORDER BY id"))).scalars():
            await conn.execute(text(f"CREATE TABLE ledger_p{pid} PARTITION OF ledger_parted FOR VALUES IN ({pid})"))
        await conn.execute(text("INSERT INTO ledger_parted SELECT * FROM ledger_entries"))
        await conn.execute(text("ALTER TABLE ledger_parted ADD PRIMARY KEY (period_id, id)"))
        await conn.execute(text("CREATE INDEX ON ledger_parted (certificate_id, id)"))
        await conn.execute(text("CREATE INDEX ON ledger_parted (enrollment_id)"))
        await conn.execute(text("ALTER TABLE ledger_entries RENAME TO ledger_plain"))
        await conn.execute(text("ALTER TABLE ledger_parted RENAME TO ledger_entries"))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE ledger_entries"))
    print(f"partitioned in {time.perf_counter() - started:.0f} s", flush=True)


async def measure(engine, open_ids: list[int], certificate: int, repeat: int) -> dict[str, tuple[float, int]]:  # type: ignore[no-untyped-def]
    return {
        "ledger check (whole ledger)": await timed(engine, INVARIANTS_SQL, {}, repeat),
        "ledger check (open periods)": await timed(engine, OPEN_ONLY, {"open": open_ids}, repeat),
        "certificate history (20 newest)": await timed(engine, HISTORY_SQL, {"c": certificate}, max(repeat, 20)),
    }


async def run(args: argparse.Namespace) -> None:
    name = f"pdo_bench_ledger_{uuid.uuid4().hex[:8]}"
    await admin(args.admin_url, f'CREATE DATABASE "{name}"')
    engine = make_engine(database_url(args.admin_url, name), 2)
    try:
        await migrate(engine)
        open_ids = await generate(engine, args)
        certificate = args.certificates // 2
        plain = await measure(engine, open_ids, certificate, args.repeat)
        await partition(engine)
        parted = await measure(engine, open_ids, certificate, args.repeat)
        print(f"\n{args.entries:,} entries, {args.certificates:,} certificates, {args.periods} periods"
              f" ({len(open_ids)} open); median of {args.repeat} runs (history: of {max(args.repeat, 20)})")  # fmt: skip
        print(f"{'':34} {'one table':>12} {'by period':>12}  violations")
        for what, (seconds, rows) in plain.items():
            print(f"{what:34} {seconds * 1000:10.1f} ms {parted[what][0] * 1000:10.1f} ms  {rows} / {parted[what][1]}")
    finally:
        await engine.dispose()
        if not args.keep:
            await admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', attempts=3)


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--certificates", type=int, default=400_000)
    parser.add_argument("--periods", type=int, default=24, help="in all, over six municipalities")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    args.admin_url = os.environ.get("PDO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
