"""The long-lived parts of the running app: database, token verifier, metrics, traces, persisted
documents, background tasks, and the live channel (the process's LISTEN connection and the reads
subscriptions share)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.auth.oidc import OidcVerifier
from pdo_graph.auth.principal import ClaimNames
from pdo_graph.auth.tokens import DevVerifier, TokenVerifier, VerifiedTokens, load_or_create_dev_key
from pdo_graph.config import Settings
from pdo_graph.db.admission import WriteGate
from pdo_graph.db.engine import Database, driver_url
from pdo_graph.db.reads import ReadPool
from pdo_graph.db.session import RequestDb
from pdo_graph.live import Hub
from pdo_graph.observability import Metrics
from pdo_graph.persisted import DocumentStore, load_manifest
from pdo_graph.reads.base import SharedReads
from pdo_graph.schema.context import Live
from pdo_graph.tracing import Tracing


class Services:
    """Long-lived parts of the running app (the database and the verifier are set by the lifespan)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database: Database | None = None
        self.reads: ReadPool | None = None  # opened by the lifespan: the GraphQL reads' asyncpg pool
        self.replica_reads: ReadPool | None = None  # and the replica's, with PDO_DATABASE_REPLICA_URL
        self.verifier: TokenVerifier | None = None
        self.owns_database = True
        self.background: list[asyncio.Task[None]] = []
        self.metrics = Metrics()
        self.live: Live | None = None
        self.tracing = Tracing.to_endpoint(settings.otlp_endpoint)
        trusted = load_manifest(settings.trusted_documents) if settings.trusted_documents is not None else None
        self.documents = DocumentStore(trusted)
        # New documents are prepared (parsed, validated) here, one at a time: the event loop then
        # competes with one thread for the interpreter, however many hostile documents arrive.
        self.gate_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdo-gate")
        limit = settings.max_inflight_writes or settings.db_pool_size
        self.writes = WriteGate(
            limit, settings.write_queue if settings.write_queue >= 0 else 16 * limit, settings.write_queue_ms / 1000
        )

    def request_db(self, reads_from: AsyncEngine | None = None) -> RequestDb:
        """The database as one request (or subscription) sees it: its connection, and the read pool
        (or ``reads_from``: a replica's engine and its read pool, for reads that may lag)."""
        assert self.database is not None
        if reads_from is None or reads_from is self.database.engine:
            return RequestDb(self.database.engine, self.reads, gate=self.writes)
        return RequestDb(self.database.engine, self.replica_reads, reads_from, self.writes)


def open_live(services: Services) -> Live:
    """The live channel of this process, listening (in the background, reconnecting) on the database."""
    assert services.database is not None
    hub = Hub(
        driver_url(services.database.session_url),  # LISTEN needs a session of its own: past any pooler
        on_notification=services.metrics.live_notifications.inc,
        on_reconnect=services.metrics.live_reconnects.inc,
    )
    hub.start()
    return Live(hub=hub, reads=SharedReads(services.database.engine, services.reads))


def make_verifier(settings: Settings) -> TokenVerifier:
    """The verifier of the auth mode, remembering the tokens it accepted for a minute (``VerifiedTokens``)."""
    return VerifiedTokens(_verifier(settings))


def _verifier(settings: Settings) -> TokenVerifier:
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
                region=settings.oidc_region_claim,
                machine_role=settings.oidc_machine_role,
            ),
        )
    if settings.auth_mode == "dev":
        return DevVerifier(load_or_create_dev_key(settings.data_dir))
    raise RuntimeError(f"unknown PDO_AUTH_MODE {settings.auth_mode!r}")
