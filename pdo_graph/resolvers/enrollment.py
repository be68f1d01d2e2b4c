"""Root fields of the enrollment area: quote, the provider's queue, settlements; apply, decisions,
provision reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import enrollment
from pdo_graph.domain.errors import DomainError
from pdo_graph.ids import decode_pk
from pdo_graph.reads.enrollment import provider_enrollments
from pdo_graph.resolvers.common import INPUT, pk_of, require_auth, run_service, run_write
from pdo_graph.schema.base import After, Connection, First, Input, UserError, build_connection, money, user_errors
from pdo_graph.schema.context import Context
from pdo_graph.schema.enrollment import (
    ContractsProlongInput,
    ContractsProlongPayload,
    Enrollment,
    EnrollmentConsentInput,
    EnrollmentCreateInput,
    EnrollmentDecisionInput,
    EnrollmentPayload,
    EnrollmentStatus,
    ProviderSettlement,
    ProvisionReportInput,
    ProvisionReportPayload,
    Quote,
)
from pdo_graph.schema.paging import page_args


@strawberry.type
class EnrollmentQuery:
    @strawberry.field(
        description="The price of a group for a certificate and its split; the guardian of the certificate or the "
        "operator of its municipality (others get a FORBIDDEN user error and zero amounts)."
    )
    async def quote(
        self,
        info: Info[Context, None],
        certificate_id: Annotated[strawberry.ID, strawberry.argument(description="The certificate that pays.")],
        group_id: Annotated[strawberry.ID, strawberry.argument(description="The group to price.")],
    ) -> Quote:
        ctx = info.context
        require_auth(ctx)
        try:
            cert = pk_of(certificate_id, "Certificate", ["certificateId"])
            group = pk_of(group_id, "Group", ["groupId"])
        except DomainError as exc:
            return Quote.of(None, user_errors(exc.problems, ctx.lang))
        result = await ctx.db.read(lambda c: enrollment.quote(c, ctx.actor, cert, group, ctx.today))
        return Quote.of(result.terms, user_errors(result.problems, ctx.lang))  # arguments: the domain's names

    @strawberry.field(
        description="Provider: applications and contracts for its groups, oldest first; others: empty. "
        "Children appear as pupils (name and age)."
    )
    async def provider_enrollments(
        self,
        info: Info[Context, None],
        first: First,
        after: After = None,
        status: Annotated[EnrollmentStatus | None, strawberry.argument(description="Only this status.")] = None,
        group_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this group of the provider.")
        ] = None,
    ) -> Connection[Enrollment]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        provider_id = ctx.actor.provider_id
        if provider_id is None:
            return build_connection([], 1, 0, lambda r: [], Enrollment.from_row, None)
        group_pk = None if group_id is None else (decode_pk(group_id, "Group") or 0)
        rows, total = await provider_enrollments(
            ctx.scope,
            provider_id,
            None if status is None else status.value,
            group_pk,
            key[0] if key else None,
            first + 1,
        )
        return build_connection(rows, first, total, lambda r: [r.id], Enrollment.from_row, after)

    @strawberry.field(
        description="What certificates paid a provider for a month: the operator of the provider's municipality, "
        "or the provider itself; null for others."
    )
    async def provider_settlement(
        self,
        info: Info[Context, None],
        provider_id: Annotated[strawberry.ID, strawberry.argument(description="The provider.")],
        month: Annotated[date, strawberry.argument(description="The month: any day of it.")],
    ) -> ProviderSettlement | None:
        ctx = info.context
        pk = decode_pk(provider_id, "Provider")
        if pk is None:
            return None
        try:
            s = await ctx.db.read(lambda c: enrollment.settlement(c, ctx.actor, pk, month.replace(day=1)))
        except DomainError:
            return None
        return _settlement(s)

    @strawberry.field(description="Operator: the month's settlement of every provider of the municipality.")
    async def municipality_settlements(
        self,
        info: Info[Context, None],
        month: Annotated[date, strawberry.argument(description="The month: any day of it.")],
    ) -> list[ProviderSettlement]:
        ctx = info.context
        try:
            rows = await ctx.db.read(lambda c: enrollment.municipality_settlements(c, ctx.actor, month.replace(day=1)))
        except DomainError:
            return []
        return [_settlement(s) for s in rows]


def _settlement(s: enrollment.Settlement) -> ProviderSettlement:
    return ProviderSettlement(
        month=s.month,
        charged=money(s.charged),
        released=money(s.released),
        contracts=s.contracts,
        _provider_id=s.provider_id,
    )


async def _payload(ctx: Context, enrollment_id: int | None, errors: list[UserError]) -> EnrollmentPayload:
    node = None if enrollment_id is None else await Enrollment.load(ctx, enrollment_id)
    return EnrollmentPayload(enrollment=node, user_errors=errors)


@strawberry.type
class EnrollmentMutation:
    @strawberry.mutation(
        description="Guardian: apply for a group; reserves the certificate's part and takes a seat (REQUESTED)."
    )
    async def enrollment_create(
        self, info: Info[Context, None], input: Input[EnrollmentCreateInput]
    ) -> EnrollmentPayload:
        ctx = info.context

        async def work() -> int:
            cert = pk_of(input.certificate_id, "Certificate", ["certificateId"])
            group = pk_of(input.group_id, "Group", ["groupId"])
            days = ctx.settings.enrollment_expiry_days
            return await enrollment.apply_for(
                ctx.db.fetch,
                ctx.db.write,
                ctx.actor,
                cert,
                group,
                input.idempotency_key,
                ctx.today,
                days,
                input.expected_from_family,
            )

        eid, errors = await run_service(ctx, work, INPUT)
        return await _payload(ctx, eid, errors)

    @strawberry.mutation(description="Provider: accept an application (the contract becomes ACTIVE).")
    async def enrollment_accept(
        self, info: Info[Context, None], input: Input[EnrollmentDecisionInput]
    ) -> EnrollmentPayload:
        ctx = info.context
        days = ctx.settings.enrollment_expiry_days
        return await _on_enrollment(ctx, input.enrollment_id, lambda c, pk: enrollment.accept(c, ctx.actor, pk, days))

    @strawberry.mutation(description="Provider: refuse an application (reserve released, seat freed, reason kept).")
    async def enrollment_refuse(
        self, info: Info[Context, None], input: Input[EnrollmentDecisionInput]
    ) -> EnrollmentPayload:
        ctx = info.context
        return await _on_enrollment(
            ctx, input.enrollment_id, lambda c, pk: enrollment.refuse(c, ctx.actor, pk, input.reason)
        )

    @strawberry.mutation(
        description="Guardian or provider: terminate a contract (TERMINATED). Charged months stay charged; the rest "
        "of the reserve returns at once; the seat is freed. The guardian may also withdraw an unanswered application."
    )
    async def enrollment_cancel(
        self, info: Info[Context, None], input: Input[EnrollmentDecisionInput]
    ) -> EnrollmentPayload:
        ctx = info.context
        return await _on_enrollment(
            ctx, input.enrollment_id, lambda c, pk: enrollment.cancel(c, ctx.actor, pk, input.reason)
        )

    @strawberry.mutation(
        description="Guardian: consent to a prolonged contract whose family share changed (AWAITING_CONSENT ->"
        " ACTIVE), confirming the family's share it saw; QUOTE_CHANGED with the figures when it differs."
    )
    async def enrollment_consent(
        self, info: Info[Context, None], input: Input[EnrollmentConsentInput]
    ) -> EnrollmentPayload:
        ctx = info.context
        return await _on_enrollment(
            ctx,
            input.enrollment_id,
            lambda c, pk: enrollment.consent(c, ctx.actor, pk, input.expected_from_family),
        )

    @strawberry.mutation(
        description="Provider (its own) or operator (its municipality): prolong into a new period the contracts"
        " ended only by the previous period's close whose group still runs: a new contract each, with a fresh"
        " quote and reserve; AWAITING_CONSENT where the family's monthly share changes, else ACTIVE. Idempotent."
    )
    async def contracts_prolong(
        self, info: Info[Context, None], input: Input[ContractsProlongInput]
    ) -> ContractsProlongPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> list[int]:
            period = pk_of(input.period_id, "FundingPeriod", ["periodId"])
            ids = None
            if input.enrollment_ids is not None:
                ids = [pk_of(e, "Enrollment", ["enrollmentIds", str(i)]) for i, e in enumerate(input.enrollment_ids)]
            return await enrollment.prolong(c, ctx.actor, period, ids, ctx.today)

        created, errors = await run_write(ctx, work, INPUT)
        prolonged = [] if created is None else [await Enrollment.load(ctx, pk) for pk in created]
        return ContractsProlongPayload(prolonged=[e for e in prolonged if e is not None], user_errors=errors)

    @strawberry.mutation(
        description="Provider: report a month's completeness per contract; charges the certificates "
        "(round(share × completeness / 100)) and releases the rest of each month's share. A month is reported once."
    )
    async def provision_report(
        self, info: Info[Context, None], input: Input[ProvisionReportInput]
    ) -> ProvisionReportPayload:
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


async def _on_enrollment(
    ctx: Context, enrollment_id: str, action: Callable[[AsyncConnection, int], Awaitable[int]]
) -> EnrollmentPayload:
    """A decision on one enrollment, as one unit of work."""

    async def work(c: AsyncConnection) -> int:
        return await action(c, pk_of(enrollment_id, "Enrollment", ["enrollmentId"]))

    eid, errors = await run_write(ctx, work, INPUT)
    return await _payload(ctx, eid, errors)
