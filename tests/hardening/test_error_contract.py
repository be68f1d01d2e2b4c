"""One error contract: every error has ``extensions.code`` and the request id, its message in the
request's language; ``docs/errors.md`` lists exactly the codes the source can produce."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdo_graph.domain.errors import ErrorCode
from pdo_graph.transport.library_messages import FALLBACK, translate

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"[A-Z][A-Z0-9_]{2,}")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def produced_codes() -> set[str]:
    """Every error code written in the source: ``{"code": "X"}``, ``code="X"``, ``Refused("X", ...)``,
    ``Refusal(status, "X", ...)``, ``Invalid(errors, "X")``, the transport's constants, UserErrorCode."""
    codes = {c.value for c in ErrorCode}
    for path in (ROOT / "pdo_graph").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            found: list[object] = []
            if isinstance(node, ast.Dict):
                found += [
                    v.value
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "code" and isinstance(v, ast.Constant)
                ]
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in {"Refused", "Refusal", "Invalid"}:
                    found += [a.value for a in node.args if isinstance(a, ast.Constant)]
                found += [
                    kw.value.value for kw in node.keywords if kw.arg == "code" and isinstance(kw.value, ast.Constant)
                ]
            elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "code" and node.value:
                found += [node.value.value] if isinstance(node.value, ast.Constant) else []
            elif isinstance(node, ast.Assign) and path.parent.name == "transport" and path.name == "errors.py":
                found += [node.value.value] if isinstance(node.value, ast.Constant) else []
            codes |= {c for c in found if isinstance(c, str) and CODE.fullmatch(c)}
    return codes


def documented_codes() -> tuple[set[str], set[str]]:
    """The codes of docs/errors.md's two tables: request codes and UserErrorCode."""
    text = (ROOT / "docs" / "errors.md").read_text()
    request, _, user = text.partition("## UserErrorCode")
    row = re.compile(r"^\| `([A-Z_]+)` \|", re.M)
    return set(row.findall(request)), set(row.findall(user))


def test_docs_list_every_websocket_close_code():
    from pdo_graph.transport.websocket import Close

    text = (ROOT / "docs" / "errors.md").read_text()
    section = text.partition("## Subscriptions (WebSocket)")[2].partition("\n## ")[0]
    listed = {int(code) for code in re.findall(r"^\| `(\d{4})` \|", section, re.M)}
    assert listed == {int(c) for c in Close}


def test_docs_list_every_code_the_source_produces():
    request, user = documented_codes()
    assert user == {c.value for c in ErrorCode}, "docs/errors.md: the UserErrorCode table differs from the enum"
    produced = produced_codes()
    assert produced - (request | user) == set(), "codes the source produces but docs/errors.md does not list"
    assert (request | user) - produced == set(), "codes docs/errors.md lists but the source never produces"
    assert len(produced) >= 35


def test_common_library_messages_are_translated():
    samples = {
        "Cannot query field 'nme' on type 'Program'.": "В типе 'Program' нет поля 'nme'.",
        "Unknown argument 'frist' on field 'Query.programs'.": "У поля 'Query.programs' нет аргумента 'frist'.",
        "Field 'programs' argument 'first' of type 'Int!' is required, but it was not provided.": (
            "Не передан обязательный аргумент 'first' (тип 'Int!') поля 'programs'."
        ),
        "Variable '$n' of required type 'String!' was not provided.": (
            "Не передана обязательная переменная $n (тип 'String!')."
        ),
        "Syntax Error: Expected Name, found <EOF>.": "Синтаксическая ошибка: ожидается Name, найдено <EOF>.",
    }
    for english, russian in samples.items():
        assert translate(english) == russian
    assert translate("Unknown fragment F") == "Неизвестный фрагмент F"
    assert translate("Something graphql-core rarely says.") == FALLBACK.format("Something graphql-core rarely says.")


async def _send(app: Any, method: str = "POST", lang: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if lang:
        headers["accept-language"] = lang
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, "/graphql", headers=headers, **kwargs)


def _the_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["errors"], body
    rid = response.headers["x-request-id"]
    for error in body["errors"]:
        assert error["extensions"]["code"], body
        assert error["extensions"]["requestId"] == rid, body
    assert body["extensions"]["requestId"] == rid
    first: dict[str, Any] = body["errors"][0]
    return first


DEEP = "{ " + "viewer { " * 14 + "role" + " }" * 15
ALIASES = "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(40)) + " }"
TOKENS = "{ viewer { " + "role " * 2100 + "} }"
COSTLY = (
    "{ programs(first: 100) { edges { node { groups(first: 100) { edges { node { program {"
    " groups(first: 100) { edges { node { id } } } } } } } } } } }"
)

CASES: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "bad token",
        {"headers": {"authorization": "Bearer not-a-token"}, "json": {"query": "{ viewer { role } }"}},
        401,
        "UNAUTHENTICATED",
    ),
    (
        "not bearer",
        {"headers": {"authorization": "Basic abc"}, "json": {"query": "{ viewer { role } }"}},
        401,
        "UNAUTHENTICATED",
    ),
    (
        "too large",
        {"json": {"query": "{ viewer { role } }", "variables": {"x": "y" * 1_700_000}}},
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    (
        "content type",
        {"content": b"{ viewer { role } }", "headers": {"content-type": "text/plain"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ("not json", {"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "BAD_REQUEST"),
    ("batch", {"json": [{"query": "{ viewer { role } }"}]}, 400, "BAD_REQUEST"),
    ("no query", {"json": {"variables": {}}}, 400, "BAD_REQUEST"),
    ("parse", {"json": {"query": "{ viewer { role }"}}, 200, "GRAPHQL_PARSE_FAILED"),
    ("validation", {"json": {"query": "{ programs(first: 1) { nme } }"}}, 200, "GRAPHQL_VALIDATION_FAILED"),
    ("unknown fragment", {"json": {"query": "{ ...Nope }"}}, 200, "GRAPHQL_VALIDATION_FAILED"),
    (
        "variables",
        {"json": {"query": "query($n: String!) { certificateByNumber(number: $n) { id } }", "variables": {"n": 5}}},
        200,
        "BAD_USER_INPUT",
    ),
    ("first out of range", {"json": {"query": "{ programs(first: 1000) { totalCount } }"}}, 200, "BAD_USER_INPUT"),
    ("depth", {"json": {"query": DEEP}}, 400, "QUERY_TOO_DEEP"),
    ("aliases", {"json": {"query": ALIASES}}, 400, "QUERY_TOO_MANY_ALIASES"),
    ("tokens", {"json": {"query": TOKENS}}, 400, "QUERY_TOO_LARGE"),
    ("cost", {"json": {"query": COSTLY}}, 400, "QUERY_TOO_COSTLY"),
    (
        "anonymous mutation",
        {"json": {"query": 'mutation { programArchive(input: {programId: "x"}) { userErrors { code } } }'}},
        200,
        "UNAUTHENTICATED",
    ),
    (
        "persisted miss",
        {"json": {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}},
        404,
        "PERSISTED_QUERY_NOT_FOUND",
    ),
]


@pytest.mark.parametrize(("name", "request_", "status", "code"), CASES, ids=[c[0] for c in CASES])
async def test_every_refusal_has_its_code_the_request_id_and_the_language(app, db, name, request_, status, code):
    russian = await _send(app, **request_)
    english = await _send(app, lang="en", **request_)
    assert (russian.status_code, english.status_code) == (status, status), russian.text
    ru, en = _the_error(russian), _the_error(english)
    assert ru["extensions"]["code"] == en["extensions"]["code"] == code
    assert russian.headers["cache-control"] == "no-store"
    if code == "PERSISTED_QUERY_NOT_FOUND":  # APQ clients match the text itself
        assert ru["message"] == en["message"] == "PersistedQueryNotFound"
        return
    assert CYRILLIC.search(ru["message"]), ru
    assert not CYRILLIC.search(en["message"]), en


async def test_a_mutation_by_get_is_405_with_its_code(app, db):
    query = 'mutation { programArchive(input: {programId: "x"}) { userErrors { code } } }'
    r = await _send(app, "GET", lang="en", params={"query": query})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    error = _the_error(r)
    assert (
        error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        and error["message"] == "Mutations are accepted by POST only"
    )


async def test_unexpected_faults_are_masked_with_code_and_request_id(app, db, monkeypatch):
    import pdo_graph.resolvers.node as node_resolvers
    import pdo_graph.transport.endpoint as endpoint

    async def broken(*args: Any) -> None:
        raise RuntimeError("Секретов Секрет Секретович")

    monkeypatch.setattr(node_resolvers, "resolve_node", broken)
    r = await _send(app, json={"query": '{ node(id: "x") { id } municipalities { code } }'}, lang="en")
    error = _the_error(r)
    assert r.status_code == 200 and r.json()["data"]["municipalities"]
    assert error == {
        "message": "Internal server error",
        "path": ["node"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": r.headers["x-request-id"]},
    }
    monkeypatch.setattr(endpoint, "resolve_actor", broken)
    r = await _send(app, json={"query": "{ municipalities { code } }"})
    assert r.status_code == 500
    error = _the_error(r)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and error["message"] == "Внутренняя ошибка сервера"
    assert "Секрет" not in r.text


async def test_english_401_and_the_russian_default(app, db):
    body = {"query": "{ viewer { role } }"}
    expired = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    ru = _the_error(await _send(app, json=body, headers={"authorization": f"Bearer {expired}"}))
    en = _the_error(await _send(app, json=body, headers={"authorization": f"Bearer {expired}"}, lang="en-GB"))
    assert ru["message"].startswith("Недействительный токен") and en["message"].startswith("Invalid token")


async def test_an_unreachable_issuer_is_503_with_its_code(engine, settings, database_url, db):
    import socket
    from dataclasses import replace

    from pdo_graph.app import create_app
    from pdo_graph.db.engine import Database
    from tests.oidc_fixture import oidc_mode

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(
        replace(oidc_mode(settings, f"http://127.0.0.1:{port}"), secret_key="k" * 32),
        database=Database(url=database_url, engine=engine),
    )
    import base64
    import json

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    # well formed, so that the verifier goes for the issuer's keys
    jwt = f"{part({'alg': 'RS256', 'typ': 'at+jwt', 'kid': 'k1'})}.{part({'sub': 'x'})}.c2ln"
    async with app.router.lifespan_context(app):
        for lang in (None, "en"):
            r = await _send(
                app, json={"query": "{ viewer { role } }"}, headers={"authorization": f"Bearer {jwt}"}, lang=lang
            )
            assert r.status_code == 503
            error = _the_error(r)
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert bool(CYRILLIC.search(error["message"])) is (lang is None)
