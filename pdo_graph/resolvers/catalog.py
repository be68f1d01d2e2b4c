"""Root fields of the catalog's upkeep: providers registered and changed, programs and groups created,
changed, archived, certified."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import catalog
from pdo_graph.domain.access import require_provider
from pdo_graph.domain.enrollment import draw
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import Input
from pdo_graph.schema.catalog import (
    Group,
    GroupArchiveInput,
    GroupCloseInput,
    GroupCreateInput,
    GroupPayload,
    GroupUpdateInput,
    Program,
    ProgramArchiveInput,
    ProgramCertifyInput,
    ProgramCreateInput,
    ProgramPayload,
    ProgramUpdateInput,
    Provider,
    ProviderPayload,
    ProviderRegisterInput,
    ProviderUpdateInput,
)
from pdo_graph.schema.context import Context

OwnAction = Callable[[AsyncConnection, int], Awaitable[None]]


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Operator: register an organisation of the operator's municipality.")
    async def provider_register(
        self, info: Info[Context, None], input: Input[ProviderRegisterInput]
    ) -> ProviderPayload:
        ctx = info.context
        data = input.data()
        pk, errors = await run_write(ctx, lambda c: catalog.register_provider(c, ctx.actor, data), INPUT)
        return ProviderPayload(provider=None if pk is None else await Provider.load(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider staff (own organisation) or its operator: change name or address.")
    async def provider_update(self, info: Info[Context, None], input: Input[ProviderUpdateInput]) -> ProviderPayload:
        ctx = info.context
        changes = input.changes()

        async def work(c: AsyncConnection) -> int:
            field = ["providerId"]
            pk = pk_of(input.provider_id, "Provider", field)
            await catalog.editable_provider(c, ctx.actor, pk, field)
            await catalog.update_provider(c, pk, changes)
            return pk

        pk, errors = await run_write(ctx, work, INPUT)
        return ProviderPayload(provider=None if pk is None else await Provider.load(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: create a program of the caller's own organisation.")
    async def program_create(self, info: Info[Context, None], input: Input[ProgramCreateInput]) -> ProgramPayload:
        ctx = info.context
        data = input.data()
        pk, errors = await run_write(ctx, lambda c: catalog.create_program(c, require_provider(ctx.actor), data), INPUT)
        return ProgramPayload(program=None if pk is None else await Program.load(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: change one of the caller's programs.")
    async def program_update(self, info: Info[Context, None], input: Input[ProgramUpdateInput]) -> ProgramPayload:
        changes = input.changes()
        return await _on_own_program(
            info.context, input.program_id, lambda c, pk: catalog.update_program(c, pk, changes)
        )

    @strawberry.mutation(description="Provider: archive one of the caller's programs (or restore it).")
    async def program_archive(self, info: Info[Context, None], input: Input[ProgramArchiveInput]) -> ProgramPayload:
        return await _on_own_program(
            info.context, input.program_id, lambda c, pk: catalog.set_program_archived(c, pk, input.archived)
        )

    @strawberry.mutation(description="Operator of the program's municipality: certify a program or withdraw it.")
    async def program_certify(self, info: Info[Context, None], input: Input[ProgramCertifyInput]) -> ProgramPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.program_id, "Program", ["programId"])
            await catalog.certify_program(c, ctx.actor, pk, input.certified)
            return pk

        pk, errors = await run_write(ctx, work, INPUT)
        return ProgramPayload(program=None if pk is None else await Program.load(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: create a group of one of the caller's programs.")
    async def group_create(self, info: Info[Context, None], input: Input[GroupCreateInput]) -> GroupPayload:
        ctx = info.context
        data = input.data()

        async def work(c: AsyncConnection) -> int:
            field = ["programId"]
            program = pk_of(input.program_id, "Program", field)
            await catalog.own_program(c, ctx.actor, program, field)
            pk = await catalog.create_group(c, program, data)
            if input.enrollment_opens_at is not None:
                minutes = input.fair_window_minutes
                await draw.schedule(
                    c, pk, input.enrollment_opens_at, draw.DEFAULT_WINDOW_MINUTES if minutes is None else minutes
                )
            return pk

        pk, errors = await run_write(ctx, work, INPUT)
        return GroupPayload(group=None if pk is None else await Group.load(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: change one of the caller's groups (capacity not below seats taken).")
    async def group_update(self, info: Info[Context, None], input: Input[GroupUpdateInput]) -> GroupPayload:
        changes = input.changes()
        return await _on_own_group(info.context, input.group_id, lambda c, pk: catalog.update_group(c, pk, changes))

    @strawberry.mutation(description="Provider: close one of the caller's groups for new applications.")
    async def group_close(self, info: Info[Context, None], input: Input[GroupCloseInput]) -> GroupPayload:
        return await _on_own_group(
            info.context, input.group_id, lambda c, pk: catalog.set_group_enrollment(c, pk, False)
        )

    @strawberry.mutation(description="Provider: archive one of the caller's groups (or restore it).")
    async def group_archive(self, info: Info[Context, None], input: Input[GroupArchiveInput]) -> GroupPayload:
        return await _on_own_group(
            info.context, input.group_id, lambda c, pk: catalog.set_group_archived(c, pk, input.archived)
        )


async def _on_own_program(ctx: Context, program_id: str, action: OwnAction) -> ProgramPayload:
    """Check that the program is the calling provider's own, then act on it in one transaction."""

    async def work(c: AsyncConnection) -> int:
        field = ["programId"]
        pk = pk_of(program_id, "Program", field)
        await catalog.own_program(c, ctx.actor, pk, field)
        await action(c, pk)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    return ProgramPayload(program=None if pk is None else await Program.load(ctx, pk), user_errors=errors)


async def _on_own_group(ctx: Context, group_id: str, action: OwnAction) -> GroupPayload:
    """Check that the group is the calling provider's own, then act on it in one transaction."""

    async def work(c: AsyncConnection) -> int:
        field = ["groupId"]
        pk = pk_of(group_id, "Group", field)
        await catalog.own_group(c, ctx.actor, pk, field)
        await action(c, pk)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    return GroupPayload(group=None if pk is None else await Group.load(ctx, pk), user_errors=errors)
