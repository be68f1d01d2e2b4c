"""Reads of the audit log of personal-data reads (an operator's municipality only)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pdo_graph.reads.base import Scope


class AuditRow(Protocol):
    id: int
    at: datetime
    actor_role: str
    actor_subject: str
    child_id: int
    fields: list[str]
    request_id: str | None


AUDIT_SQL = "SELECT a.id, a.at, a.actor_role, a.actor_subject, a.child_id, a.fields, a.request_id FROM audit_log a"


async def audit_page(
    scope: Scope, municipality: str, child_id: int | None, after: int | None, limit: int
) -> list[AuditRow]:
    """The municipality's entries, newest first (optionally of one child)."""
    rows: list[AuditRow] = await scope.rows(
        AUDIT_SQL + " WHERE a.municipality = :m AND (CAST(:child AS bigint) IS NULL OR a.child_id = :child)"
        " AND (CAST(:after AS bigint) IS NULL OR a.id < :after) ORDER BY a.id DESC LIMIT :limit",
        {"m": municipality, "child": child_id, "after": after, "limit": limit},
    )
    return rows


async def audit_entry(scope: Scope, municipality: str, entry_id: int) -> AuditRow | None:
    rows: list[AuditRow] = await scope.rows(
        AUDIT_SQL + " WHERE a.id = :id AND a.municipality = :m", {"id": entry_id, "m": municipality}
    )
    return rows[0] if rows else None
