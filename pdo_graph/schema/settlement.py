"""Settlement statements (акт) per payer municipality × provider × month, their lines, inputs and payloads."""

from __future__ import annotations

import time
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import strawberry
from strawberry.types import Info

from pdo_graph.crypto import sign_link, url_signing_key
from pdo_graph.domain import settlement
from pdo_graph.domain.access import can_read_statement
from pdo_graph.ids import encode_id
from pdo_graph.reads.settlement import STATEMENT, STATEMENT_LINES, StatementRow
from pdo_graph.schema.base import Money, Node, UserError, describe_values, money
from pdo_graph.schema.context import Context
from pdo_graph.schema.periods import Municipality

if TYPE_CHECKING:
    from pdo_graph.schema.catalog import Provider
    from pdo_graph.schema.enrollment import Enrollment

CSV_PATH = "/settlement/statement.csv"  # served by pdo_graph.transport.settlement


@strawberry.enum(description="Whether a statement can still change.")
class SettlementStatus(Enum):
    DRAFT = "DRAFT"
    ISSUED = "ISSUED"


describe_values(
    SettlementStatus,
    {
        "DRAFT": "Its month can still be reported, or the operator has not issued it yet: figures follow the ledger.",
        "ISSUED": "Issued by the payer's operator: frozen and numbered.",
    },
)


@strawberry.type(description="One contract's charge of a statement's month.")
class SettlementLine:
    certificate_number: str = strawberry.field(description="The child's certificate number.")
    group_name: str = strawberry.field(description="The group.")
    completeness: int = strawberry.field(description="Completeness of the month's service, percent.")
    amount: Money = strawberry.field(description="Charged from the certificate for the month.")
    _enrollment_id: strawberry.Private[int]

    @strawberry.field(description="The contract.")
    async def enrollment(
        self, info: Info[Context, None]
    ) -> Annotated[Enrollment, strawberry.lazy("pdo_graph.schema.enrollment")]:
        from pdo_graph.schema.enrollment import Enrollment

        found = await Enrollment.load(info.context, self._enrollment_id)
        assert found is not None  # a statement's readers read its contracts
        return found


@strawberry.type(
    description="A monthly settlement statement (акт): what a payer municipality owes a provider for a month."
    " Its figures equal the ledger's CHARGE entries of that month."
)
class SettlementStatement(Node):
    number: str | None = strawberry.field(description="<year>-<payer>-<serial>, once ISSUED.")
    status: SettlementStatus = strawberry.field(description="DRAFT or ISSUED.")
    month: date = strawberry.field(description="The month (its first day).")
    payer: Municipality = strawberry.field(description="The municipality whose periods funded the charges.")
    total: Money = strawberry.field(description="Sum of the lines.")
    pk: strawberry.Private[int]
    _provider_id: strawberry.Private[int]

    rows = STATEMENT

    @classmethod
    def from_row(cls, r: StatementRow) -> SettlementStatement:
        return cls(
            id=strawberry.ID(encode_id("SettlementStatement", r.id)),
            number=r.number,
            status=SettlementStatus(r.status),
            month=r.month,
            payer=Municipality(code=r.payer, name=r.payer_name),
            total=money(r.total),
            pk=r.id,
            _provider_id=r.provider_id,
        )

    @classmethod
    def visible(cls, ctx: Context, row: StatementRow) -> bool:
        """The operator of the payer, and the provider (the payee)."""
        return can_read_statement(ctx.actor, row.payer, row.provider_id)

    @strawberry.field(description="The provider (the payee).")
    async def provider(
        self, info: Info[Context, None]
    ) -> Annotated[Provider, strawberry.lazy("pdo_graph.schema.catalog")]:
        from pdo_graph.schema.catalog import Provider

        found = await Provider.load(info.context, self._provider_id)
        assert found is not None
        return found

    @strawberry.field(
        description="The statement as CSV (UTF-8 with BOM, `;`-separated, kopecks and roubles): a short-lived"
        " signed link carrying the caller's rights (checked again when it is used)."
    )
    def csv_url(self, info: Info[Context, None]) -> str:
        ctx = info.context
        settings = ctx.settings
        token = sign_link(
            url_signing_key(settings),
            settlement.link_payload(ctx.actor, self.pk, ctx.lang),
            int(time.time()) + settings.analytics_link_seconds,
        )
        return f"{CSV_PATH}?t={quote(token)}"

    @strawberry.field(description="One line per contract charged in the month, by certificate number.")
    async def lines(self, info: Info[Context, None]) -> list[SettlementLine]:
        rows = await info.context.loaders[STATEMENT_LINES].load(self.pk)
        return [
            SettlementLine(
                certificate_number=r.certificate_number,
                group_name=r.group_name,
                completeness=r.completeness,
                amount=money(r.amount),
                _enrollment_id=r.enrollment_id,
            )
            for r in rows
        ]


@strawberry.input(description="Issue (freeze and number) a statement.")
class SettlementStatementIssueInput:
    statement_id: strawberry.ID = strawberry.field(description="The statement (DRAFT, its month no longer reportable).")


@strawberry.type(description="Result of settlementStatementIssue.")
class SettlementStatementPayload:
    statement: SettlementStatement | None = strawberry.field(description="The statement.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"SettlementStatement": SettlementStatement}
