"""Enrollments (applications and contracts) as families, providers and operators see them.

Providers see the child of an application only as a ``Pupil`` (name and age): ``Enrollment.child``
(a ``Child`` with the birth date) answers them with a field-level FORBIDDEN error.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import Row
from strawberry.types import Info

from pdo_graph.domain.access import Role, can_read_enrollment
from pdo_graph.domain.audit import ChildRef
from pdo_graph.domain.enrollment import MonthShare, Terms, monthly_plan
from pdo_graph.domain.messages import render
from pdo_graph.domain.people import age_on
from pdo_graph.ids import encode_id
from pdo_graph.resolvers.loaders import ENROLLMENT_SQL, fetch
from pdo_graph.schema.base import Connection, Money, Node, UserError, build_connection, money
from pdo_graph.schema.catalog import Group, Program, Provider
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import Child, Transaction
from pdo_graph.schema.paging import page_args


@strawberry.enum(description="Status of an application or contract.")
class EnrollmentStatus(Enum):
    REQUESTED = "REQUESTED"
    ACTIVE = "ACTIVE"
    REFUSED = "REFUSED"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"


@strawberry.type(description="One month of a contract: what the certificate and the family pay for it.")
class MonthlyShare:
    month: date = strawberry.field(description="The month (its first day).")
    from_certificate: Money = strawberry.field(description="Paid from the certificate for this month.")
    from_family: Money = strawberry.field(description="Co-paid by the family for this month.")

    @classmethod
    def of(cls, share: MonthShare) -> MonthlyShare:
        return cls(
            month=share.month, from_certificate=money(share.from_certificate), from_family=money(share.from_family)
        )


@strawberry.type(
    description="A pupil as the provider sees them: the name and the age, nothing else. Reading them as anyone "
    "but the guardian is written to the audit log."
)
class Pupil:
    _ref: strawberry.Private[ChildRef]
    _full_name: strawberry.Private[str]
    _age: strawberry.Private[int]

    @strawberry.field(description="Full name (ФИО).")
    def full_name(self, info: Info[Context, None]) -> str:
        info.context.audit.note(self._ref, "fullName")
        return self._full_name

    @strawberry.field(description="Age in full years today.")
    def age(self, info: Info[Context, None]) -> int:
        info.context.audit.note(self._ref, "age")
        return self._age


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
    decided_at: datetime | None = strawberry.field(description="When the provider accepted or refused it.")
    pk: strawberry.Private[int]
    _child_id: strawberry.Private[int]
    _group_id: strawberry.Private[int]
    _from_certificate: strawberry.Private[int]
    _from_family: strawberry.Private[int]

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
            decided_at=r.decided_at,
            pk=r.id,
            _child_id=r.child_id,
            _group_id=r.group_id,
            _from_certificate=r.from_certificate,
            _from_family=r.from_family,
        )

    @strawberry.field(
        description="The child (with the birth date): the guardian and the operator. Providers get a FORBIDDEN "
        "error here and read `pupil` instead."
    )
    async def child(self, info: Info[Context, None]) -> Child:
        ctx = info.context
        # Load first, refuse after: the row is shared with `pupil` through the loader, and a
        # non-null field's error cancels its siblings, which must not be caught mid-statement.
        row = await ctx.loaders.child.load(self._child_id)
        if ctx.actor.role is Role.PROVIDER:
            raise GraphQLError(render("enrollment_child_hidden", ctx.lang, {}), extensions={"code": "FORBIDDEN"})
        assert row is not None
        return Child.from_row(row)

    @strawberry.field(description="The pupil: name and age only (what the provider may see).")
    async def pupil(self, info: Info[Context, None]) -> Pupil:
        row = await info.context.loaders.child.load(self._child_id)
        assert row is not None
        return Pupil(
            _ref=ChildRef(row.id, row.municipality, row.guardian_subject),
            _full_name=row.full_name,
            _age=age_on(row.birth_date, info.context.today),
        )

    @strawberry.field(description="The group.")
    async def group(self, info: Info[Context, None]) -> Group:
        row = await info.context.loaders.group.load(self._group_id)
        assert row is not None
        return Group.from_row(row)

    @strawberry.field(description="Monthly charges so far (CHARGE movements with month and completeness).")
    async def charges(self, info: Info[Context, None]) -> list[Transaction]:
        rows = await info.context.loaders.enrollment_charges.load(self.pk)
        return [Transaction.from_row(r) for r in rows]

    @strawberry.field(description="The plan: each month's certificate and family shares.")
    def monthly(self) -> list[MonthlyShare]:
        plan = monthly_plan(self.first_month, self.months, self._from_certificate, self._from_family)
        return [MonthlyShare.of(s) for s in plan]


@strawberry.type(description="The price of a group for a certificate, split between the certificate and the family.")
class Quote:
    price: Money = strawberry.field(description="Price of the contract (the months from the current one when joining).")
    full_price: Money = strawberry.field(description="The group's price for its whole run.")
    from_certificate: Money = strawberry.field(description="Paid from the certificate: min(price, available[, cap]).")
    from_family: Money = strawberry.field(description="Co-paid by the family: the rest.")
    first_month: date | None = strawberry.field(description="First month the contract would cover.")
    months: int = strawberry.field(description="Months the contract would cover.")
    joins_running_group: bool = strawberry.field(description="The group has started; the price covers months left.")
    monthly: list[MonthlyShare] = strawberry.field(description="The monthly split; the first month takes remainders.")
    user_errors: list[UserError] = strawberry.field(description="Why applying would fail now, if it would.")

    @classmethod
    def of(cls, terms: Terms | None, errors: list[UserError]) -> Quote:
        if terms is None:
            zero = money(0)
            return cls(
                price=zero,
                full_price=zero,
                from_certificate=zero,
                from_family=zero,
                first_month=None,
                months=0,
                joins_running_group=False,
                monthly=[],
                user_errors=errors,
            )
        return cls(
            price=money(terms.price),
            full_price=money(terms.full_price),
            from_certificate=money(terms.from_certificate),
            from_family=money(terms.from_family),
            first_month=terms.first_month,
            months=terms.months,
            joins_running_group=terms.joins_running_group,
            monthly=[MonthlyShare.of(s) for s in terms.monthly],
            user_errors=errors,
        )


@strawberry.type(description="A guardian's rating of a program, given once per contract.")
class Review(Node):
    rating: int = strawberry.field(description="Rating 1..5.")
    text: str | None = strawberry.field(description="The guardian's words, if any.")
    created_at: datetime = strawberry.field(description="When it was given.")
    _program_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Review:
        return cls(
            id=strawberry.ID(encode_id("Review", r.id)),
            rating=r.rating,
            text=r.text,
            created_at=r.created_at,
            _program_id=r.program_id,
        )

    @strawberry.field(description="The program reviewed.")
    async def program(self, info: Info[Context, None]) -> Program:
        row = await info.context.loaders.program.load(self._program_id)
        assert row is not None
        return Program.from_row(row)


@strawberry.type(description="What certificates paid a provider for one month (from its provision reports).")
class ProviderSettlement:
    month: date = strawberry.field(description="The month (its first day).")
    charged: Money = strawberry.field(description="Sum charged from certificates.")
    released: Money = strawberry.field(description="Sum returned to certificates for services not provided.")
    contracts: int = strawberry.field(description="Number of contracts reported for the month.")
    _provider_id: strawberry.Private[int]

    @strawberry.field(description="The provider.")
    async def provider(self, info: Info[Context, None]) -> Provider:
        row = await info.context.loaders.provider.load(self._provider_id)
        assert row is not None
        return Provider.from_row(row)


# --- visibility and lists ------------------------------------------------------------------------


async def load_enrollment(ctx: Context, pk: int) -> Enrollment | None:
    row = await ctx.loaders.enrollment.load(pk)
    if row is None or not can_read_enrollment(ctx.actor, row.guardian_subject, row.municipality, row.provider_id):
        return None
    return Enrollment.from_row(row)


async def child_enrollments(ctx: Context, child_pk: int, first: int, after: str | None) -> Connection[Enrollment]:
    """Enrollments of a child the caller may already see (checked by the Child node), newest first."""
    first, key = page_args(first, after, ctx.lang, (int,))
    after_id = key[0] if key else None
    rows = await ctx.loaders.child_enrollments.load((child_pk, first, after_id))
    total = int(rows[0].total) if rows else await _count_child_enrollments(ctx, child_pk, after_id)
    return build_connection(rows, first, total, lambda r: [r.id], Enrollment.from_row, after)


async def _count_child_enrollments(ctx: Context, child_pk: int, after_id: int | None) -> int:
    """The total when the page is empty: zero without a cursor, else counted (paged past the end)."""
    if after_id is None:
        return 0
    return int((await fetch(ctx, "SELECT count(*) FROM enrollments WHERE child_id = :c", {"c": child_pk}))[0][0])


def _empty() -> Connection[Enrollment]:
    return build_connection([], 1, 0, lambda r: [], Enrollment.from_row, None)


async def provider_enrollments(
    ctx: Context, first: int, after: str | None, status: EnrollmentStatus | None, group_pk: int | None
) -> Connection[Enrollment]:
    """The calling provider's applications and contracts, oldest first (the queue order)."""
    first, key = page_args(first, after, ctx.lang, (int,))
    provider_id = ctx.actor.provider_id
    if provider_id is None:
        return _empty()
    where = (
        " WHERE p.provider_id = :pid AND (CAST(:status AS text) IS NULL OR e.status = :status)"
        " AND (CAST(:group AS bigint) IS NULL OR e.group_id = :group)"
    )
    params = {
        "pid": provider_id,
        "status": None if status is None else status.value,
        "group": group_pk,
        "after": key[0] if key else None,
        "limit": first + 1,
    }
    rows = await fetch(
        ctx,
        ENROLLMENT_SQL + where + " AND (CAST(:after AS bigint) IS NULL OR e.id > :after) ORDER BY e.id LIMIT :limit",
        params,
    )
    total = (
        await fetch(
            ctx,
            "SELECT count(*) FROM enrollments e JOIN groups g ON g.id = e.group_id"
            " JOIN programs p ON p.id = g.program_id" + where,
            params,
        )
    )[0][0]
    return build_connection(rows, first, total, lambda r: [r.id], Enrollment.from_row, after)


REVIEW_SQL = "SELECT r.id, r.program_id, r.rating, r.text, r.created_at FROM reviews r"


async def program_reviews(ctx: Context, program_pk: int, first: int, after: str | None) -> Connection[Review]:
    """A program's reviews, newest first (public)."""
    first, key = page_args(first, after, ctx.lang, (int,))
    rows = await fetch(
        ctx,
        REVIEW_SQL + " WHERE r.program_id = :p AND (CAST(:after AS bigint) IS NULL OR r.id < :after)"
        " ORDER BY r.id DESC LIMIT :limit",
        {"p": program_pk, "after": key[0] if key else None, "limit": first + 1},
    )
    total = (await fetch(ctx, "SELECT count(*) FROM reviews WHERE program_id = :p", {"p": program_pk}))[0][0]
    return build_connection(rows, first, total, lambda r: [r.id], Review.from_row, after)


async def load_review(ctx: Context, pk: int) -> Review | None:
    rows = await fetch(ctx, REVIEW_SQL + " WHERE r.id = :id", {"id": pk})
    return Review.from_row(rows[0]) if rows else None


NODE_LOADERS = {"Enrollment": load_enrollment, "Review": load_review}
