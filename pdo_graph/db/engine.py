"""Engine creation, the embedded server's lifecycle and migrations."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pdo_graph.config import Settings
from pdo_graph.db.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Accept ``postgresql://`` URLs and use the asyncpg driver."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int = 8) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        pool_pre_ping=False,
        pool_recycle=1800,
        hide_parameters=True,  # SQL parameters (names, СНИЛС, reasons) never reach an exception message or a log
        connect_args={"server_settings": {"application_name": "pdo-graph", "timezone": "UTC"}},
    )


@dataclass
class Database:
    """The process's database: an engine and, without ``PDO_DATABASE_URL``, the embedded server."""

    url: str
    engine: AsyncEngine
    embedded: EmbeddedPostgres | None = field(default=None)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None


def resolve_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.database_url:
        return async_url(settings.database_url), None
    embedded = EmbeddedPostgres(settings.data_dir)
    url = embedded.start()
    return url, embedded


async def open_database(settings: Settings) -> Database:
    url, embedded = await asyncio.to_thread(resolve_url, settings)
    return Database(url=url, engine=make_engine(url, settings.db_pool_size), embedded=embedded)


def _run_upgrade(connection: object, revision: str, settings: Settings | None) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    # data migrations that need keys (0004 seals СНИЛС) read them from the settings, as the app does
    cfg.attributes["settings"] = settings or Settings.from_env()
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head", settings: Settings | None = None) -> None:
    """Apply Alembic migrations up to ``revision`` on one connection (serialised by an
    advisory lock). ``settings`` (default: from the environment) give data migrations their keys."""
    async with engine.connect() as conn:
        await _locked_upgrade(conn, revision, settings)


async def _locked_upgrade(conn: AsyncConnection, revision: str, settings: Settings | None) -> None:
    from sqlalchemy import text

    await conn.execute(text("SELECT pg_advisory_lock(7201001)"))
    try:
        await conn.run_sync(_run_upgrade, revision, settings)
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise
    finally:
        await conn.execute(text("SELECT pg_advisory_unlock(7201001)"))
        await conn.commit()
