"""``/graphql``: GraphiQL on a browser's GET; otherwise authenticate, read the request, pass the gate,
build the request's actor and context, execute, and answer (masking unexpected faults).

The request id, the metric and the log line are the middleware's (:mod:`.middleware`); the endpoint
tells it the outcome with :func:`~.middleware.observe`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.types import ExecutionResult

from pdo_graph import graphiql
from pdo_graph.auth.actor import resolve_actor
from pdo_graph.auth.oidc import IssuerUnavailable
from pdo_graph.auth.principal import AuthError, Principal
from pdo_graph.db.session import RequestDb
from pdo_graph.graphql_schema import Schema
from pdo_graph.limits import Invalid, Prepared, Refused
from pdo_graph.observability import OTHER
from pdo_graph.schema.context import Context
from pdo_graph.services import Services
from pdo_graph.transport.execution import (
    authenticate,
    format_error,
    is_database_down,
    prepare,
    request_error,
    unavailable_error,
)
from pdo_graph.transport.middleware import Observation, observe
from pdo_graph.transport.params import (
    GRAPHQL_RESPONSE_JSON,
    check_params,
    json_response,
    lang,
    read_params,
    response_media,
)


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
            principal = await authenticate(self.services, request.headers.get("authorization"))
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

    async def _run(self, request: Request, principal: Principal, params: dict[str, Any], media: str) -> Response:
        rid: str = request.state.request_id
        query: str = params["query"]
        variables: dict[str, Any] = params.get("variables") or {}
        operation_name: str | None = params.get("operationName")
        prepared = await prepare(self.schema, self.services, query, operation_name, variables)
        if isinstance(prepared, Refused):
            observe(request.scope, Observation(OTHER, "refused"))
            extensions = {"cost": prepared.extra.get("cost", 0), "requestId": rid}
            return json_response(
                {"errors": [prepared.error(lang(request))], "extensions": extensions}, 400, None, media
            )
        if isinstance(prepared, Invalid):
            observe(request.scope, Observation(OTHER, "invalid"))
            errors = [request_error(e, prepared.code) for e in prepared.errors]
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
            if not is_database_down(exc):
                raise
            observe(request.scope, Observation(operation, "unavailable"))
            return _unavailable(rid, media)
        finally:
            await db.close()
        if result.errors and any(is_database_down(e.original_error) for e in result.errors):
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
        body["errors"] = [format_error(e, rid) for e in result.errors]
        outcome = "error"
        if not executed and media == GRAPHQL_RESPONSE_JSON:
            status = 400
    if executed:
        body["data"] = result.data
    body["extensions"] = {"cost": cost, "requestId": rid}
    return body, status, outcome


def _unavailable(rid: str, media: str) -> Response:
    return json_response({"errors": [unavailable_error(rid)]}, 503, {"retry-after": "1"}, media)
