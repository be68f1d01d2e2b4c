"""Reads of settlement statements: the statements (with their totals) and their lines."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pdo_graph.domain.settlement import LINES_FROM, LINES_ORDER, LINES_SQL
from pdo_graph.reads.base import Key, Scope, many_by_key, one_by_key


class StatementRow(Protocol):
    id: int
    number: str | None
    status: str
    month: date
    payer: str
    payer_name: str
    provider_id: int
    total: int


class StatementLineRow(Protocol):
    statement_id: int
    enrollment_id: int
    certificate_number: str
    group_name: str
    program_title: str
    completeness: int
    amount: int


# an ISSUED statement keeps its frozen total; a DRAFT one sums the ledger's charges now
STATEMENT_SQL = (
    "SELECT s.id, s.number, s.status, s.month, s.payer, m.name AS payer_name, s.provider_id,"
    " CAST(CASE WHEN s.status = 'ISSUED' THEN s.total ELSE coalesce(t.total, 0) END AS bigint) AS total"
    " FROM settlement_statements s JOIN municipalities m ON m.code = s.payer"
    " LEFT JOIN LATERAL (SELECT sum(le.amount) AS total" + LINES_FROM + ") t ON true"
)

STATEMENT: Key[int, StatementRow | None] = one_by_key(
    "settlement_statement", STATEMENT_SQL + " WHERE s.id = ANY(:keys)", StatementRow
)
STATEMENT_LINES: Key[int, list[StatementLineRow]] = many_by_key(
    "settlement_statement_lines",
    LINES_SQL + " WHERE s.id = ANY(:keys)" + LINES_ORDER,
    StatementLineRow,
    key="statement_id",
)


async def statements(scope: Scope, month: date, payer: str | None, provider_id: int | None) -> list[StatementRow]:
    """A month's statements of a payer and/or a provider, by provider and payer."""
    rows: list[StatementRow] = await scope.rows(
        STATEMENT_SQL + " WHERE s.month = :month AND (CAST(:payer AS text) IS NULL OR s.payer = :payer)"
        " AND (CAST(:provider AS bigint) IS NULL OR s.provider_id = :provider) ORDER BY s.provider_id, s.payer",
        {"month": month, "payer": payer, "provider": provider_id},
    )
    return rows
