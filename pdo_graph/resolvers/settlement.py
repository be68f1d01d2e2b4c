"""Root fields of settlement: the month's statements (payer's operator, payee provider) and their issue."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import settlement
from pdo_graph.domain.errors import DomainError
from pdo_graph.reads.settlement import statements
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import Input
from pdo_graph.schema.context import Context
from pdo_graph.schema.settlement import SettlementStatement, SettlementStatementIssueInput, SettlementStatementPayload


@strawberry.type
class SettlementQuery:
    @strawberry.field(
        description="The month's settlement statements: an operator's municipality as the payer; a provider's own"
        " as the payee (of every payer, or of `municipality`)."
    )
    async def settlement_statements(
        self,
        info: Info[Context, None],
        month: Annotated[date, strawberry.argument(description="The month (any day of it).")],
        municipality: Annotated[
            str | None, strawberry.argument(description="The payer municipality (an operator: its own).")
        ] = None,
    ) -> list[SettlementStatement]:
        ctx = info.context
        try:
            payer, provider = settlement.statement_scope(ctx.actor, municipality)
        except DomainError as exc:
            problem = exc.problems[0]
            raise GraphQLError(problem.message(ctx.lang), extensions={"code": problem.code.value}) from None
        rows = await statements(ctx.scope, month.replace(day=1), payer, provider)
        return [SettlementStatement.from_row(r) for r in rows]


@strawberry.type
class SettlementMutation:
    @strawberry.mutation(
        description="Operator of the payer: issue a statement once its month can no longer be reported: frozen and"
        " numbered <year>-<payer>-<serial>."
    )
    async def settlement_statement_issue(
        self, info: Info[Context, None], input: Input[SettlementStatementIssueInput]
    ) -> SettlementStatementPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.statement_id, "SettlementStatement", settlement.STATEMENT)
            return await settlement.issue(c, ctx.actor, pk, ctx.today)

        pk, errors = await run_write(ctx, work, INPUT)
        found = None if pk is None else await SettlementStatement.load(ctx, pk)
        return SettlementStatementPayload(statement=found, user_errors=errors)
