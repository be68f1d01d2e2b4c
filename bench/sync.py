"""Catalog sync benchmark: a provider feed of N programs (3 groups each) served locally.

    .venv/bin/python bench/sync.py [--programs 50000] [--page-size 500]
                                   [--database-url postgresql://postgres@127.0.0.1:5432/test]

Prints the full import (items/s, programs and groups written), then an incremental run after 1% of
the programs changed (new titles and prices) and 0.1% were deleted, and its time. The real parts:
the OpenID Provider of the tests (oidc-provider under Node, client credentials, JWT access token
for the feed resource), the sync runner with its HTTP client, PostgreSQL. The feed server runs in
its own process (pre-sorted items, pages serialised on request) and only checks that a bearer
token is present: token validation is what the provider's server pays, not us.

Not part of ``make test``. Without --database-url (or PDO_BENCH_DATABASE_URL) an embedded
PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import admin, database_url

START = date(2030, 9, 1)


# --- the feed (its own process) -----------------------------------------------------------------


def _program(i: int, generation: int) -> dict[str, Any]:
    changed = generation >= 2 and i % 100 == 7
    pid = f"P-{i:06d}"
    price = 900_000 + (i % 50) * 10_000 + (123 if changed else 0)
    return {
        "id": pid,
        "state": "updated",
        "kind": "program",
        "modified": (2_000_000 if changed else 1_000_000) + i,
        "data": {
            "title": f"{'Обновлённая программа' if changed else 'Программа'} №{i}",
            "description": "Занятия для детей: проекты, соревнования, выставки. Группы по возрасту.",
            "direction": ("Техническая", "Художественная", "Физкультурно-спортивная")[i % 3],
            "minAge": 5 + i % 5,
            "maxAge": 12 + i % 6,
            "hours": 72,
            "groups": [
                {
                    "id": f"{pid}-G{g}",
                    "name": f"Группа {g}",
                    "startsOn": (START + timedelta(days=g)).isoformat(),
                    "endsOn": (START + timedelta(days=270 + g)).isoformat(),
                    "capacity": 10 + g,
                    "price": price + g * 1000,
                }
                for g in (1, 2, 3)
            ],
        },
    }


def _items(n: int, generation: int) -> list[dict[str, Any]]:
    items = [_program(i, generation) for i in range(n)]
    if generation >= 2:
        for i in range(13, n, 1000):  # 0.1% deleted
            items[i] = {"id": items[i]["id"], "state": "deleted", "kind": "program", "modified": 2_000_000 + i}
    items.sort(key=lambda it: (it["modified"], it["id"]))
    return items


def serve_feed(sock: socket.socket, programs: int, page_size: int) -> None:
    import bisect

    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    state: dict[str, Any] = {}

    def load(generation: int) -> None:
        items = _items(programs, generation)
        state["items"] = items
        state["keys"] = [(it["modified"], it["id"]) for it in items]

    load(1)
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/feed"

    async def feed(request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Response(status_code=401)
        q = request.query_params
        start = 0
        if "afterTimestamp" in q:
            start = bisect.bisect_right(state["keys"], (int(q["afterTimestamp"]), q.get("afterId", "")))
        chunk = state["items"][start : start + page_size]
        if chunk:
            last = chunk[-1]
            next_url = f"{base}?afterTimestamp={last['modified']}&afterId={last['id']}"
        else:
            next_url = str(request.url)
        return Response(orjson.dumps({"next": next_url, "items": chunk}), media_type="application/json")

    async def control(request: Request) -> Response:
        load(int(request.path_params["generation"]))
        return Response(b"ok")

    app = Starlette(routes=[Route("/feed", feed), Route("/control/{generation:int}", control, methods=["POST"])])
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")).run(sockets=[sock])


# --- the run ------------------------------------------------------------------------------------


async def prepare_database(url: str | None, workdir: Path) -> tuple[str, str, str, Any]:

    from pdo_graph.db.embedded import EmbeddedPostgres
    from pdo_graph.db.engine import async_url

    embedded = None
    if url:
        admin_url = async_url(url)
    else:
        embedded = EmbeddedPostgres(workdir)
        admin_url = await asyncio.to_thread(embedded.start)
    name = f"pdo_bench_sync_{uuid.uuid4().hex[:8]}"
    await admin(admin_url, f'CREATE DATABASE "{name}"')
    return database_url(admin_url, name), admin_url, name, embedded


async def bench(args: argparse.Namespace) -> None:
    import httpx
    from sqlalchemy import text

    from pdo_graph.config import Settings
    from pdo_graph.db.engine import make_engine, migrate
    from pdo_graph.db.session import transaction
    from pdo_graph.domain.access import Actor
    from pdo_graph.integrations import source_rules, sources
    from pdo_graph.integrations.fetch import RetryPolicy
    from pdo_graph.integrations.oidc_client import TokenCache
    from pdo_graph.integrations.secrets import SecretBox
    from pdo_graph.integrations.sync.run import SyncOptions, run_source
    from tests.oidc_fixture import FEED_RESOURCE, PROVIDER_X, OidcProvider, ensure_node_modules

    workdir = Path(tempfile.mkdtemp(prefix="pdo-bench-sync-"))
    os.chmod(workdir, 0o755)  # the embedded server runs as another user
    oidc = None
    feed_proc = None
    embedded = None
    admin_url = name = None
    try:
        url, admin_url, name, embedded = await prepare_database(args.database_url, workdir)
        engine = make_engine(url, 4)
        await migrate(engine)
        ensure_node_modules()
        oidc = OidcProvider(workdir)
        await asyncio.to_thread(oidc.start)

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        ctx = multiprocessing.get_context("spawn")
        feed_proc = ctx.Process(target=serve_feed, args=(sock, args.programs, args.page_size), daemon=True)
        feed_proc.start()
        feed_url = f"http://127.0.0.1:{port}/feed"
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                try:
                    await http.get(feed_url)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)

        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO municipalities (code, name) VALUES ('01', 'Бенчмарк')"))
            provider_id = (
                await conn.execute(
                    text(
                        "INSERT INTO providers (name, inn, municipality) VALUES ('Дом творчества', :inn, '01')"
                        " RETURNING id"
                    ),
                    {"inn": PROVIDER_X},
                )
            ).scalar_one()
        settings = Settings(data_dir=workdir, secret_key="bench-secret")
        client = oidc.clients["provider-x"]
        spec = source_rules.SourceSpec(
            provider_id=provider_id,
            feed_url=feed_url,
            format="PDO_CATALOG_V1",
            issuer=oidc.issuer,
            client_id=client.client_id,
            client_auth="CLIENT_SECRET_BASIC",
            client_secret=client.secret,
            audience=FEED_RESOURCE,
        )
        operator = Actor.operator("bench", "01")
        source_id = await transaction(
            engine, lambda c: sources.create_source(c, operator, spec, SecretBox(settings.secret_key or ""))
        )
        options = SyncOptions(
            retry=RetryPolicy(request_timeout=60.0),
            time_budget=7200.0,
            max_items_per_page=5000,
        )
        tokens = TokenCache()
        groups = args.programs * 3
        print(
            f"feed: {args.programs:,} programs ({groups:,} groups), pages of {args.page_size}, "
            f"database {'external' if args.database_url else 'embedded'}",
            flush=True,
        )

        def progress(summary: Any) -> None:
            if summary.pages % 20 == 0:
                rate = summary.items / summary.seconds
                print(f"  ... {summary.pages} pages, {summary.items:,} items, {rate:,.0f} items/s", flush=True)

        started = time.perf_counter()
        full = await run_source(
            engine, source_id, settings=settings, options=options, tokens=tokens, trigger="CLI", progress=progress
        )
        elapsed = time.perf_counter() - started
        assert full.status == "SUCCEEDED", (full.status, full.message("en"))
        async with engine.connect() as conn:
            counts = (
                await conn.execute(text("SELECT (SELECT count(*) FROM programs), (SELECT count(*) FROM groups)"))
            ).one()
        print(
            f"full import: {full.created:,} items ({counts[0]:,} programs, {counts[1]:,} groups) in {elapsed:.1f} s"
            f" = {full.created / elapsed:,.0f} items/s ({counts[1] / elapsed:,.0f} groups/s), {full.pages} pages",
            flush=True,
        )

        async with httpx.AsyncClient() as http:
            await http.post(f"http://127.0.0.1:{port}/control/2")
        started = time.perf_counter()
        incremental = await run_source(
            engine, source_id, settings=settings, options=options, tokens=tokens, trigger="CLI"
        )
        elapsed = time.perf_counter() - started
        print(
            f"incremental (1% changed, 0.1% deleted): {incremental.items:,} items read in {elapsed:.2f} s:"
            f" {incremental.updated:,} updated, {incremental.archived:,} archived, {incremental.unchanged:,} unchanged,"
            f" {incremental.pages} pages; status {incremental.status}",
            flush=True,
        )
        started = time.perf_counter()
        idle = await run_source(engine, source_id, settings=settings, options=options, tokens=tokens, trigger="CLI")
        print(
            f"nothing changed: {idle.items} items, {idle.pages} page, {time.perf_counter() - started:.3f} s", flush=True
        )
        if args.reharvest:
            started = time.perf_counter()
            again = await run_source(
                engine, source_id, settings=settings, options=options, tokens=tokens, trigger="CLI", from_start=True
            )
            elapsed = time.perf_counter() - started
            print(
                f"full re-harvest (nothing new): {again.items:,} items in {elapsed:.1f} s ="
                f" {again.items / elapsed:,.0f} items/s ({again.unchanged:,} unchanged, {again.skipped:,} skipped)",
                flush=True,
            )
        await engine.dispose()
    finally:
        if feed_proc is not None:
            feed_proc.terminate()
            feed_proc.join(5)
        if oidc is not None:
            oidc.stop()
        if admin_url is not None and name is not None:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--reharvest", action="store_true", help="also time a full re-harvest of unchanged data")
    parser.add_argument(
        "--database-url", default=os.environ.get("PDO_BENCH_DATABASE_URL"), help="a PostgreSQL server to bench on"
    )
    args = parser.parse_args()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
