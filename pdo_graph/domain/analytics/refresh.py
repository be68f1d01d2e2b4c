"""The job that recomputes the analysts' aggregates from the ledger and the tables.

One refresh is one REPEATABLE READ transaction (one consistent snapshot of the data): child-level
facts are built in temporary tables (dropped at commit; nothing child-level is kept), aggregated
per month, municipality and age and per subset of the program's dimensions (direction, provider,
funding kind) with the number of distinct children behind each figure, and written as a new
generation of ``analytics_cells``; ``analytics_state`` then points at it, with the time of the
snapshot (``asOf`` in the API). The previous generation is kept until the next refresh (a reader
that looked up the generation just before the switch still finds its rows); older ones are
deleted. A PostgreSQL advisory lock lets one refresh run at a time across every server process:
a second one started meanwhile returns at once.

What each measure counts is in ``measures.py`` and docs/analytics.md; the SQL below is the
definition the tests recompute from raw rows. Months of timestamps are calendar months in
Europe/Moscow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

LOCK_KEY = 7_301_017  # pg advisory lock: one refresh at a time
TIMEZONE = "Europe/Moscow"
ENROLLMENT_MEASURES = ("enrolled", "enrollments", "reserved", "spent", "completeness")


def _month(ts: str) -> str:
    return f"date_trunc('month', ({ts}) AT TIME ZONE '{TIMEZONE}')::date"


def _age(month: str, birth: str) -> str:
    return f"extract(year FROM age({month}, {birth}))::smallint"


@dataclass(frozen=True, slots=True)
class Refreshed:
    generation: int
    as_of: datetime
    as_of_month: date
    rows: int
    seconds: float


ENROLLMENTS_SQL = """
CREATE TEMP TABLE a_enr ON COMMIT DROP AS
SELECT e.id, e.child_id, c.municipality, ch.birth_date, p.direction, p.provider_id, p.funding_kind,
       e.status, e.first_month, e.months, e.decided_at, e.ended_at
  FROM enrollments e
  JOIN certificates c ON c.id = e.certificate_id
  JOIN children ch ON ch.id = e.child_id
  JOIN groups g ON g.id = e.group_id
  JOIN programs p ON p.id = g.program_id
"""

FACTS_SQL = """
CREATE TEMP TABLE a_facts (
    month date NOT NULL, municipality text NOT NULL, age smallint NOT NULL,
    direction text, provider_id bigint, funding_kind text,
    child_id bigint NOT NULL, measure text NOT NULL, value bigint NOT NULL, weight bigint
) ON COMMIT DROP
"""

CELLS_SQL = """
CREATE TEMP TABLE a_cells (
    gset smallint NOT NULL, month date NOT NULL, municipality text NOT NULL, age smallint,
    direction text, provider_id bigint, funding_kind text,
    measure text NOT NULL, value bigint, weight bigint, children bigint NOT NULL
) ON COMMIT DROP
"""

# a contract counts from its first month to its last, cut at the month it ended and at the as-of month
_CONCLUDED = "e.decided_at IS NOT NULL AND e.status IN ('ACTIVE', 'COMPLETED', 'TERMINATED')"

FACT_INSERTS = {
    # certificates issued in the month
    "certificates": f"""
INSERT INTO a_facts
SELECT m, c.municipality, {_age("m", "ch.birth_date")}, NULL, NULL, NULL, c.child_id, 'certificates', 1, NULL
  FROM certificates c JOIN children ch ON ch.id = c.child_id,
       LATERAL (SELECT date_trunc('month', c.issued_on)::date AS m) x
""",
    # children with a contract in force in the month
    "enrolled": f"""
INSERT INTO a_facts
SELECT s::date, e.municipality, {_age("s::date", "e.birth_date")}, e.direction, e.provider_id, e.funding_kind,
       e.child_id, 'enrolled', 1, NULL
  FROM a_enr e,
       generate_series(e.first_month,
                       least((e.first_month + make_interval(months => e.months - 1))::date,
                             coalesce({_month("e.ended_at")}, 'infinity'::date), CAST(:asof_month AS date)),
                       interval '1 month') s
 WHERE {_CONCLUDED}
""",
    # contracts concluded (accepted by the provider) in the month
    "enrollments": f"""
INSERT INTO a_facts
SELECT m, e.municipality, {_age("m", "e.birth_date")}, e.direction, e.provider_id, e.funding_kind,
       e.child_id, 'enrollments', 1, NULL
  FROM a_enr e, LATERAL (SELECT {_month("e.decided_at")} AS m) x
 WHERE {_CONCLUDED}
""",
    # money credited (CREDIT entries) and expired (EXPIRE entries), by the month they were posted
    "credited": f"""
INSERT INTO a_facts
SELECT m, c.municipality, {_age("m", "ch.birth_date")}, NULL, NULL, NULL, c.child_id,
       CASE l.kind WHEN 'CREDIT' THEN 'credited' ELSE 'expired' END, l.amount, NULL
  FROM ledger_entries l
  JOIN certificates c ON c.id = l.certificate_id
  JOIN children ch ON ch.id = c.child_id,
       LATERAL (SELECT {_month("l.created_at")} AS m) x
 WHERE l.kind IN ('CREDIT', 'EXPIRE')
""",
    # money on reserve at the end of the month: RESERVE - RELEASE - CHARGE posted up to then, per contract
    "reserved": f"""
INSERT INTO a_facts
WITH net AS (
    SELECT l.enrollment_id, {_month("l.created_at")} AS m,
           sum(CASE WHEN l.kind = 'RESERVE' THEN l.amount ELSE -l.amount END) AS delta
      FROM ledger_entries l
     WHERE l.kind IN ('RESERVE', 'RELEASE', 'CHARGE') AND l.enrollment_id IS NOT NULL
     GROUP BY 1, 2
), running AS (
    SELECT enrollment_id, m, sum(delta) OVER w AS outstanding, lead(m) OVER w AS next_m
      FROM net WINDOW w AS (PARTITION BY enrollment_id ORDER BY m)
)
SELECT s::date, e.municipality, {_age("s::date", "e.birth_date")}, e.direction, e.provider_id, e.funding_kind,
       e.child_id, 'reserved', r.outstanding, NULL
  FROM running r
  JOIN a_enr e ON e.id = r.enrollment_id,
       generate_series(r.m, least(coalesce((r.next_m - interval '1 month')::date, CAST(:asof_month AS date)),
                                  CAST(:asof_month AS date)), interval '1 month') s
 WHERE r.outstanding > 0
""",
    # money charged for a month of service (CHARGE entries by their month)
    "spent": f"""
INSERT INTO a_facts
SELECT l.month, e.municipality, {_age("l.month", "e.birth_date")}, e.direction, e.provider_id, e.funding_kind,
       e.child_id, 'spent', l.amount, NULL
  FROM ledger_entries l JOIN a_enr e ON e.id = l.enrollment_id
 WHERE l.kind = 'CHARGE'
""",
    # provision reports of the month: completeness summed, reports counted
    "completeness": f"""
INSERT INTO a_facts
SELECT r.month, e.municipality, {_age("r.month", "e.birth_date")}, e.direction, e.provider_id, e.funding_kind,
       e.child_id, 'completeness', r.completeness, 1
  FROM provision_reports r JOIN a_enr e ON e.id = r.enrollment_id
""",
}

# Certificates holding a funded place, or waiting in a period's queue, in a month. A certificate is
# in one period a month at most (periods of a municipality never overlap), so a count of rows is a
# count of children; rows are grouped by everything that decides the age on the first day of a
# month (birth year, month and whether born on the 1st) before they are spread over the months.
FUNDING_SQL = f"""
INSERT INTO a_cells
WITH spans AS (
    SELECT c.municipality,
           make_date(extract(year FROM ch.birth_date)::int, extract(month FROM ch.birth_date)::int,
                     CASE WHEN extract(day FROM ch.birth_date) = 1 THEN 1 ELSE 2 END) AS born,
           f.status,
           date_trunc('month', p.starts_on)::date AS period_start,
           {_month("f.created_at")} AS queued_month,
           {_month("f.funded_at")} AS funded_month,
           least(date_trunc('month', p.ends_on)::date, coalesce({_month("p.closed_at")}, 'infinity'::date),
                 CAST(:asof_month AS date)) AS until
      FROM period_fundings f
      JOIN funding_periods p ON p.id = f.period_id
      JOIN certificates c ON c.id = f.certificate_id
      JOIN children ch ON ch.id = c.child_id
), parts AS (
    SELECT 'funded' AS measure, municipality, born, greatest(period_start, funded_month) AS m0, until AS m1,
           count(*) AS n
      FROM spans WHERE status = 'FUNDED'
     GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT 'queued', municipality, born, greatest(period_start, queued_month),
           CASE WHEN status = 'FUNDED' THEN least(until, (funded_month - interval '1 month')::date) ELSE until END,
           count(*)
      FROM spans
     GROUP BY 1, 2, 3, 4, 5
)
SELECT 1, s::date, municipality, {_age("s::date", "born")}, NULL, NULL, NULL, measure, sum(n), NULL, sum(n)
  FROM parts, generate_series(m0, m1, interval '1 month') s
 WHERE m0 <= m1
 GROUP BY 2, 3, 4, 8
"""

# The program's dimensions a stored aggregate keeps: bit -> column (the age bit is 1).
_OPTIONAL = ((2, "direction"), (4, "provider_id"), (8, "funding_kind"))


def _aggregate_sql(bits: int) -> str:
    kept = [col for bit, col in _OPTIONAL if bits & bit]
    shown = [col if bits & bit else f"NULL::{'bigint' if col == 'provider_id' else 'text'}" for bit, col in _OPTIONAL]
    keys = ", ".join(["month", "municipality", "age", *kept, "measure"])
    only = "" if bits == 0 else f" WHERE measure IN ({', '.join(repr(m) for m in ENROLLMENT_MEASURES)})"
    return f"""
INSERT INTO a_cells
SELECT {bits | 1}, month, municipality, age, {", ".join(shown)}, measure, sum(v), sum(w), count(*)
  FROM (SELECT {keys}, child_id, sum(value) AS v, sum(weight) AS w FROM a_facts{only}
         GROUP BY {keys}, child_id) per_child
 GROUP BY {keys}
"""


# Without the age: a child has one age in a month, so the children of the ages add up.
AGE_FREE_SQL = """
INSERT INTO a_cells
SELECT gset - 1, month, municipality, NULL, direction, provider_id, funding_kind, measure,
       sum(value), sum(weight), sum(children)
  FROM a_cells WHERE gset % 2 = 1
 GROUP BY gset, month, municipality, direction, provider_id, funding_kind, measure
"""

PIVOT_SQL = """
INSERT INTO analytics_cells (generation, gset, month, municipality, age, direction, provider_id, funding_kind,
    certificates, funded, queued, enrolled, enrollments, enrollments_children, credited, credited_children,
    reserved, reserved_children, spent, spent_children, expired, expired_children,
    completeness_sum, completeness_reports, completeness_children)
SELECT :generation, gset, month, municipality, age, direction, provider_id, funding_kind,
       sum(children) FILTER (WHERE measure = 'certificates'),
       sum(children) FILTER (WHERE measure = 'funded'),
       sum(children) FILTER (WHERE measure = 'queued'),
       sum(children) FILTER (WHERE measure = 'enrolled'),
       sum(value) FILTER (WHERE measure = 'enrollments'),
       sum(children) FILTER (WHERE measure = 'enrollments'),
       sum(value) FILTER (WHERE measure = 'credited'),
       sum(children) FILTER (WHERE measure = 'credited'),
       sum(value) FILTER (WHERE measure = 'reserved'),
       sum(children) FILTER (WHERE measure = 'reserved'),
       sum(value) FILTER (WHERE measure = 'spent'),
       sum(children) FILTER (WHERE measure = 'spent'),
       sum(value) FILTER (WHERE measure = 'expired'),
       sum(children) FILTER (WHERE measure = 'expired'),
       sum(value) FILTER (WHERE measure = 'completeness'),
       sum(weight) FILTER (WHERE measure = 'completeness'),
       sum(children) FILTER (WHERE measure = 'completeness')
  FROM a_cells
 GROUP BY gset, month, municipality, age, direction, provider_id, funding_kind
"""

STATE_SQL = """
INSERT INTO analytics_state (id, generation, as_of, as_of_month, first_month, refresh_ms)
VALUES (1, :generation, :as_of, :asof_month,
        (SELECT min(month) FROM analytics_cells WHERE generation = :generation), :ms)
ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, as_of = excluded.as_of,
    as_of_month = excluded.as_of_month, first_month = excluded.first_month, refresh_ms = excluded.refresh_ms
"""


async def refresh(engine: AsyncEngine) -> Refreshed | None:
    """Recompute the aggregates as a new generation; None when another refresh is running."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        async with conn.begin():
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            if not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})).scalar_one():
                return None
            done = await _rebuild(conn, started)
        async with conn.begin():
            await conn.execute(text("DELETE FROM analytics_cells WHERE generation < :g"), {"g": done.generation - 1})
        return done


async def _rebuild(conn: AsyncConnection, started: float) -> Refreshed:
    await conn.execute(text("SET LOCAL work_mem = '128MB'"))
    now = (
        await conn.execute(
            text(
                f"SELECT now() AS as_of, {_month('now()')} AS asof_month, "
                "(SELECT generation FROM analytics_state WHERE id = 1) AS last"
            )
        )
    ).one()
    generation = int(now.last or 0) + 1
    params = {"asof_month": now.asof_month}
    for sql in (ENROLLMENTS_SQL, FACTS_SQL, CELLS_SQL):
        await conn.execute(text(sql))
    await conn.execute(text("CREATE INDEX ON a_enr (id)"))
    await conn.execute(text("ANALYZE a_enr"))
    for sql in FACT_INSERTS.values():
        await conn.execute(text(sql), params)
    await conn.execute(text(FUNDING_SQL), params)
    for bits in (0, 2, 4, 8, 6, 10, 12, 14):
        await conn.execute(text(_aggregate_sql(bits)))
    await conn.execute(text(AGE_FREE_SQL))
    inserted = await conn.execute(text(PIVOT_SQL), {"generation": generation})
    seconds = time.perf_counter() - started
    await conn.execute(
        text(STATE_SQL),
        {
            "generation": generation,
            "as_of": now.as_of,
            "asof_month": now.asof_month,
            "ms": int(seconds * 1000),
        },
    )
    await conn.execute(text("ANALYZE analytics_cells"))
    return Refreshed(generation, now.as_of, now.asof_month, inserted.rowcount, seconds)
