"""Enrollments (applications and contracts) as families, providers and operators see them."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.types import Info

from pdo_graph.auth.principal import Role as PrincipalRole
from pdo_graph.domain.access import can_read_family
from pdo_graph.resolvers.loaders import ENROLLMENT_SQL, fetch
from pdo_graph.schema.base import Connection, Money, Node, build_connection, money
from pdo_graph.schema.catalog import Group, principal_provider_row
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import Child
from pdo_graph.schema.ids import encode_id
from pdo_graph.schema.paging import page_args


@strawberry.enum(description="Status of an application or contract.")
class EnrollmentStatus(Enum):
    REQUESTED = "REQUESTED"
    ACTIVE = "ACTIVE"
    REFUSED = "REFUSED"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"


@strawberry.type(description="An application to a group and, once accepted, the contract.")
class Enrollment(Node):
    status: EnrollmentStatus = strawberry.field(description="Status.")
    price: Money = strawberry.field(description="Price of the contract (for the months it covers).")
    from_certificate: Money = strawberry.field(description="Paid from the certificate.")
    from_family: Money = strawberry.field(description="Co-paid by the family.")
    reserved: Money = strawberry.field(description="Still reserved on the certificate for this contract.")
    charged: Money = strawberry.field(description="Charged so far.")
    first_month: date = strawberry.field(description="First month of the contract.")
    months: int = strawberry.field(description="Number of months of the contract.")
    reason: str | None = strawberry.field(description="Reason of a refusal or cancellation.")
    created_at: datetime = strawberry.field(description="When the application was made.")
    pk: strawberry.Private[int]
    _child_id: strawberry.Private[int]
    _group_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Enrollment:
        return cls(
            id=strawberry.ID(encode_id("Enrollment", r.id)),
            status=EnrollmentStatus(r.status),
            price=money(r.price),
            from_certificate=money(r.from_certificate),
            from_family=money(r.from_family),
            reserved=money(r.reserved),
            charged=money(r.charged),
            first_month=r.first_month,
            months=r.months,
            reason=r.reason,
            created_at=r.created_at,
            pk=r.id,
            _child_id=r.child_id,
            _group_id=r.group_id,
        )

    @strawberry.field(description="The child.")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders.child.load(self._child_id)
        assert row is not None
        return Child.from_row(row)

    @strawberry.field(description="The group.")
    async def group(self, info: Info[Context, None]) -> Group:
        row = await info.context.loaders.group.load(self._group_id)
        assert row is not None
        return Group.from_row(row)


async def can_read_enrollment(ctx: Context, row: Row[Any]) -> bool:
    if can_read_family(ctx.principal, row.guardian_subject, row.municipality):
        return True
    if ctx.principal.role is PrincipalRole.PROVIDER:
        provider = await principal_provider_row(ctx)
        return provider is not None and provider.id == row.provider_id
    return False


async def load_enrollment(ctx: Context, pk: int) -> Enrollment | None:
    row = await ctx.loaders.enrollment.load(pk)
    if row is None or not await can_read_enrollment(ctx, row):
        return None
    return Enrollment.from_row(row)


async def child_enrollments(ctx: Context, child_pk: int, first: int, after: str | None) -> Connection[Enrollment]:
    """Enrollments of a child the caller may already see (checked by the Child node)."""
    first, key = page_args(first, after, ctx.lang)
    rows = await fetch(
        ctx,
        ENROLLMENT_SQL + " WHERE e.child_id = :c AND (CAST(:after AS bigint) IS NULL OR e.id < :after)"
        " ORDER BY e.id DESC LIMIT :limit",
        {"c": child_pk, "after": key[0] if key else None, "limit": first + 1},
    )
    total = (await fetch(ctx, "SELECT count(*) FROM enrollments WHERE child_id = :c", {"c": child_pk}))[0][0]
    return build_connection(rows, first, total, lambda r: [r.id], Enrollment.from_row, after)


NODE_LOADERS = {"Enrollment": load_enrollment}
