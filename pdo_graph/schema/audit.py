"""The audit log of personal-data reads as the operator sees it, and the extension that writes it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import Row
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from pdo_graph.domain.access import audit_scope
from pdo_graph.ids import encode_id
from pdo_graph.resolvers.loaders import fetch
from pdo_graph.schema.base import Edge, Node, PageInfo, Role, build_connection
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import Child
from pdo_graph.schema.paging import page_args


@strawberry.type(description="One request's read of a child's personal data by someone other than its guardian.")
class AuditEntry(Node):
    at: datetime = strawberry.field(description="When the data was read.")
    actor_role: Role = strawberry.field(description="Role of the reader.")
    actor_subject: str = strawberry.field(description="Token subject of the reader.")
    fields: list[str] = strawberry.field(description="Fields read: fullName, birthDate, snils, age.")
    request_id: str | None = strawberry.field(description="The request (x-request-id) that read them.")
    _child_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> AuditEntry:
        return cls(
            id=strawberry.ID(encode_id("AuditEntry", r.id)),
            at=r.at,
            actor_role=Role(r.actor_role),
            actor_subject=r.actor_subject,
            fields=list(r.fields),
            request_id=r.request_id,
            _child_id=r.child_id,
        )

    @strawberry.field(description="The child whose data was read (reading its fields here is audited too).")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders.child.load(self._child_id)
        assert row is not None
        return Child.from_row(row)


@strawberry.type(description="A page of the audit log, newest first, with keyset cursors.")
class AuditEntryConnection:
    edges: list[Edge[AuditEntry]] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")


AUDIT_SQL = "SELECT a.id, a.at, a.actor_role, a.actor_subject, a.child_id, a.fields, a.request_id FROM audit_log a"


def _operator_municipality(ctx: Context) -> str | None:
    return audit_scope(ctx.actor)


async def audit_log(ctx: Context, first: int, after: str | None, child_pk: int | None) -> AuditEntryConnection:
    """The operator's municipality's entries, newest first; empty for everyone else."""
    first, key = page_args(first, after, ctx.lang)
    municipality = _operator_municipality(ctx)
    rows: list[Row[Any]] = []
    if municipality is not None:
        after_id = key[0] if key and isinstance(key[0], int) and not isinstance(key[0], bool) else None
        rows = list(
            await fetch(
                ctx,
                AUDIT_SQL + " WHERE a.municipality = :m AND (CAST(:child AS bigint) IS NULL OR a.child_id = :child)"
                " AND (CAST(:after AS bigint) IS NULL OR a.id < :after) ORDER BY a.id DESC LIMIT :limit",
                {"m": municipality, "child": child_pk, "after": after_id, "limit": first + 1},
            )
        )
    page = build_connection(rows, first, 0, lambda r: [r.id], AuditEntry.from_row, after)
    return AuditEntryConnection(edges=page.edges, page_info=page.page_info)


async def load_audit_entry(ctx: Context, pk: int) -> AuditEntry | None:
    municipality = _operator_municipality(ctx)
    if municipality is None:
        return None
    rows = await fetch(ctx, AUDIT_SQL + " WHERE a.id = :id AND a.municipality = :m", {"id": pk, "m": municipality})
    return AuditEntry.from_row(rows[0]) if rows else None


NODE_LOADERS = {"AuditEntry": load_audit_entry}


class PersonalDataAudit(SchemaExtension):
    """Writes the request's personal-data reads (one INSERT) after execution, before the response.

    If the audit cannot be written, nothing that was read leaves: the result becomes a masked error.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context.context
        if not isinstance(ctx, Context) or ctx._audit is None or not ctx._audit.pending:
            return
        try:
            await ctx.db.write(ctx._audit.flush)
        except Exception as exc:
            result = self.execution_context.result
            if result is not None:
                with contextlib.suppress(AttributeError):
                    result.data = None
                    result.errors = [GraphQLError("audit log unavailable", original_error=exc)]
