"""Root field of sync runs: ``catalogSourceSync``, an operator's run of one source now."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.types import Info

from pdo_graph.domain.errors import ErrorCode, Problem
from pdo_graph.integrations import sources as source_service
from pdo_graph.integrations.sources import SOURCE
from pdo_graph.integrations.sync.run import SourceNotFound, SyncBusy, SyncOptions, run_source
from pdo_graph.integrations.sync.scheduler import metrics_hook
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import Input, user_errors
from pdo_graph.schema.context import Context
from pdo_graph.schema.sync import CatalogSourceSyncInput, CatalogSyncPayload, CatalogSyncRun


async def _engine(conn: AsyncConnection) -> AsyncEngine:
    return conn.engine


@strawberry.type
class SyncMutation:
    @strawberry.mutation(
        description=(
            "Operator of the provider's municipality: sync one source now; returns the finished run (within the run's"
            " time budget; a run stopped by the budget is PARTIAL and the next one continues)."
        )
    )
    async def catalog_source_sync(
        self, info: Info[Context, None], input: Input[CatalogSourceSyncInput]
    ) -> CatalogSyncPayload:
        ctx = info.context

        async def authorize(c: AsyncConnection) -> int:
            pk = pk_of(input.source_id, "CatalogSource", SOURCE)
            await source_service.managed_source(c, ctx.actor, pk, SOURCE)
            return pk

        pk, errors = await run_write(ctx, authorize, INPUT)
        if pk is None:
            return CatalogSyncPayload(run=None, user_errors=errors)
        direct = ctx.services.get("direct")  # a run holds a session lock: past any pooler
        engine = direct if isinstance(direct, AsyncEngine) else await ctx.db.read(_engine)
        budget = ctx.settings.sync_request_budget_seconds
        try:
            summary = await run_source(
                engine,
                pk,
                settings=ctx.settings,
                options=SyncOptions.from_settings(ctx.settings, budget=budget),
                trigger="MANUAL",
                from_start=input.from_start,
                on_finish=metrics_hook(ctx.services.get("metrics")),
            )
        except SyncBusy:
            problem = Problem(ErrorCode.INVALID_TRANSITION, "sync_already_running", SOURCE).under(INPUT)
            return CatalogSyncPayload(run=None, user_errors=user_errors([problem], ctx.lang))
        except SourceNotFound:
            problem = Problem(ErrorCode.NOT_FOUND, "not_found", SOURCE).under(INPUT)
            return CatalogSyncPayload(run=None, user_errors=user_errors([problem], ctx.lang))
        ctx.reset_loaders()
        return CatalogSyncPayload(run=await CatalogSyncRun.load(ctx, summary.run_id), user_errors=[])
