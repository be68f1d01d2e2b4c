"""Root fields of funding periods: the municipalities, and the operator's period mutations."""

from __future__ import annotations

import dataclasses

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import periods
from pdo_graph.reads.periods import municipalities
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import Input, UserError, money
from pdo_graph.schema.context import Context
from pdo_graph.schema.periods import (
    FundingPeriod,
    FundingPeriodCloseInput,
    FundingPeriodOpenInput,
    FundingPeriodOpenPayload,
    FundingPeriodPayload,
    FundingPeriodUpdateInput,
    Municipality,
)


@strawberry.type
class PeriodsQuery:
    @strawberry.field(description="Municipalities of the region (public).")
    async def municipalities(self, info: Info[Context, None]) -> list[Municipality]:
        return [Municipality(code=r.code, name=r.name) for r in await municipalities(info.context.scope)]


@strawberry.type
class PeriodsMutation:
    @strawberry.mutation(
        description="Operator: open a funding period; credits every active certificate of the municipality once."
    )
    async def funding_period_open(
        self, info: Info[Context, None], input: Input[FundingPeriodOpenInput]
    ) -> FundingPeriodOpenPayload:
        ctx = info.context
        req = dataclasses.replace(input.request(), credit_batch=ctx.settings.credit_batch)
        result, errors = await run_write(ctx, lambda c: periods.open_period(c, ctx.actor, req), INPUT)
        if result is None:
            return FundingPeriodOpenPayload(
                period=None, credited=money(0), certificates_credited=0, carried_in=money(0), user_errors=errors
            )
        return FundingPeriodOpenPayload(
            period=await FundingPeriod.load(ctx, result.period_id),
            credited=money(result.credited),
            certificates_credited=result.certificates_credited,
            carried_in=money(result.carried_in),
            user_errors=[],
        )

    @strawberry.mutation(description="Operator: change a period's limit (funding the queue in order) or switch.")
    async def funding_period_update(
        self, info: Info[Context, None], input: Input[FundingPeriodUpdateInput]
    ) -> FundingPeriodPayload:
        ctx = info.context
        limit_given = input.funded_certificate_limit is not strawberry.UNSET

        async def work(c: AsyncConnection) -> tuple[int, periods.CloseResult, int]:
            pk = pk_of(input.period_id, "FundingPeriod", periods.PERIOD)
            limit = input.funded_certificate_limit if limit_given else None
            credited, _ = await periods.update_period(c, ctx.actor, pk, limit, limit_given, input.open_for_applications)
            return pk, periods.CloseResult(0, 0, 0, 0), credited

        result, errors = await run_write(ctx, work, INPUT)
        return await _payload(ctx, result, errors)

    @strawberry.mutation(
        description="Operator: close a period early (the background job closes each after its endsOn); its"
        " contracts end and unused money expires or carries over (unusedFunds)."
    )
    async def funding_period_close(
        self, info: Info[Context, None], input: Input[FundingPeriodCloseInput]
    ) -> FundingPeriodPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> tuple[int, periods.CloseResult, int]:
            pk = pk_of(input.period_id, "FundingPeriod", periods.PERIOD)
            return pk, await periods.close_period(c, ctx.actor, pk), 0

        result, errors = await run_write(ctx, work, INPUT)
        return await _payload(ctx, result, errors)


async def _payload(
    ctx: Context, result: tuple[int, periods.CloseResult, int] | None, errors: list[UserError]
) -> FundingPeriodPayload:
    """The period as it is now, with the kopecks the change credited, expired and carried."""
    if result is None:
        return FundingPeriodPayload(
            period=None, credited=money(0), expired=money(0), carried=money(0), user_errors=errors
        )
    pk, closed, credited = result
    return FundingPeriodPayload(
        period=await FundingPeriod.load(ctx, pk),
        credited=money(credited),
        expired=money(closed.expired),
        carried=money(closed.carried),
        user_errors=[],
    )
