"""The navigator: the program search with its filters, order, keyset pages and facets.

One statement per page (``reads.catalog.search_programs``); ``totalCount`` and ``facets`` are
computed only when selected. Reading ahead (``Context.read_ahead``), the statement reads the
programs' providers and groups along when the selection asks for them, and a selection that
:mod:`.navigator_answer` shapes comes back completed from those rows; otherwise the rows prime the
loaders of programs, providers and groups and the fields resolve one by one.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import strawberry
from graphql import GraphQLError, GraphQLObjectType, get_nullable_type
from strawberry.types import Info

from pdo_graph.db.tables import DIRECTIONS, FUNDING_KINDS
from pdo_graph.domain import search as search_domain
from pdo_graph.domain.certificates import CertificateStatus
from pdo_graph.domain.messages import render
from pdo_graph.ids import decode_pk
from pdo_graph.reads.catalog import PROGRAM, Along, prime_along, search_programs
from pdo_graph.reads.family import BALANCE
from pdo_graph.schema.base import Edge, PageInfo, SafeInt, describe_values, encode_cursor, selects
from pdo_graph.schema.catalog import Direction, Program, ProgramFundingKind
from pdo_graph.schema.completed import Completed
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import Certificate
from pdo_graph.schema.navigator_answer import Page, Plan, plan_of
from pdo_graph.schema.paging import page_args

ProgramOrder = strawberry.enum(
    search_domain.Order,
    name="ProgramOrder",
    description=(
        "Order of the program search: RELEVANCE (text rank, title above description; by id without search text),"
        " PRICE_ASC (cheapest matching group), RATING_DESC (average rating, unrated last),"
        " STARTS_ON_ASC (earliest matching group starting today or later; none last), DISTANCE_ASC (nearest to"
        " filter.near first). Ties by id."
    ),
)
describe_values(
    ProgramOrder,
    {
        "RELEVANCE": "Text rank, title above description; by id without search text.",
        "PRICE_ASC": "Cheapest matching group first.",
        "RATING_DESC": "Highest average rating first, unrated last.",
        "STARTS_ON_ASC": "Earliest matching group starting today or later first; none last.",
        "DISTANCE_ASC": "Nearest to `filter.near` first (needs `near`).",
    },
)


@strawberry.input(description="A point and a radius: programs whose address lies within the radius of the point.")
class NearInput:
    latitude: float = strawberry.field(description="Latitude of the point, -90..90.")
    longitude: float = strawberry.field(description="Longitude of the point, -180..180.")
    radius_km: float = strawberry.field(description="Radius in kilometres, above 0 and at most 1000.")


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
    funding_kind: ProgramFundingKind | None = strawberry.field(
        default=None, description="Only this funding kind (the kind facets ignore this filter)."
    )
    form: str | None = strawberry.field(
        default=None, description="Only this form of study (очная, очно-заочная, заочная, дистанционная)."
    )
    for_disabilities: bool | None = strawberry.field(
        default=None, description="True: only programs suited to children with disabilities (ОВЗ)."
    )
    near: NearInput | None = strawberry.field(
        default=None,
        description="Only programs with coordinates within `radiusKm` of the point (great-circle distance).",
    )


@strawberry.type(description="How many programs of one funding kind match the same search and the other filters.")
class FundingKindFacet:
    funding_kind: ProgramFundingKind = strawberry.field(description="The funding kind.")
    count: int = strawberry.field(description="Matching programs of this kind.")


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
    kind_facets: list[FundingKindFacet] = strawberry.field(
        description="Counts by funding kind for the same search and filters except the kind filter (all three)."
    )


def answer_plan(info: Info[Context, None]) -> Plan | None:
    """The compiled shaping of this field's selection, or None (resolved field by field)."""
    raw = info._raw_info
    type_ = get_nullable_type(raw.return_type)
    assert isinstance(type_, GraphQLObjectType)
    # Strawberry's resolve info carries the coerced variables as a plain dict, a compiled plan's
    # (transport/plans.py) graphql-core's VariableValues
    values: Any = raw.variable_values
    variables = cast(dict[str, Any], values if isinstance(values, dict) else values.coerced)
    return plan_of(raw.schema, type_, raw.field_nodes, raw.fragments, variables)


def wants_counts(info: Info[Context, None]) -> bool:
    """Whether the connection's totalCount or facets are selected (otherwise they are not computed)."""
    return selects(info, "totalCount") or selects(info, "facets") or selects(info, "kindFacets")


async def certificate_coverage(ctx: Context, certificate_id: str) -> search_domain.Coverage | None:
    """What the certificate can pay now, or None when it is unknown, not the caller's, or not ACTIVE."""
    if ctx.actor.anonymous:
        raise GraphQLError(
            render("catalog_certificate_filter_auth", ctx.lang, {}), extensions={"code": "UNAUTHENTICATED"}
        )
    pk = decode_pk(certificate_id, "Certificate")
    if pk is None:
        return None
    # the certificate (whether the caller may read it) and its balance side by side: one round trip;
    # the balance is used only when the certificate is the caller's
    cert, row = await asyncio.gather(Certificate.load(ctx, pk), ctx.loaders[BALANCE].load(pk))
    if cert is None or cert.status is not CertificateStatus.ACTIVE:
        return None
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
        kind_facets=[FundingKindFacet(funding_kind=ProgramFundingKind(k), count=0) for k in FUNDING_KINDS],
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
        funding_kind=None if f.funding_kind is None else f.funding_kind.value,
        form=f.form,
        for_disabilities=bool(f.for_disabilities),
        near=None if f.near is None else search_domain.Near(f.near.latitude, f.near.longitude, f.near.radius_km),
    )
    counts = wants_counts(info)
    plan = answer_plan(info) if ctx.read_ahead else None
    if plan is not None:
        along = plan.along
    elif ctx.read_ahead:
        along = Along(
            provider=selects(info, "edges", "node", "provider"), groups=selects(info, "edges", "node", "groups")
        )
    else:
        along = Along()
    try:
        page = await search_programs(ctx.scope, query, first, cursor, counts, along)
    except search_domain.BadCursor:
        raise GraphQLError(render("catalog_bad_cursor", ctx.lang, {}), extensions={"code": "BAD_USER_INPUT"}) from None
    except search_domain.BadQuery:
        raise GraphQLError(
            render("catalog_bad_near", ctx.lang, {"max": int(search_domain.MAX_RADIUS_KM)}),
            extensions={"code": "BAD_USER_INPUT"},
        ) from None
    if plan is not None:
        answer = plan.shape(Page(page, page.rows[:first], first, after))
        return cast(ProgramConnection, Completed(answer))
    prime_along(ctx.scope, page, along)
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
        kind_facets=[
            FundingKindFacet(funding_kind=ProgramFundingKind(k), count=page.kind_facets.get(k, 0))
            for k in FUNDING_KINDS
        ],
    )
