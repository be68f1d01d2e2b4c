"""Test fixtures: a real PostgreSQL (embedded, or PDO_TEST_DATABASE_URL), the app, tokens.

Every test gets empty tables (TRUNCATE) and, afterwards, the ledger invariants are checked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.app import create_app
from pdo_graph.auth.principal import Role
from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.config import Settings
from pdo_graph.db.embedded import EmbeddedPostgres
from pdo_graph.db.engine import Database, async_url, make_engine, migrate
from pdo_graph.db.tables import metadata
from pdo_graph.domain.ledger import check_invariants
from tests.helpers import GQL, graphql_caller

pytest_plugins = ["tests.oidc_fixture"]

MUNICIPALITIES = [
    ("01", "Городской округ Светлогорск"),
    ("02", "Заречный муниципальный район"),
    ("03", "Городской округ Каменск"),
]


@pytest.fixture(scope="session")
def data_dir() -> Any:
    path = Path(tempfile.mkdtemp(prefix="pdo-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Any:
    """A fresh database on the external server, or on an embedded one."""
    external = os.environ.get("PDO_TEST_DATABASE_URL")
    embedded: EmbeddedPostgres | None = None
    if external:
        admin_url = async_url(external)
    else:
        embedded = EmbeddedPostgres(data_dir)
        admin_url = embedded.start()
    name = f"pdo_test_{uuid.uuid4().hex[:10]}"
    import asyncio

    async def create() -> None:
        eng = make_engine(admin_url, 1)
        async with eng.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await eng.dispose()

    async def drop() -> None:
        eng = make_engine(admin_url, 1)
        async with eng.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await eng.dispose()

    asyncio.run(create())
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    asyncio.run(drop())
    if embedded is not None:
        embedded.stop()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url, pool_size=12)
    await migrate(eng)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, auth_mode="dev", background_jobs=False, region_code="77")


TABLES = ", ".join(t.name for t in metadata.sorted_tables)
AUDITED = [0]  # personal-data reads written to audit_log by the tests of this run


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Empty tables with the region's municipalities; the ledger invariants are checked afterwards."""
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await conn.execute(
            text("INSERT INTO municipalities (code, name) VALUES (:c, :n)"),
            [{"c": c, "n": n} for c, n in MUNICIPALITIES],
        )
    yield engine
    async with engine.connect() as conn:
        violations = await check_invariants(conn)
        AUDITED[0] += int((await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one())
    assert violations == [], f"ledger invariants violated: {violations}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"audit_log entries written by this run: {AUDITED[0]}")


@pytest.fixture(scope="session")
async def app(engine: AsyncEngine, settings: Settings, database_url: str) -> AsyncIterator[Any]:
    application = create_app(settings, database=Database(url=database_url, engine=engine))
    async with application.router.lifespan_context(application):
        yield application


Token = Callable[..., str]


@pytest.fixture(scope="session")
def token(settings: Settings) -> Token:
    key = load_or_create_dev_key(settings.data_dir)

    def mint(
        role: str, subject: str, provider: str | None = None, municipality: str | None = None, region: str | None = None
    ) -> str:
        return mint_dev_token(
            key, role=Role(role), subject=subject, provider=provider, municipality=municipality, region=region
        )

    return mint


@pytest.fixture
async def gql(app: Any, db: AsyncEngine) -> AsyncIterator[GQL]:
    """POST a GraphQL document through the real ASGI app; returns the JSON body."""
    async with graphql_caller(app) as call:
        yield call


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/e2e and tests/console start real server processes: they are `e2e`."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "e2e" in parts or "console" in parts:
            item.add_marker(pytest.mark.e2e)
