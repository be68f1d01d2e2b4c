"""Engine creation, the embedded server's lifecycle and migrations."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pdo_graph.config import EXIT_DATABASE, Settings, StartupError
from pdo_graph.db.embedded import EmbeddedFailed, EmbeddedPostgres
from pdo_graph.db.replica import Replica

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Accept ``postgresql://`` URLs and use the asyncpg driver."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def driver_url(url: str) -> str:
    """The URL as asyncpg itself reads it (``postgresql://``), for a connection outside SQLAlchemy."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


POOLERS = ("none", "pgbouncer")


def pooled_connect_args(pooler: str) -> dict[str, object]:
    """asyncpg's options behind a pooler. PgBouncer in transaction mode hands each transaction any server
    connection: a prepared statement kept by name on one is missing (or a namesake of another client's)
    on the next. So asyncpg keeps no statement cache, SQLAlchemy none either, and every statement it does
    prepare (inside the one transaction that runs it) gets a name no other client uses."""
    if pooler == "none":
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__pdo_{uuid.uuid4().hex}__",
    }


def make_engine(url: str, pool_size: int = 8, pooler: str = "none") -> AsyncEngine:
    if pooler not in POOLERS:
        raise ValueError(f"unknown pooler {pooler!r}")
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        pool_pre_ping=False,
        pool_recycle=1800,
        hide_parameters=True,  # SQL parameters (names, СНИЛС, reasons) never reach an exception message or a log
        connect_args={
            "server_settings": {"application_name": "pdo-graph", "timezone": "UTC"},
            **pooled_connect_args(pooler),
        },
    )


@dataclass
class Database:
    """The process's database: an engine and, without ``PDO_DATABASE_URL``, the embedded server.

    ``direct`` reaches PostgreSQL itself for what needs a session of its own: migrations (their
    advisory lock), a catalog sync run's lock, LISTEN. It is ``engine`` unless a pooler in transaction
    mode stands in between (``PDO_DATABASE_POOLER``, ``PDO_DATABASE_DIRECT_URL``)."""

    url: str
    engine: AsyncEngine
    embedded: EmbeddedPostgres | None = field(default=None)
    direct_url: str | None = None
    direct_engine: AsyncEngine | None = None
    replica: Replica | None = None  # reads that may lag a little (PDO_DATABASE_REPLICA_URL)

    @property
    def direct(self) -> AsyncEngine:
        return self.direct_engine or self.engine

    @property
    def session_url(self) -> str:
        """The URL of ``direct``."""
        return self.direct_url or self.url

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.direct_engine is not None:
            await self.direct_engine.dispose()
        if self.replica is not None:
            await self.replica.engine.dispose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None


class DatabaseUnavailable(StartupError):
    """The database cannot be reached, does not exist or refuses us: one line naming the setting."""

    exit_code = EXIT_DATABASE


CONNECT_TIMEOUT = 10.0
DIRECT_POOL_SIZE = 3  # sessions past the pooler: migrations, sync runs' locks


def where(url: str) -> str:
    """``host:port/database`` of a URL (the socket directory for a Unix socket), never the password."""
    u: URL = make_url(url)
    host = u.host or str(u.query.get("host") or "localhost")
    if host.startswith("/"):
        return f"the socket in {host}, database {u.database}"
    return f"{host}:{u.port or 5432}/{u.database}"


def _reason(exc: BaseException, url: str) -> str:
    """Why a connection failed, in a few words (the chain of causes searched for a known one)."""
    u = make_url(url)
    seen: list[BaseException] = []
    candidate: BaseException | None = exc
    while candidate is not None and candidate not in seen and len(seen) < 8:
        seen.append(candidate)
        candidate = getattr(candidate, "orig", None) or candidate.__cause__ or candidate.__context__
    for item in seen:
        name = type(item).__name__
        if name == "InvalidCatalogNameError":
            return f'database "{u.database}" does not exist (create it, e.g. createdb "{u.database}")'
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return f'the server refuses user "{u.username}" ({str(item).splitlines()[0][:120]})'
        if name == "CannotConnectNowError":
            return "the server is starting up or shutting down"
        if isinstance(item, TimeoutError):
            return f"no answer within {CONNECT_TIMEOUT:g} s"
        if isinstance(item, OSError):
            message = str(item)
            if isinstance(item, ConnectionRefusedError) or "Connect call failed" in message:
                return "connection refused (is PostgreSQL running there?)"
            if "Name or service not known" in message or "nodename nor servname" in message:
                return "unknown host"
            return (item.strerror or message.splitlines()[0] if message else name)[:160]
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


async def check_connection(engine: AsyncEngine, url: str, setting: str) -> None:
    """One ``SELECT 1``; ``DatabaseUnavailable`` naming ``setting`` and host:port when it fails."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise DatabaseUnavailable(
            f"{setting}: cannot connect to PostgreSQL at {where(url)}: {_reason(exc, url)}"
        ) from exc


def resolve_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.database_url:
        return async_url(settings.database_url), None
    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        url = embedded.start()
    except EmbeddedFailed as exc:
        raise DatabaseUnavailable(
            f"PDO_DATA_DIR: the embedded PostgreSQL in {embedded.pgdata} did not start: {exc}"
            " (PDO_LOG_LEVEL=debug shows its output; or set PDO_DATABASE_URL to a server of your own)"
        ) from exc
    return url, embedded


async def open_database(settings: Settings) -> Database:
    """The database of the settings, checked: ``DatabaseUnavailable`` (one line) when it cannot be used."""
    url, embedded = await asyncio.to_thread(resolve_url, settings)
    pooled = embedded is None and settings.database_pooler != "none" and settings.database_direct_url is not None
    engine = make_engine(url, settings.db_pool_size, settings.database_pooler if pooled else "none")
    database = Database(url=url, engine=engine, embedded=embedded)
    if pooled:
        assert settings.database_direct_url is not None
        database.direct_url = async_url(settings.database_direct_url)
        database.direct_engine = make_engine(database.direct_url, DIRECT_POOL_SIZE)
    if settings.database_replica_url:  # checked on use: a replica down sends its reads to the primary
        replica_engine = make_engine(settings.database_replica_url, settings.db_pool_size, settings.database_pooler)
        database.replica = Replica(engine, replica_engine, settings.replica_max_lag_seconds)
    try:
        await check_connection(engine, url, "PDO_DATABASE_URL" if embedded is None else "PDO_DATA_DIR")
        if database.direct_engine is not None:
            await check_connection(database.direct_engine, database.session_url, "PDO_DATABASE_DIRECT_URL")
    except BaseException:
        await database.dispose()
        raise
    return database


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at (None: never migrated)."""
    async with engine.connect() as conn:
        if (await conn.execute(text("SELECT to_regclass('alembic_version')"))).scalar() is None:
            return None
        revision: str | None = (await conn.execute(text("SELECT max(version_num) FROM alembic_version"))).scalar()
        return revision


def _run_upgrade(
    connection: object, revision: str, settings: Settings | None, progress: Callable[[str], None] | None
) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    # data migrations that need keys (0004 seals СНИЛС) read them from the settings, as the app does
    cfg.attributes["settings"] = settings or Settings.from_env()
    if progress is not None:
        cfg.attributes["on_version_apply"] = lambda *, step, **_: progress(f"{step.up_revision_id} applied")
    command.upgrade(cfg, revision)


async def migrate(
    engine: AsyncEngine,
    revision: str = "head",
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Apply Alembic migrations up to ``revision`` on one connection (serialised by an
    advisory lock). ``settings`` (default: from the environment) give data migrations their keys;
    ``progress`` hears of each migration applied."""
    async with engine.connect() as conn:
        await _locked_upgrade(conn, revision, settings, progress)


async def _locked_upgrade(
    conn: AsyncConnection, revision: str, settings: Settings | None, progress: Callable[[str], None] | None = None
) -> None:
    await conn.execute(text("SELECT pg_advisory_lock(7201001)"))
    try:
        await conn.run_sync(_run_upgrade, revision, settings, progress)
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise
    finally:
        await conn.execute(text("SELECT pg_advisory_unlock(7201001)"))
        await conn.commit()
