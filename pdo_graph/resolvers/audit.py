"""``auditLog``: the operator reads who read its municipality's children's personal data."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from pdo_graph.domain.access import audit_scope
from pdo_graph.ids import decode_pk
from pdo_graph.reads.audit import AuditRow, audit_page
from pdo_graph.schema.audit import AuditEntry, AuditEntryConnection
from pdo_graph.schema.base import After, First, build_connection
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Operator: reads of personal data of its municipality's children by others than their "
        "guardians, newest first (optionally of one child); others: empty."
    )
    async def audit_log(
        self,
        info: Info[Context, None],
        first: First,
        after: After = None,
        child_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only the reads of this child.")
        ] = None,
    ) -> AuditEntryConnection:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang)
        child_pk = None if child_id is None else (decode_pk(child_id, "Child") or 0)
        municipality = audit_scope(ctx.actor)
        rows: list[AuditRow] = []
        if municipality is not None:
            after_id = key[0] if key and isinstance(key[0], int) and not isinstance(key[0], bool) else None
            rows = await audit_page(ctx.scope, municipality, child_pk, after_id, first + 1)
        page = build_connection(rows, first, 0, lambda r: [r.id], AuditEntry.from_row, after)
        return AuditEntryConnection(edges=page.edges, page_info=page.page_info)
