"""OpenTelemetry: a span per GraphQL operation and, inside it, a span per SQL statement; the SQL text
only, never parameters, names or the document (the SDK's in-memory exporter)."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pdo_graph.app import create_app
from pdo_graph.config import Settings
from pdo_graph.db.engine import Database
from pdo_graph.tracing import Tracing
from tests.helpers import APPLY

SECRET_NAME = "Трассировкина Тайна Ивановна"
SNILS = "112-233-445 95"


async def test_spans_per_operation_and_statement_without_personal_data(engine, settings, database_url, db, token):
    exporter = InMemorySpanExporter()
    app = create_app(settings, database=Database(url=database_url, engine=engine))
    app.state.services.tracing = Tracing.with_exporter(exporter)
    headers = {
        "authorization": f"Bearer {token('GUARDIAN', 'tracy')}",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "x-request-id": "trace-1",
    }
    variables = {"input": {"fullName": SECRET_NAME, "birthDate": "2016-05-14", "snils": SNILS, "municipality": "01"}}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        applied = await client.post(
            "/graphql",
            json={"query": "mutation Apply" + APPLY.strip()[len("mutation") :], "variables": variables},
            headers=headers,
        )
        assert applied.json()["data"]["certificateApply"]["userErrors"] == [], applied.text
        again = await client.post(  # refused by the database's uniqueness: a failing statement
            "/graphql",
            json={"query": APPLY, "variables": variables},
            headers={"authorization": headers["authorization"]},
        )
        assert again.json()["data"]["certificateApply"]["userErrors"][0]["code"] == "DUPLICATE"
    spans = exporter.get_finished_spans()
    operations = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in operations] == ["mutation Apply", "mutation"]
    first = operations[0]
    assert first.attributes["graphql.operation.name"] == "Apply"
    assert first.attributes["pdo.request_id"] == "trace-1" and first.attributes["pdo.role"] == "GUARDIAN"
    assert first.attributes["pdo.outcome"] == "ok"
    assert format(first.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"  # the client's trace
    statements = [s for s in spans if s.kind is SpanKind.CLIENT and s.parent.span_id == first.context.span_id]
    assert len(statements) >= 2
    assert {s.name for s in statements} >= {"INSERT"}
    assert all(s.attributes["db.system.name"] == "postgresql" for s in statements)
    assert any("INSERT INTO children" in s.attributes["db.query.text"] for s in statements)
    all_sql = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert all(any(s.parent and s.parent.span_id == o.context.span_id for o in operations) for s in all_sql)
    dumped = "\n".join(str(dict(s.attributes or {})) + str(s.status.description) + s.name for s in spans)
    for secret in (SECRET_NAME, "Трассировкина", "11223344595", SNILS, "2016-05-14", "tracy"):
        assert secret not in dumped, secret


async def test_failed_statements_say_no_more_than_sqlstate(engine, settings, database_url, db):
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_exporter(exporter)
    tracing.instrument(engine)
    from sqlalchemy import text

    try:
        async with engine.connect() as conn:
            try:
                await conn.execute(text("SELECT 1 / 0 WHERE :secret <> ''"), {"secret": "Тайна"})
            except Exception:
                pass
    finally:
        tracing.shutdown()
    [span] = [s for s in exporter.get_finished_spans() if s.name == "SELECT"]
    assert span.status.status_code is StatusCode.ERROR
    assert "sqlstate=22012" in (span.status.description or "")
    assert "Тайна" not in str(span.attributes) + str(span.status.description)


def test_tracing_is_off_without_an_endpoint_and_on_with_one():
    assert not Tracing.to_endpoint(None).enabled
    on = Tracing.to_endpoint("http://127.0.0.1:4318")
    assert on.enabled
    on.shutdown()
    assert Settings.from_env({"PDO_OTLP_ENDPOINT": "http://collector:4318"}).otlp_endpoint == "http://collector:4318"
