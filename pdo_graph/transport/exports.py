"""What the CSV exports of signed links share (the analysts' tables, the settlement statements): the
refusal of a link, and running the export's read with the domain's refusals and a lost database
answered as JSON errors. The analysts' tables read the replica while it is fresh enough (their
aggregates change only with the refresh job, not with a caller's write); a statement is a document an
accountant files and reads the primary."""

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
    request: Request,
    services: Services,
    language: str,
    work: Callable[[AsyncConnection], Awaitable[Response]],
    lag_tolerant: bool = False,
) -> Response:
    """``work`` on a connection (of the replica when ``lag_tolerant`` and it is fresh enough); a domain
    refusal is 403 / 404 / 400, a lost database 503."""
    database = services.database
    assert database is not None
    engine = database.engine
    if lag_tolerant and database.replica is not None:
        engine = await database.replica.reads_engine()
    services.metrics.read_sources.labels("primary" if engine is database.engine else "replica").inc()
    try:
        async with engine.connect() as conn:
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
