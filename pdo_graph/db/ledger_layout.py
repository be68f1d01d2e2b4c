"""The ledger partitioned by period: ``pdo-graph ledger partition`` and the partition of each new period.

A region whose ledger has grown into tens of millions of entries can turn ``ledger_entries`` into a
table partitioned by ``period_id`` (LIST, one partition per period, ``ledger_entries_p<id>``, and
``ledger_entries_other`` for any row of a period without its own). The application's SQL does not
change: the table keeps its name, columns, constraints, indexes, foreign keys, sequence and the seal's
trigger; only its primary key becomes ``(period_id, id)`` (ids stay unique: one sequence gives them).
Nothing references ledger entries by id, and the ledger has no unique key of its own (the idempotency
of money movements lives in ``enrollments``, ``period_fundings`` and ``carry_overs``), so nothing else
needs the partition key.

``partition_ledger`` copies the rows in one transaction holding the ledger in SHARE mode (reads go on,
money movements wait until it commits): run it in a maintenance window (about 1.5 minutes per 10
million entries on the development machine, ``docs/scaling.md``). Afterwards ``open_period`` attaches
a partition for each new period (``ensure_partition``: the new table is created beside the ledger and
attached, which takes the ledger's SHARE UPDATE EXCLUSIVE lock only, so money keeps moving).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def is_partitioned(conn: AsyncConnection) -> bool:
    kind = await conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = 'ledger_entries'::regclass"))
    return bool(kind.scalar_one())


async def ensure_partition(conn: AsyncConnection, period_id: int) -> bool:
    """The period's own partition, when the ledger is partitioned and it has none yet; True if made."""
    if not await is_partitioned(conn):
        return False
    name = f"ledger_entries_p{int(period_id)}"
    exists = await conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})
    if exists.scalar_one():
        return False
    await conn.execute(text(f"CREATE TABLE {name} (LIKE ledger_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    await conn.execute(text(f"ALTER TABLE ledger_entries ATTACH PARTITION {name} FOR VALUES IN ({int(period_id)})"))
    return True


@dataclass(frozen=True, slots=True)
class Partitioned:
    entries: int
    partitions: int


async def partition_ledger(conn: AsyncConnection) -> Partitioned | None:
    """Turn the ledger into one partitioned by period (None: it is already). In the caller's
    transaction: all of it or nothing."""
    if await is_partitioned(conn):
        return None
    await conn.execute(text("LOCK TABLE ledger_entries IN SHARE MODE"))
    sequence = (await conn.execute(text("SELECT pg_get_serial_sequence('ledger_entries', 'id')"))).scalar_one()
    # what the plain table has besides its columns and checks, made again on the partitioned one
    primary = (
        await conn.execute(
            text("SELECT conname FROM pg_constraint WHERE conrelid = 'ledger_entries'::regclass AND contype = 'p'")
        )
    ).scalar_one()
    foreign = (
        await conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'ledger_entries'::regclass AND contype = 'f' ORDER BY conname"
            )
        )
    ).all()
    indexes = (
        (
            await conn.execute(
                text(
                    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'ledger_entries'::regclass"
                    " AND NOT i.indisprimary ORDER BY i.indexrelid"
                )
            )
        )
        .scalars()
        .all()
    )
    triggers = (
        (
            await conn.execute(
                text(
                    "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'ledger_entries'::regclass"
                    " AND NOT tgisinternal ORDER BY tgname"
                )
            )
        )
        .scalars()
        .all()
    )
    await conn.execute(
        text(
            "CREATE TABLE ledger_entries_partitioned (LIKE ledger_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            " PARTITION BY LIST (period_id)"
        )
    )
    periods = [int(p) for p in (await conn.execute(text("SELECT id FROM funding_periods ORDER BY id"))).scalars()]
    for pid in periods:
        await conn.execute(
            text(f"CREATE TABLE ledger_entries_p{pid} PARTITION OF ledger_entries_partitioned FOR VALUES IN ({pid})")
        )
    await conn.execute(text("CREATE TABLE ledger_entries_other PARTITION OF ledger_entries_partitioned DEFAULT"))
    copied = await conn.execute(
        text("INSERT INTO ledger_entries_partitioned SELECT * FROM ledger_entries ORDER BY period_id, id")
    )
    if sequence:
        await conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY ledger_entries_partitioned.id"))
    await conn.execute(text("DROP TABLE ledger_entries"))
    await conn.execute(text("ALTER TABLE ledger_entries_partitioned RENAME TO ledger_entries"))
    await conn.execute(text(f'ALTER TABLE ledger_entries ADD CONSTRAINT "{primary}" PRIMARY KEY (period_id, id)'))
    for statement in [*indexes, *triggers]:
        await conn.exec_driver_sql(statement)
    for name, definition in foreign:
        await conn.execute(text(f'ALTER TABLE ledger_entries ADD CONSTRAINT "{name}" {definition}'))
    return Partitioned(int(copied.rowcount), len(periods))
