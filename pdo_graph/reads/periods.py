"""Reads of funding periods and municipalities."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pdo_graph.domain.funding import CREDIT_PROGRESS_SQL
from pdo_graph.domain.periods import CURRENT_PERIOD_ORDER
from pdo_graph.reads.base import Key, Scope, one_by_key


class PeriodRow(Protocol):
    id: int
    municipality: str
    starts_on: date
    ends_on: date
    open_for_applications: bool
    status: str
    proration: str
    funded_limit: int | None
    carry_over: bool


class CreditProgressRow(Protocol):
    id: int
    funded: int
    queued: int
    waiting: int


class MunicipalityRow(Protocol):
    code: str
    name: str


PERIOD_COLUMNS = (
    "p.id, p.municipality, p.starts_on, p.ends_on, p.open_for_applications, p.status, p.proration, p.funded_limit,"
    " p.carry_over"
)

PERIOD: Key[int, PeriodRow | None] = one_by_key(
    "period", f"SELECT {PERIOD_COLUMNS} FROM funding_periods p WHERE p.id = ANY(:keys)", PeriodRow
)
CREDIT_PROGRESS: Key[int, CreditProgressRow | None] = one_by_key(
    "credit_progress", CREDIT_PROGRESS_SQL, CreditProgressRow
)
CURRENT_PERIOD: Key[str, PeriodRow | None] = one_by_key(
    "current_period",
    f"SELECT DISTINCT ON (p.municipality) {PERIOD_COLUMNS} FROM funding_periods p"
    " WHERE p.municipality = ANY(:keys) AND p.status = 'OPEN'"
    f" ORDER BY p.municipality, {CURRENT_PERIOD_ORDER}",
    PeriodRow,
    key="municipality",
)


async def municipalities(scope: Scope) -> list[MunicipalityRow]:
    rows: list[MunicipalityRow] = await scope.rows("SELECT code, name FROM municipalities ORDER BY code", {})
    return rows
