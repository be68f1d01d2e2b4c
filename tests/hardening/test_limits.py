"""Hostile documents are refused before touching the database; cost is reported on every response."""

from __future__ import annotations

import httpx

from pdo_graph.limits import parse_cached, query_cost
from tests.helpers import recorded_statements


async def post(app, query: str, variables: dict | None = None, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def test_cost_multiplies_first_down_the_selection():
    q = "query($n: Int!) { programs(first: $n) { edges { node { id groups(first: 10) { edges { node { id } } } } } } }"
    # programs: 1 + 20 × (edges: 1 + (node: 1 + (id 1 + groups: 1 + 10 × (edges 1 + (node 1 + id 1)))))
    assert query_cost(parse_cached(q), None, {"n": 20}) == 1 + 20 * (1 + 1 + 1 + 1 + 10 * 3)
    frag = "{ ...F } fragment F on Query { municipalities { code } }"
    assert query_cost(parse_cached(frag), None, {}) == 2


async def test_hostile_documents_are_refused_without_the_database(app, engine, db):
    depth = "{ viewer { " + "children { certificate { child { " * 16 + "id" + " } } }" * 16 + " } }"
    aliases = "{ " + " ".join(f"a{i}: municipalities {{ code }}" for i in range(1000)) + " }"
    huge = "{ municipalities { code } }" + " " * (2 * 1024 * 1024)
    bomb = (
        "{ programs(first: 100) { edges { node { groups(first: 100) { edges { node { program { "
        "groups(first: 100) { edges { node { id } } } } } } } } } } }"
    )
    with recorded_statements(engine) as seen:
        for name, query in {"depth 50": depth, "1000 aliases": aliases, "cost bomb": bomb}.items():
            r = await post(app, query)
            body = r.json()
            assert body.get("data") is None, name
            assert body["errors"][0]["message"], name
        r = await post(app, huge)
        assert r.status_code == 413
    assert seen == [], "a hostile document reached the database"


async def test_cost_is_reported_and_first_is_bounded(app, db):
    r = await post(app, "{ municipalities { code } }")
    assert r.json()["extensions"]["cost"] == 2
    r = await post(app, "{ programs(first: 101) { totalCount } }")
    body = r.json()
    assert "errors" in body and "first" in body["errors"][0]["message"]


async def test_batching_and_suggestions_are_off(app, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/graphql", json=[{"query": "{ viewer { role } }"}])
    assert r.status_code == 400
    r = await post(app, "{ municipalitie { code } }")
    message = r.json()["errors"][0]["message"]
    assert "Did you mean" not in message


async def test_unexpected_errors_are_masked(app, db):
    r = await post(app, '{ node(id: "Q2hpbGQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5") { id } }')
    assert r.status_code == 200
    assert r.json()["data"] == {"node": None}
    assert r.headers["x-request-id"]


async def test_failing_field_beside_running_queries_is_not_a_500(gql, token):
    from tests.helpers import new_certificate

    await new_certificate(gql, token, "alice", "Смирнова Ева Олеговна", 9)
    await new_certificate(gql, token, "alice", "Смирнов Лев Олегович", 12)
    q = """{ viewer { children { certificate { number transactions(first: 5) { totalCount } }
             enrollments(first: 1000) { totalCount } } } }"""
    for _ in range(5):
        body = await gql(q, token=token("GUARDIAN", "alice"))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    ok = await gql("{ viewer { children { fullName } } }", token=token("GUARDIAN", "alice"))
    assert len(ok["data"]["viewer"]["children"]) == 2
