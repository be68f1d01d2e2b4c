"""Root fields of catalog sources: the list an operator or a provider sees, and the operator's upkeep
(register, change, pause, delete)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain.access import Role
from pdo_graph.ids import decode_pk
from pdo_graph.integrations import sources as source_service
from pdo_graph.integrations.secrets import SecretBox
from pdo_graph.integrations.sources import SOURCE
from pdo_graph.reads.sources import sources_page
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import After, Connection, First, Input, build_connection
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args
from pdo_graph.schema.sources import (
    CatalogSource,
    CatalogSourceDeleteInput,
    CatalogSourceDeletePayload,
    CatalogSourceInput,
    CatalogSourcePauseInput,
    CatalogSourcePayload,
    CatalogSourceUpdateInput,
    prime_sources,
)


@strawberry.type
class SourcesQuery:
    @strawberry.field(
        description=(
            "Catalog sources: an operator sees those of providers of the operator's municipality, a provider its own;"
            " others get an empty list. By id."
        )
    )
    async def catalog_sources(
        self,
        info: Info[Context, None],
        first: First,
        after: After = None,
        provider_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only the sources of this provider.")
        ] = None,
    ) -> Connection[CatalogSource]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        actor = ctx.actor
        if actor.role is Role.OPERATOR:
            municipality, own = actor.municipality, None
        elif actor.role is Role.PROVIDER and actor.provider_id is not None:
            municipality, own = None, actor.provider_id
        else:
            return build_connection([], first, 0, lambda r: [r.id], CatalogSource.from_row, after)
        wanted = None if provider_id is None else (decode_pk(provider_id, "Provider") or 0)
        rows, total = await sources_page(ctx.scope, municipality, own, wanted, key[0] if key else 0, first + 1)
        prime_sources(ctx, rows)
        return build_connection(rows, first, total, lambda r: [r.id], CatalogSource.from_row, after)


@strawberry.type
class SourcesMutation:
    @strawberry.mutation(description="Operator of the provider's municipality: register a provider's catalog feed.")
    async def catalog_source_create(
        self, info: Info[Context, None], input: Input[CatalogSourceInput]
    ) -> CatalogSourcePayload:
        ctx = info.context
        box = SecretBox.from_settings(ctx.settings)

        async def work(c: AsyncConnection) -> int:
            spec = input.spec(pk_of(input.provider_id, "Provider", ["providerId"]))
            return await source_service.create_source(c, ctx.actor, spec, box)

        pk, errors = await run_write(ctx, work, INPUT)
        source = None if pk is None else await CatalogSource.load(ctx, pk)
        return CatalogSourcePayload(source=source, user_errors=errors)

    @strawberry.mutation(description="Operator of the provider's municipality: change a catalog source.")
    async def catalog_source_update(
        self, info: Info[Context, None], input: Input[CatalogSourceUpdateInput]
    ) -> CatalogSourcePayload:
        ctx = info.context
        box = SecretBox.from_settings(ctx.settings)
        changes = input.changes()
        return await _on_source(
            ctx, input.source_id, lambda c, pk: source_service.update_source(c, ctx.actor, pk, changes, box)
        )

    @strawberry.mutation(description="Operator of the provider's municipality: pause a source or resume it.")
    async def catalog_source_pause(
        self, info: Info[Context, None], input: Input[CatalogSourcePauseInput]
    ) -> CatalogSourcePayload:
        ctx = info.context
        return await _on_source(
            ctx, input.source_id, lambda c, pk: source_service.set_source_paused(c, ctx.actor, pk, input.paused)
        )

    @strawberry.mutation(description="Operator of the provider's municipality: delete a source and its runs.")
    async def catalog_source_delete(
        self, info: Info[Context, None], input: Input[CatalogSourceDeleteInput]
    ) -> CatalogSourceDeletePayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.source_id, "CatalogSource", SOURCE)
            await source_service.delete_source(c, ctx.actor, pk)
            return pk

        pk, errors = await run_write(ctx, work, INPUT)
        return CatalogSourceDeletePayload(deleted_source_id=None if pk is None else input.source_id, user_errors=errors)


async def _on_source(
    ctx: Context, source_id: str, action: Callable[[AsyncConnection, int], Awaitable[None]]
) -> CatalogSourcePayload:
    """Change one catalog source in one unit of work; the payload shows it as it is now."""

    async def work(c: AsyncConnection) -> int:
        pk = pk_of(source_id, "CatalogSource", SOURCE)
        await action(c, pk)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    source = None if pk is None else await CatalogSource.load(ctx, pk)
    return CatalogSourcePayload(source=source, user_errors=errors)
