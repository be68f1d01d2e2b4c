"""Root field of the provider's push: ``catalogUpsert``."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.integrations import push as push_service
from pdo_graph.resolvers.common import INPUT, require_auth
from pdo_graph.schema.base import Input, UserError, user_errors
from pdo_graph.schema.context import Context
from pdo_graph.schema.push import CatalogUpsertInput, CatalogUpsertPayload, CatalogUpsertRowResult


@strawberry.type
class PushMutation:
    @strawberry.mutation(
        description=(
            "Provider (staff or machine client): create or update up to 500 programs of the caller's organisation with"
            " their groups, keyed by external ids. REJECT_EVERYTHING (default) saves all rows or none;"
            " REJECT_FAILED_ROWS saves the valid rows. One result per row."
        )
    )
    async def catalog_upsert(self, info: Info[Context, None], input: Input[CatalogUpsertInput]) -> CatalogUpsertPayload:
        ctx = info.context
        require_auth(ctx)
        policy = push_service.ErrorPolicy(input.error_policy or push_service.ErrorPolicy.REJECT_EVERYTHING)
        items = input.items[: push_service.MAX_ITEMS + 1]
        rows = [item.item() for item in items]
        top: list[UserError] = []
        try:
            results = await ctx.db.write(lambda c: push_service.push_catalog(c, ctx.actor, rows, policy))
        except DomainError as exc:
            return CatalogUpsertPayload(
                results=[], user_errors=user_errors([p.under(INPUT) for p in exc.problems], ctx.lang)
            )
        except push_service.PushRejected as exc:
            results = exc.results
            refused = Problem(ErrorCode.INVALID, "push_rejected", ["items"], count=exc.refused).under(INPUT)
            top = user_errors([refused], ctx.lang)
        finally:
            ctx.reset_loaders()
        return CatalogUpsertPayload(
            results=[
                CatalogUpsertRowResult.of(i, item, r, ctx.lang)
                for i, (item, r) in enumerate(zip(items, results, strict=True))
            ],
            user_errors=top,
        )
