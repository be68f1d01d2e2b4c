"""Starlette app factory: /graphql (GraphiQL on GET, subscriptions over WebSocket), /healthz, /readyz,
/metrics, the analysts' page /analytics and its CSV export.

The app wires the long-lived services (:mod:`pdo_graph.services`), the ``/graphql`` endpoints (HTTP:
:mod:`pdo_graph.transport.endpoint`; WebSocket: :mod:`pdo_graph.transport.websocket`) and the middleware that gives every request its id, metric
and log line (:mod:`pdo_graph.transport.middleware`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from pdo_graph import graphiql
from pdo_graph.config import Settings
from pdo_graph.crypto import personal_data_keys
from pdo_graph.db.engine import Database, open_database
from pdo_graph.db.reads import open_read_pool
from pdo_graph.graphql_schema import build_schema
from pdo_graph.net import is_loopback
from pdo_graph.observability import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pdo_graph.services import Services, make_verifier, open_live
from pdo_graph.transport.analytics import AnalyticsPages
from pdo_graph.transport.compression import Compression, choose
from pdo_graph.transport.contracts import ContractDocuments
from pdo_graph.transport.endpoint import GraphQLEndpoint
from pdo_graph.transport.execution import MIN_LSN_HEADER
from pdo_graph.transport.middleware import RequestObserver
from pdo_graph.transport.settlement import SettlementExport
from pdo_graph.transport.websocket import LiveEndpoint

log = logging.getLogger("pdo_graph")

DEV_MODE_LOOPBACK_ONLY = "PDO_AUTH_MODE=dev may only listen on loopback (set PDO_DEV_FORCE=1 to override)"


ALLOWED_HEADERS = ("authorization", "content-type", "accept-language", "x-request-id", "traceparent")


def check_dev_mode(settings: Settings) -> None:
    """Dev mode (the server signs its own tokens) listens on loopback only, unless ``PDO_DEV_FORCE=1``."""
    if settings.auth_mode == "dev" and not is_loopback(settings.host) and not settings.dev_force:
        raise RuntimeError(DEV_MODE_LOOPBACK_ONLY)


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    check_dev_mode(settings)
    schema = build_schema(settings)
    services = Services(settings)
    services.metrics.region.labels(settings.region_code).set(1)
    assets_dir = settings.data_dir / "assets"
    if database is not None:
        services.database = database
        services.owns_database = False

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services.database is None:
            services.database = await open_database(settings)
        personal_data_keys(settings)  # outside dev mode, no start without PDO_PERSONAL_DATA_KEYS
        if services.database.direct_engine is None:  # behind a pooler, reads take SQLAlchemy's pooled path
            services.reads = await open_read_pool(services.database.url, settings.db_pool_size)
            if services.database.replica is not None:
                replica_url = services.database.replica.engine.url.render_as_string(hide_password=False)
                services.replica_reads = await open_read_pool(replica_url, settings.db_pool_size)
        services.tracing.instrument(services.database.engine)
        if services.reads is not None:
            services.tracing.instrument_reads(services.reads, services.database.url)
        if services.database.replica is not None:  # the replica's statements traced as the primary's
            replica_engine = services.database.replica.engine
            services.tracing.instrument(replica_engine)
            if services.replica_reads is not None:
                services.tracing.instrument_reads(services.replica_reads, replica_engine.url.render_as_string())
        services.metrics.track_pool(services.database.engine.pool)
        services.metrics.track_writes(services.writes)
        services.verifier = make_verifier(settings)
        services.live = open_live(services)
        if not graphiql.assets_present(assets_dir):
            try:
                await asyncio.to_thread(graphiql.ensure_assets, assets_dir)
            except Exception as exc:
                log.warning("GraphiQL assets unavailable: %s", exc)
        if settings.background_jobs:  # a worker of the job queue in this process (`serve --with-worker`)
            from pdo_graph.jobs.worker import run_worker_in_server

            worker = run_worker_in_server(services.database, settings)
            services.background = [asyncio.create_task(worker, name="pdo-queue-worker")]
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
            if services.live is not None:
                await services.live.hub.close()
            services.tracing.shutdown()
            services.gate_thread.shutdown(wait=False, cancel_futures=True)
            for pool in (services.reads, services.replica_reads):
                if pool is not None:
                    await pool.close()
            services.reads = services.replica_reads = None
            if services.owns_database and services.database is not None:
                await services.database.dispose()

    async def metrics(request: Request) -> Response:
        return Response(services.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def graphiql_asset(request: Request) -> Response:
        """GraphiQL's files, compressed once when fetched: brotli or gzip as the client accepts."""
        name = request.path_params["name"]
        media = graphiql.ASSET_TYPES.get(name)
        if media is None or not (assets_dir / name).is_file():
            return PlainTextResponse("not found", status_code=404)
        headers = {"cache-control": "public, max-age=86400"}
        offered = tuple(c for c, suffix in graphiql.CODINGS.items() if (assets_dir / f"{name}{suffix}").is_file())
        coding = choose(request.headers.get("accept-encoding"), offered)
        if coding is None:  # the compression middleware adds Vary
            return FileResponse(assets_dir / name, media_type=media, headers=headers)
        path = assets_dir / f"{name}{graphiql.CODINGS[coding]}"
        headers.update({"content-encoding": coding, "vary": "Accept-Encoding"})
        return FileResponse(path, media_type=media, headers=headers)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        try:
            assert services.database is not None
            async with services.database.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
        except Exception:
            return JSONResponse({"status": "unavailable", "region": settings.region_code}, status_code=503)
        return JSONResponse({"status": "ready", "region": settings.region_code})

    middleware = [Middleware(RequestObserver, metrics=services.metrics), Middleware(Compression)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[*ALLOWED_HEADERS, MIN_LSN_HEADER],
                expose_headers=["x-request-id", "etag", MIN_LSN_HEADER],
            )
        )
    app = Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(schema, services, assets_dir).handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", LiveEndpoint(schema, services).handle),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/graphiql/{name}", graphiql_asset),
            *AnalyticsPages(services).routes(),
            *SettlementExport(services).routes(),
            *ContractDocuments(services).routes(),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    return app
