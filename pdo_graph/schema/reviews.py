"""Reviews of programs: the object, a program's pages, the guardian's input and payload."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from pdo_graph.ids import encode_id
from pdo_graph.reads.catalog import PROGRAM
from pdo_graph.reads.reviews import REVIEW, REVIEW_COUNT, REVIEWS_OF_PROGRAM, ReviewRow
from pdo_graph.schema.base import Connection, Node, UserError, build_connection
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args

if TYPE_CHECKING:
    from pdo_graph.schema.catalog import Program


@strawberry.type(description="A guardian's rating of a program, given once per contract.")
class Review(Node):
    rating: int = strawberry.field(description="Rating 1..5.")
    text: str | None = strawberry.field(description="The guardian's words, if any.")
    created_at: datetime = strawberry.field(description="When it was given.")
    _program_id: strawberry.Private[int]

    rows = REVIEW
    public = True

    @classmethod
    def from_row(cls, r: ReviewRow) -> Review:
        return cls(
            id=strawberry.ID(encode_id("Review", r.id)),
            rating=r.rating,
            text=r.text,
            created_at=r.created_at,
            _program_id=r.program_id,
        )

    @strawberry.field(description="The program reviewed.")
    async def program(
        self, info: Info[Context, None]
    ) -> Annotated[Program, strawberry.lazy("pdo_graph.schema.catalog")]:
        from pdo_graph.schema.catalog import Program

        row = await info.context.loaders[PROGRAM].load(self._program_id)
        assert row is not None
        return Program.from_row(row)


async def program_reviews(ctx: Context, program_pk: int, first: int, after: str | None) -> Connection[Review]:
    """A program's reviews, newest first (public)."""
    first, key = page_args(first, after, ctx.lang, (int,))
    rows = await ctx.loaders[REVIEWS_OF_PROGRAM].load((program_pk, first, key[0] if key else None))
    count = ctx.loaders[REVIEW_COUNT]
    return build_connection(rows, first, lambda: count.load(program_pk), lambda r: [r.id], Review.from_row, after)


@strawberry.input(description="Rate the program of a contract, once per contract.")
class ProgramReviewInput:
    enrollment_id: strawberry.ID = strawberry.field(description="A contract that is or was active.")
    rating: int = strawberry.field(description="1..5.")
    text: str | None = strawberry.field(default=None, description="Words, up to 2000 characters.")


@strawberry.type(description="Result of programReview.")
class ProgramReviewPayload:
    program: Annotated[Program, strawberry.lazy("pdo_graph.schema.catalog")] | None = strawberry.field(
        description="The program with its new rating."
    )
    review: Review | None = strawberry.field(description="The review.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"Review": Review}
