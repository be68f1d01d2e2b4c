"""Shared steps of tests, done through the GraphQL API as a user would."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db import reads
from pdo_graph.db.engine import make_engine

APPLY = """
mutation($input: CertificateApplyInput!) {
  certificateApply(input: $input) {
    application { id status child { id fullName } }
    userErrors { code field message }
  }
}"""

ISSUE = """
mutation($id: ID!) {
  certificateIssue(input: {applicationId: $id}) {
    certificate { id number status validUntil balance { credited { kopecks } available { kopecks } } }
    userErrors { code field message }
  }
}"""

OPEN_PERIOD = """
mutation($input: FundingPeriodOpenInput!) {
  fundingPeriodOpen(input: $input) {
    period { id municipality startsOn endsOn openForApplications }
    credited { kopecks amount }
    certificatesCredited
    userErrors { code field message }
  }
}"""


def years_ago(years: int, today: date | None = None, days: int = 0) -> date:
    today = today or date.today()
    try:
        d = today.replace(year=today.year - years)
    except ValueError:
        d = today.replace(year=today.year - years, day=28)
    from datetime import timedelta

    return d - timedelta(days=days)


async def apply(
    gql: Any,
    guardian_token: str,
    full_name: str,
    birth: date,
    municipality: str = "01",
    snils: str | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    body = await gql(
        APPLY,
        {
            "input": {
                "fullName": full_name,
                "birthDate": birth.isoformat(),
                "snils": snils,
                "municipality": municipality,
            }
        },
        token=guardian_token,
        lang=lang,
    )
    result: dict[str, Any] = body["data"]["certificateApply"]
    return result


async def issue(gql: Any, operator_token: str, application_id: str) -> dict[str, Any]:
    body = await gql(ISSUE, {"id": application_id}, token=operator_token)
    result: dict[str, Any] = body["data"]["certificateIssue"]
    return result


async def new_certificate(
    gql: Any, token: Any, subject: str, full_name: str, age: int, municipality: str = "01"
) -> dict[str, Any]:
    """Apply as guardian ``subject`` and issue as the municipality's operator; returns the certificate."""
    applied = await apply(gql, token("GUARDIAN", subject), full_name, years_ago(age, days=40), municipality)
    assert applied["userErrors"] == [], applied
    issued = await issue(
        gql, token("OPERATOR", f"op-{municipality}", municipality=municipality), applied["application"]["id"]
    )
    assert issued["userErrors"] == [], issued
    cert: dict[str, Any] = issued["certificate"]
    return cert


async def open_period(
    gql: Any,
    token: Any,
    municipality: str,
    starts: date,
    ends: date,
    nominals: list[tuple[int, int, int]],
    limit: int | None = None,
    proration: str = "FULL",
) -> dict[str, Any]:
    body = await gql(
        OPEN_PERIOD,
        {
            "input": {
                "municipality": municipality,
                "startsOn": starts.isoformat(),
                "endsOn": ends.isoformat(),
                "nominals": [{"minAge": a, "maxAge": b, "kopecks": k} for a, b, k in nominals],
                "fundedCertificateLimit": limit,
                "proration": proration,
            }
        },
        token=token("OPERATOR", f"op-{municipality}", municipality=municipality),
    )
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["fundingPeriodOpen"]
    return result


GQL = Callable[..., Awaitable[dict[str, Any]]]


@asynccontextmanager
async def graphql_caller(app: Any) -> AsyncIterator[GQL]:
    """A function that POSTs a GraphQL document through the real ASGI app and returns the JSON body."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

        async def call(
            query: str,
            variables: dict[str, Any] | None = None,
            token: str | None = None,
            lang: str | None = None,
            status: int = 200,
        ) -> dict[str, Any]:
            headers = {}
            if token:
                headers["authorization"] = f"Bearer {token}"
            if lang:
                headers["accept-language"] = lang
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
            assert response.status_code == status, response.text
            body: dict[str, Any] = response.json()
            return body

        yield call


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block, and those of the read pools (reads of
    GraphQL requests, sent with asyncpg)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    reads.statement_observers.append(seen.append)
    try:
        yield seen
    finally:
        reads.statement_observers.remove(seen.append)
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def create_scratch(database_url: str) -> tuple[str, str]:
    """An empty database of its own on the test server: its name and URL (drop it with ``drop_scratch``)."""
    name = f"pdo_scratch_{uuid.uuid4().hex[:10]}"
    await _admin(database_url, f'CREATE DATABASE "{name}"')
    return name, make_url(database_url).set(database=name).render_as_string(hide_password=False)


async def drop_scratch(database_url: str, name: str) -> None:
    await _admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(database_url: str, sql: str) -> None:
    engine = make_engine(database_url, 1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_database(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of its own (for migration tests), dropped afterwards."""
    name, url = await create_scratch(database_url)
    scratch = make_engine(url, 2)
    try:
        yield scratch
    finally:
        await scratch.dispose()
        await drop_scratch(database_url, name)


TOOLS = Path(__file__).resolve().parent / "http_audit"  # the node tools (npm packages in node_modules)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # screenshots of the browser tests


def node_report(script: str, *args: str, timeout: float = 180) -> Any:
    """Run ``tests/http_audit/<script>`` with ``args`` and return the JSON it prints (it must succeed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    out = subprocess.run(["node", str(TOOLS / script), *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
