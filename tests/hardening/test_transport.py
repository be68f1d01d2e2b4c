"""Transport rules: CORS allow-list, body size, content type, GET for queries only."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx

from pdo_graph.app import create_app
from pdo_graph.db.engine import Database


async def test_cors_allow_list(engine, settings, database_url, db):
    app = create_app(
        replace(settings, cors_origins=["https://navigator.example"]),
        database=Database(url=database_url, engine=engine),
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ok = await client.options(
            "/graphql",
            headers={
                "origin": "https://navigator.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type, x-pdo-min-lsn",
            },
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://navigator.example"
        plain_ok = await client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers={"origin": "https://navigator.example"}
        )
        assert "x-request-id" in plain_ok.headers["access-control-expose-headers"]
        assert "x-pdo-min-lsn" in plain_ok.headers["access-control-expose-headers"]  # read-your-writes (replica)
        evil = await client.options(
            "/graphql", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
        )
        assert "access-control-allow-origin" not in evil.headers
        plain = await client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers={"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in plain.headers


async def test_body_size_content_type_and_methods(app, settings, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        big = "{ viewer { role } }" + " " * (settings.max_body_bytes + 1)
        r = await client.post("/graphql", json={"query": big})
        assert r.status_code == 413 and r.json()["errors"][0]["message"]
        r = await client.post("/graphql", content=b"{ viewer { role } }", headers={"content-type": "text/plain"})
        assert r.status_code == 415
        r = await client.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400
        r = await client.get(
            "/graphql",
            params={
                "query": 'mutation { certificateApply(input: {fullName: "a",'
                ' birthDate: "2015-01-01", municipality: "01"}) { userErrors '
                "{ code } } }"
            },
        )
        assert r.status_code == 405
        r = await client.get("/graphql", params={"query": "{ municipalities { code } }"})
        assert r.status_code == 200 and r.json()["data"]["municipalities"]
        r = await client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers={"accept": "application/graphql-response+json"}
        )
        assert r.headers["content-type"].startswith("application/graphql-response+json")
        r = await client.get("/metrics")
        assert "pdo_graphql_requests_total" in r.text and "pdo_db_pool_connections_in_use" in r.text


async def test_json_logs_carry_request_id_and_operation_but_no_token_or_names(app, token, db, caplog):
    import json
    import logging

    from pdo_graph.observability import JsonFormatter

    secret = token("GUARDIAN", "alice")
    query = """mutation Apply { certificateApply(input: {fullName: "Тайнова Секрета Ивановна",
        birthDate: "2016-01-01", municipality: "01"}) { userErrors { code } } }"""
    with caplog.at_level(logging.INFO, logger="pdo_graph"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.post(
                "/graphql",
                json={"query": query, "operationName": "Apply"},
                headers={"authorization": f"Bearer {secret}", "x-request-id": "req-123"},
            )
    assert r.headers["x-request-id"] == "req-123"
    lines = [JsonFormatter().format(rec) for rec in caplog.records if rec.name == "pdo_graph"]
    entries = [json.loads(line) for line in lines]
    request = next(e for e in entries if e.get("request_id") == "req-123")
    assert request["operation"] == "Apply" and request["role"] == "GUARDIAN"
    text = "\n".join(lines)
    assert secret not in text and "Тайнова" not in text and "alice" not in text


async def test_introspection_can_be_switched_off(engine, settings, database_url, db):
    app = create_app(replace(settings, introspection=False), database=Database(url=database_url, engine=engine))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        r = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        assert r.json()["errors"][0]["message"]
        assert r.json().get("data") is None
        ok = await client.post("/graphql", json={"query": "{ municipalities { code } }"})
        assert ok.json()["data"]["municipalities"]


async def test_content_type_is_parsed_as_a_media_type(app, db):
    from pdo_graph.transport.params import is_json_media_type

    accepted = [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
    ]
    refused = [
        "text/plain; x=application/json",
        "application/jsonx",
        "application/json-seq",
        "multipart/form-data; boundary=application/json",
        "application/json; charset=latin-1",
        "application/json; charset",
        "",
    ]
    assert all(is_json_media_type(v) for v in accepted)
    assert not any(is_json_media_type(v) for v in refused)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        body = b'{"query": "{ viewer { role } }"}'
        for value in refused[:4]:
            r = await client.post("/graphql", content=body, headers={"content-type": value})
            assert r.status_code == 415, value
        r = await client.post("/graphql", content=body, headers={"content-type": accepted[2]})
        assert r.status_code == 200 and r.json()["data"] == {"viewer": {"role": None}}


async def test_request_ids_are_taken_only_when_short_and_plain(app, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for given, kept in (
            ("req-123", True),
            ("A.b_c-9" * 9 + "x", True),  # 64 characters
            ("x" * 65, False),
            ("a b", False),
            ("<script>", False),
            ("id;drop", False),
        ):
            r = await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers={"x-request-id": given})
            echoed = r.headers["x-request-id"]
            assert (echoed == given) is kept, given
            assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", echoed)
            assert r.json()["extensions"]["requestId"] == echoed


async def test_the_operation_label_of_metrics_is_bounded(app, db):
    from pdo_graph.observability import MAX_OPERATION_LABELS

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for i in range(MAX_OPERATION_LABELS + 50):
            await client.post("/graphql", json={"query": f"query Op{i} {{ viewer {{ role }} }}"})
        for i in range(20):  # refused before running: never a label of their own
            await client.post("/graphql", json={"query": "query A { viewer { role } }", "operationName": f"Evil{i}"})
            await client.post("/graphql", json={"query": f"query Bad{i} {{ nope }}"})
        text = (await client.get("/metrics")).text
    labels = set(re.findall(r'pdo_graphql_requests_total\{operation="([^"]*)"', text))
    assert len(labels) <= MAX_OPERATION_LABELS + 2  # the admitted names, "anonymous" and "other"
    assert "other" in labels and "Op0" in labels
    assert not any(label.startswith(("Evil", "Bad")) for label in labels)
