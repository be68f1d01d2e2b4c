"""Queries and mutations of the catalog area: the navigator search and the catalog's upkeep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import catalog
from pdo_graph.resolvers.common import pk_of, run_write
from pdo_graph.schema.base import SafeInt, UserError
from pdo_graph.schema.catalog import (
    Direction,
    Group,
    Program,
    ProgramConnection,
    ProgramFilter,
    ProgramOrder,
    Provider,
    load_group,
    load_program,
    load_provider,
    own_provider_id,
    program_connection,
)
from pdo_graph.schema.context import Context

# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input(description="Operator: register an organisation of the operator's municipality.")
class ProviderRegisterInput:
    name: str = strawberry.field(description="Name of the organisation (3..300 characters).")
    inn: str = strawberry.field(description="ИНН: 10 digits (organisation) or 12 (entrepreneur), checksum checked.")
    municipality: str = strawberry.field(description="Municipality code.")
    address: str | None = strawberry.field(default=None, description="Postal address.")


@strawberry.input(description="Change an organisation's name or address (its staff, or its municipality's operator).")
class ProviderUpdateInput:
    provider_id: strawberry.ID = strawberry.field(description="The provider.")
    name: str | None = strawberry.field(default=None, description="New name; null or absent: unchanged.")
    address: str | None = strawberry.field(
        default=strawberry.UNSET, description="New address; null clears it; absent: unchanged."
    )


@strawberry.type(description="Result of provider mutations.")
class ProviderPayload:
    provider: Provider | None = strawberry.field(description="The provider.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Provider: a new program of the caller's organisation (not certified yet).")
class ProgramCreateInput:
    title: str = strawberry.field(description="Title, 3..200 characters.")
    description: str = strawberry.field(description="Description, 10..5000 characters.")
    direction: Direction = strawberry.field(description="Direction.")
    min_age: int = strawberry.field(description="Minimum age in years (0..18), inclusive.")
    max_age: int = strawberry.field(description="Maximum age in years (0..18), inclusive.")
    municipality: str = strawberry.field(description="Municipality code where the program runs.")
    normative_cost: SafeInt | None = strawberry.field(default=None, description="Normative cost in kopecks.")
    hours: int | None = strawberry.field(default=None, description="Academic hours of the program.")
    form: str = strawberry.field(
        default="очная", description="Form of study: очная, очно-заочная, заочная or дистанционная."
    )
    address: str | None = strawberry.field(default=None, description="Where classes take place.")
    latitude: float | None = strawberry.field(default=None, description="Latitude (with longitude).")
    longitude: float | None = strawberry.field(default=None, description="Longitude (with latitude).")
    external_id: str | None = strawberry.field(
        default=None, description="The provider's own id of the program (unique within the provider)."
    )


@strawberry.input(description="Provider: change a program. Absent fields stay; null clears an optional field.")
class ProgramUpdateInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    title: str | None = strawberry.field(default=None, description="Title; null or absent: unchanged.")
    description: str | None = strawberry.field(default=None, description="Description; null or absent: unchanged.")
    direction: Direction | None = strawberry.field(default=None, description="Direction; null or absent: unchanged.")
    min_age: int | None = strawberry.field(default=None, description="Minimum age; null or absent: unchanged.")
    max_age: int | None = strawberry.field(default=None, description="Maximum age; null or absent: unchanged.")
    municipality: str | None = strawberry.field(default=None, description="Municipality; null or absent: unchanged.")
    form: str | None = strawberry.field(default=None, description="Form of study; null or absent: unchanged.")
    normative_cost: SafeInt | None = strawberry.field(default=strawberry.UNSET, description="Kopecks; null clears.")
    hours: int | None = strawberry.field(default=strawberry.UNSET, description="Hours; null clears.")
    address: str | None = strawberry.field(default=strawberry.UNSET, description="Address; null clears.")
    latitude: float | None = strawberry.field(default=strawberry.UNSET, description="Latitude; null clears.")
    longitude: float | None = strawberry.field(default=strawberry.UNSET, description="Longitude; null clears.")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="External id; null clears.")


@strawberry.input(description="Provider: archive a program (hidden from search, still readable by id) or restore it.")
class ProgramArchiveInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    archived: bool = strawberry.field(default=True, description="True archives, false restores.")


@strawberry.input(description="Operator of the program's municipality: certify a program or withdraw it.")
class ProgramCertifyInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    certified: bool = strawberry.field(description="Whether the program may be paid from certificates.")


@strawberry.type(description="Result of program mutations.")
class ProgramPayload:
    program: Program | None = strawberry.field(description="The program.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Provider: a new group (a run) of one of the caller's programs.")
class GroupCreateInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    name: str = strawberry.field(description="Name of the group.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day (not before the first).")
    capacity: int = strawberry.field(description="Number of seats, at least 1.")
    price: SafeInt = strawberry.field(description="Kopecks for the whole run.")
    enrollment_open: bool = strawberry.field(default=True, description="Accept applications at once.")
    schedule: str | None = strawberry.field(default=None, description="Schedule as text.")
    external_id: str | None = strawberry.field(
        default=None, description="The provider's own id of the group (unique within the program)."
    )


@strawberry.input(description="Provider: change a group. Absent fields stay; capacity never below the seats taken.")
class GroupUpdateInput:
    group_id: strawberry.ID = strawberry.field(description="The group.")
    name: str | None = strawberry.field(default=None, description="Name; null or absent: unchanged.")
    starts_on: date | None = strawberry.field(default=None, description="First day; null or absent: unchanged.")
    ends_on: date | None = strawberry.field(default=None, description="Last day; null or absent: unchanged.")
    capacity: int | None = strawberry.field(default=None, description="Seats; null or absent: unchanged.")
    price: SafeInt | None = strawberry.field(default=None, description="Kopecks; null or absent: unchanged.")
    enrollment_open: bool | None = strawberry.field(default=None, description="Open or close for applications.")
    schedule: str | None = strawberry.field(default=strawberry.UNSET, description="Schedule; null clears.")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="External id; null clears.")


@strawberry.input(description="Provider: close a group for new applications (running contracts go on).")
class GroupCloseInput:
    group_id: strawberry.ID = strawberry.field(description="The group.")


@strawberry.input(description="Provider: archive a group (out of the catalog, no applications) or restore it.")
class GroupArchiveInput:
    group_id: strawberry.ID = strawberry.field(description="The group.")
    archived: bool = strawberry.field(default=True, description="True archives, false restores.")


@strawberry.type(description="Result of group mutations.")
class GroupPayload:
    group: Group | None = strawberry.field(description="The group.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


INPUT = ("input",)  # the catalog domain names fields; its problems go under the mutation's argument


def _changes(input: Any, names: dict[str, str], nullable: frozenset[str]) -> dict[str, Any]:
    """Input attribute -> domain field for the fields given; null clears only ``nullable`` ones."""
    out: dict[str, Any] = {}
    for attr, name in names.items():
        value = getattr(input, attr)
        if value is strawberry.UNSET or (value is None and name not in nullable):
            continue
        out[name] = value.value if isinstance(value, Direction) else value
    return out


def program_data(input: Any) -> catalog.ProgramData:
    """The program an input describes (``ProgramCreateInput``, a pushed ``CatalogProgramInput``)."""
    return catalog.program_from(
        input, direction=input.direction.value, archived=bool(getattr(input, "archived", False))
    )


def group_data(input: Any) -> catalog.GroupData:
    """The group an input describes (``GroupCreateInput``, a pushed ``CatalogGroupInput``)."""
    return catalog.group_from(input, enrollment_open=input.enrollment_open is not False)


_PROGRAM_CHANGES = {n: n for n in sorted(catalog.PROGRAM_FIELDS - {"archived"})}
_PROGRAM_NULLABLE = frozenset({"normative_cost", "hours", "address", "latitude", "longitude", "external_id"})
_GROUP_CHANGES = {n: n for n in sorted(catalog.GROUP_FIELDS - {"archived"})}
_GROUP_NULLABLE = frozenset({"schedule", "external_id"})


# --- root fields -------------------------------------------------------------------------------


@strawberry.type
class CatalogQuery:
    @strawberry.field(
        description=(
            "The navigator: non-archived programs, anyone may search (anonymous too). `search` is Russian full-text"
            " over title (weighted higher) and description, the last word matching as a prefix while typing;"
            " empty means no text filter. Keyset pages, totalCount and facets by direction."
        )
    )
    async def programs(
        self,
        info: Info[Context, None],
        first: int,
        after: str | None = None,
        search: str | None = None,
        filter: ProgramFilter | None = None,
        order_by: ProgramOrder | None = None,  # type: ignore[valid-type]
    ) -> ProgramConnection:
        return await program_connection(info, first, after, search, filter, order_by)


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Operator: register an organisation of the operator's municipality.")
    async def provider_register(self, info: Info[Context, None], input: ProviderRegisterInput) -> ProviderPayload:
        ctx = info.context
        data = catalog.ProviderData(input.name, input.inn, input.municipality, input.address)
        pk, errors = await run_write(ctx, lambda c: catalog.register_provider(c, ctx.principal, data), INPUT)
        return ProviderPayload(provider=None if pk is None else await load_provider(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider staff (own organisation) or its operator: change name or address.")
    async def provider_update(self, info: Info[Context, None], input: ProviderUpdateInput) -> ProviderPayload:
        ctx = info.context
        own = await own_provider_id(ctx)
        changes = _changes(input, {"name": "name", "address": "address"}, frozenset({"address"}))

        async def work(c: AsyncConnection) -> int:
            field = ["providerId"]
            pk = pk_of(input.provider_id, "Provider", field)
            await catalog.editable_provider(c, ctx.principal, own, pk, field)
            await catalog.update_provider(c, pk, changes)
            return pk

        pk, errors = await run_write(ctx, work, INPUT)
        return ProviderPayload(provider=None if pk is None else await load_provider(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: create a program of the caller's own organisation.")
    async def program_create(self, info: Info[Context, None], input: ProgramCreateInput) -> ProgramPayload:
        ctx = info.context
        own = await own_provider_id(ctx)
        data = program_data(input)

        async def work(c: AsyncConnection) -> int:
            return await catalog.create_program(c, catalog.require_some_provider(ctx.principal, own), data)

        pk, errors = await run_write(ctx, work, INPUT)
        return ProgramPayload(program=None if pk is None else await load_program(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: change one of the caller's programs.")
    async def program_update(self, info: Info[Context, None], input: ProgramUpdateInput) -> ProgramPayload:
        ctx = info.context
        changes = _changes(input, _PROGRAM_CHANGES, _PROGRAM_NULLABLE)
        return await _on_own_program(ctx, input.program_id, lambda c, pk: catalog.update_program(c, pk, changes))

    @strawberry.mutation(description="Provider: archive one of the caller's programs (or restore it).")
    async def program_archive(self, info: Info[Context, None], input: ProgramArchiveInput) -> ProgramPayload:
        ctx = info.context
        return await _on_own_program(
            ctx, input.program_id, lambda c, pk: catalog.set_program_archived(c, pk, input.archived)
        )

    @strawberry.mutation(description="Operator of the program's municipality: certify a program or withdraw it.")
    async def program_certify(self, info: Info[Context, None], input: ProgramCertifyInput) -> ProgramPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.program_id, "Program", ["programId"])
            await catalog.certify_program(c, ctx.principal, pk, input.certified)
            return pk

        pk, errors = await run_write(ctx, work, INPUT)
        return ProgramPayload(program=None if pk is None else await load_program(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: create a group of one of the caller's programs.")
    async def group_create(self, info: Info[Context, None], input: GroupCreateInput) -> GroupPayload:
        ctx = info.context
        own = await own_provider_id(ctx)
        data = group_data(input)

        async def work(c: AsyncConnection) -> int:
            field = ["programId"]
            program = pk_of(input.program_id, "Program", field)
            await catalog.own_program(c, ctx.principal, own, program, field)
            return await catalog.create_group(c, program, data)

        pk, errors = await run_write(ctx, work, INPUT)
        return GroupPayload(group=None if pk is None else await load_group(ctx, pk), user_errors=errors)

    @strawberry.mutation(description="Provider: change one of the caller's groups (capacity not below seats taken).")
    async def group_update(self, info: Info[Context, None], input: GroupUpdateInput) -> GroupPayload:
        ctx = info.context
        changes = _changes(input, _GROUP_CHANGES, _GROUP_NULLABLE)
        return await _on_own_group(ctx, input.group_id, lambda c, pk: catalog.update_group(c, pk, changes))

    @strawberry.mutation(description="Provider: close one of the caller's groups for new applications.")
    async def group_close(self, info: Info[Context, None], input: GroupCloseInput) -> GroupPayload:
        ctx = info.context
        return await _on_own_group(ctx, input.group_id, lambda c, pk: catalog.set_group_enrollment(c, pk, False))

    @strawberry.mutation(description="Provider: archive one of the caller's groups (or restore it).")
    async def group_archive(self, info: Info[Context, None], input: GroupArchiveInput) -> GroupPayload:
        ctx = info.context
        return await _on_own_group(ctx, input.group_id, lambda c, pk: catalog.set_group_archived(c, pk, input.archived))


OwnAction = Callable[[AsyncConnection, int], Awaitable[None]]


async def _on_own_program(ctx: Context, program_id: str, action: OwnAction) -> ProgramPayload:
    """Check that the program is the calling provider's own, then act on it in one transaction."""
    own = await own_provider_id(ctx)

    async def work(c: AsyncConnection) -> int:
        field = ["programId"]
        pk = pk_of(program_id, "Program", field)
        await catalog.own_program(c, ctx.principal, own, pk, field)
        await action(c, pk)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    return ProgramPayload(program=None if pk is None else await load_program(ctx, pk), user_errors=errors)


async def _on_own_group(ctx: Context, group_id: str, action: OwnAction) -> GroupPayload:
    """Check that the group is the calling provider's own, then act on it in one transaction."""
    own = await own_provider_id(ctx)

    async def work(c: AsyncConnection) -> int:
        field = ["groupId"]
        pk = pk_of(group_id, "Group", field)
        await catalog.own_group(c, ctx.principal, own, pk, field)
        await action(c, pk)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    return GroupPayload(group=None if pk is None else await load_group(ctx, pk), user_errors=errors)


# Root fields of this area, merged into Query and Mutation by pdo_graph.schema.root.
QUERIES: list[type] = [CatalogQuery]
MUTATIONS: list[type] = [CatalogMutation]
TYPES: list[type] = []
