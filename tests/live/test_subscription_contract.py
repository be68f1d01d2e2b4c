"""Subscriptions keep the HTTP side's contract: every error of an ``error`` message has its code and
the subscription's request id, its message in the connection's language, unexpected faults masked;
persisted documents (APQ, trusted documents) and traces apply to them as to HTTP requests.

The app runs in this process (uvicorn on a loopback port, real WebSockets), so that a fault can be
put into it and its spans read."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.app import create_app
from pdo_graph.config import Settings
from pdo_graph.db.engine import Database
from pdo_graph.ids import encode_id
from pdo_graph.tracing import Tracing
from tests.e2e.live import LiveClient
from tests.enrollment.conftest import add_group, add_program, add_provider, end_of_month, next_month

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
SEATS = "subscription Seats($g: ID!) { groupSeats(groupId: $g) { id seatsLeft } }"
RID = re.compile(r"[0-9a-f]{16}-\d+")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn on this event loop (its lifespan: the live channel, tracing)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=None, log_config=None, ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # pytest's own stay
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(30):
            while not server.started:
                assert not task.done(), task
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def make_app(engine: AsyncEngine, settings: Settings, database_url: str) -> Any:
    return create_app(settings, database=Database(url=database_url, engine=engine))


async def a_group(engine: AsyncEngine) -> str:
    program = await add_program(engine, await add_provider(engine))
    starts = next_month()
    return encode_id("Group", await add_group(engine, program, starts_on=starts, ends_on=end_of_month(starts)))


def the_contract(errors: list[dict[str, Any]]) -> str:
    """Every error has a code and the same request id (a subscription's); that id."""
    assert errors
    ids = {e["extensions"]["requestId"] for e in errors}
    assert all(e["extensions"]["code"] for e in errors), errors
    assert len(ids) == 1 and RID.fullmatch(ids.pop() or ""), errors
    return str(errors[0]["extensions"]["requestId"])


async def test_every_subscription_error_has_its_code_the_request_id_and_the_language(
    engine: AsyncEngine, settings: Settings, database_url: str, db: AsyncEngine
) -> None:
    group = await a_group(db)
    aliases = " ".join(f"a{i}: seatsLeft" for i in range(31))
    refusals: list[tuple[str, dict[str, Any], str]] = [
        ("parse", {"query": "subscription { groupSeats(groupId: "}, "GRAPHQL_PARSE_FAILED"),
        ("validation", {"query": 'subscription { groupSeats(groupId: "x") { nope } }'}, "GRAPHQL_VALIDATION_FAILED"),
        ("variables", {"query": SEATS, "variables": {}}, "BAD_USER_INPUT"),
        (
            "gate",
            {
                "query": f"subscription($g: ID!) {{ groupSeats(groupId: $g) {{ {aliases} }} }}",
                "variables": {"g": group},
            },
            "QUERY_TOO_MANY_ALIASES",
        ),
        ("query", {"query": "{ viewer { role } }"}, "OPERATION_NOT_SUPPORTED"),
        ("absent", {"query": SEATS, "variables": {"g": encode_id("Group", 987654)}}, "NOT_FOUND"),
        ("anonymous", {"query": "subscription { notificationAdded { id } }"}, "UNAUTHENTICATED"),
        (
            "apq miss",
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            "PERSISTED_QUERY_NOT_FOUND",
        ),
    ]
    async with serving(make_app(engine, settings, database_url)) as url:
        russian = await LiveClient.start(url)
        english = await LiveClient.start(url, **{"Accept-Language": "en"})
        seen: set[str] = set()
        for name, payload, code in refusals:
            by_language = {}
            for language, client in (("ru", russian), ("en", english)):
                await client.send({"id": name, "type": "subscribe", "payload": payload})
                errors = await client.error(name)
                seen.add(the_contract(errors))
                assert errors[0]["extensions"]["code"] == code, (name, errors)
                by_language[language] = errors[0]["message"]
            if code == "PERSISTED_QUERY_NOT_FOUND":  # APQ clients match the text itself
                assert by_language["ru"] == by_language["en"] == "PersistedQueryNotFound"
                continue
            assert CYRILLIC.search(by_language["ru"]), (name, by_language)
            assert not CYRILLIC.search(by_language["en"]), (name, by_language)
        assert len(seen) == 2 * len(refusals)  # one request id per subscription
        # the connection's limit: the refusal carries its code, the limit and a request id too
        for n in range(settings.ws_max_subscriptions):
            await english.subscribe(f"s{n}", SEATS, {"g": group})
            await english.next(f"s{n}")
        await english.subscribe("one-too-many", SEATS, {"g": group})
        [refused] = await english.error("one-too-many")
        the_contract([refused])
        assert refused["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        assert refused["extensions"]["max"] == settings.ws_max_subscriptions
        assert refused["message"] == f"At most {settings.ws_max_subscriptions} subscriptions per connection"
        await russian.close()
        await english.close()


async def test_unexpected_faults_in_subscriptions_are_masked(
    engine: AsyncEngine, settings: Settings, database_url: str, db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pdo_graph.resolvers.live as live_resolvers
    import pdo_graph.transport.websocket as websocket

    group = await a_group(db)

    async def broken(*args: Any) -> None:
        raise RuntimeError("Секретов Секрет Секретович")

    def broken_context(*args: Any) -> None:
        raise RuntimeError("Секретов Секрет Секретович")

    async with serving(make_app(engine, settings, database_url)) as url:
        client = await LiveClient.start(url)
        monkeypatch.setattr(live_resolvers, "_visible", broken)  # inside the subscription's source stream
        await client.subscribe("1", SEATS, {"g": group})
        [error] = await client.error("1")
        rid = the_contract([error])
        assert error == {
            "message": "Внутренняя ошибка сервера",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        }
        monkeypatch.setattr(websocket, "context", broken_context)  # around execution: the whole operation
        await client.send({"id": "2", "type": "subscribe", "payload": {"query": SEATS, "variables": {"g": group}}})
        [error] = await client.error("2")
        rid = the_contract([error])
        assert error == {
            "message": "Внутренняя ошибка сервера",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        }
        monkeypatch.undo()
        await client.subscribe("3", SEATS, {"g": group})  # the connection still serves
        assert (await client.next_for("3"))["groupSeats"]["id"] == group
        await client.close()


async def test_persisted_documents_over_websocket(
    engine: AsyncEngine, settings: Settings, database_url: str, db: AsyncEngine, data_dir: Path
) -> None:
    group = await a_group(db)
    query = SEATS + " # apq over websocket"
    digest = sha(query)
    apq = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    async with serving(make_app(engine, settings, database_url)) as url:
        client = await LiveClient.start(url)
        await client.send({"id": "1", "type": "subscribe", "payload": {"extensions": apq, "variables": {"g": group}}})
        assert (await client.error("1"))[0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        payload = {"query": query, "extensions": apq, "variables": {"g": group}}
        await client.send({"id": "2", "type": "subscribe", "payload": payload})  # registered once it passed
        assert (await client.next("2"))["groupSeats"]["id"] == group
        await client.send({"id": "3", "type": "subscribe", "payload": {"extensions": apq, "variables": {"g": group}}})
        assert (await client.next_for("3"))["groupSeats"]["id"] == group
        await client.close()

    # trusted documents: only the manifest's run, over WebSocket as over HTTP
    manifest = data_dir / "trusted-subscriptions.json"
    manifest.write_text(json.dumps({"seats-v1": SEATS}))
    trusted = make_app(engine, replace(settings, trusted_documents=manifest), database_url)
    async with serving(trusted) as url:
        client = await LiveClient.start(url, **{"Accept-Language": "en"})
        await client.send(
            {"id": "1", "type": "subscribe", "payload": {"documentId": "seats-v1", "variables": {"g": group}}}
        )
        assert (await client.next("1"))["groupSeats"]["id"] == group
        await client.subscribe("2", SEATS, {"g": group})  # the manifest's text, sent in full
        assert (await client.next_for("2"))["groupSeats"]["id"] == group
        await client.subscribe("3", "subscription($g: ID!) { groupSeats(groupId: $g) { capacity } }", {"g": group})
        [refused] = await client.error("3")
        the_contract([refused])
        assert refused["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        assert refused["message"] == "Only registered documents run, and this document is not registered"
        await client.close()


async def test_a_subscription_is_one_span_with_its_statements(
    engine: AsyncEngine, settings: Settings, database_url: str, db: AsyncEngine, token: Any
) -> None:
    group = await a_group(db)
    exporter = InMemorySpanExporter()
    app = make_app(engine, settings, database_url)
    app.state.services.tracing = Tracing.with_exporter(exporter)
    async with serving(app) as url:
        client = await LiveClient.start(url, token("GUARDIAN", "tracy"))
        await client.subscribe("1", SEATS, {"g": group})
        await client.next("1")
        await client.send({"id": "1", "type": "complete"})
        await client.close()
        for _ in range(300):  # the span ends when the server has ended the subscription
            if any(s.kind is SpanKind.SERVER for s in exporter.get_finished_spans()):
                break
            await asyncio.sleep(0.05)
    spans = exporter.get_finished_spans()
    [operation] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert operation.name == "subscription Seats"
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.type"] == "subscription"
    assert operation.attributes["pdo.outcome"] == "completed" and operation.attributes["pdo.role"] == "GUARDIAN"
    assert RID.fullmatch(str(operation.attributes["pdo.request_id"]))
    assert operation.status.status_code is not StatusCode.ERROR
    statements = [
        s for s in spans if s.kind is SpanKind.CLIENT and s.parent and s.parent.span_id == operation.context.span_id
    ]
    assert any("FROM groups" in str((s.attributes or {}).get("db.query.text")) for s in statements), statements
    assert "tracy" not in "\n".join(str(dict(s.attributes or {})) for s in spans)
