"""Root field of the navigator: ``programs``, the program search (anyone, anonymous too)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from pdo_graph.schema.base import After, First
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
        first: First,
        after: After = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Words to find (Russian stemming; the last word as a prefix); empty: no text filter."
            ),
        ] = None,
        filter: Annotated[
            ProgramFilter | None, strawberry.argument(description="Filters; all given must hold.")
        ] = None,
        order_by: Annotated[
            ProgramOrder | None,  # type: ignore[valid-type]
            strawberry.argument(description="Order of the results; default RELEVANCE."),
        ] = None,
    ) -> ProgramConnection:
        return await program_connection(info, first, after, search, filter, order_by)
