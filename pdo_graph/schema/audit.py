"""The audit log of personal-data reads as the operator sees it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from pdo_graph.domain.access import Role, audit_scope
from pdo_graph.ids import encode_id
from pdo_graph.reads.audit import AuditRow, audit_entry
from pdo_graph.reads.family import CHILD
from pdo_graph.schema.base import Edge, Node, PageInfo
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import Child


@strawberry.type(description="One request's read of a child's personal data by someone other than its guardian.")
class AuditEntry(Node):
    at: datetime = strawberry.field(description="When the data was read.")
    actor_role: Role = strawberry.field(description="Role of the reader.")
    actor_subject: str = strawberry.field(description="Token subject of the reader.")
    fields: list[str] = strawberry.field(description="Fields read: fullName, birthDate, snils, age.")
    request_id: str | None = strawberry.field(description="The request (x-request-id) that read them.")
    _child_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: AuditRow) -> AuditEntry:
        return cls(
            id=strawberry.ID(encode_id("AuditEntry", r.id)),
            at=r.at,
            actor_role=Role(r.actor_role),
            actor_subject=r.actor_subject,
            fields=list(r.fields),
            request_id=r.request_id,
            _child_id=r.child_id,
        )

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> AuditEntry | None:
        """The operator of the child's municipality."""
        municipality = audit_scope(ctx.actor)
        if municipality is None:
            return None
        row = await audit_entry(ctx.scope, municipality, pk)
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="The child whose data was read (reading its fields here is audited too).")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders[CHILD].load(self._child_id)
        assert row is not None
        return Child.from_row(row)


@strawberry.type(description="A page of the audit log, newest first, with keyset cursors.")
class AuditEntryConnection:
    edges: list[Edge[AuditEntry]] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")


NODES: dict[str, type[Node]] = {"AuditEntry": AuditEntry}
