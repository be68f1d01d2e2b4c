"""``auditLog``: the operator reads who read its municipality's children's personal data."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from pdo_graph.ids import decode_pk
from pdo_graph.schema.audit import AuditEntryConnection, audit_log
from pdo_graph.schema.context import Context


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Operator: reads of personal data of its municipality's children by others than their "
        "guardians, newest first (optionally of one child); others: empty."
    )
    async def audit_log(
        self, info: Info[Context, None], first: int, after: str | None = None, child_id: strawberry.ID | None = None
    ) -> AuditEntryConnection:
        child_pk = None if child_id is None else (decode_pk(child_id, "Child") or 0)
        return await audit_log(info.context, first, after, child_pk)
