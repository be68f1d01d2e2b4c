"""Starlette app factory: /graphql (GraphiQL on GET), /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
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
from pdo_graph.limits import Invalid, Refused
from pdo_graph.net import is_loopback
from pdo_graph.observability import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pdo_graph.observability import OTHER, Metrics, bind_request_id
from pdo_graph.schema.context import Context
from pdo_graph.schema.root import build_schema

log = logging.getLogger("pdo_graph")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
MASKED_MESSAGE = "Внутренняя ошибка сервера"
DB_UNAVAILABLE = "База данных временно недоступна, повторите запрос"
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DEV_MODE_LOOPBACK_ONLY = "PDO_AUTH_MODE=dev may only listen on loopback (set PDO_DEV_FORCE=1 to override)"


def _request_id(given: str | None) -> str:
    """The client's ``x-request-id`` when it is short and plain (at most 64 of ``A-Z a-z 0-9 . _ -``),
    otherwise a new one."""
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def is_json_media_type(value: str) -> bool:
    """``application/json``, optionally with parameters (RFC 9110 media type; ``charset`` must be UTF-8)."""
    media, *parameters = value.split(";")
    if media.strip().lower() != "application/json":
        return False
    for parameter in parameters:
        name, eq, raw = parameter.strip().partition("=")
        if not eq or not _TOKEN_CHARS.fullmatch(name):
            return False
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
        arg = raw[1:-1] if quoted else raw
        if not quoted and not _TOKEN_CHARS.fullmatch(arg):
            return False
        if name.lower() == "charset" and arg.lower() not in ("utf-8", "utf8"):
            return False
    return True


class Services:
    """Long-lived parts of the running app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database: Database | None = None
        self.verifier: TokenVerifier | None = None
        self.owns_database = True
        self.background: list[asyncio.Task[None]] = []
        self.metrics = Metrics()
        # New documents are prepared (parsed, validated) here, one at a time: the event loop then
        # competes with one thread for the interpreter, however many hostile documents arrive.
        self.gate_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdo-gate")


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


def check_dev_mode(settings: Settings) -> None:
    """Dev mode (the server signs its own tokens) listens on loopback only, unless ``PDO_DEV_FORCE=1``."""
    if settings.auth_mode == "dev" and not is_loopback(settings.host) and not settings.dev_force:
        raise RuntimeError(DEV_MODE_LOOPBACK_ONLY)


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    check_dev_mode(settings)
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
            from pdo_graph.integrations.sync.scheduler import start_background_sync

            services.background.append(start_background_sync(services.database.engine, settings, services.metrics))
        # Objects made at startup (schema, tables, modules) are never garbage: keep full collections,
        # which a burst of parsed documents triggers, from scanning them again and again.
        gc.freeze()
        try:
            yield
        finally:
            for task in services.background:
                task.cancel()
            for task in services.background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await services.verifier.aclose()
            services.gate_thread.shutdown(wait=False, cancel_futures=True)
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
        request_id = _request_id(request.headers.get("x-request-id"))
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
        lang = _lang(request)
        gate = schema.gate
        if gate.knows(query):
            prepared = gate.prepare(query, operation_name, variables or {})
        else:  # a new document is parsed and validated off the event loop: /healthz and others keep answering
            prepare = functools.partial(gate.prepare, query, operation_name, variables or {})
            prepared = await asyncio.get_running_loop().run_in_executor(services.gate_thread, prepare)
        if isinstance(prepared, Refused):
            services.metrics.observe(OTHER, "refused", 0.0)
            extensions = {"cost": prepared.extra.get("cost", 0), "requestId": request_id}
            return _json({"errors": [prepared.error(lang)], "extensions": extensions}, 400, headers, media)
        if isinstance(prepared, Invalid):
            services.metrics.observe(OTHER, "invalid", 0.0)
            errors = [_request_error(e, prepared.code) for e in prepared.errors]
            status = 400 if media == GRAPHQL_RESPONSE_JSON else 200
            return _json({"errors": errors, "extensions": {"cost": 0, "requestId": request_id}}, status, headers, media)
        cost = prepared.cost
        operation = prepared.operation.name.value if prepared.operation.name else None
        if request.method == "GET" and prepared.operation.operation is OperationType.MUTATION:
            return _json(
                {"errors": [{"message": "Мутации только методом POST"}]}, 405, {**headers, "allow": "POST"}, media
            )
        assert services.database is not None
        db = RequestDb(services.database.engine)
        context = Context(
            principal=principal,
            db=db,
            settings=settings,
            lang=lang,
            today=date.today(),
            request_id=request_id,
            services={"metrics": services.metrics},
        )
        started = time.perf_counter()
        try:
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
                services.metrics.observe(operation, "unavailable", elapsed)
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
        services.metrics.observe(operation, outcome, elapsed)
        log.info(
            "graphql request",
            extra={
                "request_id": request_id,
                "operation": operation,
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
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    return app


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
    if not is_json_media_type(request.headers.get("content-type", "")):
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


def _request_error(error: GraphQLError, code: str) -> dict[str, Any]:
    """A syntax or validation error, with its code and without field suggestions."""
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    formatted["extensions"] = {"code": code, **(error.extensions or {})}
    return formatted


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
