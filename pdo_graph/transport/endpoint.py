"""``/graphql``: GraphiQL on a browser's GET; otherwise authenticate, read the request, find its
document (text, or persisted: :mod:`.documents`), pass the gate, build the request's actor and
context, execute, and answer: every error with its code and the request id in the request's
language (:mod:`.errors`), public navigator GETs cacheable (:mod:`.caching`), unexpected faults
masked. What the WebSocket side shares with this is :mod:`.execution`.

The request id, the metric and the log line are the middleware's (:mod:`.middleware`); the endpoint
tells it the outcome with :func:`~.middleware.observe`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.types import ExecutionResult

from pdo_graph import graphiql
from pdo_graph.auth.actor import resolve_actor
from pdo_graph.auth.oidc import IssuerUnavailable
from pdo_graph.auth.principal import AuthError, Principal
from pdo_graph.db.admission import WritesBusy
from pdo_graph.db.replica import format_lsn, parse_lsn
from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import Actor
from pdo_graph.graphql_schema import Schema
from pdo_graph.limits import Prepared, Refused
from pdo_graph.observability import OTHER
from pdo_graph.resolvers.node import PUBLIC_NODE_TYPES
from pdo_graph.services import Services
from pdo_graph.tracing import Tracing
from pdo_graph.transport import caching, errors
from pdo_graph.transport.documents import Resolved, resolve, wants_persisted
from pdo_graph.transport.execution import (
    MIN_LSN_HEADER,
    WrongRegion,
    authenticate,
    caller_key,
    context,
    is_database_down,
    may_read_lagging,
    prepare,
)
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
from pdo_graph.transport.plans import Fallback, Plans

log = logging.getLogger(__name__)


class GraphQLEndpoint:
    """The ``/graphql`` route of one app."""

    def __init__(self, schema: Schema, services: Services, assets_dir: Path) -> None:
        self.schema = schema
        self.services = services
        self.settings = services.settings
        self.assets_dir = assets_dir
        self.plans = Plans(schema._schema)

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(graphiql.PAGE if graphiql.assets_present(self.assets_dir) else graphiql.MISSING)
        rid: str = request.state.request_id
        language = lang(request)
        media = response_media(request)
        try:
            principal = await authenticate(self.services, request.headers.get("authorization"))
        except IssuerUnavailable:
            return errors.refusal(503, errors.SERVICE_UNAVAILABLE, "issuer_unavailable", language, rid, media)
        except WrongRegion as exc:  # 421 Misdirected Request: the balancer or the client chose the wrong region
            refused = errors.error(errors.WRONG_REGION, "wrong_region", language, rid, region=exc.region, here=exc.here)
            refused["extensions"]["region"] = exc.region
            return errors.respond(421, [refused], rid, media)
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

    async def _execute(
        self,
        principal: Principal,
        query: str,
        variables: dict[str, Any],
        operation_name: str | None,
        language: str,
        rid: str,
        prepared: Prepared,
        lag_tolerant: bool,
        carried: int | None,
    ) -> tuple[ExecutionResult, int | None]:
        """Run the document with the request's actor and context on one request connection; the
        result, and after a mutation the primary's WAL position (with a replica; None otherwise).
        A query runs by its compiled plan (:mod:`.plans`), else (or when the plan leaves it to it) by
        the schema.

        A lag-tolerant query (:func:`~.execution.may_read_lagging`) reads the replica while it is fresh
        enough and has replayed the caller's last write: the position remembered in this process or
        the one the client carried (``carried``), whichever is later."""
        kind = prepared.operation.operation
        database = self.services.database
        assert database is not None
        replica = database.replica
        caller = caller_key(principal)
        reads_from = None
        if replica is not None and lag_tolerant:
            remembered = None if caller is None else replica.written_by(caller)
            after = max((p for p in (remembered, carried) if p is not None), default=None)
            reads_from = await replica.reads_engine(after)
        db = self.services.request_db(reads_from)
        on_replica = replica is not None and reads_from is replica.engine
        self.services.metrics.read_sources.labels("replica" if on_replica else "primary").inc()
        try:
            actor = await resolve_actor(principal, db.read)
            result = None
            if kind is OperationType.QUERY:
                result = await self._by_plan(query, operation_name, prepared, variables, actor, db, language, rid)
            if result is None:
                result = await self.schema.execute(
                    query,
                    variable_values=variables,
                    context_value=context(self.services, actor, db, language, rid),
                    operation_name=operation_name,
                )
            position = None
            if replica is not None and kind is OperationType.MUTATION:
                try:
                    position = await db.written_position()
                except Exception as exc:  # the mutation has committed: its answer stands, without a position
                    log.warning("WAL position after a mutation unknown: %s", type(exc).__name__)
                if caller is not None and position is not None:
                    replica.remember(caller, position)
            return result, position
        finally:
            await db.close()

    async def _by_plan(
        self,
        query: str,
        operation_name: str | None,
        prepared: Prepared,
        variables: dict[str, Any],
        actor: Actor,
        db: RequestDb,
        language: str,
        rid: str,
    ) -> ExecutionResult | None:
        """The result of a query by its compiled plan, or None when the schema must answer it (no plan,
        or the plan left it: then with a context of its own)."""
        plan = self.plans.get(query, operation_name, prepared.document, prepared.operation)
        if plan is None:
            return None
        ctx = context(self.services, actor, db, language, rid)
        try:
            data = await plan.run(ctx, variables)
        except Fallback:
            return None
        try:  # as PersonalDataAudit does after the general path's execution
            await ctx.flush_audit()
        except Exception as exc:
            return ExecutionResult(data=None, errors=[GraphQLError("audit log unavailable", original_error=exc)])
        return ExecutionResult(data=data, errors=None)

    async def _run(
        self, request: Request, principal: Principal, params: dict[str, Any], document: Resolved, media: str
    ) -> Response:
        rid: str = request.state.request_id
        language = lang(request)
        query = document.query
        variables: dict[str, Any] = params.get("variables") or {}
        operation_name: str | None = params.get("operationName")
        prepared = await prepare(self.schema, self.services, document, operation_name, variables)
        if not isinstance(prepared, Prepared):
            refused = errors.rejected(prepared, rid, language)
            if isinstance(prepared, Refused):  # a limit: 400 whatever the media type, with the cost it found
                observe(request.scope, Observation(OTHER, "refused"))
                status, cost = 400, prepared.extra.get("cost", 0)
            else:  # syntax or validation: 400 only where GraphQL over HTTP's media type says so
                observe(request.scope, Observation(OTHER, "invalid"))
                status, cost = (400 if media == GRAPHQL_RESPONSE_JSON else 200), 0
            body = {"errors": refused, "extensions": {"cost": cost, "requestId": rid}}
            return json_response(body, status, caching.NO_STORE, media)
        operation = prepared.operation.name.value if prepared.operation.name else None
        kind = prepared.operation.operation
        if request.method == "GET" and kind is OperationType.MUTATION:
            return errors.refusal(
                405, errors.METHOD_NOT_ALLOWED, "mutation_get", language, rid, media, {"allow": "POST"}
            )
        role = principal.role.value if principal.role else "ANONYMOUS"
        with self.services.tracing.operation(operation, kind.value, request.headers, rid) as span:
            position: int | None = None
            try:
                carried = parse_lsn(request.headers.get(MIN_LSN_HEADER))
                tolerant = may_read_lagging(prepared.document, prepared.operation)
                result, position = await self._execute(
                    principal, query, variables, operation_name, language, rid, prepared, tolerant, carried
                )
                down = any(is_database_down(e.original_error) for e in result.errors or ())
                busy = any(isinstance(e.original_error, WritesBusy) for e in result.errors or ())
            except Exception as exc:
                down, busy = is_database_down(exc), isinstance(exc, WritesBusy)
                if not (down or busy):
                    observe(request.scope, Observation(operation, "error"))
                    Tracing.record(span, "error")
                    fault = errors.masked(rid, language, exc)
                    return errors.respond(500, [fault], rid, media)
            if busy:  # admission control refused a write: nothing was written (docs/errors.md)
                observe(request.scope, Observation(operation, "overloaded"))
                Tracing.record(span, "overloaded")
                retry = {"retry-after": str(WritesBusy.retry_after)}
                return errors.respond(503, [errors.overloaded(rid, language)], rid, media, retry)
            if down:
                observe(request.scope, Observation(operation, "unavailable"))
                Tracing.record(span, "unavailable")
                return errors.respond(503, [errors.unavailable(rid, language)], rid, media, {"retry-after": "1"})
            body, status, outcome = _answer(result, rid, prepared.cost, media, language)
            Tracing.record(span, outcome, role, prepared.cost)
        observe(request.scope, Observation(operation, outcome, ran=True, role=role, cost=prepared.cost))
        public = (
            request.method == "GET"
            and principal.anonymous
            and outcome == "ok"
            and caching.public_query(prepared.document, prepared.operation, variables, PUBLIC_NODE_TYPES)
        )
        if not public:
            written = {} if position is None else {MIN_LSN_HEADER: format_lsn(position)}
            return json_response(body, status, {**caching.NO_STORE, **written}, media)
        content = orjson.dumps(body)
        tag = caching.etag(orjson.dumps(body["data"]))  # weak: the same data, whatever the request id
        headers = caching.public_headers(tag, self.settings.cache_max_age)
        if caching.matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        return Response(content, status_code=status, headers=headers, media_type=media)


def _refused(refusal: Refusal, language: str, rid: str, media: str) -> Response:
    return errors.respond(refusal.status, [errors.refused(refusal, language, rid)], rid, media)


def _answer(result: ExecutionResult, rid: str, cost: int, media: str, language: str) -> tuple[dict[str, Any], int, str]:
    """The body, the status and the outcome of an executed request."""
    body: dict[str, Any] = {}
    status = 200
    executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
    outcome = "ok"
    if result.errors:
        body["errors"] = errors.executed(result.errors, rid, language)
        outcome = "error"
        if not executed and media == GRAPHQL_RESPONSE_JSON:
            status = 400
    if executed:
        body["data"] = result.data
    body["extensions"] = {"cost": cost, "requestId": rid}
    return body, status, outcome
