"""The catalog (navigator): providers, programs, groups."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.types import Info

from pdo_graph.auth.principal import Role as PrincipalRole
from pdo_graph.resolvers.loaders import PROGRAM_SQL, fetch
from pdo_graph.schema.base import Connection, Money, Node, build_connection, money
from pdo_graph.schema.context import Context
from pdo_graph.schema.ids import decode_pk, encode_id
from pdo_graph.schema.paging import page_args


@strawberry.enum(description="One of the six directions of supplementary education.")
class Direction(Enum):
    TECHNICAL = "TECHNICAL"
    NATURAL_SCIENCE = "NATURAL_SCIENCE"
    PHYSICAL_SPORTS = "PHYSICAL_SPORTS"
    ARTS = "ARTS"
    TOURISM_LOCAL_HISTORY = "TOURISM_LOCAL_HISTORY"
    SOCIAL_HUMANITARIAN = "SOCIAL_HUMANITARIAN"


@strawberry.type(description="An organisation providing programs (поставщик образовательных услуг).")
class Provider(Node):
    name: str = strawberry.field(description="Name of the organisation.")
    inn: str = strawberry.field(description="ИНН (taxpayer number).")
    municipality: str = strawberry.field(description="Municipality code.")
    address: str | None = strawberry.field(description="Postal address.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Provider:
        return cls(
            id=strawberry.ID(encode_id("Provider", r.id)),
            name=r.name,
            inn=r.inn,
            municipality=r.municipality,
            address=r.address,
            pk=r.id,
        )

    @strawberry.field(description="The provider's programs (archived ones only for the provider itself).")
    async def programs(self, info: Info[Context, None], first: int, after: str | None = None) -> Connection[Program]:
        first, key = page_args(first, after, info.context.lang)
        ctx = info.context
        own = ctx.principal.role is PrincipalRole.PROVIDER and provider_matches(ctx, self.pk, self.inn)
        rows = await fetch(
            ctx,
            PROGRAM_SQL + " WHERE p.provider_id = :pid AND (:own OR NOT p.archived)"
            " AND (CAST(:after AS bigint) IS NULL OR p.id > :after) ORDER BY p.id LIMIT :limit",
            {"pid": self.pk, "own": own, "after": key[0] if key else None, "limit": first + 1},
        )
        total = (
            await fetch(
                ctx,
                "SELECT count(*) FROM programs p WHERE p.provider_id = :pid AND (:own OR NOT p.archived)",
                {"pid": self.pk, "own": own},
            )
        )[0][0]
        return build_connection(rows, first, total, lambda r: [r.id], Program.from_row, after)


@strawberry.type(description="An educational program of a provider.")
class Program(Node):
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(description="Description.")
    direction: Direction = strawberry.field(description="Direction.")
    min_age: int = strawberry.field(description="Minimum age in years, inclusive.")
    max_age: int = strawberry.field(description="Maximum age in years, inclusive.")
    hours: int | None = strawberry.field(description="Academic hours of the program.")
    form: str = strawberry.field(description="Form of study (очная, очно-заочная...).")
    certified: bool = strawberry.field(description="Only certified programs may be paid from a certificate.")
    archived: bool = strawberry.field(description="Archived programs are hidden from search.")
    municipality: str = strawberry.field(description="Municipality code.")
    address: str | None = strawberry.field(description="Where classes take place.")
    latitude: float | None = strawberry.field(description="Latitude of the address.")
    longitude: float | None = strawberry.field(description="Longitude of the address.")
    normative_cost: Money | None = strawberry.field(description="Normative cost (нормативная стоимость), if set.")
    external_id: str | None = strawberry.field(description="The provider's own id of the program (sync).")
    rating: float | None = strawberry.field(description="Average rating 1..5; null until rated.")
    review_count: int = strawberry.field(description="Number of reviews.")
    pk: strawberry.Private[int]
    provider_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Program:
        return cls(
            id=strawberry.ID(encode_id("Program", r.id)),
            title=r.title,
            description=r.description,
            direction=Direction(r.direction),
            min_age=r.min_age,
            max_age=r.max_age,
            hours=r.hours,
            form=r.form,
            certified=r.certified,
            archived=r.archived,
            municipality=r.municipality,
            address=r.address,
            latitude=r.latitude,
            longitude=r.longitude,
            normative_cost=None if r.normative_cost is None else money(r.normative_cost),
            external_id=r.external_id,
            rating=round(r.rating_sum / r.rating_count, 2) if r.rating_count else None,
            review_count=r.rating_count,
            pk=r.id,
            provider_id=r.provider_id,
        )

    @strawberry.field(description="The provider running the program.")
    async def provider(self, info: Info[Context, None]) -> Provider:
        row = await info.context.loaders.provider.load(self.provider_id)
        assert row is not None
        return Provider.from_row(row)

    @strawberry.field(description="Groups of the program (not archived), by start date.")
    async def groups(self, info: Info[Context, None], first: int, after: str | None = None) -> Connection[Group]:
        first, key = page_args(first, after, info.context.lang)
        rows = await info.context.loaders.groups_by_program.load(self.pk)
        if key:
            rows = [r for r in rows if [r.starts_on.isoformat(), r.id] > key]
        return build_connection(
            rows[: first + 1], first, len(rows), lambda r: [r.starts_on.isoformat(), r.id], Group.from_row, after
        )


@strawberry.type(description="A group (a run of a program) with seats and a price.")
class Group(Node):
    name: str = strawberry.field(description="Name of the group.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    schedule: str | None = strawberry.field(description="Schedule, as text.")
    capacity: int = strawberry.field(description="Number of seats.")
    seats_left: int = strawberry.field(description="Seats still free.")
    price: Money = strawberry.field(description="Price for the whole run of the group.")
    enrollment_open: bool = strawberry.field(description="Whether applications are accepted.")
    archived: bool = strawberry.field(description="Archived groups take no new applications.")
    external_id: str | None = strawberry.field(description="The provider's own id of the group (sync).")
    pk: strawberry.Private[int]
    program_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Group:
        return cls(
            id=strawberry.ID(encode_id("Group", r.id)),
            name=r.name,
            starts_on=r.starts_on,
            ends_on=r.ends_on,
            schedule=r.schedule,
            capacity=r.capacity,
            seats_left=r.capacity - r.seats_taken,
            price=money(r.price),
            enrollment_open=r.enrollment_open and not r.archived,
            archived=r.archived,
            external_id=r.external_id,
            pk=r.id,
            program_id=r.program_id,
        )

    @strawberry.field(description="The program of the group.")
    async def program(self, info: Info[Context, None]) -> Program:
        row = await info.context.loaders.program.load(self.program_id)
        assert row is not None
        return Program.from_row(row)


def provider_matches(ctx: Context, provider_pk: int, inn: str) -> bool:
    """Whether the calling PROVIDER principal belongs to this organisation (token carries INN or id)."""
    claim = ctx.principal.provider
    if claim is None:
        return False
    return claim == inn or decode_pk(claim, "Provider") == provider_pk or claim == str(provider_pk)


async def principal_provider_row(ctx: Context) -> Row[Any] | None:
    """The provider row of a PROVIDER principal."""
    claim = ctx.principal.provider
    if ctx.principal.role is not PrincipalRole.PROVIDER or claim is None:
        return None
    pk = decode_pk(claim, "Provider")
    if pk is not None:
        return await ctx.loaders.provider.load(pk)
    return await ctx.loaders.provider_by_inn.load(claim)


async def viewer_provider(ctx: Context) -> Provider | None:
    row = await principal_provider_row(ctx)
    return None if row is None else Provider.from_row(row)


async def load_provider(ctx: Context, pk: int) -> Provider | None:
    row = await ctx.loaders.provider.load(pk)
    return None if row is None else Provider.from_row(row)


async def load_program(ctx: Context, pk: int) -> Program | None:
    row = await ctx.loaders.program.load(pk)
    return None if row is None else Program.from_row(row)


async def load_group(ctx: Context, pk: int) -> Group | None:
    row = await ctx.loaders.group.load(pk)
    return None if row is None else Group.from_row(row)


NODE_LOADERS = {"Provider": load_provider, "Program": load_program, "Group": load_group}
