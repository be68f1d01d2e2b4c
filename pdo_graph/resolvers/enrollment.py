"""Queries and mutations of the enrollment area: quote, apply, decisions, provision, reviews."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import enrollment
from pdo_graph.domain.errors import DomainError
from pdo_graph.ids import decode_pk
from pdo_graph.resolvers.common import INPUT, pk_of, require_auth, run_write
from pdo_graph.schema.base import Connection, Money, UserError, error_list, money, user_errors
from pdo_graph.schema.catalog import Program, load_program
from pdo_graph.schema.context import Context
from pdo_graph.schema.enrollment import (
    Enrollment,
    EnrollmentStatus,
    MonthlyShare,
    ProviderSettlement,
    Pupil,
    Quote,
    Review,
    load_enrollment,
    load_review,
    program_reviews,
    provider_enrollments,
)


@strawberry.input(description="Apply for a group with a certificate.")
class EnrollmentCreateInput:
    certificate_id: strawberry.ID = strawberry.field(description="The child's certificate.")
    group_id: strawberry.ID = strawberry.field(description="The group.")
    idempotency_key: str = strawberry.field(
        description="Client-chosen key (1..200 characters): a retry with the same key returns the first result."
    )


@strawberry.input(description="A decision on an application or contract.")
class EnrollmentDecisionInput:
    enrollment_id: strawberry.ID = strawberry.field(description="The enrollment.")
    reason: str | None = strawberry.field(default=None, description="Why (kept with the enrollment).")


@strawberry.type(description="Result of the enrollment mutations.")
class EnrollmentPayload:
    enrollment: Enrollment | None = strawberry.field(description="The enrollment as it is now.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Completeness of one contract for the month.")
class ProvisionItem:
    enrollment_id: strawberry.ID = strawberry.field(description="The contract (an ACTIVE enrollment).")
    completeness: int = strawberry.field(description="Completeness of the service in percent, 0..100.")


@strawberry.input(description="A provider's monthly report (полнота оказания услуги); all items or none.")
class ProvisionReportInput:
    month: date = strawberry.field(description="The month (its first day; any day of it is taken as the month).")
    items: list[ProvisionItem] = strawberry.field(description="One item per contract, at most 500.")


@strawberry.type(description="Result of provisionReport.")
class ProvisionReportPayload:
    charged: Money = strawberry.field(description="Charged from certificates by this report.")
    released: Money = strawberry.field(description="Returned to certificates (the unprovided part of the shares).")
    contracts: int = strawberry.field(description="Contracts reported.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing is written then).")


@strawberry.input(description="Rate the program of a contract, once per contract.")
class ProgramReviewInput:
    enrollment_id: strawberry.ID = strawberry.field(description="A contract that is or was active.")
    rating: int = strawberry.field(description="1..5.")
    text: str | None = strawberry.field(default=None, description="Words, up to 2000 characters.")


@strawberry.type(description="Result of programReview.")
class ProgramReviewPayload:
    program: Program | None = strawberry.field(description="The program with its new rating.")
    review: Review | None = strawberry.field(description="The review.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


def _month_arg(month: date) -> date:
    return month.replace(day=1)


@strawberry.type
class EnrollmentQuery:
    @strawberry.field(
        description="The price of a group for a certificate and its split; the guardian of the certificate or the "
        "operator of its municipality (others get a FORBIDDEN user error and zero amounts)."
    )
    async def quote(self, info: Info[Context, None], certificate_id: strawberry.ID, group_id: strawberry.ID) -> Quote:
        ctx = info.context
        require_auth(ctx)
        try:
            cert = pk_of(certificate_id, "Certificate", ["certificateId"])
            group = pk_of(group_id, "Group", ["groupId"])
        except DomainError as exc:
            return Quote.of(None, error_list(exc, ctx.lang))
        result = await ctx.db.read(lambda c: enrollment.quote(c, ctx.actor, cert, group, ctx.today))
        return Quote.of(result.terms, user_errors(result.problems, ctx.lang))

    @strawberry.field(
        description="Provider: applications and contracts for its groups, oldest first; others: empty. "
        "Children appear as pupils (name and age)."
    )
    async def provider_enrollments(
        self,
        info: Info[Context, None],
        first: int,
        after: str | None = None,
        status: EnrollmentStatus | None = None,
        group_id: strawberry.ID | None = None,
    ) -> Connection[Enrollment]:
        group_pk = None if group_id is None else (decode_pk(group_id, "Group") or 0)
        return await provider_enrollments(info.context, first, after, status, group_pk)

    @strawberry.field(
        description="What certificates paid a provider for a month: the operator of the provider's municipality, "
        "or the provider itself; null for others."
    )
    async def provider_settlement(
        self, info: Info[Context, None], provider_id: strawberry.ID, month: date
    ) -> ProviderSettlement | None:
        ctx = info.context
        pk = decode_pk(provider_id, "Provider")
        if pk is None:
            return None
        try:
            s = await ctx.db.read(lambda c: enrollment.settlement(c, ctx.actor, pk, _month_arg(month)))
        except DomainError:
            return None
        return _settlement(s)

    @strawberry.field(description="Operator: the month's settlement of every provider of the municipality.")
    async def municipality_settlements(self, info: Info[Context, None], month: date) -> list[ProviderSettlement]:
        ctx = info.context
        try:
            rows = await ctx.db.read(lambda c: enrollment.municipality_settlements(c, ctx.actor, _month_arg(month)))
        except DomainError:
            return []
        return [_settlement(s) for s in rows]

    @strawberry.field(description="Reviews of a program, newest first (public).")
    async def program_reviews(
        self, info: Info[Context, None], program_id: strawberry.ID, first: int, after: str | None = None
    ) -> Connection[Review]:
        return await program_reviews(info.context, decode_pk(program_id, "Program") or 0, first, after)


def _settlement(s: enrollment.Settlement) -> ProviderSettlement:
    return ProviderSettlement(
        month=s.month,
        charged=money(s.charged),
        released=money(s.released),
        contracts=s.contracts,
        _provider_id=s.provider_id,
    )


async def _payload(ctx: Context, enrollment_id: int | None, errors: list[UserError]) -> EnrollmentPayload:
    node = None if enrollment_id is None else await load_enrollment(ctx, enrollment_id)
    return EnrollmentPayload(enrollment=node, user_errors=errors)


@strawberry.type
class EnrollmentMutation:
    @strawberry.mutation(
        description="Guardian: apply for a group; reserves the certificate's part and takes a seat (REQUESTED)."
    )
    async def enrollment_create(self, info: Info[Context, None], input: EnrollmentCreateInput) -> EnrollmentPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            cert = pk_of(input.certificate_id, "Certificate", ["certificateId"])
            group = pk_of(input.group_id, "Group", ["groupId"])
            return await enrollment.create(c, ctx.actor, cert, group, input.idempotency_key, ctx.today)

        eid, errors = await run_write(ctx, work, INPUT)
        return await _payload(ctx, eid, errors)

    @strawberry.mutation(description="Provider: accept an application (the contract becomes ACTIVE).")
    async def enrollment_accept(self, info: Info[Context, None], input: EnrollmentDecisionInput) -> EnrollmentPayload:
        ctx = info.context
        return await _on_enrollment(
            ctx,
            input.enrollment_id,
            lambda c, pk: enrollment.accept(c, ctx.actor, pk, ctx.settings.enrollment_expiry_days),
        )

    @strawberry.mutation(description="Provider: refuse an application (reserve released, seat freed, reason kept).")
    async def enrollment_refuse(self, info: Info[Context, None], input: EnrollmentDecisionInput) -> EnrollmentPayload:
        ctx = info.context
        return await _on_enrollment(
            ctx,
            input.enrollment_id,
            lambda c, pk: enrollment.refuse(c, ctx.actor, pk, input.reason),
        )

    @strawberry.mutation(
        description="Guardian or provider: terminate a contract (TERMINATED). Charged months stay charged; the rest "
        "of the reserve returns at once; the seat is freed. The guardian may also withdraw an unanswered application."
    )
    async def enrollment_cancel(self, info: Info[Context, None], input: EnrollmentDecisionInput) -> EnrollmentPayload:
        ctx = info.context
        return await _on_enrollment(
            ctx,
            input.enrollment_id,
            lambda c, pk: enrollment.cancel(c, ctx.actor, pk, input.reason),
        )

    @strawberry.mutation(
        description="Provider: report a month's completeness per contract; charges the certificates "
        "(round(share × completeness / 100)) and releases the rest of each month's share. A month is reported once."
    )
    async def provision_report(self, info: Info[Context, None], input: ProvisionReportInput) -> ProvisionReportPayload:
        ctx = info.context
        lines = [
            enrollment.ProvisionLine(decode_pk(item.enrollment_id, "Enrollment"), item.completeness)
            for item in input.items
        ]
        result, errors = await run_write(
            ctx, lambda c: enrollment.report_provision(c, ctx.actor, input.month, lines, ctx.today), INPUT
        )
        if result is None:
            return ProvisionReportPayload(charged=money(0), released=money(0), contracts=0, user_errors=errors)
        return ProvisionReportPayload(
            charged=money(result.charged), released=money(result.released), contracts=result.contracts, user_errors=[]
        )

    @strawberry.mutation(description="Guardian: rate the program of a contract that is or was active, once (1..5).")
    async def program_review(self, info: Info[Context, None], input: ProgramReviewInput) -> ProgramReviewPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> tuple[int, int]:
            pk = pk_of(input.enrollment_id, "Enrollment", ["enrollmentId"])
            return await enrollment.review(c, ctx.actor, pk, input.rating, input.text)

        result, errors = await run_write(ctx, work, INPUT)
        if result is None:
            return ProgramReviewPayload(program=None, review=None, user_errors=errors)
        return ProgramReviewPayload(
            program=await load_program(ctx, result[1]), review=await load_review(ctx, result[0]), user_errors=[]
        )


async def _on_enrollment(
    ctx: Context, enrollment_id: str, action: Callable[[AsyncConnection, int], Awaitable[int]]
) -> EnrollmentPayload:
    """A decision on one enrollment, as one unit of work."""

    async def work(c: AsyncConnection) -> int:
        pk = pk_of(enrollment_id, "Enrollment", ["enrollmentId"])
        return await action(c, pk)

    eid, errors = await run_write(ctx, work, INPUT)
    return await _payload(ctx, eid, errors)


# Root fields of this area, merged into Query and Mutation by pdo_graph.schema.root.
QUERIES: list[type] = [EnrollmentQuery]
MUTATIONS: list[type] = [EnrollmentMutation]
TYPES: list[type] = [Quote, MonthlyShare, Pupil, Review, ProviderSettlement]
