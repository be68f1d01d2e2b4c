"""Read SQL of the analysts' view: the live generation of the aggregates, and a table's levels.

A table with dimensions D reads one statement per level S ⊆ D (the margins included), each from
the stored aggregate that keeps exactly the optional dimensions of S (plus DIRECTION when the
table is filtered by a direction), so a level reads about as many rows as it has cells times
months. Per level and measure it returns the figure, its observations (averages) and the children
behind it:

- by MONTH: the month's figures;
- without MONTH: a flow summed over the months of the range, with the distinct children of the
  range behind it (exact where it matters: when no single month reaches the threshold, from the
  pseudonyms the small cells keep; otherwise the most of any month, which already reaches it); a
  stock at the last month of the range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import combinations
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.analytics import summary as summary_rules
from pdo_graph.domain.analytics.disclosure import Key
from pdo_graph.domain.analytics.measures import DEFINITIONS, Dimension, Grouping, Measure, grouping
from pdo_graph.domain.analytics.tables import Figures, LevelData, Table, TableRequest, build, too_large, window

_COLUMN = {
    Dimension.MUNICIPALITY: "c.municipality",
    Dimension.DIRECTION: "c.direction",
    Dimension.MONTH: "c.month",
    Dimension.AGE: "c.age",
    Dimension.FUNDING_KIND: "c.funding_kind",
    Dimension.PROVIDER: "c.provider_id",  # named by its INN once the cells are summed
}


@dataclass(frozen=True, slots=True)
class State:
    generation: int
    as_of: datetime
    as_of_month: date
    first_month: date | None


async def state(conn: AsyncConnection) -> State | None:
    row = (
        await conn.execute(text("SELECT generation, as_of, as_of_month, first_month FROM analytics_state WHERE id = 1"))
    ).first()
    if row is None:
        return None
    return State(int(row.generation), row.as_of, row.as_of_month, row.first_month)


def level_sql(request: TableRequest, level: tuple[Dimension, ...], limit: int | None = None) -> str:
    """One level of a table: its cells with every asked measure's figures (a provider by its INN)."""
    sql = _level_sql(request, level, limit)
    if Dimension.PROVIDER not in level:
        return sql
    at = level.index(Dimension.PROVIDER)
    columns = [f"p.inn AS d{at}" if i == at else f"x.d{i}" for i in range(len(level))]
    columns += [f"x.{f}{i}" for i in range(len(request.measures)) for f in "vwn"]
    return f"SELECT {', '.join(columns)} FROM ({sql}) x JOIN providers p ON p.id = x.d{at}"


def _level_sql(request: TableRequest, level: tuple[Dimension, ...], limit: int | None) -> str:
    dims = [f"{_COLUMN[d]} AS d{i}" for i, d in enumerate(level)]
    names = [f"d{i}" for i in range(len(level))]
    where = "c.generation = :generation AND c.gset = :gset AND c.month BETWEEN :start AND :end"
    if request.municipality is not None:
        where += " AND c.municipality = :municipality"
    if request.direction is not None:
        where += " AND c.direction = :direction"
    join = ""
    group = f" GROUP BY {', '.join(names)}" if names else ""
    definitions = [DEFINITIONS[m] for m in request.measures]
    suffix = "" if limit is None else f" LIMIT {int(limit)}"
    if Dimension.MONTH in level:
        sums: list[str] = []
        for i, m in enumerate(definitions):
            weight = f"sum(c.{m.weight})" if m.weight else "NULL::bigint"
            sums += [f"sum(c.{m.value}) AS v{i}", f"{weight} AS w{i}", f"sum(c.{m.children}) AS n{i}"]
        return f"SELECT {', '.join(dims + sums)} FROM analytics_cells c{join} WHERE {where}{group}{suffix}"
    # Without MONTH: per month first, then over the range (a flow summed, a stock at the last month).
    # A flow's children over the range: the most of any month when that reaches the threshold (then
    # it is published-worthy anyway), else exactly, from the pseudonyms its small cells keep (read
    # only for the cells that need them).
    per_month: list[str] = []
    totals: list[str] = []
    exact: list[str] = []
    shown: list[str] = []
    on = " AND ".join(f"t.{n} = e{{i}}.{n}" for n in names) or "true"  # dimensions of a level are never null
    keys = ", ".join(names)
    for i, m in enumerate(definitions):
        weight = f"sum(c.{m.weight})" if m.weight else "NULL::bigint"
        per_month += [f"sum(c.{m.value}) AS v{i}", f"{weight} AS w{i}", f"sum(c.{m.children}) AS n{i}"]
        if m.stock:
            totals += [f"sum({x}{i}) FILTER (WHERE month = :end) AS {x}{i}" for x in ("v", "w", "n")]
            shown += [f"t.v{i}", f"t.w{i}", f"t.n{i}"]
            continue
        totals += [f"sum(v{i}) AS v{i}", f"sum(w{i}) AS w{i}", f"max(n{i}) AS n{i}"]
        if m.ids is None:
            shown += [f"t.v{i}", f"t.w{i}", f"t.n{i}"]
            continue
        needed = f" AND ({keys}) IN (SELECT {keys} FROM t WHERE n{i} < :threshold)" if names else ""
        exact.append(
            f"LEFT JOIN (SELECT {', '.join([*names, 'count(DISTINCT x) AS e'])}"
            f" FROM (SELECT {', '.join([*dims, f'c.{m.ids} AS ids'])} FROM analytics_cells c{join}"
            f" WHERE {where} AND c.{m.ids} IS NOT NULL) small, unnest(ids) x"
            f" WHERE true{needed}{group}) e{i} ON {on.format(i=i)}"
        )
        shown += [
            f"t.v{i}",
            f"t.w{i}",
            f"CASE WHEN t.n{i} >= :threshold THEN t.n{i} ELSE coalesce(e{i}.e, 0) END AS n{i}",
        ]
    return (
        f"WITH per_month AS (SELECT {', '.join([*dims, 'c.month AS month', *per_month])} FROM analytics_cells c{join}"
        f" WHERE {where} GROUP BY {', '.join([*names, 'month'])}),"
        f" t AS (SELECT {', '.join([*names, *totals])} FROM per_month{group})"
        f" SELECT {', '.join([*(f't.{n}' for n in names), *shown])} FROM t {' '.join(exact)}{suffix}"
    )


def _gset(request: TableRequest, level: tuple[Dimension, ...]) -> int:
    g = grouping(set(level))
    if request.direction is not None:
        g |= Grouping.DIRECTION
    return int(g)


async def levels(
    conn: AsyncConnection, request: TableRequest, live: State, start: date, end: date, max_rows: int, threshold: int
) -> LevelData:
    """Every level of the table; a finest level with more than ``max_rows`` cells is refused."""
    dims = request.dimensions
    out: dict[tuple[Dimension, ...], dict[Key, dict[Measure, Figures]]] = {}
    if start > end:
        return out
    params: dict[str, Any] = {
        "threshold": threshold,
        "generation": live.generation,
        "start": start,
        "end": end,
        "municipality": request.municipality,
        "direction": request.direction,
    }
    for k in range(len(dims), -1, -1):  # the finest level first: a too large table is refused early
        for level in combinations(dims, k):
            limit = max_rows + 1 if k == len(dims) else None
            rows = (
                await conn.execute(text(level_sql(request, level, limit)), {**params, "gset": _gset(request, level)})
            ).all()
            if limit is not None and len(rows) > max_rows:
                raise too_large(len(rows), max_rows)
            out[level] = _cells(request, level, rows)
    return out


def _cells(request: TableRequest, level: tuple[Dimension, ...], rows: Any) -> dict[Key, dict[Measure, Figures]]:
    cells: dict[Key, dict[Measure, Figures]] = {}
    n = len(level)
    for row in rows:
        figures: dict[Measure, Figures] = {}
        for i, m in enumerate(request.measures):
            children = row[n + 3 * i + 2]
            if children:
                figures[m] = Figures(int(row[n + 3 * i] or 0), int(row[n + 3 * i + 1] or 0), int(children))
        if figures:
            cells[tuple(row[:n])] = figures
    return cells


async def table(conn: AsyncConnection, request: TableRequest, threshold: int, max_rows: int) -> Table:
    """The table as the analysts see it, from the live generation (an empty one before the first refresh)."""
    live = await state(conn)
    if live is None:
        return build(request, {}, threshold, None)
    # a table's statements are short but look costly to the planner: no JIT compilation (it takes
    # longer than the query), and sorts and hashes in memory
    await conn.execute(text("SET LOCAL jit = off"))
    await conn.execute(text("SET LOCAL work_mem = '64MB'"))
    start, end = window(request, live.first_month, live.as_of_month)
    data: Mapping[tuple[Dimension, ...], Mapping[Key, Mapping[Measure, Figures]]] = await levels(
        conn, request, live, start, end, max_rows, threshold
    )
    return build(request, data, threshold, live.as_of, (start, end))


SUMMARY_SQL = """
WITH applied AS (
    SELECT p.direction, ch.municipality, date_trunc('month', e.created_at)::date AS month,
           e.child_id, 1 AS applied, 0::bigint AS spent
      FROM enrollments e
      JOIN groups g ON g.id = e.group_id JOIN programs p ON p.id = g.program_id
      JOIN children ch ON ch.id = e.child_id
     WHERE e.created_at >= :from_ts AND e.created_at < :to_ts
),
charged AS (
    SELECT p.direction, ch.municipality, l.month, e.child_id, 0 AS applied, l.amount AS spent
      FROM ledger_entries l
      JOIN enrollments e ON e.id = l.enrollment_id
      JOIN groups g ON g.id = e.group_id JOIN programs p ON p.id = g.program_id
      JOIN children ch ON ch.id = e.child_id
     WHERE l.kind = 'CHARGE' AND l.month >= :from_month AND l.month < :to_month
)
SELECT direction, municipality, month, count(DISTINCT child_id) AS children,
       sum(applied) AS enrollments, sum(spent) AS spent
  FROM (SELECT * FROM applied UNION ALL SELECT * FROM charged) facts
 WHERE CAST(:municipality AS text) IS NULL OR municipality = :municipality
 GROUP BY direction, municipality, month
 ORDER BY month, municipality, direction
"""


async def summary(conn: AsyncConnection, request: summary_rules.SummaryRequest) -> list[summary_rules.AnalyticsRow]:
    """The deprecated summary's rows, live from the tables (small rows withheld)."""
    raw = await conn.execute(
        text(SUMMARY_SQL),
        {
            "from_ts": request.start,
            "to_ts": request.end,
            "from_month": request.start,
            "to_month": request.end,
            "municipality": request.municipality,
        },
    )
    return summary_rules.rows(raw)
