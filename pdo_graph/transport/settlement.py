"""The CSV export of a settlement statement (``/settlement/statement.csv``).

It answers the short-lived signed link of ``SettlementStatement.csvUrl`` (as the analysts' CSV
export does): the link carries the caller's rights and the statement, signed with the server's link
key, so a browser or a spreadsheet can fetch it without a header; the rights are checked again when
it is used, and it expires (``PDO_ANALYTICS_LINK_SECONDS``).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pdo_graph.crypto import open_link, url_signing_key
from pdo_graph.domain import settlement
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.messages import render
from pdo_graph.schema.settlement import CSV_PATH
from pdo_graph.services import Services
from pdo_graph.transport import errors
from pdo_graph.transport.execution import is_database_down
from pdo_graph.transport.params import json_response, lang


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
            return _refusal("LINK_INVALID", render("analytics_link_invalid", language, {}), 403)
        assert self.services.database is not None
        try:
            async with self.services.database.engine.connect() as conn:
                statement = await settlement.load_statement(conn, actor, statement_id)
        except DomainError as exc:
            problem = exc.problems[0]
            status = 404 if problem.code is ErrorCode.NOT_FOUND else 403
            return _refusal(problem.code.value, problem.message(language), status)
        except Exception as exc:
            if not is_database_down(exc):
                raise
            return json_response(
                {"errors": [errors.unavailable(request.state.request_id, language)]}, 503, {"retry-after": "1"}
            )
        name = statement.number or f"draft-{statement.payer}-{statement.month:%Y-%m}-{statement.provider_id}"
        return Response(
            settlement.to_csv(statement),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="statement-{name}.csv"',
                "cache-control": "no-store",
            },
        )


def _refusal(code: str, message: str, status: int) -> Response:
    return json_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status)
