"""Integration test parts: the real OpenID Provider (tests/oidc_fixture.py), a provider's feed server,
the provider whose feed it is, sources registered the way operators register them, fast sync options."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.app import create_app
from pdo_graph.config import Settings
from pdo_graph.db.engine import Database
from pdo_graph.db.session import transaction
from pdo_graph.domain.access import Actor
from pdo_graph.integrations import source_rules, sources
from pdo_graph.integrations.fetch import RetryPolicy
from pdo_graph.integrations.oidc_client import TokenCache
from pdo_graph.integrations.secrets import SecretBox
from pdo_graph.integrations.sync.run import RunSummary, SyncOptions, run_source
from tests.helpers import graphql_caller
from tests.integrations.feed_server import FeedServer
from tests.oidc_fixture import FEED_RESOURCE, PROVIDER_X

OTHER_INN = "7707654321"  # provider Y (valid ИНН checksum)
SECRET_KEY = "integration-tests-secret-key"
OPERATOR_01 = Actor.operator("op-01", "01")

FAST = SyncOptions(
    retry=RetryPolicy(request_timeout=0.5, max_attempts=4, backoff_base=0.01, backoff_max=0.04, max_retry_after=3.0),
    time_budget=30.0,
    prefetch=0,  # page by page, so that hooks between pages act on the next fetch
)


@pytest.fixture(scope="session")
def feed_server(oidc_provider: Any) -> Iterator[FeedServer]:
    server = FeedServer(oidc_provider.issuer, oidc_provider.jwks_uri, FEED_RESOURCE)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def feed(feed_server: FeedServer) -> FeedServer:
    feed_server.reset()
    feed_server.refresh_jwks()
    return feed_server


@pytest.fixture(scope="session")
def sync_settings(settings: Settings) -> Settings:
    return replace(settings, secret_key=SECRET_KEY)


@pytest.fixture
def tokens() -> TokenCache:
    return TokenCache()


async def add_provider(
    engine: AsyncEngine, inn: str, municipality: str = "01", name: str = "Станция юных техников"
) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    text("INSERT INTO providers (name, inn, municipality) VALUES (:n, :i, :m) RETURNING id"),
                    {"n": name, "i": inn, "m": municipality},
                )
            ).scalar_one()
        )


@pytest.fixture
async def provider_x(db: AsyncEngine) -> int:
    return await add_provider(db, PROVIDER_X)


@pytest.fixture
async def provider_y(db: AsyncEngine) -> int:
    return await add_provider(db, OTHER_INN, name="Дом творчества")


MakeSource = Callable[..., Awaitable[int]]


@pytest.fixture
def make_source(db: AsyncEngine, oidc_provider: Any, feed: FeedServer, sync_settings: Settings) -> MakeSource:
    """Register a source for provider X's feed as its operator would (client provider-x or provider-x-jwt)."""

    async def make(provider_id: int, *, fmt: str = "PDO_CATALOG_V1", jwt_client: bool = False, **extra: Any) -> int:
        if jwt_client:
            client = oidc_provider.clients["provider-x-jwt"]
            auth = {
                "client_auth": "PRIVATE_KEY_JWT",
                "private_key_pem": client.key.as_pem(private=True).decode(),
                "key_id": client.key.kid,
            }
        else:
            client = oidc_provider.clients["provider-x"]
            auth = {"client_auth": "CLIENT_SECRET_BASIC", "client_secret": client.secret}
        spec = source_rules.SourceSpec(
            provider_id=provider_id,
            feed_url=extra.pop("feed_url", feed.url),
            format=fmt,
            issuer=oidc_provider.issuer,
            client_id=client.client_id,
            audience=FEED_RESOURCE,
            scope=extra.pop("scope", None),
            **auth,
            **extra,
        )
        box = SecretBox(SECRET_KEY)
        return await transaction(db, lambda c: sources.create_source(c, OPERATOR_01, spec, box))

    return make


Sync = Callable[..., Awaitable[RunSummary]]


@pytest.fixture
def sync(db: AsyncEngine, sync_settings: Settings, tokens: TokenCache) -> Sync:
    """Run a source with fast retry settings and this test's own token cache."""

    async def run(source_id: int, **kwargs: Any) -> RunSummary:
        kwargs.setdefault("options", FAST)
        kwargs.setdefault("tokens", tokens)
        return await run_source(db, source_id, settings=sync_settings, **kwargs)

    return run


# --- feed items ---------------------------------------------------------------------------------

START = date.today() + timedelta(days=30)


def pdo_group(
    gid: str, *, capacity: int = 12, price: int = 900_000, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": gid,
        "name": name or f"Группа {gid}",
        "startsOn": START.isoformat(),
        "endsOn": (START + timedelta(days=240)).isoformat(),
        "capacity": capacity,
        "price": price,
        **extra,
    }


def pdo_program(
    pid: str,
    modified: int,
    *,
    title: str | None = None,
    groups: list[dict[str, Any]] | None = None,
    direction: str = "Техническая",
    **data: Any,
) -> dict[str, Any]:
    return {
        "id": pid,
        "state": "updated",
        "kind": "program",
        "modified": modified,
        "data": {
            "title": title or f"Программа {pid}",
            "description": "Занятия для детей в кружке по интересам.",
            "direction": direction,
            "minAge": 7,
            "maxAge": 14,
            "groups": groups if groups is not None else [pdo_group(f"{pid}-G1"), pdo_group(f"{pid}-G2")],
            **data,
        },
    }


def deleted(pid: str, modified: int, kind: str = "program") -> dict[str, Any]:
    return {"id": pid, "state": "deleted", "kind": kind, "modified": modified}


def oa_course(
    cid: str, modified: int, *, kind: str = "CourseInstance", price: Any = 4500.5, **data: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "state": "updated",
        "kind": kind,
        "modified": modified,
        "data": {
            "@context": "https://openactive.io/",
            "@type": kind,
            "@id": f"https://provider-x.test/{kind}/{cid}",
            "name": f"Плавание {cid}",
            "description": "Обучение плаванию детей в бассейне, группы по возрасту.",
            "activity": [
                {"@type": "Concept", "@id": "https://openactive.io/activity-list#swimming", "prefLabel": "Swimming"}
            ],
            "ageRange": {"@type": "QuantitativeValue", "minValue": 6, "maxValue": 12},
            "offers": [{"@type": "Offer", "price": price, "priceCurrency": "RUB"}],
            "startDate": f"{START.isoformat()}T17:00:00+03:00",
            "endDate": f"{(START + timedelta(days=120)).isoformat()}T18:00:00+03:00",
            "maximumAttendeeCapacity": 15,
            **data,
        },
    }


async def catalog_rows(engine: AsyncEngine, provider_id: int) -> dict[str, Any]:
    """Programs by external id with their groups (external id -> row), for assertions."""
    async with engine.connect() as conn:
        programs = (
            await conn.execute(
                text("SELECT * FROM programs WHERE provider_id = :p ORDER BY external_id"), {"p": provider_id}
            )
        ).all()
        groups = (
            await conn.execute(
                text(
                    "SELECT g.*, p.external_id AS program_ext FROM groups g JOIN programs p ON p.id = g.program_id"
                    " WHERE p.provider_id = :p ORDER BY g.external_id"
                ),
                {"p": provider_id},
            )
        ).all()
    out: dict[str, Any] = {}
    for p in programs:
        out[p.external_id] = {"row": p, "groups": {g.external_id: g for g in groups if g.program_ext == p.external_id}}
    return out


async def run_row(engine: AsyncEngine, run_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM catalog_sync_runs WHERE id = :id"), {"id": run_id})).one()


async def source_row(engine: AsyncEngine, source_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM catalog_sources WHERE id = :id"), {"id": source_id})).one()


# --- the app with secrets configured ------------------------------------------------------------


@pytest.fixture(scope="session")
async def sync_app(engine: AsyncEngine, sync_settings: Settings, database_url: str) -> AsyncIterator[Any]:
    application = create_app(sync_settings, database=Database(url=database_url, engine=engine))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(sync_app: Any, db: AsyncEngine) -> AsyncIterator[Callable[..., Awaitable[dict[str, Any]]]]:
    """POST GraphQL to the app that has PDO_SECRET_KEY; returns the JSON body."""
    async with graphql_caller(sync_app) as call:
        yield call
