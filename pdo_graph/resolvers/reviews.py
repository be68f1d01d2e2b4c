"""Root fields of reviews: a program's reviews, and the guardian's rating."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import enrollment
from pdo_graph.ids import decode_pk
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import After, Connection, First, Input
from pdo_graph.schema.catalog import Program
from pdo_graph.schema.context import Context
from pdo_graph.schema.reviews import ProgramReviewInput, ProgramReviewPayload, Review, program_reviews


@strawberry.type
class ReviewsQuery:
    @strawberry.field(description="Reviews of a program, newest first (public).")
    async def program_reviews(
        self,
        info: Info[Context, None],
        program_id: Annotated[strawberry.ID, strawberry.argument(description="The program.")],
        first: First,
        after: After = None,
    ) -> Connection[Review]:
        return await program_reviews(info.context, decode_pk(program_id, "Program") or 0, first, after)


@strawberry.type
class ReviewsMutation:
    @strawberry.mutation(description="Guardian: rate the program of a contract that is or was active, once (1..5).")
    async def program_review(self, info: Info[Context, None], input: Input[ProgramReviewInput]) -> ProgramReviewPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> tuple[int, int]:
            pk = pk_of(input.enrollment_id, "Enrollment", ["enrollmentId"])
            return await enrollment.review(c, ctx.actor, pk, input.rating, input.text)

        result, errors = await run_write(ctx, work, INPUT)
        if result is None:
            return ProgramReviewPayload(program=None, review=None, user_errors=errors)
        review = await Review.load(ctx, result[0])
        return ProgramReviewPayload(program=await Program.load(ctx, result[1]), review=review, user_errors=[])
