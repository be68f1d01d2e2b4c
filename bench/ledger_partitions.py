"""The ledger at a region's scale: ``ledger check`` (default: open periods in full, sealed ones by their
checkpoints; and ``--full``), a certificate's history and a period's seal, over a generated ledger of N
entries (default 10 million), as one table and partitioned by period.

    .venv/bin/python bench/ledger_partitions.py [--entries 10000000 --certificates 400000 --periods 24]
        [--keep | --database NAME] [--repeat 3]

A scratch database on PDO_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
gets pdo-graph's schema; the foreign keys of ``ledger_entries`` and ``balances`` are dropped there (the
generator writes no certificates, only their money). Periods: ``--periods`` of them, all closed but
the last year's; each certificate is credited in every period of its municipality, then RESERVE and
CHARGE entries fill the ledger to N, written in the order of the periods (as time writes them);
balances are summed from the ledger, the closed periods' leftovers expire, so every invariant holds.
Then every closed period is checked and sealed (``ledger.seal_period``, as its close does), and the
same rows are copied into a ledger partitioned by ``period_id`` (LIST, one partition per period);
the two tables swap names between the measurements. ``--keep`` keeps the database (its name is
printed); ``--database NAME`` measures a kept one again without generating.

Measured, each the median of ``--repeat`` runs, on the plain table and on the partitioned one:
- ``ledger check`` (``ledger.check_invariants(full=False)``) and ``ledger check --full``;
- a period's seal (what its close adds: the check of its entries and the checkpoint), in a
  transaction rolled back;
- a certificate's history: the family dashboard's transactions page (the newest 20 entries of one
  certificate, ``reads/family.py``) and its entries of one period.
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
from pdo_graph.domain import ledger
from pdo_graph.reads.family import TRANSACTION_SQL

HISTORY_SQL = TRANSACTION_SQL + " WHERE r.certificate_id = :c ORDER BY r.id DESC LIMIT 20"
PERIOD_HISTORY_SQL = TRANSACTION_SQL + " WHERE r.certificate_id = :c AND r.period_id = :p ORDER BY r.id DESC"
MUNICIPALITIES = 6


async def timed(engine, work, repeat: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Median seconds of ``repeat`` runs of ``work(conn)`` (each in a transaction rolled back), and
    what the last returned (rows, violations)."""
    times, found = [], 0
    async with engine.connect() as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            found = await work(conn)
            times.append(time.perf_counter() - started)
            await conn.rollback()
    return statistics.median(times), found


def rows_of(sql: str, params: dict):  # type: ignore[no-untyped-def]
    async def work(conn) -> int:  # type: ignore[no-untyped-def]
        return len((await conn.execute(text(sql), params)).all())

    return work


def check(full: bool):  # type: ignore[no-untyped-def]
    async def work(conn) -> int:  # type: ignore[no-untyped-def]
        violations = await ledger.check_invariants(conn, full=full)
        if violations:
            print("violations:", violations[:5], flush=True)
        return len(violations)

    return work


def reseal(period_id: int):  # type: ignore[no-untyped-def]
    """A sealed period's checkpoint dropped (behind the triggers' back) and written again, as its close
    would: the seal's cost. Rolled back by ``timed``."""

    async def work(conn) -> int:  # type: ignore[no-untyped-def]
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("DELETE FROM ledger_checkpoints WHERE period_id = :p"), {"p": period_id})
        await conn.execute(text("SET LOCAL session_replication_role = origin"))
        seal = await ledger.seal_period(conn, period_id)
        return seal.entries if seal.sealed else -len(seal.violations)

    return work


async def generate(engine, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """Periods, the ledger (in the order of the periods) and balances; every closed period sealed."""
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
                " ORDER BY p.starts_on, c"
            ),
            {"c": args.certificates, "m": MUNICIPALITIES},
        )
        # the other entries: reserve / charge pairs, spread over certificates and periods, in period order
        await conn.execute(
            text(
                "INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account,"
                " description, actor, month)"
                " SELECT k.kind, x.c, p.id, 10000, k.debit, k.credit, 'Оплата месяца', 'bench', p.starts_on"
                " FROM (SELECT n, (n::bigint * 7919) % :c + 1 AS c, n % :k + 1 AS pk FROM generate_series(1, :pairs) n) x"
                " JOIN LATERAL (SELECT id, starts_on FROM funding_periods"
                "   WHERE municipality = lpad((x.c % :m + 1)::text, 2, '0') ORDER BY starts_on OFFSET x.pk - 1 LIMIT 1) p ON true"
                " CROSS JOIN (VALUES (1, 'RESERVE', 'reserved', 'available'), (2, 'CHARGE', 'spent', 'reserved'))"
                "   k(o, kind, debit, credit)"
                " ORDER BY p.starts_on, x.n, k.o"
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
                " ORDER BY p.starts_on, b.certificate_id"
            )
        )
        await conn.execute(
            text(
                "UPDATE balances b SET expired = b.expired + b.available FROM funding_periods p"
                " WHERE p.id = b.period_id AND p.status = 'CLOSED' AND b.available > 0"
            )
        )
    await vacuum(engine, "ledger_entries", "balances")
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM ledger_entries"))).scalar_one()
    print(f"generated {count:,} ledger entries in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    async with engine.begin() as conn:
        seals = await ledger.seal_closed_periods(conn)
    assert all(s.sealed for s in seals), [s.violations[:3] for s in seals]
    print(f"sealed {len(seals)} closed periods in {time.perf_counter() - started:.0f} s", flush=True)


async def vacuum(engine, *tables: str) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await conn.execute(text(f"VACUUM ANALYZE {table}"))


async def partition(engine) -> None:  # type: ignore[no-untyped-def]
    """The same rows in a ledger partitioned by period (LIST, one partition each), with the same
    indexes and the seal's trigger, as ``ledger_parted``."""
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
        await conn.execute(text("INSERT INTO ledger_parted SELECT * FROM ledger_entries ORDER BY id"))
        await conn.execute(text("ALTER TABLE ledger_parted ADD PRIMARY KEY (period_id, id)"))
        await conn.execute(text("CREATE INDEX ON ledger_parted (certificate_id, id)"))
        await conn.execute(text("CREATE INDEX ON ledger_parted (enrollment_id)"))
        await conn.execute(text("CREATE INDEX ON ledger_parted (month, period_id) WHERE kind = 'CHARGE'"))
        await conn.execute(text("CREATE INDEX ON ledger_parted (period_id, id) INCLUDE (amount)"))
        await conn.execute(
            text(
                "CREATE TRIGGER ledger_entries_sealed BEFORE INSERT OR UPDATE OR DELETE ON ledger_parted"
                " FOR EACH ROW EXECUTE FUNCTION ledger_sealed()"
            )
        )
    await vacuum(engine, "ledger_parted")
    print(f"partitioned in {time.perf_counter() - started:.0f} s", flush=True)


async def use(engine, layout: str) -> None:  # type: ignore[no-untyped-def]
    """Swap names so that ``ledger_entries`` is the plain table or the partitioned one."""
    async with engine.begin() as conn:
        parted = (
            await conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = 'ledger_entries'::regclass"))
        ).scalar_one()
        if parted == (layout == "partitioned"):
            return
        other = "ledger_plain" if layout == "plain" else "ledger_parted"
        away = "ledger_parted" if layout == "plain" else "ledger_plain"
        await conn.execute(text(f"ALTER TABLE ledger_entries RENAME TO {away}"))
        await conn.execute(text(f"ALTER TABLE {other} RENAME TO ledger_entries"))


async def measure(engine, args: argparse.Namespace) -> dict[str, tuple[float, int]]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        sealed = (await conn.execute(text("SELECT min(period_id) FROM ledger_checkpoints"))).scalar_one()
        certificate = args.certificates // 2
        period = (
            await conn.execute(
                text(
                    "SELECT period_id FROM ledger_entries WHERE certificate_id = :c GROUP BY period_id"
                    " ORDER BY count(*) DESC, period_id LIMIT 1"
                ),
                {"c": certificate},
            )
        ).scalar_one()
    repeat = args.repeat
    return {
        "ledger check (default)": await timed(engine, check(False), repeat),
        "ledger check --full": await timed(engine, check(True), repeat),
        "seal of a closed period": await timed(engine, reseal(sealed), repeat),
        "history: 20 newest": await timed(engine, rows_of(HISTORY_SQL, {"c": certificate}), max(repeat, 20)),
        "history: one period": await timed(
            engine, rows_of(PERIOD_HISTORY_SQL, {"c": certificate, "p": period}), max(repeat, 20)
        ),
    }


async def run(args: argparse.Namespace) -> None:
    name = args.database or f"pdo_bench_ledger_{uuid.uuid4().hex[:8]}"
    if not args.database:
        await admin(args.admin_url, f'CREATE DATABASE "{name}"')
    print(f"database {name}", flush=True)
    engine = make_engine(database_url(args.admin_url, name), 2)
    keep = args.keep or bool(args.database)
    try:
        if not args.database:
            await migrate(engine)
            await generate(engine, args)
            await partition(engine)
            if args.generate_only:
                return
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM ledger_entries"))).scalar_one()
            periods = (await conn.execute(text("SELECT count(*) FILTER (WHERE status = 'OPEN'), count(*)"
                                               " FROM funding_periods"))).one()  # fmt: skip
            certificates = (
                await conn.execute(text("SELECT count(DISTINCT certificate_id) FROM balances"))
            ).scalar_one()
        args.certificates = certificates
        results = {}
        for layout in ("plain", "partitioned"):
            await use(engine, layout)
            results[layout] = await measure(engine, args)
        await use(engine, "plain")
        print(f"\n{count:,} entries, {certificates:,} certificates, {periods[1]} periods ({periods[0]} open,"
              f" the others sealed); median of {args.repeat} runs (history: of {max(args.repeat, 20)})")  # fmt: skip
        print(f"{'':26} {'one table':>12} {'by period':>12}  violations / rows")
        for what, (seconds, found) in results["plain"].items():
            parted = results["partitioned"][what]
            print(f"{what:26} {seconds * 1000:10.1f} ms {parted[0] * 1000:10.1f} ms  {found} / {parted[1]}")
    finally:
        await engine.dispose()
        if not keep:
            await admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', attempts=3)


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--certificates", type=int, default=400_000)
    parser.add_argument("--periods", type=int, default=24, help="in all, over six municipalities")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database", help="measure this kept database again (nothing generated)")
    parser.add_argument("--generate-only", action="store_true", help="generate (with --keep), measure nothing")
    args = parser.parse_args()
    args.admin_url = os.environ.get("PDO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
