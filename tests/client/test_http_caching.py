"""Cache-Control, ETag and Vary on public anonymous GETs of the navigator; 304 on If-None-Match;
nothing authenticated, posted, failed or private is cacheable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pdo_graph.ids import encode_id
from pdo_graph.transport.caching import VARY

MUNICIPALITIES = "{ municipalities { code name } }"


@pytest.fixture
async def client(app: Any, db: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def get(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.get("/graphql", params={"query": query}, headers=headers)


def cacheable(response: httpx.Response) -> bool:
    if response.headers.get("cache-control") == "no-store":
        assert "etag" not in response.headers
        return False
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["etag"].startswith('W/"')
    assert set(response.headers["vary"].split(", ")) >= {"Authorization", "Accept-Language", "Accept-Encoding"}
    return True


async def test_public_get_is_cacheable_and_revalidates(client, db):
    first = await get(client, MUNICIPALITIES)
    assert first.status_code == 200 and cacheable(first)
    assert first.headers["vary"] == VARY
    tag = first.headers["etag"]
    again = await get(client, MUNICIPALITIES, **{"if-none-match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag and again.headers["cache-control"] == "public, max-age=60"
    assert (
        await get(client, MUNICIPALITIES, **{"if-none-match": f'"other", {tag.removeprefix("W/")}'})
    ).status_code == 304
    async with db.begin() as conn:
        await conn.execute(text("UPDATE municipalities SET name = name || ' (новое)' WHERE code = '01'"))
    changed = await get(client, MUNICIPALITIES, **{"if-none-match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert "(новое)" in changed.text
    english = await get(client, MUNICIPALITIES, **{"accept-language": "en"})
    assert cacheable(english)
    many = "{ " + " ".join(f"m{i}: municipalities {{ code name }}" for i in range(20)) + " }"  # over 1 KB
    compressed = await get(client, many, **{"accept-encoding": "br"})
    assert cacheable(compressed) and compressed.headers["content-encoding"] == "br"
    assert compressed.headers["vary"] == VARY  # once each


async def test_public_root_fields_and_fragments(client):
    program = encode_id("Program", 1)
    for query in (
        "{ programs(first: 5) { totalCount edges { node { id title } } } }",
        f'{{ node(id: "{program}") {{ id }} }}',
        f'{{ nodes(ids: ["{program}", "{encode_id("Group", 2)}"]) {{ id }} }}',
        "query { ...Public } fragment Public on Query { municipalities { code } __typename }",
        "query { ... on Query { municipalities { code } } }",
    ):
        assert cacheable(await get(client, query)), query


async def test_nothing_private_authenticated_failed_or_posted_is_cacheable(client, token):
    certificate = encode_id("Certificate", 1)
    program = encode_id("Program", 1)
    for query in (
        "{ viewer { role } }",
        "{ municipalities { code } viewer { role } }",
        "query { ...Mine } fragment Mine on Query { viewer { role } }",
        f'{{ node(id: "{certificate}") {{ id }} }}',
        f'{{ nodes(ids: ["{program}", "{certificate}"]) {{ id }} }}',
        '{ node(id: "not-an-id") { id } }',
        "{ programs(first: 1000) { totalCount } }",  # an error
    ):
        r = await get(client, query)
        assert not cacheable(r), query
    operator = token("OPERATOR", "op-01", municipality="01")
    assert not cacheable(await get(client, MUNICIPALITIES, authorization=f"Bearer {operator}"))
    posted = await client.post("/graphql", json={"query": MUNICIPALITIES})
    assert not cacheable(posted)
    variables = await client.get(
        "/graphql",
        params={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": f'{{"id": "{certificate}"}}'},
    )
    assert not cacheable(variables)
    public_variables = await client.get(
        "/graphql", params={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": f'{{"id": "{program}"}}'}
    )
    assert cacheable(public_variables)
