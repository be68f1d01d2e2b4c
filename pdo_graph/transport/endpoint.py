"""``/graphql``: GraphiQL on a browser's GET; otherwise authenticate, read the request, pass the gate,
build the request's actor and context, execute, and answer (masking unexpected faults).

The request id, the metric and the log line are the middleware's (:mod:`.middleware`); the endpoint
tells it the outcome with :func:`~.middleware.observe`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

from graphql import GraphQLError, OperationType
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.types import ExecutionResult

from pdo_graph import graphiql
from pdo_graph.auth.actor import resolve_actor
from pdo_graph.auth.oidc import IssuerUnavailable
from pdo_graph.auth.principal import ANONYMOUS, AuthError, Principal
from pdo_graph.db.session import RequestDb
from pdo_graph.graphql_schema import Schema
from pdo_graph.limits import Invalid, Prepared, Refused
from pdo_graph.observability import OTHER
from pdo_graph.schema.context import Context
from pdo_graph.services import Services
from pdo_graph.transport.middleware import Observation, observe
from pdo_graph.transport.params import (
    GRAPHQL_RESPONSE_JSON,
    check_params,
    json_response,
    lang,
    read_params,
    response_media,
)

log = logging.getLogger("pdo_graph")

MASKED_MESSAGE = "Внутренняя ошибка сервера"
DB_UNAVAILABLE = "База данных временно недоступна, повторите запрос"
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")
_DB_DOWN_CAUSES = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "AdminShutdownError",
    "ConnectionFailureError",
    "InterfaceError",
}


class GraphQLEndpoint:
    """The ``/graphql`` route of one app."""

    def __init__(self, schema: Schema, services: Services, assets_dir: Path) -> None:
        self.schema = schema
        self.services = services
        self.settings = services.settings
        self.assets_dir = assets_dir

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(graphiql.PAGE if graphiql.assets_present(self.assets_dir) else graphiql.MISSING)
        try:
            principal = await self._authenticate(request)
        except IssuerUnavailable as exc:
            return json_response({"errors": [{"message": exc.message}]}, 503)
        except AuthError as exc:
            return json_response(
                {"errors": [{"message": exc.message}]}, 401, {"www-authenticate": 'Bearer error="invalid_token"'}
            )
        params, refusal = await read_params(request, self.settings.max_body_bytes)
        if refusal is not None:
            return refusal
        media = response_media(request)
        problem = check_params(params)
        if problem is not None:
            return json_response({"errors": [{"message": problem}]}, 400, None, media)
        return await self._run(request, principal, params, media)

    async def _authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Ожидается заголовок Authorization: Bearer <токен>")
        assert self.services.verifier is not None
        return await self.services.verifier.verify(token.strip())

    async def _prepare(self, query: str, operation_name: str | None, variables: dict[str, Any]) -> Any:
        gate = self.schema.gate
        if gate.knows(query):
            return gate.prepare(query, operation_name, variables)
        # a new document is parsed and validated off the event loop: /healthz and others keep answering
        prepare = functools.partial(gate.prepare, query, operation_name, variables)
        return await asyncio.get_running_loop().run_in_executor(self.services.gate_thread, prepare)

    async def _run(self, request: Request, principal: Principal, params: dict[str, Any], media: str) -> Response:
        rid: str = request.state.request_id
        query: str = params["query"]
        variables: dict[str, Any] = params.get("variables") or {}
        operation_name: str | None = params.get("operationName")
        prepared = await self._prepare(query, operation_name, variables)
        if isinstance(prepared, Refused):
            observe(request.scope, Observation(OTHER, "refused"))
            extensions = {"cost": prepared.extra.get("cost", 0), "requestId": rid}
            return json_response(
                {"errors": [prepared.error(lang(request))], "extensions": extensions}, 400, None, media
            )
        if isinstance(prepared, Invalid):
            observe(request.scope, Observation(OTHER, "invalid"))
            errors = [_request_error(e, prepared.code) for e in prepared.errors]
            status = 400 if media == GRAPHQL_RESPONSE_JSON else 200
            return json_response({"errors": errors, "extensions": {"cost": 0, "requestId": rid}}, status, None, media)
        assert isinstance(prepared, Prepared)
        operation = prepared.operation.name.value if prepared.operation.name else None
        if request.method == "GET" and prepared.operation.operation is OperationType.MUTATION:
            return json_response(
                {"errors": [{"message": "Мутации только методом POST"}]}, 405, {"allow": "POST"}, media
            )
        assert self.services.database is not None
        db = RequestDb(self.services.database.engine)
        try:
            actor = await resolve_actor(principal, db.read)
            context = Context(
                principal=principal,
                actor=actor,
                db=db,
                settings=self.settings,
                lang=lang(request),
                today=date.today(),
                request_id=rid,
                services={"metrics": self.services.metrics},
            )
            result = await self.schema.execute(
                query, variable_values=variables, context_value=context, operation_name=operation_name
            )
        except Exception as exc:
            if not _is_database_down(exc):
                raise
            observe(request.scope, Observation(operation, "unavailable"))
            return _unavailable(rid, media)
        finally:
            await db.close()
        if result.errors and any(_is_database_down(e.original_error) for e in result.errors):
            observe(request.scope, Observation(operation, "unavailable"))
            return _unavailable(rid, media)
        role = principal.role.value if principal.role else "ANONYMOUS"
        body, status, outcome = _answer(result, rid, prepared.cost, media)
        observe(request.scope, Observation(operation, outcome, ran=True, role=role, cost=prepared.cost))
        return json_response(body, status, None, media)


def _answer(result: ExecutionResult, rid: str, cost: int, media: str) -> tuple[dict[str, Any], int, str]:
    """The body, the status and the outcome of an executed request."""
    body: dict[str, Any] = {}
    status = 200
    executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
    outcome = "ok"
    if result.errors:
        body["errors"] = [_format_error(e, rid) for e in result.errors]
        outcome = "error"
        if not executed and media == GRAPHQL_RESPONSE_JSON:
            status = 400
    if executed:
        body["data"] = result.data
    body["extensions"] = {"cost": cost, "requestId": rid}
    return body, status, outcome


def _unavailable(rid: str, media: str) -> Response:
    body = {"errors": [{"message": DB_UNAVAILABLE, "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": rid}}]}
    return json_response(body, 503, {"retry-after": "1"}, media)


def _is_database_down(exc: BaseException | None) -> bool:
    """Connection-level failures (server restarted, connections killed, pool exhausted)."""
    if exc is None:
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (SATimeoutError, OSError, ConnectionError, InterfaceError, OperationalError)):
        return True
    cause = exc.__cause__ or getattr(exc, "orig", None)
    return cause is not None and type(cause).__name__ in _DB_DOWN_CAUSES


def _request_error(error: GraphQLError, code: str) -> dict[str, Any]:
    """A syntax or validation error, with its code and without field suggestions."""
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    formatted["extensions"] = {"code": code, **(error.extensions or {})}
    return formatted


def _format_error(error: GraphQLError, rid: str) -> dict[str, Any]:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error [%s]", rid, exc_info=original)
        return {
            "message": MASKED_MESSAGE,
            "path": error.path,
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        }
    formatted = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    return formatted
