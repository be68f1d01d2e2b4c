"""``pdo-graph``: serve, migrate, demo-data, dev-token, ledger check, export-schema, housekeeping."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.engine import Database, migrate, open_database
from pdo_graph.net import is_loopback

T = TypeVar("T")


async def _with_db(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    db = await open_database(settings)
    try:
        return await fn(db)
    finally:
        await db.dispose()


UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_level": "info",
    "log_config": None,  # our JSON logging (observability.configure_logging)
    "timeout_graceful_shutdown": 20,
    "proxy_headers": False,
}


async def _prepare(engine: AsyncEngine, args: argparse.Namespace, settings: Settings) -> None:
    """`serve --migrate --demo`: apply migrations, then load the demo region into an empty database."""
    if args.migrate:
        await migrate(engine, settings=settings)
    if args.demo:
        from pdo_graph.demo.loader import load_demo_if_empty

        await load_demo_if_empty(engine, settings, date.today())


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    # uvicorn shuts down gracefully on SIGTERM and then re-raises it; turning that into SystemExit
    # lets the `finally` blocks run, so the embedded PostgreSQL is stopped cleanly too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.with_sync:
        settings = dataclasses.replace(settings, sync_background=True)
        os.environ["PDO_SYNC_BACKGROUND"] = "1"  # for worker processes
    import uvicorn

    from pdo_graph.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    if settings.auth_mode == "dev" and not is_loopback(host) and not settings.dev_force:
        print("PDO_AUTH_MODE=dev may only listen on loopback (set PDO_DEV_FORCE=1 to override)", file=sys.stderr)
        return 2
    if args.workers > 1:
        return _serve_workers(args, settings, host, port)

    async def main() -> None:
        db = await open_database(settings)
        try:
            await _prepare(db.engine, args, settings)
            app = create_app(settings, database=db)
            config = uvicorn.Config(app, host=host, port=port, **UVICORN_OPTIONS)
            print(f"GraphiQL: http://{host}:{port}/graphql", flush=True)
            await uvicorn.Server(config).serve()
        finally:
            await db.dispose()

    import uvloop

    uvloop.run(main())
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings, host: str, port: int) -> int:
    """Several uvicorn worker processes over one database (the embedded one is started here, once)."""
    import uvicorn

    from pdo_graph.db.embedded import EmbeddedPostgres
    from pdo_graph.db.engine import async_url, make_engine

    embedded = None
    url = async_url(settings.database_url) if settings.database_url else None
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.start()

    async def prepare(url: str) -> None:
        engine = make_engine(url, 2)
        try:
            await _prepare(engine, args, settings)
        finally:
            await engine.dispose()

    try:
        asyncio.run(prepare(url))
        os.environ["PDO_DATABASE_URL"] = url
        print(f"GraphiQL: http://{host}:{port}/graphql ({args.workers} workers)", flush=True)
        uvicorn.run(
            "pdo_graph.app:create_app", factory=True, workers=args.workers, host=host, port=port, **UVICORN_OPTIONS
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_with_db(settings, lambda db: migrate(db.engine, settings=settings)))
    print("migrations applied")
    return 0


def cmd_dev_token(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.auth.principal import Role
    from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token

    key = load_or_create_dev_key(settings.data_dir)
    print(
        mint_dev_token(
            key,
            role=Role(args.role.upper()),
            subject=args.subject,
            provider=args.provider,
            municipality=args.municipality,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.demo.loader import load_demo

    async def run(db: Database) -> dict[str, int]:
        await migrate(db.engine, settings=settings)
        return await load_demo(db.engine, settings, date.today())

    counts = asyncio.run(_with_db(settings, run))
    print("demo data loaded:", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def cmd_ledger_check(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.domain.ledger import check_invariants

    async def run(db: Database) -> list[tuple[str, str]]:
        async with db.engine.connect() as conn:
            return await check_invariants(conn)

    violations = asyncio.run(_with_db(settings, run))
    for kind, detail in violations:
        print(f"VIOLATION {kind}: {detail}")
    if violations:
        print(f"{len(violations)} violation(s)", file=sys.stderr)
        return 1
    print("ledger invariants hold")
    return 0


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.schema.root import SCHEMA_FILE, export_sdl

    sdl = export_sdl()
    if args.check:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != sdl:
            print("schema.graphql is out of date: run `make schema`", file=sys.stderr)
            return 1
        print("schema.graphql is up to date")
        return 0
    SCHEMA_FILE.write_text(sdl)
    print(f"wrote {SCHEMA_FILE}")
    return 0


def cmd_housekeeping(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.jobs import run_housekeeping

    result = asyncio.run(_with_db(settings, lambda db: run_housekeeping(db.engine, settings, date.today())))
    print(", ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def cmd_assets(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.graphiql import ensure_assets

    ensure_assets(settings.data_dir / "assets")
    print(f"GraphiQL assets in {settings.data_dir / 'assets'}")
    return 0


def cmd_analytics(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.domain.analytics.refresh import refresh

    done = asyncio.run(_with_db(settings, lambda db: refresh(db.engine, settings.analytics_min_cell)))
    if done is None:
        print("another refresh is running; nothing done")
        return 1
    print(
        f"analytics refreshed: generation {done.generation}, as of {done.as_of:%Y-%m-%d %H:%M:%S %Z}, "
        f"{done.rows} rows in {done.seconds:.1f} s"
    )
    return 0


def cmd_enrollments(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.domain import enrollment

    async def run(db: Database) -> int:
        if args.enrollments_command == "expire":
            return await enrollment.expire_stale_applications(db.engine, settings.enrollment_expiry_days)
        return await enrollment.complete_finished_groups(db.engine, date.today())

    count = asyncio.run(_with_db(settings, run))
    done = "expired" if args.enrollments_command == "expire" else "completed"
    print(f"{count} enrollment(s) {done}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdo-graph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the GraphQL server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--migrate", action="store_true", help="apply migrations first")
    p.add_argument("--demo", action="store_true", help="load demo data when the database is empty")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--with-sync", action="store_true", help="sync due catalog sources in the background")
    p.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply Alembic migrations").set_defaults(func=cmd_migrate)
    p = sub.add_parser("dev-token", help="print a dev bearer token (PDO_AUTH_MODE=dev)")
    p.add_argument(
        "--role",
        required=True,
        choices=["GUARDIAN", "PROVIDER", "OPERATOR", "ANALYST", "guardian", "provider", "operator", "analyst"],
    )
    p.add_argument("--subject", required=True)
    p.add_argument("--provider", help="provider INN or global id")
    p.add_argument("--municipality", help="municipality code")
    p.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    p.set_defaults(func=cmd_dev_token)
    sub.add_parser("demo-data", help="load demo data").set_defaults(func=cmd_demo_data)
    p = sub.add_parser("ledger", help="ledger tools")
    lsub = p.add_subparsers(dest="ledger_command", required=True)
    lsub.add_parser(
        "check",
        help="check the ledger invariants (journal = balances, available >= 0, seats = live contracts,"
        " no available or reserved money in a closed period, no live contract on a revoked or frozen"
        " certificate); non-zero exit on violation",
    ).set_defaults(func=cmd_ledger_check)
    p = sub.add_parser("export-schema", help="write schema.graphql")
    p.add_argument("--check", action="store_true", help="fail when schema.graphql differs from the code")
    p.set_defaults(func=cmd_export_schema)
    sub.add_parser("housekeeping", help="expire stale applications and certificates now").set_defaults(
        func=cmd_housekeeping
    )
    p = sub.add_parser("enrollments", help="enrollment housekeeping")
    esub = p.add_subparsers(dest="enrollments_command", required=True)
    esub.add_parser("expire", help="expire applications left unanswered too long").set_defaults(func=cmd_enrollments)
    esub.add_parser("complete", help="complete contracts of ended groups").set_defaults(func=cmd_enrollments)
    sub.add_parser("assets", help="fetch GraphiQL's files (pinned, integrity-checked)").set_defaults(func=cmd_assets)
    p = sub.add_parser("analytics", help="the analysts' aggregates")
    asub = p.add_subparsers(dest="analytics_command", required=True)
    asub.add_parser("refresh", help="recompute the aggregates now (the server does it periodically)").set_defaults(
        func=cmd_analytics
    )
    from pdo_graph.integrations.cli import add_sync_command

    add_sync_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pdo_graph.observability import configure_logging

    configure_logging(logging.INFO, json_logs=os.environ.get("PDO_LOG_FORMAT", "json") == "json")
    args = build_parser().parse_args(argv)
    code: int = args.func(args, Settings.from_env())
    return code


if __name__ == "__main__":
    sys.exit(main())
