"""Aggregates for analysts: spending and enrollments by direction, municipality and month.

No row ever identifies a child: a row backed by fewer than ``MIN_CHILDREN`` distinct children is
suppressed (its figures are withheld), the usual small-cell rule of official statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.auth.principal import Principal, Role
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import FIRST_YEAR, LAST_YEAR, in_service_years, months_between

MIN_CHILDREN = 5
MAX_MONTHS = 36  # one summary spans at most three years


@dataclass(frozen=True, slots=True)
class AnalyticsRow:
    direction: str
    municipality: str
    month: date
    suppressed: bool
    children: int | None
    enrollments: int | None
    spent: int | None


def analytics_scope(principal: Principal) -> str | None:
    """Analysts see the region (or their municipality, when the token names one); operators theirs."""
    if principal.role is Role.ANALYST:
        return principal.municipality
    if principal.role is Role.OPERATOR and principal.municipality:
        return principal.municipality
    raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden")


SQL = """
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


async def summary(
    conn: AsyncConnection, principal: Principal, month_from: date, month_to: date, municipality: str | None
) -> list[AnalyticsRow]:
    """Rows for months in [month_from, month_to] (first days of months)."""
    scope = analytics_scope(principal)
    if scope is not None:
        if municipality is not None and municipality != scope:
            raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ["filter", "municipality"])
        municipality = scope
    for value, name in ((month_from, "monthFrom"), (month_to, "monthTo")):
        if not in_service_years(value):
            raise DomainError.of(ErrorCode.INVALID, "date_years", ["filter", name], min=FIRST_YEAR, max=LAST_YEAR)
    if month_to < month_from:
        raise DomainError.of(ErrorCode.INVALID, "date_order", ["filter", "monthTo"])
    if months_between(month_from, month_to) > MAX_MONTHS:
        raise DomainError.of(ErrorCode.INVALID, "analytics_span", ["filter", "monthTo"], max=MAX_MONTHS)
    end = date(month_to.year + (month_to.month == 12), month_to.month % 12 + 1, 1)
    start = month_from.replace(day=1)
    params: dict[str, Any] = {
        "from_ts": start,
        "to_ts": end,
        "from_month": start,
        "to_month": end,
        "municipality": municipality,
    }
    rows = await conn.execute(text(SQL), params)
    out: list[AnalyticsRow] = []
    for r in rows:
        small = int(r.children) < MIN_CHILDREN
        out.append(
            AnalyticsRow(
                direction=str(r.direction),
                municipality=str(r.municipality),
                month=r.month,
                suppressed=small,
                children=None if small else int(r.children),
                enrollments=None if small else int(r.enrollments),
                spent=None if small else int(r.spent),
            )
        )
    return out
