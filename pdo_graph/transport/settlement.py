"""The CSV export of a settlement statement (``/settlement/statement.csv``).

It answers the short-lived signed link of ``SettlementStatement.csvUrl`` (as the analysts' CSV
export does): the link carries the caller's rights and the statement, signed with the server's link
key, so a browser or a spreadsheet can fetch it without a header; the rights are checked again when
it is used, and it expires (``PDO_ANALYTICS_LINK_SECONDS``).
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pdo_graph.crypto import open_link, url_signing_key
from pdo_graph.domain import settlement
from pdo_graph.domain.messages import render
from pdo_graph.schema.settlement import CSV_PATH
from pdo_graph.services import Services
from pdo_graph.transport.exports import export, refusal
from pdo_graph.transport.params import lang


class SettlementExport:
    """The statement CSV route of one app."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> list[Route]:
        return [Route(CSV_PATH, self.statement_csv)]

    async def statement_csv(self, request: Request) -> Response:
        language = lang(request)
        payload = open_link(url_signing_key(self.services.settings), request.query_params.get("t", ""), time.time())
        try:
            if payload is None:
                raise ValueError("bad link")
            actor, statement_id = settlement.from_link(payload)
        except (ValueError, KeyError, TypeError):
            return refusal("LINK_INVALID", render("analytics_link_invalid", language, {}), 403)

        async def work(conn: AsyncConnection) -> Response:
            statement = await settlement.load_statement(conn, actor, statement_id)
            name = statement.number or f"draft-{statement.payer}-{statement.month:%Y-%m}-{statement.provider_id}"
            return Response(
                settlement.to_csv(statement),
                media_type="text/csv; charset=utf-8",
                headers={
                    "content-disposition": f'attachment; filename="statement-{name}.csv"',
                    "cache-control": "no-store",
                },
            )

        return await export(request, self.services, language, work)
