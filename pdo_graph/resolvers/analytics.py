"""Root fields of the analysts' view: authenticate, read the table, map refusals."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import quote

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.crypto import sign_link, url_signing_key
from pdo_graph.domain.analytics import summary, tables
from pdo_graph.domain.analytics.measures import Dimension, Measure
from pdo_graph.domain.errors import DomainError
from pdo_graph.reads import analytics as reads
from pdo_graph.resolvers.common import require_auth
from pdo_graph.schema.analytics import (
    AnalyticsDimension,
    AnalyticsFilter,
    AnalyticsMeasure,
    AnalyticsQueryFilter,
    AnalyticsRow,
    AnalyticsTable,
)
from pdo_graph.schema.base import money
from pdo_graph.schema.catalog import Direction
from pdo_graph.schema.context import Context

CSV_PATH = "/analytics/table.csv"  # served by pdo_graph.transport.analytics


def refusal(exc: DomainError, lang: str) -> GraphQLError:
    """A refused read: a top-level error with the code and the input path of the first problem."""
    problem = exc.problems[0]
    extensions: dict[str, object] = {"code": problem.code.value}
    if problem.field:
        extensions["field"] = problem.field
    return GraphQLError(problem.message(lang), extensions=extensions)


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(
        description=(
            "Analyst (the region, or the municipality the token names) or operator (own municipality; another is "
            "FORBIDDEN): any measures by up to three dimensions, with every margin, small cells withheld."
        )
    )
    async def analytics(
        self,
        info: Info[Context, None],
        measures: Annotated[
            list[AnalyticsMeasure], strawberry.argument(description="The measures, in the order of the columns.")
        ],
        by: Annotated[
            list[AnalyticsDimension],  # type: ignore[valid-type]
            strawberry.argument(description="Up to three dimensions, in the order of the columns."),
        ],
        filter: Annotated[
            AnalyticsQueryFilter | None,
            strawberry.argument(description="Months, municipality and direction to keep; null: everything in scope."),
        ] = None,
    ) -> AnalyticsTable:
        ctx = info.context
        require_auth(ctx)
        f = filter or AnalyticsQueryFilter()
        asked = tables.TableRequest(
            measures=tuple(Measure(str(m.value)) for m in measures),
            by=tuple(Dimension(d) for d in by),
            month_from=f.month_from,
            month_to=f.month_to,
            municipality=f.municipality,
            direction=None if f.direction is None else f.direction.value,
        )
        settings = ctx.settings
        try:
            request = tables.authorize(ctx.actor, asked)

            async def run(conn: AsyncConnection) -> tables.Table:
                return await reads.table(conn, request, settings.analytics_min_cell, settings.analytics_max_rows)

            table = await ctx.db.read(run)
        except DomainError as exc:
            raise refusal(exc, ctx.lang) from None
        token = sign_link(
            url_signing_key(settings),
            tables.link_payload(ctx.actor, asked, ctx.lang),
            int(time.time()) + settings.analytics_link_seconds,
        )
        return AnalyticsTable(
            columns=table.columns,
            rows=table.rows,
            suppressed=table.suppressed,
            csv_url=f"{CSV_PATH}?t={quote(token)}",
            as_of=table.as_of,
            month_from=table.month_from,
            month_to=table.month_to,
        )

    @strawberry.field(
        description="Analyst or operator: spending and enrollments by direction, municipality and month.",
        deprecation_reason=(
            "Use analytics(measures: [CHILDREN_ENROLLED, ENROLLMENTS, SPENT], by: [DIRECTION, MUNICIPALITY, MONTH]): "
            "any measures and dimensions, margins, and complementary suppression."
        ),
    )
    async def analytics_summary(
        self,
        info: Info[Context, None],
        filter: Annotated[
            AnalyticsFilter,
            strawberry.argument(description="The months (at most 36) and optionally one municipality."),
        ],
    ) -> list[AnalyticsRow]:
        ctx = info.context
        require_auth(ctx)
        try:
            request = summary.authorize(ctx.actor, filter.month_from, filter.month_to, filter.municipality)

            async def run(conn: AsyncConnection) -> list[summary.AnalyticsRow]:
                return await reads.summary(conn, request)

            rows = await ctx.db.read(run)
        except DomainError as exc:
            raise refusal(exc, ctx.lang) from None
        return [
            AnalyticsRow(
                direction=Direction(r.direction),
                municipality=r.municipality,
                month=r.month,
                suppressed=r.suppressed,
                children=r.children,
                enrollments=r.enrollments,
                spent=None if r.spent is None else money(r.spent),
            )
            for r in rows
        ]
