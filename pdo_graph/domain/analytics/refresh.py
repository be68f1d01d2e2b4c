"""The job that recomputes the analysts' aggregates from the ledger and the tables.

One refresh is one REPEATABLE READ transaction (one consistent snapshot of the data):

1. child-level facts in temporary tables (dropped at commit; nothing child-level is kept): per
   contract and month (in force, concluded, reserve at the month's end, charged, reported
   completeness) and per certificate and month (issued, credited, expired);
2. aggregated per month, municipality and age and per subset of the program's dimensions
   (direction, provider, funding kind), each figure with the number of distinct children behind
   it; a cell-month of a flow behind fewer children than the threshold keeps their pseudonyms (a
   hash keyed by a random number drawn for this refresh and never stored), so that the children
   of a range of months can be counted exactly; the same without the age (a child has one age in a
   month, so those add up); certificates funded or queued per month;
3. written as a new generation of ``analytics_cells``; ``analytics_state`` then points at it, with
   the time of the snapshot (``asOf`` in the API).

The previous generation is kept until the next refresh (a reader that looked up the generation just
before the switch still finds its rows); older ones are deleted. A PostgreSQL advisory lock lets one
refresh run at a time across every server process: a second one started meanwhile returns at once.

What each measure counts is in ``measures.py`` and docs/analytics.md; the SQL below is the
definition the tests recompute from raw rows. Months of timestamps are calendar months in
Europe/Moscow.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.tables import ANALYTICS_COLUMNS, ANALYTICS_ID_COLUMNS

LOCK_KEY = 7_301_017  # pg advisory lock: one refresh at a time
TIMEZONE = "Europe/Moscow"


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
    steps: dict[str, float] = field(default_factory=dict)


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

# concluded contracts: accepted by the provider (ACTIVE, COMPLETED, or TERMINATED after acceptance)
_CONCLUDED = "e.decided_at IS NOT NULL AND e.status IN ('ACTIVE', 'COMPLETED', 'TERMINATED')"

# Per contract and month: in force (from the first month to the last, cut at the month it ended and
# at the as-of month); concluded (the month the provider accepted); on reserve at the month's end
# (RESERVE - RELEASE - CHARGE posted up to then); charged for that month of service (CHARGE entries
# by their month); the provision report of that month.
CONTRACT_MONTHS_SQL = f"""
CREATE TEMP TABLE a_cm ON COMMIT DROP AS
WITH net AS (
    SELECT l.enrollment_id, {_month("l.created_at")} AS m,
           sum(CASE WHEN l.kind = 'RESERVE' THEN l.amount ELSE -l.amount END)::bigint AS delta
      FROM ledger_entries l
     WHERE l.kind IN ('RESERVE', 'RELEASE', 'CHARGE') AND l.enrollment_id IS NOT NULL
     GROUP BY 1, 2
), running AS (
    SELECT enrollment_id, m, (sum(delta) OVER w)::bigint AS outstanding, lead(m) OVER w AS next_m
      FROM net WINDOW w AS (PARTITION BY enrollment_id ORDER BY m)
), facts AS (
    SELECT e.id AS enrollment_id, s::date AS month, 1 AS enrolled, 0 AS concluded, 0::bigint AS reserved,
           0::bigint AS spent, 0 AS completeness, 0 AS reports
      FROM a_enr e,
           generate_series(e.first_month,
                           least((e.first_month + make_interval(months => e.months - 1))::date,
                                 coalesce({_month("e.ended_at")}, 'infinity'::date), CAST(:asof_month AS date)),
                           interval '1 month') s
     WHERE {_CONCLUDED}
    UNION ALL
    SELECT e.id, {_month("e.decided_at")}, 0, 1, 0, 0, 0, 0 FROM a_enr e WHERE {_CONCLUDED}
    UNION ALL
    SELECT r.enrollment_id, s::date, 0, 0, r.outstanding, 0, 0, 0
      FROM running r,
           generate_series(r.m, least(coalesce((r.next_m - interval '1 month')::date, CAST(:asof_month AS date)),
                                      CAST(:asof_month AS date)), interval '1 month') s
     WHERE r.outstanding > 0
    UNION ALL
    SELECT l.enrollment_id, l.month, 0, 0, 0, l.amount, 0, 0 FROM ledger_entries l WHERE l.kind = 'CHARGE'
    UNION ALL
    SELECT r.enrollment_id, r.month, 0, 0, 0, 0, r.completeness, 1 FROM provision_reports r
), per_month AS (
    SELECT enrollment_id, month, sum(enrolled) AS enrolled, sum(concluded) AS concluded, sum(reserved) AS reserved,
           sum(spent) AS spent, sum(completeness) AS completeness, sum(reports) AS reports
      FROM facts GROUP BY 1, 2
)
SELECT m.month, e.municipality, {_age("m.month", "e.birth_date")} AS age, e.direction, e.provider_id,
       e.funding_kind, e.child_id, m.enrolled, m.concluded, m.reserved, m.spent, m.completeness, m.reports
  FROM per_month m JOIN a_enr e ON e.id = m.enrollment_id
"""

# Per child (one certificate each) and month: the certificate issued; money credited and expired
# (CREDIT and EXPIRE entries by the month they were posted).
CERTIFICATE_MONTHS_SQL = f"""
CREATE TEMP TABLE a_cf ON COMMIT DROP AS
SELECT month, municipality, {_age("month", "birth_date")} AS age, child_id,
       sum(issued) AS issued, sum(credited) AS credited, sum(expired) AS expired
  FROM (SELECT date_trunc('month', c.issued_on)::date AS month, c.municipality, c.child_id, ch.birth_date,
               1 AS issued, 0::bigint AS credited, 0::bigint AS expired
          FROM certificates c JOIN children ch ON ch.id = c.child_id
        UNION ALL
        SELECT {_month("l.created_at")}, c.municipality, c.child_id, ch.birth_date, 0,
               CASE l.kind WHEN 'CREDIT' THEN l.amount ELSE 0 END, CASE l.kind WHEN 'EXPIRE' THEN l.amount ELSE 0 END
          FROM ledger_entries l
          JOIN certificates c ON c.id = l.certificate_id
          JOIN children ch ON ch.id = c.child_id
         WHERE l.kind IN ('CREDIT', 'EXPIRE')) x
 GROUP BY month, municipality, child_id, birth_date
"""

OUT_SQL = """
CREATE TEMP TABLE a_out (
    gset smallint NOT NULL, month date NOT NULL, municipality text NOT NULL, age smallint,
    direction text, provider_id bigint, funding_kind text,
    certificates bigint, funded bigint, queued bigint, enrolled bigint, enrollments bigint,
    enrollments_children bigint, credited bigint, credited_children bigint, reserved bigint,
    reserved_children bigint, spent bigint, spent_children bigint, expired bigint, expired_children bigint,
    completeness_sum bigint, completeness_reports bigint, completeness_children bigint,
    enrollments_ids bigint[], credited_ids bigint[], spent_ids bigint[], expired_ids bigint[],
    completeness_ids bigint[]
) ON COMMIT DROP
"""


def _small(children: str, flag: str) -> str:
    """The pseudonyms of a cell's children when there are fewer than the threshold."""
    return f"CASE WHEN {children} < :threshold THEN array_agg(p ORDER BY p) FILTER (WHERE {flag}) END"


CERTIFICATE_CELLS_SQL = f"""
INSERT INTO a_out (gset, month, municipality, age, certificates, credited, credited_children, expired,
                   expired_children, credited_ids, expired_ids)
SELECT 1, month, municipality, age, count(*) FILTER (WHERE issued > 0),
       sum(credited), count(*) FILTER (WHERE credited > 0), sum(expired), count(*) FILTER (WHERE expired > 0),
       {_small("count(*) FILTER (WHERE credited > 0)", "credited > 0")},
       {_small("count(*) FILTER (WHERE expired > 0)", "expired > 0")}
  FROM (SELECT *, hashtextextended(child_id::text, :salt) AS p FROM a_cf) x
 GROUP BY month, municipality, age
"""

# Certificates holding a funded place, or waiting in a period's queue, in a month: from the month
# funded (or queued; not before the period's first) to the period's last month or its close (queued:
# to the month before it was funded), up to the as-of month. A certificate is in one period a month
# at most (periods of a municipality never overlap), so a count of rows is a count of children; rows
# are grouped by everything that decides the age on the first day of a month (birth year, month and
# whether born on the 1st) before they are spread over the months.
FUNDING_SQL = f"""
INSERT INTO a_out (gset, month, municipality, age, funded, queued)
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
SELECT 1, s::date, municipality, {_age("s::date", "born")},
       sum(n) FILTER (WHERE measure = 'funded'), sum(n) FILTER (WHERE measure = 'queued')
  FROM parts, generate_series(m0, m1, interval '1 month') s
 WHERE m0 <= m1
 GROUP BY 2, 3, 4
"""

# The program's dimensions a stored aggregate keeps: bit -> column (the age bit is 1).
_OPTIONAL = ((2, "direction"), (4, "provider_id"), (8, "funding_kind"))


def contract_cells_sql(bits: int) -> str:
    """The contract measures of one subset of the program's dimensions, per month, municipality and age."""
    kept = [col for bit, col in _OPTIONAL if bits & bit]
    keys = ", ".join(["month", "municipality", "age", *kept])
    return f"""
INSERT INTO a_out (gset, month, municipality, age, {", ".join([*kept, ""])}enrolled, enrollments,
                   enrollments_children, reserved, reserved_children, spent, spent_children, completeness_sum,
                   completeness_reports, completeness_children, enrollments_ids, spent_ids, completeness_ids)
SELECT {bits | 1}, {keys}, count(*) FILTER (WHERE enrolled > 0),
       sum(concluded), count(*) FILTER (WHERE concluded > 0), sum(reserved), count(*) FILTER (WHERE reserved > 0),
       sum(spent), count(*) FILTER (WHERE spent > 0), sum(completeness), sum(reports),
       count(*) FILTER (WHERE reports > 0),
       {_small("count(*) FILTER (WHERE concluded > 0)", "concluded > 0")},
       {_small("count(*) FILTER (WHERE spent > 0)", "spent > 0")},
       {_small("count(*) FILTER (WHERE reports > 0)", "reports > 0")}
  FROM (SELECT {keys}, child_id, hashtextextended(child_id::text, :salt) AS p,
               sum(enrolled) AS enrolled, sum(concluded) AS concluded, sum(reserved) AS reserved,
               sum(spent) AS spent, sum(completeness) AS completeness, sum(reports) AS reports
          FROM a_cm GROUP BY {keys}, child_id) per_child
 GROUP BY {keys}
"""


_COUNTS = ANALYTICS_COLUMNS
_IDS = tuple((ids, ids.removesuffix("_ids") + "_children") for ids in ANALYTICS_ID_COLUMNS)

# Without the age: a child has one age in a month, so the children of the ages add up (and a small
# total is made of small cells, whose pseudonyms are joined).
AGE_FREE_SQL = f"""
INSERT INTO a_out (gset, month, municipality, age, direction, provider_id, funding_kind, {", ".join(_COUNTS)},
                   {", ".join(i for i, _ in _IDS)})
SELECT gset - 1, month, municipality, NULL, direction, provider_id, funding_kind,
       {", ".join(f"sum({c})" for c in _COUNTS)},
       {", ".join(f"CASE WHEN sum({n}) < :threshold THEN analytics_ids_cat({i}) END" for i, n in _IDS)}
  FROM a_out WHERE gset % 2 = 1
 GROUP BY gset, month, municipality, direction, provider_id, funding_kind
"""

# The certificate and contract figures of a cell (kept apart above) in one row: only the aggregates
# without program dimensions hold both.
_STORED = f"gset, month, municipality, age, direction, provider_id, funding_kind, {', '.join(_COUNTS)}, " + ", ".join(
    i for i, _ in _IDS
)
STORE_SQL = f"""
INSERT INTO analytics_cells (generation, {_STORED})
SELECT CAST(:generation AS bigint), {_STORED} FROM a_out WHERE gset > 1
UNION ALL
SELECT CAST(:generation AS bigint), gset, month, municipality, age, direction, provider_id, funding_kind,
       {", ".join(f"sum({c})" for c in _COUNTS)}, {", ".join(f"analytics_ids_cat({i})" for i, _ in _IDS)}
  FROM a_out WHERE gset <= 1
 GROUP BY gset, month, municipality, age, direction, provider_id, funding_kind
"""

STATE_SQL = """
INSERT INTO analytics_state (id, generation, as_of, as_of_month, first_month, refresh_ms)
VALUES (1, :generation, :as_of, :asof_month,
        (SELECT min(month) FROM analytics_cells WHERE generation = :generation), :ms)
ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, as_of = excluded.as_of,
    as_of_month = excluded.as_of_month, first_month = excluded.first_month, refresh_ms = excluded.refresh_ms
"""


Progress = Callable[[str], None]


async def refresh(engine: AsyncEngine, threshold: int = 5, progress: Progress | None = None) -> Refreshed | None:
    """Recompute the aggregates as a new generation; None when another refresh is running.

    ``threshold`` is the disclosure threshold (``PDO_ANALYTICS_MIN_CELL``): the cells of flows
    behind fewer children keep their pseudonyms. ``progress`` hears the name of each step as it
    starts (the CLI shows it)."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        async with conn.begin():
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            if not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})).scalar_one():
                return None
            done = await _rebuild(conn, started, threshold, progress or (lambda _: None))
        async with conn.begin():
            await conn.execute(text("DELETE FROM analytics_cells WHERE generation < :g"), {"g": done.generation - 1})
        return done


async def _rebuild(conn: AsyncConnection, started: float, threshold: int, progress: Progress) -> Refreshed:
    await conn.execute(text("SET LOCAL work_mem = '1GB'"))  # one refresh at a time: hash aggregates in memory
    now = (
        await conn.execute(
            text(
                f"SELECT now() AS as_of, {_month('now()')} AS asof_month, "
                "(SELECT generation FROM analytics_state WHERE id = 1) AS last"
            )
        )
    ).one()
    generation = int(now.last or 0) + 1
    params = {
        "asof_month": now.asof_month,
        "threshold": threshold,
        "salt": secrets.randbits(63),
        "generation": generation,
    }
    steps: dict[str, float] = {}

    async def step(name: str, sql: str) -> None:
        if name not in steps:
            progress(name)
        t = time.perf_counter()
        await conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t

    await step("contracts", ENROLLMENTS_SQL)
    await step("contracts", "CREATE INDEX ON a_enr (id)")
    await step("contracts", "ANALYZE a_enr")
    await step("contract months", CONTRACT_MONTHS_SQL)
    await step("certificate months", CERTIFICATE_MONTHS_SQL)
    await step("cells", OUT_SQL)
    await step("cells", CERTIFICATE_CELLS_SQL)
    await step("cells", FUNDING_SQL)
    for bits in (0, 2, 4, 8, 6, 10, 12, 14):
        await step("cells", contract_cells_sql(bits))
    await step("without age", AGE_FREE_SQL)
    await step("store", STORE_SQL)
    stored = (
        await conn.execute(text("SELECT count(*) FROM analytics_cells WHERE generation = :g"), {"g": generation})
    ).scalar_one()
    seconds = time.perf_counter() - started
    params["as_of"] = now.as_of
    params["ms"] = int(seconds * 1000)
    await step("store", STATE_SQL)
    await step("store", "ANALYZE analytics_cells")
    return Refreshed(generation, now.as_of, now.asof_month, stored, seconds, steps)


async def seconds_since_refresh(engine: AsyncEngine) -> float | None:
    """How long ago the live aggregates were computed; None before the first refresh."""
    async with engine.connect() as conn:
        age = (
            await conn.execute(
                text("SELECT extract(epoch FROM now() - as_of)::float8 FROM analytics_state WHERE id = 1")
            )
        ).scalar()
    return None if age is None else float(age)
