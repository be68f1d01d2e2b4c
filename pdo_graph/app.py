"""Starlette app factory: /graphql (GraphiQL on GET), /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import orjson
from graphql import GraphQLError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pdo_graph import graphiql
from pdo_graph.auth.oidc import IssuerUnavailable, OidcVerifier
from pdo_graph.auth.principal import ANONYMOUS, AuthError, ClaimNames, Principal
from pdo_graph.auth.tokens import DevVerifier, TokenVerifier, load_or_create_dev_key
from pdo_graph.config import Settings
from pdo_graph.crypto import personal_data_keys
from pdo_graph.db.engine import Database, open_database
from pdo_graph.db.session import RequestDb
from pdo_graph.limits import count_tokens, parse_cached, query_cost
from pdo_graph.observability import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pdo_graph.observability import Metrics, bind_request_id
from pdo_graph.schema.context import Context
from pdo_graph.schema.root import build_schema
from pdo_graph.web import analytics as analytics_web

log = logging.getLogger("pdo_graph")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
MASKED_MESSAGE = "Внутренняя ошибка сервера"
DB_UNAVAILABLE = "База данных временно недоступна, повторите запрос"
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


class Services:
    """Long-lived parts of the running app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database: Database | None = None
        self.verifier: TokenVerifier | None = None
        self.owns_database = True
        self.background: list[asyncio.Task[None]] = []
        self.metrics = Metrics()


def make_verifier(settings: Settings) -> TokenVerifier:
    if settings.auth_mode == "oidc":
        if not settings.oidc_issuer:
            raise RuntimeError("PDO_AUTH_MODE=oidc needs PDO_OIDC_ISSUER")
        return OidcVerifier(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            algorithms=settings.oidc_algorithms,
            names=ClaimNames(
                role=settings.oidc_role_claim,
                provider=settings.oidc_provider_claim,
                municipality=settings.oidc_municipality_claim,
                machine_role=settings.oidc_machine_role,
            ),
        )
    if settings.auth_mode == "dev":
        return DevVerifier(load_or_create_dev_key(settings.data_dir))
    raise RuntimeError(f"unknown PDO_AUTH_MODE {settings.auth_mode!r}")


def _lang(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "ru"


def _json(
    data: Any, status: int = 200, headers: dict[str, str] | None = None, media: str = "application/json"
) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type=media)


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    schema = build_schema(settings)
    services = Services(settings)
    assets_dir = settings.data_dir / "assets"
    if database is not None:
        services.database = database
        services.owns_database = False

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services.database is None:
            services.database = await open_database(settings)
        personal_data_keys(settings)  # outside dev mode, no start without PDO_PERSONAL_DATA_KEYS
        services.verifier = make_verifier(settings)
        if not graphiql.assets_present(assets_dir):
            try:
                await asyncio.to_thread(graphiql.ensure_assets, assets_dir)
            except Exception as exc:
                log.warning("GraphiQL assets unavailable: %s", exc)
        from pdo_graph.jobs import start_background_jobs

        if settings.background_jobs:
            services.background = start_background_jobs(services.database.engine, settings)
        if settings.background_jobs and settings.sync_background:
            from pdo_graph.integrations.runner import start_background_sync

            services.background.append(start_background_sync(services.database.engine, settings, services.metrics))
        try:
            yield
        finally:
            for task in services.background:
                task.cancel()
            for task in services.background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await services.verifier.aclose()
            if services.owns_database and services.database is not None:
                await services.database.dispose()

    async def authenticate(request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Ожидается заголовок Authorization: Bearer <токен>")
        assert services.verifier is not None
        return await services.verifier.verify(token.strip())

    async def graphql(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        bind_request_id(request_id)
        headers = {"x-request-id": request_id}
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            page = graphiql.PAGE if graphiql.assets_present(assets_dir) else graphiql.MISSING
            return HTMLResponse(page, headers=headers)
        try:
            principal = await authenticate(request)
        except IssuerUnavailable as exc:
            return _json({"errors": [{"message": exc.message}]}, 503, headers)
        except AuthError as exc:
            headers["www-authenticate"] = 'Bearer error="invalid_token"'
            return _json({"errors": [{"message": exc.message}]}, 401, headers)
        params, error = await _read_params(request, settings)
        if error is not None:
            error.headers.update(headers)
            return error
        accept = request.headers.get("accept", "")
        media = GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in accept else "application/json"
        query = params.get("query")
        if not isinstance(query, str) or not query.strip():
            return _json({"errors": [{"message": "В запросе нет поля query"}]}, 400, headers, media)
        variables = params.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return _json({"errors": [{"message": "variables должен быть объектом"}]}, 400, headers, media)
        operation_name = params.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            return _json({"errors": [{"message": "operationName должен быть строкой"}]}, 400, headers, media)
        cost, refusal = _check_cost(query, operation_name, variables or {}, settings, context_lang := _lang(request))
        if refusal is not None:
            status = 400 if media == GRAPHQL_RESPONSE_JSON else 200
            services.metrics.observe(operation_name, "refused", 0.0)
            return _json(
                {"errors": [refusal], "extensions": {"cost": cost, "requestId": request_id}}, status, headers, media
            )
        assert services.database is not None
        db = RequestDb(services.database.engine)
        context = Context(
            principal=principal,
            db=db,
            settings=settings,
            lang=context_lang,
            today=date.today(),
            request_id=request_id,
            services={"metrics": services.metrics},
        )
        started = time.perf_counter()
        try:
            if request.method == "GET" and _is_mutation(query, settings.max_tokens):
                return _json(
                    {"errors": [{"message": "Мутации только методом POST"}]}, 405, {**headers, "allow": "POST"}, media
                )
            result = await schema.execute(
                query, variable_values=variables, context_value=context, operation_name=operation_name
            )
        finally:
            await db.close()
        elapsed = time.perf_counter() - started
        body: dict[str, Any] = {}
        status = 200
        executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
        outcome = "ok"
        if result.errors:
            if any(_is_database_down(e.original_error) for e in result.errors):
                services.metrics.observe(operation_name, "unavailable", elapsed)
                return _json(
                    {
                        "errors": [
                            {
                                "message": DB_UNAVAILABLE,
                                "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": request_id},
                            }
                        ]
                    },
                    503,
                    {**headers, "retry-after": "1"},
                    media,
                )
            body["errors"] = [_format_error(e, request_id) for e in result.errors]
            outcome = "error"
            if not executed and media == GRAPHQL_RESPONSE_JSON:
                status = 400
        if executed:
            body["data"] = result.data
        body["extensions"] = {"cost": cost, "requestId": request_id}
        services.metrics.observe(operation_name, outcome, elapsed)
        log.info(
            "graphql request",
            extra={
                "request_id": request_id,
                "operation": operation_name,
                "ms": round(elapsed * 1000, 1),
                "role": principal.role.value if principal.role else "ANONYMOUS",
                "cost": cost,
                "outcome": outcome,
            },
        )
        return _json(body, status, headers, media)

    async def metrics(request: Request) -> Response:
        pool = services.database.engine.pool if services.database is not None else None
        return Response(services.metrics.render(pool), media_type=METRICS_CONTENT_TYPE)

    async def graphiql_asset(request: Request) -> Response:
        name = request.path_params["name"]
        media = graphiql.ASSET_TYPES.get(name)
        if media is None or not (assets_dir / name).is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(assets_dir / name, media_type=media, headers={"cache-control": "public, max-age=86400"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        try:
            assert services.database is not None
            async with services.database.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "accept-language"],
            )
        )
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/graphiql/{name}", graphiql_asset),
            *analytics_web.routes(lambda: _engine(services), settings),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def _engine(services: Services) -> Any:
    assert services.database is not None
    return services.database.engine


def _is_mutation(query: str, max_tokens: int) -> bool:
    from graphql import OperationType

    try:
        doc = parse_cached(query, max_tokens)  # already parsed for the cost check: a cache hit
    except GraphQLError:
        return False
    return any(getattr(d, "operation", None) == OperationType.MUTATION for d in doc.definitions)


async def _read_params(request: Request, settings: Settings) -> tuple[dict[str, Any], Response | None]:
    if request.method == "GET":
        q = request.query_params
        params: dict[str, Any] = {"query": q.get("query"), "operationName": q.get("operationName")}
        if q.get("variables"):
            try:
                params["variables"] = orjson.loads(q["variables"])
            except orjson.JSONDecodeError:
                return {}, _json({"errors": [{"message": "variables: некорректный JSON"}]}, 400)
        return params, None
    content_type = request.headers.get("content-type", "")
    if "application/json" not in content_type:
        return {}, _json({"errors": [{"message": "Ожидается Content-Type: application/json"}]}, 415)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
        return {}, _json({"errors": [{"message": "Слишком большой запрос"}]}, 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_body_bytes:
            return {}, _json({"errors": [{"message": "Слишком большой запрос"}]}, 413)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}, _json({"errors": [{"message": "Тело запроса — некорректный JSON"}]}, 400)
    if not isinstance(data, dict):
        return {}, _json({"errors": [{"message": "Пакетные запросы не поддерживаются"}]}, 400)
    return data, None


def _check_cost(
    query: str, operation_name: str | None, variables: dict[str, Any], settings: Settings, lang: str
) -> tuple[int, dict[str, Any] | None]:
    """The query's cost, and a refusal when it is above the maximum (before touching the database)."""
    tokens = count_tokens(query)
    if tokens > settings.max_tokens:
        message = (
            f"The document has about {tokens} tokens, more than {settings.max_tokens}"
            if lang == "en"
            else f"В запросе около {tokens} лексем, больше допустимых {settings.max_tokens}"
        )
        return 0, {"message": message, "extensions": {"code": "QUERY_TOO_LARGE", "maxTokens": settings.max_tokens}}
    try:
        document = parse_cached(query, settings.max_tokens) if len(query) <= settings.max_body_bytes else None
    except GraphQLError:
        return 0, None  # the schema reports syntax errors and token limits itself
    if document is None:
        return 0, None
    try:
        cost = query_cost(document, operation_name, variables)
    except GraphQLError as exc:
        return 0, {"message": exc.message, "extensions": {"code": "QUERY_TOO_COMPLEX"}}
    if cost > settings.max_cost:
        message = (
            f"Query cost {cost} exceeds the maximum {settings.max_cost}"
            if lang == "en"
            else f"Стоимость запроса {cost} больше допустимой {settings.max_cost}: уменьшите first или вложенность"
        )
        return cost, {
            "message": message,
            "extensions": {"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": settings.max_cost},
        }
    return cost, None


def _is_database_down(exc: BaseException | None) -> bool:
    """Connection-level failures (server restarted, connections killed, pool exhausted)."""
    if exc is None:
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (SATimeoutError, OSError, ConnectionError)):
        return True
    if isinstance(exc, (InterfaceError, OperationalError)):
        return True
    cause = exc.__cause__ or getattr(exc, "orig", None)
    name = type(cause).__name__ if cause is not None else ""
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "AdminShutdownError",
        "ConnectionFailureError",
        "InterfaceError",
    }


def _format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error [%s]", request_id, exc_info=original)
        return {
            "message": MASKED_MESSAGE,
            "path": error.path,
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        }
    formatted = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    return formatted
