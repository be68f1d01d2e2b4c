"""``/graphql``: GraphiQL on a browser's GET; otherwise authenticate, read the request, find its
document (text, or persisted: :mod:`.documents`), pass the gate, build the request's actor and
context, execute, and answer: every error with its code and the request id in the request's
language (:mod:`.errors`), public navigator GETs cacheable (:mod:`.caching`), unexpected faults
masked.

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

import orjson
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
from pdo_graph.resolvers.node import PUBLIC_NODE_TYPES
from pdo_graph.schema.context import Context
from pdo_graph.services import Services
from pdo_graph.transport import caching, errors
from pdo_graph.transport.documents import Resolved, resolve, wants_persisted
from pdo_graph.transport.middleware import Observation, observe
from pdo_graph.transport.params import (
    GRAPHQL_RESPONSE_JSON,
    Refusal,
    check_params,
    json_response,
    lang,
    read_params,
    response_media,
)

log = logging.getLogger("pdo_graph")

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
        rid: str = request.state.request_id
        language = lang(request)
        media = response_media(request)
        try:
            principal = await self._authenticate(request)
        except IssuerUnavailable:
            return errors.refusal(503, errors.SERVICE_UNAVAILABLE, "issuer_unavailable", language, rid, media)
        except AuthError as exc:
            refused = {"message": exc.text(language), "extensions": {"code": errors.UNAUTHENTICATED, "requestId": rid}}
            return errors.respond(401, [refused], rid, media, {"www-authenticate": 'Bearer error="invalid_token"'})
        params = await read_params(request, self.settings.max_body_bytes)
        if isinstance(params, Refusal):
            return _refused(params, language, rid, media)
        problem = check_params(params, query_required=not wants_persisted(params))
        if problem is not None:
            return _refused(problem, language, rid, media)
        document = resolve(self.services.documents, params)
        if isinstance(document, Refusal):
            observe(request.scope, Observation(OTHER, "refused"))
            return _refused(document, language, rid, media)
        return await self._run(request, principal, params, document, media)

    async def _authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(errors.message("auth_header", "ru"), errors.message("auth_header", "en"))
        assert self.services.verifier is not None
        return await self.services.verifier.verify(token.strip())

    async def _prepare(self, query: str, operation_name: str | None, variables: dict[str, Any]) -> Any:
        gate = self.schema.gate
        if gate.knows(query):
            return gate.prepare(query, operation_name, variables)
        # a new document is parsed and validated off the event loop: /healthz and others keep answering
        prepare = functools.partial(gate.prepare, query, operation_name, variables)
        return await asyncio.get_running_loop().run_in_executor(self.services.gate_thread, prepare)

    async def _execute(
        self,
        principal: Principal,
        query: str,
        variables: dict[str, Any],
        operation_name: str | None,
        language: str,
        rid: str,
    ) -> ExecutionResult:
        """Run the document with the request's actor and context on one request connection."""
        assert self.services.database is not None
        db = RequestDb(self.services.database.engine)
        try:
            actor = await resolve_actor(principal, db.read)
            context = Context(
                principal=principal,
                actor=actor,
                db=db,
                settings=self.settings,
                lang=language,
                today=date.today(),
                request_id=rid,
                services={"metrics": self.services.metrics},
            )
            return await self.schema.execute(
                query, variable_values=variables, context_value=context, operation_name=operation_name
            )
        finally:
            await db.close()

    async def _run(
        self, request: Request, principal: Principal, params: dict[str, Any], document: Resolved, media: str
    ) -> Response:
        rid: str = request.state.request_id
        language = lang(request)
        query = document.query
        variables: dict[str, Any] = params.get("variables") or {}
        operation_name: str | None = params.get("operationName")
        prepared = await self._prepare(query, operation_name, variables)
        if isinstance(prepared, Refused):
            observe(request.scope, Observation(OTHER, "refused"))
            extensions = {"cost": prepared.extra.get("cost", 0), "requestId": rid}
            body = {"errors": errors.contract([prepared.error(language)], rid, prepared.code), "extensions": extensions}
            return json_response(body, 400, caching.NO_STORE, media)
        if isinstance(prepared, Invalid):
            observe(request.scope, Observation(OTHER, "invalid"))
            found = [_library_error(e, language) for e in prepared.errors]
            status = 400 if media == GRAPHQL_RESPONSE_JSON else 200
            body = {"errors": errors.contract(found, rid, prepared.code), "extensions": {"cost": 0, "requestId": rid}}
            return json_response(body, status, caching.NO_STORE, media)
        assert isinstance(prepared, Prepared)
        if document.register and document.key is not None:
            self.services.documents.register(document.key, query)
        operation = prepared.operation.name.value if prepared.operation.name else None
        kind = prepared.operation.operation
        if request.method == "GET" and kind is OperationType.MUTATION:
            return errors.refusal(
                405, errors.METHOD_NOT_ALLOWED, "mutation_get", language, rid, media, {"allow": "POST"}
            )
        role = principal.role.value if principal.role else "ANONYMOUS"
        with self.services.tracing.operation(operation, kind.value, request.headers, rid) as span:
            try:
                result = await self._execute(principal, query, variables, operation_name, language, rid)
                down = any(_is_database_down(e.original_error) for e in result.errors or ())
            except Exception as exc:
                down = _is_database_down(exc)
                if not down:
                    log.error("unexpected error [%s]", rid, exc_info=exc)
                    observe(request.scope, Observation(operation, "error"))
                    _traced(span, "error")
                    return errors.refusal(500, errors.INTERNAL_SERVER_ERROR, "internal", language, rid, media)
            if down:
                observe(request.scope, Observation(operation, "unavailable"))
                _traced(span, "unavailable")
                headers = {"retry-after": "1"}
                return errors.refusal(503, errors.SERVICE_UNAVAILABLE, "db_unavailable", language, rid, media, headers)
            body, status, outcome = _answer(result, rid, prepared.cost, media, language)
            _traced(span, outcome, role, prepared.cost)
        observe(request.scope, Observation(operation, outcome, ran=True, role=role, cost=prepared.cost))
        public = (
            request.method == "GET"
            and principal.anonymous
            and outcome == "ok"
            and caching.public_query(prepared.document, prepared.operation, variables, PUBLIC_NODE_TYPES)
        )
        if not public:
            return json_response(body, status, caching.NO_STORE, media)
        content = orjson.dumps(body)
        tag = caching.etag(orjson.dumps(body["data"]))  # weak: the same data, whatever the request id
        headers = caching.public_headers(tag, self.settings.cache_max_age)
        if caching.matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        return Response(content, status_code=status, headers=headers, media_type=media)


def _refused(refusal: Refusal, language: str, rid: str, media: str) -> Response:
    return errors.refusal(refusal.status, refusal.code, refusal.key, language, rid, media, **refusal.params)


def _traced(span: Any, outcome: str, role: str | None = None, cost: int | None = None) -> None:
    """The operation's outcome on its span (nothing when tracing is off)."""
    if span is None:
        return
    span.set_attribute("pdo.outcome", outcome)
    if role is not None:
        span.set_attribute("pdo.role", role)
    if cost is not None:
        span.set_attribute("pdo.cost", cost)
    if outcome != "ok":
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, outcome))


def _answer(result: ExecutionResult, rid: str, cost: int, media: str, language: str) -> tuple[dict[str, Any], int, str]:
    """The body, the status and the outcome of an executed request."""
    body: dict[str, Any] = {}
    status = 200
    executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
    outcome = "ok"
    if result.errors:
        body["errors"] = errors.contract(
            [_format_error(e, rid, language) for e in result.errors], rid, errors.BAD_USER_INPUT
        )
        outcome = "error"
        if not executed and media == GRAPHQL_RESPONSE_JSON:
            status = 400
    if executed:
        body["data"] = result.data
    body["extensions"] = {"cost": cost, "requestId": rid}
    return body, status, outcome


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


def _library_error(error: GraphQLError, language: str) -> dict[str, Any]:
    """A syntax, validation or variable error of the library: without field suggestions, in ``language``."""
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    return errors.localize(formatted, language)


def _format_error(error: GraphQLError, rid: str, language: str) -> dict[str, Any]:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error [%s]", rid, exc_info=original)
        return {
            "message": errors.message("internal", language),
            "path": error.path,
            "extensions": {"code": errors.INTERNAL_SERVER_ERROR},
        }
    if error.extensions and "code" in error.extensions:
        formatted = dict(error.formatted)
        formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
        return formatted
    # the library's own (a variable's value refused while coercing it): translated, BAD_USER_INPUT
    return _library_error(error, language)
