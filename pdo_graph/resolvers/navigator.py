"""Root field of the navigator: ``programs``, the program search (anyone, anonymous too)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from pdo_graph.schema.context import Context
from pdo_graph.schema.navigator import ProgramConnection, ProgramFilter, ProgramOrder, program_connection


@strawberry.type
class NavigatorQuery:
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
