"""Automatic persisted queries (Apollo's APQ) and trusted documents, through the real app."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from pdo_graph.app import create_app
from pdo_graph.config import Settings, SettingsError
from pdo_graph.db.engine import Database
from pdo_graph.persisted import DocumentStore

QUERY = "query Municipalities { municipalities { code name } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post(client: httpx.AsyncClient, **payload: Any) -> httpx.Response:
    return await client.post("/graphql", json=payload)


async def get(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    encoded = {k: orjson.dumps(v).decode() if isinstance(v, dict) else v for k, v in params.items()}
    return await client.get("/graphql", params=encoded)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


@pytest.fixture
async def client(app: Any, db: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_apq_round_trip_by_post_and_get(client):
    query = QUERY + " # apq round trip"
    digest = sha(query)
    miss = await post(client, extensions=apq(digest))
    assert miss.status_code == 404 and code(miss) == "PERSISTED_QUERY_NOT_FOUND"
    assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    registered = await post(client, query=query, extensions=apq(digest))
    assert registered.status_code == 200 and registered.json()["data"]["municipalities"]
    by_post = await post(client, extensions=apq(digest))
    by_get = await get(client, extensions=apq(digest))
    assert by_post.json()["data"] == by_get.json()["data"] == registered.json()["data"]
    assert by_get.status_code == 200
    by_id = await post(client, documentId=f"sha256:{digest}")
    assert by_id.json()["data"] == registered.json()["data"]


async def test_apq_by_get_registers_too(client):
    query = "{ municipalities { code } } # registered by GET"
    digest = sha(query)
    assert code(await get(client, extensions=apq(digest))) == "PERSISTED_QUERY_NOT_FOUND"
    assert (await get(client, query=query, extensions=apq(digest))).json()["data"]["municipalities"]
    assert (await get(client, extensions=apq(digest))).json()["data"]["municipalities"]


async def test_the_hash_is_verified_and_bad_documents_are_not_kept(client):
    wrong = await post(client, query=QUERY, extensions=apq(sha(QUERY + " ")))
    assert wrong.status_code == 400 and code(wrong) == "PERSISTED_QUERY_HASH_MISMATCH"
    malformed = await post(client, query=QUERY, extensions=apq("ABC"))
    assert code(malformed) == "PERSISTED_QUERY_HASH_MISMATCH"
    version = await post(client, query=QUERY, extensions=apq(sha(QUERY), version=2))
    assert version.status_code == 400 and code(version) == "PERSISTED_QUERY_NOT_SUPPORTED"
    invalid = "{ municipalities { nme } }"
    refused = await post(client, query=invalid, extensions=apq(sha(invalid)))
    assert code(refused) == "GRAPHQL_VALIDATION_FAILED"
    assert code(await post(client, extensions=apq(sha(invalid)))) == "PERSISTED_QUERY_NOT_FOUND"
    assert (
        code(await post(client, query=QUERY, extensions={"persistedQuery": "yes"})) == "PERSISTED_QUERY_NOT_SUPPORTED"
    )


async def test_a_persisted_mutation_still_needs_post(client):
    mutation = 'mutation { programArchive(input: {programId: "x"}) { userErrors { code } } }'
    digest = sha(mutation)
    assert code(await get(client, query=mutation, extensions=apq(digest))) == "METHOD_NOT_ALLOWED"
    assert code(await get(client, extensions=apq(digest))) == "METHOD_NOT_ALLOWED"
    assert code(await post(client, extensions=apq(digest))) == "UNAUTHENTICATED"  # it ran: anonymous


def test_the_registry_is_bounded():
    store = DocumentStore(max_documents=2, max_chars=100)
    for text in ("{ a }", "{ b }", "{ c }"):
        store.register(sha(text), text)
    assert store.lookup(sha("{ a }")) is None and store.lookup(sha("{ c }")) == "{ c }"
    store.register(sha("x" * 90), "x" * 90)
    assert len(store) == 2 and store.lookup(sha("x" * 90)) and store.lookup(sha("{ b }")) is None
    store.register(sha("z" * 60), "z" * 60)  # characters over 100: the least recently used go first
    assert len(store) == 1 and store.lookup(sha("z" * 60))
    store.register(sha("y" * 101), "y" * 101)  # larger than the whole registry: not kept
    assert store.lookup(sha("y" * 101)) is None


TRUSTED = "query Trusted { municipalities { code } }"
RELAY = "query Relay { municipalities { name } }"


async def test_trusted_documents_only(engine, settings, database_url, db, tmp_path: Path):
    codegen = tmp_path / "persisted-documents.json"
    codegen.write_text(json.dumps({sha(TRUSTED): TRUSTED, "c0ffee0123": RELAY}))
    apollo = tmp_path / "apollo-manifest.json"
    apollo.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha(TRUSTED), "name": "Trusted", "type": "query", "body": TRUSTED}],
            }
        )
    )
    for manifest in (codegen, apollo):
        app = create_app(
            replace(settings, trusted_documents=manifest), database=Database(url=database_url, engine=engine)
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            assert (await post(c, extensions=apq(sha(TRUSTED)))).json()["data"]["municipalities"]
            assert (await post(c, query=TRUSTED)).json()["data"]["municipalities"]
            assert (await get(c, extensions=apq(sha(TRUSTED)))).json()["data"]["municipalities"]
            other = "{ municipalities { code name } }"
            refused = await post(c, query=other)
            assert refused.status_code == 403 and code(refused) == "PERSISTED_QUERY_NOT_ALLOWED"
            assert code(await post(c, query=other, extensions=apq(sha(other)))) == "PERSISTED_QUERY_NOT_ALLOWED"
            assert code(await post(c, extensions=apq(sha(other)))) == "PERSISTED_QUERY_NOT_FOUND"
            relay = await post(c, documentId="c0ffee0123")
            if manifest is codegen:  # an id that is no sha256 names its document (Relay's md5 ids)
                assert relay.json()["data"]["municipalities"][0]["name"]
            else:
                assert code(relay) == "PERSISTED_QUERY_NOT_FOUND"


def test_a_bad_manifest_is_one_line_naming_the_variable(tmp_path: Path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({sha("{ a }"): "{ b }"}))
    for content, expected in (
        (None, "is not the sha256 of its document"),
        ("[1, 2]", "expected an object"),
        ("{", "is not JSON"),
        ("{}", "no documents"),
    ):
        if content is not None:
            bad.write_text(content)
        with pytest.raises(SettingsError) as info:
            Settings.from_env({"PDO_TRUSTED_DOCUMENTS": str(bad)})
        [line] = info.value.lines
        assert line.startswith("PDO_TRUSTED_DOCUMENTS:") and expected in line, line
    with pytest.raises(SettingsError, match=r"PDO_TRUSTED_DOCUMENTS: .*cannot read"):
        Settings.from_env({"PDO_TRUSTED_DOCUMENTS": str(tmp_path / "missing.json")})
