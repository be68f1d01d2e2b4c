"""What the CSV exports of signed links share (the analysts' tables, the settlement statements): the
refusal of a link, and running the export's read with the domain's refusals and a lost database
answered as JSON errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.services import Services
from pdo_graph.transport import errors
from pdo_graph.transport.execution import is_database_down
from pdo_graph.transport.params import json_response

STATUS = {ErrorCode.FORBIDDEN: 403, ErrorCode.NOT_FOUND: 404}


def refusal(code: str, message: str, status: int) -> Response:
    return json_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


async def export(
    request: Request, services: Services, language: str, work: Callable[[AsyncConnection], Awaitable[Response]]
) -> Response:
    """``work`` on a connection; a domain refusal is 403 / 404 / 400, a lost database 503."""
    assert services.database is not None
    try:
        async with services.database.engine.connect() as conn:
            return await work(conn)
    except DomainError as exc:
        problem = exc.problems[0]
        return refusal(problem.code.value, problem.message(language), STATUS.get(problem.code, 400))
    except Exception as exc:
        if not is_database_down(exc):
            raise
        return json_response(
            {"errors": [errors.unavailable(request.state.request_id, language)]}, 503, {"retry-after": "1"}
        )
