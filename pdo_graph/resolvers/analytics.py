"""Analysts' aggregates: no personal data, small cells suppressed."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from pdo_graph.domain import analytics
from pdo_graph.domain.errors import DomainError
from pdo_graph.resolvers.common import require_auth
from pdo_graph.schema.base import Money, money
from pdo_graph.schema.catalog import Direction
from pdo_graph.schema.context import Context


@strawberry.input(description="Which months and municipality to aggregate.")
class AnalyticsFilter:
    month_from: date = strawberry.field(description="First month (any day of it).")
    month_to: date = strawberry.field(description="Last month (any day of it), inclusive.")
    municipality: str | None = strawberry.field(default=None, description="One municipality; null: all in scope.")


@strawberry.type(description="Aggregates for one direction, municipality and month.")
class AnalyticsRow:
    direction: Direction = strawberry.field(description="Direction of the programs.")
    municipality: str = strawberry.field(description="Municipality of the children.")
    month: date = strawberry.field(description="Month (first day).")
    suppressed: bool = strawberry.field(
        description=f"True when fewer than {analytics.MIN_CHILDREN} children are behind the row: figures withheld."
    )
    children: int | None = strawberry.field(description="Distinct children applying or charged that month.")
    enrollments: int | None = strawberry.field(description="Applications made that month.")
    spent: Money | None = strawberry.field(description="Charged to certificates for that month.")


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="Analyst or operator: spending and enrollments by direction, municipality and month.")
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

        async def run(conn):  # type: ignore[no-untyped-def]
            return await analytics.summary(conn, ctx.principal, filter.month_from, filter.month_to, filter.municipality)

        try:
            rows = await ctx.db.read(run)
        except DomainError as exc:
            problem = exc.problems[0]
            extensions: dict[str, object] = {"code": problem.code.value}
            if problem.field:
                extensions["field"] = problem.field
            raise GraphQLError(problem.message(ctx.lang), extensions=extensions) from None
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
