"""The catalog (navigator): providers, programs, groups."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.domain import search as search_domain
from pdo_graph.domain.access import can_act_for_provider
from pdo_graph.domain.certificates import CertificateStatus
from pdo_graph.domain.messages import render
from pdo_graph.ids import decode_pk, encode_id
from pdo_graph.reads.catalog import (
    GROUP,
    GROUPS_OF_PROGRAM,
    PROGRAM,
    PROVIDER,
    GroupRow,
    ProgramRow,
    ProviderRow,
    search_programs,
)
from pdo_graph.reads.family import BALANCE
from pdo_graph.schema.base import (
    Connection,
    Edge,
    Money,
    Node,
    PageInfo,
    SafeInt,
    build_connection,
    encode_cursor,
    money,
)
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args

if TYPE_CHECKING:
    from pdo_graph.schema.reviews import Review


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
    def from_row(cls, r: ProviderRow) -> Provider:
        return cls(
            id=strawberry.ID(encode_id("Provider", r.id)),
            name=r.name,
            inn=r.inn,
            municipality=r.municipality,
            address=r.address,
            pk=r.id,
        )

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> Provider | None:
        """The catalog is public."""
        row = await ctx.loaders[PROVIDER].load(pk)
        return None if row is None else cls.from_row(row)

    @strawberry.field(
        description="The provider's programs by id; archived ones are listed for the provider itself only."
    )
    async def programs(self, info: Info[Context, None], first: int, after: str | None = None) -> ProgramConnection:
        ctx = info.context
        own = can_act_for_provider(ctx.actor, self.pk)
        return await program_connection(info, first, after, None, None, None, provider_pk=self.pk, include_archived=own)


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
    def from_row(cls, r: ProgramRow) -> Program:
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

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> Program | None:
        """The catalog is public (archived programs too, by id)."""
        row = await ctx.loaders[PROGRAM].load(pk)
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="The provider running the program.")
    async def provider(self, info: Info[Context, None]) -> Provider:
        row = await info.context.loaders[PROVIDER].load(self.provider_id)
        assert row is not None
        return Provider.from_row(row)

    @strawberry.field(description="Groups of the program (not archived), by start date.")
    async def groups(self, info: Info[Context, None], first: int, after: str | None = None) -> Connection[Group]:
        first, key = page_args(first, after, info.context.lang, (str, int))
        rows = await info.context.loaders[GROUPS_OF_PROGRAM].load(self.pk)
        if key:
            rows = [r for r in rows if [r.starts_on.isoformat(), r.id] > key]
        return build_connection(
            rows[: first + 1], first, len(rows), lambda r: [r.starts_on.isoformat(), r.id], Group.from_row, after
        )

    @strawberry.field(description="Reviews of the program, newest first.")
    async def reviews(
        self, info: Info[Context, None], first: int, after: str | None = None
    ) -> Connection[Annotated[Review, strawberry.lazy("pdo_graph.schema.reviews")]]:
        from pdo_graph.schema.reviews import program_reviews

        return await program_reviews(info.context, self.pk, first, after)


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
    def from_row(cls, r: GroupRow) -> Group:
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

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> Group | None:
        """The catalog is public."""
        row = await ctx.loaders[GROUP].load(pk)
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="The program of the group.")
    async def program(self, info: Info[Context, None]) -> Program:
        row = await info.context.loaders[PROGRAM].load(self.program_id)
        assert row is not None
        return Program.from_row(row)


ProgramOrder = strawberry.enum(
    search_domain.Order,
    name="ProgramOrder",
    description=(
        "Order of the program search: RELEVANCE (text rank, title above description; by id without search text),"
        " PRICE_ASC (cheapest matching group), RATING_DESC (average rating, unrated last),"
        " STARTS_ON_ASC (earliest matching group starting today or later; none last). Ties by id."
    ),
)


@strawberry.input(description="Filters of the program search; all given filters must hold.")
class ProgramFilter:
    direction: Direction | None = strawberry.field(
        default=None, description="Only this direction (the facets ignore this filter)."
    )
    age: int | None = strawberry.field(
        default=None, description="The child's age in years: within the program's minAge..maxAge."
    )
    municipality: str | None = strawberry.field(default=None, description="Municipality code of the program.")
    max_price: SafeInt | None = strawberry.field(
        default=None, description="Kopecks: a searchable group (open, not archived, not over) costs at most this."
    )
    has_free_seats: bool | None = strawberry.field(
        default=None, description="True: a searchable group has a free seat (false or null: no filter)."
    )
    covered_by_certificate: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "A certificate the caller may read (its guardian, or the operator of its municipality): only certified"
            " programs with a searchable group whose price (for the months left, when running) the certificate's"
            " available balance in its current period pays in full. Needs authentication; a certificate that is"
            " unknown, not yours or not ACTIVE matches nothing."
        ),
    )
    certified_only: bool | None = strawberry.field(
        default=None, description="True: only certified programs (payable from a certificate)."
    )
    provider_id: strawberry.ID | None = strawberry.field(default=None, description="Only programs of this provider.")


@strawberry.type(description="How many programs of one direction match the same search and the other filters.")
class DirectionFacet:
    direction: Direction = strawberry.field(description="The direction.")
    count: int = strawberry.field(description="Matching programs of this direction.")


@strawberry.type(name="ProgramConnection", description="A page of programs with keyset cursors, the total and facets.")
class ProgramConnection:
    edges: list[Edge[Program]] = strawberry.field(description="The programs of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    total_count: int = strawberry.field(description="Number of programs matching the search and every filter.")
    facets: list[DirectionFacet] = strawberry.field(
        description="Counts by direction for the same search and filters except the direction filter (all six)."
    )


def _selects(selections: Iterable[Any], names: frozenset[str]) -> bool:
    for sel in selections:
        if isinstance(sel, SelectedField) and sel.name in names:
            return True
        if isinstance(sel, FragmentSpread | InlineFragment) and _selects(sel.selections, names):
            return True
    return False


_COUNT_FIELDS = frozenset({"totalCount", "facets"})


def wants_counts(info: Info[Context, None]) -> bool:
    """Whether the connection's totalCount or facets are selected (otherwise they are not computed)."""
    return any(_selects(f.selections, _COUNT_FIELDS) for f in info.selected_fields if isinstance(f, SelectedField))


async def certificate_coverage(ctx: Context, certificate_id: str) -> search_domain.Coverage | None:
    """What the certificate can pay now, or None when it is unknown, not the caller's, or not ACTIVE."""
    if ctx.actor.anonymous:
        raise GraphQLError(
            render("catalog_certificate_filter_auth", ctx.lang, {}), extensions={"code": "UNAUTHENTICATED"}
        )
    from pdo_graph.schema.family import Certificate

    pk = decode_pk(certificate_id, "Certificate")
    if pk is None:
        return None
    cert = await Certificate.load(ctx, pk)
    if cert is None or cert.status is not CertificateStatus.ACTIVE:
        return None
    row = await ctx.loaders[BALANCE].load(pk)
    if row is None or row.period_id is None:
        return search_domain.Coverage(available=0)
    return search_domain.Coverage(available=max(0, int(row.available)), cap_at_normative=bool(row.cap_at_normative))


def _empty_connection(after: str | None) -> ProgramConnection:
    return ProgramConnection(
        edges=[],
        page_info=PageInfo(
            has_next_page=False, has_previous_page=after is not None, start_cursor=None, end_cursor=None
        ),
        total_count=0,
        facets=[DirectionFacet(direction=Direction(d), count=0) for d in DIRECTIONS],
    )


async def program_connection(
    info: Info[Context, None],
    first: int,
    after: str | None,
    text: str | None,
    filter: ProgramFilter | None,
    order: search_domain.Order | None,
    *,
    provider_pk: int | None = None,
    include_archived: bool = False,
) -> ProgramConnection:
    """Search programs (one SQL statement) and wrap the page; rows prime the program loader."""
    ctx = info.context
    first, cursor = page_args(first, after, ctx.lang)
    f = filter or ProgramFilter()
    coverage = None
    if f.provider_id is not None:
        wanted = decode_pk(f.provider_id, "Provider")
        if wanted is None or (provider_pk is not None and wanted != provider_pk):
            return _empty_connection(after)
        provider_pk = wanted
    if f.covered_by_certificate is not None:
        coverage = await certificate_coverage(ctx, f.covered_by_certificate)
        if coverage is None:
            return _empty_connection(after)
    query = search_domain.SearchQuery(
        today=ctx.today,
        text=text,
        direction=None if f.direction is None else f.direction.value,
        age=f.age,
        municipality=f.municipality,
        max_price=f.max_price,
        has_free_seats=bool(f.has_free_seats),
        covered=coverage,
        certified_only=bool(f.certified_only),
        provider_id=provider_pk,
        include_archived=include_archived,
        order=search_domain.Order(order.value) if order is not None else search_domain.Order.RELEVANCE,
    )
    counts = wants_counts(info)

    try:
        page = await search_programs(ctx.scope, query, first, cursor, counts)
    except search_domain.BadCursor:
        raise GraphQLError(render("catalog_bad_cursor", ctx.lang, {}), extensions={"code": "BAD_USER_INPUT"}) from None
    loader = ctx.loaders[PROGRAM]
    for row in page.rows:
        loader.prime(row.id, row)
    edges = [
        Edge(cursor=encode_cursor(search_domain.cursor_values(page.tag, row)), node=Program.from_row(row))
        for row in page.rows[:first]
    ]
    return ProgramConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page.rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total or 0,
        facets=[DirectionFacet(direction=Direction(d), count=page.facets.get(d, 0)) for d in DIRECTIONS],
    )


async def own_provider_id(ctx: Context) -> int | None:
    """The id of the calling provider's organisation, if it is registered."""
    return ctx.actor.provider_id


# The resolvers of the catalog and integrations areas still use these names (until their move).
load_provider = Provider.load
load_program = Program.load
load_group = Group.load

NODES: dict[str, type[Node]] = {"Provider": Provider, "Program": Program, "Group": Group}
