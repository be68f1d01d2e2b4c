"""Responses and GraphiQL's files are compressed: brotli when accepted, else gzip."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

import brotli
import httpx
import orjson

from pdo_graph import graphiql
from pdo_graph.app import create_app
from pdo_graph.db.engine import Database
from pdo_graph.transport.compression import choose

INTROSPECTION = "{ __schema { types { name description fields { name description } } } }"


async def raw_post(app: Any, encoding: str | None) -> httpx.Response:
    headers = {"accept-encoding": encoding} if encoding is not None else {"accept-encoding": "identity"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        # read the body as sent: httpx would decode gzip and brotli by itself
        async with c.stream("POST", "/graphql", json={"query": INTROSPECTION}, headers=headers) as r:
            r.raw_body = b"".join([chunk async for chunk in r.aiter_raw()])  # type: ignore[attr-defined]
            return r


async def test_responses_are_compressed_as_the_client_accepts(app, db):
    plain = await raw_post(app, None)
    assert "content-encoding" not in plain.headers
    expected = orjson.loads(plain.raw_body)  # type: ignore[attr-defined]
    assert len(plain.raw_body) > 20_000  # type: ignore[attr-defined]
    br = await raw_post(app, "gzip, deflate, br")
    assert br.headers["content-encoding"] == "br" and "Accept-Encoding" in br.headers["vary"]
    assert orjson.loads(brotli.decompress(br.raw_body))["data"] == expected["data"]  # type: ignore[attr-defined]
    gz = await raw_post(app, "gzip")
    assert gz.headers["content-encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(gz.raw_body))["data"] == expected["data"]  # type: ignore[attr-defined]
    assert len(br.raw_body) < len(plain.raw_body) / 4  # type: ignore[attr-defined]
    refused = await raw_post(app, "br;q=0, gzip;q=0")
    assert "content-encoding" not in refused.headers


def test_accept_encoding_is_read_with_weights():
    assert choose("gzip, br") == "br"
    assert choose("br;q=0, gzip") == "gzip"
    assert choose("*") == "br"
    assert choose("*;q=0, gzip;q=0.5") == "gzip"
    assert choose("identity") is None
    assert choose(None) is None
    assert choose("br;q=abc, gzip") == "gzip"


async def test_graphiql_files_are_served_precompressed(engine, settings, database_url, db, tmp_path: Path):
    assets = tmp_path / "assets"
    assets.mkdir()
    content = {name: (f"/* {name} */ " + "const graphiql = 1;\n" * 20_000).encode() for name in graphiql.ASSET_TYPES}
    for name, data in content.items():
        (assets / name).write_bytes(data)
    graphiql.compress_assets(assets)
    assert graphiql.assets_present(assets)
    app = create_app(replace(settings, data_dir=tmp_path), database=Database(url=database_url, engine=engine))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress), ("identity", bytes)):
            async with c.stream("GET", "/graphiql/graphiql.js", headers={"accept-encoding": encoding}) as r:
                body = b"".join([chunk async for chunk in r.aiter_raw()])
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
            assert r.headers.get("content-encoding", "identity") == encoding
            assert r.headers["vary"] == "Accept-Encoding"
            assert decode(body) == content["graphiql.js"]
            if encoding != "identity":
                assert len(body) < len(content["graphiql.js"]) / 20
