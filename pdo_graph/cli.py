"""``pdo-graph``: serve, migrate, demo-data, dev-token, ledger check, export-schema, housekeeping, notices,
draw verify / run, analytics refresh, sync.

Every command validates the settings first (each mistake one line naming its variable) and ends
with one of the exit codes of ``pdo_graph.config`` (README "Exit codes")."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import re
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from pdo_graph.auth.tokens import DEV_TOKEN_TTL
from pdo_graph.config import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SETTINGS,
    Settings,
    StartupError,
    port_number,
    unknown_variables,
)
from pdo_graph.console import Console
from pdo_graph.db.engine import Database, open_database
from pdo_graph.observability import configure_logging

T = TypeVar("T")
log = logging.getLogger("pdo_graph")


async def _with_db(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    db = await open_database(settings)
    try:
        return await fn(db)
    finally:
        await db.dispose()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.serve import cmd_serve as serve

    return serve(args, settings)


_DURATION = re.compile(r"([0-9]+)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: str) -> int:
    """``3600``, ``90s``, ``30m``, ``12h`` or ``7d`` as seconds, from 1 second to 30 days."""
    from pdo_graph.auth.tokens import MAX_DEV_TOKEN_TTL

    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {value!r} (seconds, or e.g. 30m, 12h, 7d)")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_DEV_TOKEN_TTL:
        raise argparse.ArgumentTypeError("a dev token lives from 1 second to 30 days")
    return seconds


def _console(settings: Settings) -> Console:
    return Console(log_format=settings.log_format)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.startup import migrate_step, open_database_step

    async def run() -> None:
        console = _console(settings)
        db = await open_database_step(settings, console)
        try:
            await migrate_step(db.direct, settings, console)
        finally:
            await db.dispose()

    asyncio.run(run())
    return EXIT_OK


def cmd_dev_token(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.auth.principal import Role
    from pdo_graph.auth.tokens import DevKeyMissing, load_dev_key, load_or_create_dev_key, mint_dev_token

    if settings.auth_mode != "dev":
        print(
            "PDO_AUTH_MODE: dev tokens are for PDO_AUTH_MODE=dev; this server accepts its OpenID Provider's tokens",
            file=sys.stderr,
        )
        return EXIT_SETTINGS
    try:
        key = load_or_create_dev_key(settings.data_dir) if args.create else load_dev_key(settings.data_dir)
    except DevKeyMissing as exc:
        print(exc, file=sys.stderr)
        return EXIT_SETTINGS
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
    return EXIT_OK


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.startup import demo_step, migrate_step, open_database_step

    async def run() -> dict[str, int] | None:
        console = _console(settings)
        db = await open_database_step(settings, console)
        try:
            await migrate_step(db.direct, settings, console)
            return await demo_step(db.engine, settings, console)
        finally:
            await db.dispose()

    counts = asyncio.run(run())
    if counts is None:
        print("the database is not empty: the demo region loads into an empty database only", file=sys.stderr)
        return EXIT_FAILED
    print("demo data loaded:", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return EXIT_OK


def cmd_ledger_check(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import text

    from pdo_graph.domain.ledger import check_invariants, seal_closed_periods

    async def run(db: Database) -> list[tuple[str, str]]:
        async with db.engine.begin() as conn:
            for seal in await seal_closed_periods(conn):
                state = "sealed" if seal.sealed else f"not sealed: {len(seal.violations)} violation(s)"
                print(
                    f"closed period {seal.period_id} checked ({seal.entries} entries, {seal.seconds:.1f} s): {state}",
                    file=sys.stderr,
                )
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await conn.execute(text("SET TRANSACTION READ ONLY"))
                return await check_invariants(conn, full=args.full)

    started = time.perf_counter()
    violations = asyncio.run(_with_db(settings, run))
    for kind, detail in violations:
        print(f"VIOLATION {kind}: {detail}")
    if violations:
        print(f"{len(violations)} violation(s)", file=sys.stderr)
        return EXIT_FAILED
    print("ledger invariants hold")
    mode = "every entry added up" if args.full else "open periods in full, sealed ones by their checkpoints"
    print(f"({mode}; {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return EXIT_OK


def cmd_ledger_partition(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.db.ledger_layout import partition_ledger

    async def run(db: Database) -> None:
        async with db.engine.begin() as conn:
            done = await partition_ledger(conn)
        if done is None:
            print("the ledger is partitioned by period already")
        else:
            print(f"the ledger is partitioned by period: {done.entries} entries in {done.partitions} partitions")

    started = time.perf_counter()
    asyncio.run(_with_db(settings, run))
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return EXIT_OK


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.graphql_schema import SCHEMA_FILE, export_sdl

    sdl = export_sdl()
    if args.check:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != sdl:
            print("schema.graphql is out of date: run `make schema`", file=sys.stderr)
            return EXIT_FAILED
        print("schema.graphql is up to date")
        return EXIT_OK
    SCHEMA_FILE.write_text(sdl)
    print(f"wrote {SCHEMA_FILE}")
    return EXIT_OK


def cmd_housekeeping(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph import clock
    from pdo_graph.jobs import close_due_periods, run_housekeeping

    async def run(db: Database) -> dict[str, int]:
        result = await run_housekeeping(db.engine, settings, clock.today(settings.time_zone))
        return result | await close_due_periods(db.engine, settings)

    result = asyncio.run(_with_db(settings, run))
    print(", ".join(f"{k}={v}" for k, v in result.items()))
    return EXIT_OK


def cmd_draw(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.domain.enrollment import draw
    from pdo_graph.ids import decode_pk
    from pdo_graph.jobs import run_draws_and_offers

    if args.draw_command == "run":
        result = asyncio.run(_with_db(settings, lambda db: run_draws_and_offers(db.engine, settings)))
        print(", ".join(f"{k}={v}" for k, v in result.items()))
        return EXIT_OK
    group_id = int(args.group) if args.group.isdigit() else decode_pk(args.group, "Group")
    if group_id is None:
        print(f"not a group id: {args.group!r} (the Group's global ID or its number)", file=sys.stderr)
        return EXIT_SETTINGS

    async def run(db: Database) -> draw.Verification:
        async with db.engine.connect() as conn:
            return await draw.verify(conn, group_id)

    v = asyncio.run(_with_db(settings, run))
    if not v.drawn:
        print(f"group {group_id}: not drawn yet (seed hash {v.seed_hash or '-'})")
        return EXIT_FAILED
    print(f"group {group_id}: {v.entrants} application(s), {v.seats} seat(s) drawn")
    print(f"seed {v.seed}")
    print(f"sha256(seed) = published hash {v.seed_hash}: {'yes' if v.seed_matches_hash else 'NO'}")
    print(
        f"order recomputed from the seed and the application ids = recorded order: {'yes' if v.order_matches else 'NO'}"
    )
    print(
        f"seats went to the first {v.seats} of the order, the rest to the waitlist: {'yes' if v.outcome_matches else 'NO'}"
    )
    if args.order:
        for n, eid in enumerate(v.order, 1):
            print(f"{n}\t{eid}\t{draw.ticket(v.seed or '', eid)}")
    print("draw verified" if v.ok else "draw NOT verified")
    return EXIT_OK if v.ok else EXIT_FAILED


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.jobs.worker import run_worker

    if args.concurrency:
        settings = dataclasses.replace(settings, worker_concurrency=args.concurrency)

    async def run(db: Database) -> None:
        log.info("worker started (queue pdo, %s jobs at once)", settings.worker_concurrency)
        await run_worker(db, settings, name=args.name)

    asyncio.run(_with_db(settings, run))
    return EXIT_OK


def cmd_demo_year(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph import clock
    from pdo_graph.demo.year import first_year, simulate, table
    from pdo_graph.domain.ledger import check_invariants
    from pdo_graph.startup import demo_step, migrate_step, open_database_step

    async def run() -> str:
        console = _console(settings)
        db = await open_database_step(settings, console)
        try:
            await migrate_step(db.direct, settings, console)
            await demo_step(db.engine, settings, console)
            year = args.year or first_year(clock.today(settings.time_zone))
            with console.step(f"simulating two school years of municipality {args.municipality} from {year}") as step:

                async def on_day(day: date) -> None:
                    async with db.engine.connect() as conn:
                        violations = await check_invariants(conn)
                    if violations:
                        raise SystemExit(f"ledger invariants violated on {day}: {violations}")

                def progress(done: int, total: int, day: date) -> None:
                    filled = done * 30 // total
                    step.update(f"[{'#' * filled}{'.' * (30 - filled)}] {day:%d.%m.%Y} ({done}/{total} days)")

                summary = await simulate(db.engine, settings, args.municipality, year, on_day, progress)
                step.done = f"two school years simulated: {len(summary.closes)} closes, ledger checked every day"
            return table(summary)
        finally:
            await db.dispose()

    print(asyncio.run(run()))
    return EXIT_OK


def cmd_notices(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph import clock
    from pdo_graph.domain.outbox import LoggingAdapter
    from pdo_graph.jobs import deliver_notifications, send_daily_notices

    async def run(db: Database) -> tuple[dict[str, int], int]:
        sent = await send_daily_notices(db.engine, settings, clock.today(settings.time_zone))
        delivered = await deliver_notifications(db.engine, LoggingAdapter())
        return sent, delivered.delivered

    sent, delivered = asyncio.run(_with_db(settings, run))
    print(", ".join(f"{k}={v}" for k, v in {**sent, "delivered": delivered}.items()))
    return EXIT_OK


def cmd_assets(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.graphiql import ensure_assets

    with _console(settings).step("fetching GraphiQL's files") as step:
        ensure_assets(settings.data_dir / "assets", progress=step.update)
    print(f"GraphiQL assets in {settings.data_dir / 'assets'}")
    return EXIT_OK


def cmd_enrollments(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.domain import enrollment

    async def run(db: Database) -> int:
        if args.enrollments_command == "expire":
            return await enrollment.expire_stale_applications(db.engine, settings.enrollment_expiry_days)
        return await enrollment.complete_finished_groups(db.engine, date.today())

    count = asyncio.run(_with_db(settings, run))
    done = "expired" if args.enrollments_command == "expire" else "completed"
    print(f"{count} enrollment(s) {done}")
    return EXIT_OK


def cmd_analytics(args: argparse.Namespace, settings: Settings) -> int:
    from pdo_graph.jobs import refresh_analytics

    async def run(db: Database) -> bool:
        with _console(settings).step("refreshing the analysts' aggregates") as step:
            done = await refresh_analytics(db.engine, settings, progress=step.update)
            if done is None:
                step.warn("another refresh is running (in the server or another command): nothing done")
                return False
            step.done = f"analytics aggregates refreshed: generation {done.generation}, {done.rows} rows"
        print(
            f"analytics refreshed: generation {done.generation}, as of {done.as_of:%Y-%m-%d %H:%M:%S %Z}, {done.rows} rows"
        )
        return True

    return EXIT_OK if asyncio.run(_with_db(settings, run)) else EXIT_FAILED


def _port(value: str) -> int:
    try:
        return port_number(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, got {value!r}") from exc


def _workers(value: str) -> int:
    if not re.fullmatch(r"[0-9]+", value) or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes 1–64, got {value!r}")
    return int(value)


EPILOG = """\
Settings come from PDO_* environment variables (README "Configuration"); each mistake is reported
on its own line. Exit codes: 0 done, 1 the command found a failure, 2 a bad setting or argument,
3 the database cannot be reached, 4 the port cannot be used, 130 interrupted."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdo-graph",
        description="The GraphQL backend of ПФДО (personified funding of children's supplementary education).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=textwrap.fill(description or help[0].upper() + help[1:] + ".", 100),
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "serve",
        "run the GraphQL server (GraphiQL at /graphql in a browser)",
        "Run the GraphQL server. Without PDO_DATABASE_URL an embedded PostgreSQL runs with its data in"
        " $PDO_DATA_DIR/pg. Once it listens it prints the URL, what the database holds and, in dev mode,"
        " tokens to paste into GraphiQL.",
    )
    p.add_argument("--host", metavar="ADDRESS", help="address to listen on (default: PDO_HOST, 127.0.0.1)")
    p.add_argument("--port", type=_port, metavar="PORT", help="port to listen on (default: PDO_PORT, 8000)")
    p.add_argument("--migrate", action="store_true", help="apply database migrations first")
    p.add_argument("--demo", action="store_true", help="load the demo region when the database is empty")
    p.add_argument(
        "--workers", type=_workers, default=1, metavar="N", help="worker processes sharing the port (default 1)"
    )
    p.add_argument(
        "--with-worker",
        action="store_true",
        help="run a worker of the job queue in the server too (PDO_BACKGROUND_JOBS=1; else run `pdo-graph worker`)",
    )
    p.add_argument(
        "--with-sync",
        action="store_true",
        help="sync due catalog sources in the background (PDO_SYNC_BACKGROUND=1; implies --with-worker)",
    )
    p.set_defaults(func=cmd_serve)
    command("migrate", "apply the database migrations (Alembic) up to the newest").set_defaults(func=cmd_migrate)
    p = command(
        "dev-token",
        "print a dev bearer token (PDO_AUTH_MODE=dev)",
        "Print a bearer token signed with the dev key in $PDO_DATA_DIR (the server creates the key on its"
        " first start; without it this command refuses, unless --create). Put it into GraphiQL's Headers"
        ' tab as {"Authorization": "Bearer <token>"}.',
    )
    p.add_argument(
        "--role",
        required=True,
        choices=["GUARDIAN", "PROVIDER", "OPERATOR", "ANALYST", "guardian", "provider", "operator", "analyst"],
        metavar="ROLE",
        help="GUARDIAN, PROVIDER, OPERATOR or ANALYST",
    )
    p.add_argument("--subject", required=True, help="who the token speaks for (a guardian's account id, e.g. alice)")
    p.add_argument("--provider", metavar="INN", help="the provider's INN or global id (PROVIDER tokens need it)")
    p.add_argument("--municipality", metavar="CODE", help="municipality code, e.g. 01 (OPERATOR tokens need it)")
    p.add_argument(
        "--ttl",
        type=duration,
        default=DEV_TOKEN_TTL,
        help="lifetime: seconds, or a duration such as 30m, 12h, 7d (default 1 day, at most 30 days)",
    )
    p.add_argument(
        "--create", action="store_true", help="create the dev signing key in $PDO_DATA_DIR when there is none"
    )
    p.set_defaults(func=cmd_dev_token)
    command(
        "demo-data",
        "migrate, then load the demo region into an empty database",
        "Migrate, then load the demo region (municipalities, providers, programs and groups, families,"
        " certificates, funding periods) into an empty database.",
    ).set_defaults(func=cmd_demo_data)
    p = command(
        "demo-year",
        "simulate two school years of a municipality of the demo region and print their figures",
        "Migrate, load the demo region when the database is empty, then run two school years of one"
        " municipality with a simulated clock (applications verified and rejected, periods opened and closed by"
        " the background job, enrollments, monthly reports, carry-over, prolongation with consent, statements"
        " issued every month), checking the ledger every simulated day; prints a summary table. It writes into"
        " the database (use a scratch one): the years after the demo region's current school year.",
    )
    p.add_argument("--municipality", default="01", metavar="CODE", help="the municipality (default: 01)")
    p.add_argument("--year", type=int, metavar="YYYY", help="the first school year (default: the next one)")
    p.set_defaults(func=cmd_demo_year)
    p = command("ledger", "ledger tools")
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    p = lsub.add_parser(
        "check",
        help="check the ledger invariants (journal = balances, available >= 0, seats = live contracts and offers,"
        " no available or reserved money in a closed period, no live contract in a closed period or on a"
        " revoked or frozen certificate, carried money = carry-overs, issued statements = the ledger's"
        " charges); non-zero exit on violation",
        description="Check the ledger invariants; exit 1 on any violation. Periods closed and sealed (checked"
        " at their close, immutable after) are verified against their checkpoints; the open ones in full. A closed"
        " period without a checkpoint (closed before migration 0100) is checked in full and sealed first.",
    )
    p.add_argument(
        "--full", action="store_true", help="add up every entry of every period again (and hash the sealed ones)"
    )
    p.set_defaults(func=cmd_ledger_check)
    lsub.add_parser(
        "partition",
        help="turn the ledger into a table partitioned by period (one transaction; money waits meanwhile:"
        " a maintenance window); new periods get their partition when they open",
        description="Partition ledger_entries by period (docs/scaling.md). Does nothing when it is already.",
    ).set_defaults(func=cmd_ledger_partition)
    p = command("export-schema", "write schema.graphql from the code")
    p.add_argument("--check", action="store_true", help="only check: exit 1 when schema.graphql differs from the code")
    p.set_defaults(func=cmd_export_schema)
    command(
        "housekeeping",
        "expire stale applications and certificates, complete ended groups, close periods past their end, now",
    ).set_defaults(func=cmd_housekeeping)
    command(
        "notices", "the daily notices now (expiring certificates, money, applications), then deliver the outbox"
    ).set_defaults(func=cmd_notices)
    p = command(
        "worker",
        "run a worker of the job queue (housekeeping, period credits, analytics refresh, catalog sync)",
        "Run a worker of the job queue: periodic housekeeping (expiry, completion), credits of large period"
        " openings in batches, the analytics refresh and, with PDO_SYNC_BACKGROUND=1, catalog syncs. Run as"
        " many as you like on as many machines: each periodic task runs once per tick across them, and the"
        " jobs of a worker that dies are run again by the others. SIGTERM or Ctrl-C: the jobs in flight"
        " finish, then it exits.",
    )
    p.add_argument(
        "--concurrency", type=_workers, metavar="N", help="jobs at once (default: PDO_WORKER_CONCURRENCY, 4)"
    )
    p.add_argument("--name", metavar="NAME", help="the worker's name in logs and the queue (default host:pid)")
    p.set_defaults(func=cmd_worker)
    p = command("enrollments", "enrollment housekeeping, one rule at a time")
    esub = p.add_subparsers(dest="enrollments_command", required=True, metavar="COMMAND")
    esub.add_parser(
        "expire", help="expire applications left unanswered too long", description="Expire stale applications."
    ).set_defaults(func=cmd_enrollments)
    esub.add_parser(
        "complete", help="complete contracts of ended groups", description="Complete contracts of ended groups."
    ).set_defaults(func=cmd_enrollments)
    p = command("draw", "the fair opening's draws")
    dsub = p.add_subparsers(dest="draw_command", required=True, metavar="COMMAND")
    v = dsub.add_parser(
        "verify",
        help="recompute a group's draw from its published seed and application ids; exit 1 unless it matches",
        description="Recompute a group's draw: sha256(seed) against the hash published before the window, the order"
        " (ascending sha256(seed:application id)) against the recorded one, the seats against the order.",
    )
    v.add_argument("group", metavar="GROUP_ID", help="the Group's global ID (or its number)")
    v.add_argument("--order", action="store_true", help="also print the drawn order: place, application id, ticket")
    v.set_defaults(func=cmd_draw)
    dsub.add_parser(
        "run",
        help="draw every group whose fair window has ended, lapse and make waitlist offers now (the server does it"
        " every few seconds)",
        description="Draw due groups; lapse unanswered waitlist offers; offer free seats to the queues.",
    ).set_defaults(func=cmd_draw)
    command("assets", "fetch GraphiQL's files (pinned, integrity-checked) into $PDO_DATA_DIR/assets").set_defaults(
        func=cmd_assets
    )
    p = command("analytics", "the analysts' aggregates")
    asub = p.add_subparsers(dest="analytics_command", required=True, metavar="COMMAND")
    asub.add_parser(
        "refresh",
        help="recompute the aggregates now (the server does it every PDO_ANALYTICS_REFRESH_MINUTES);"
        " exit 1 when another refresh is running",
        description="Recompute the analysts' aggregates from the ledger and the tables as a new generation;"
        " exit 1 when another refresh is running.",
    ).set_defaults(func=cmd_analytics)
    from pdo_graph.integrations.cli import add_sync_command

    add_sync_command(sub, epilog=EPILOG)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for warning in unknown_variables():
        print(f"warning: {warning}", file=sys.stderr)
    try:
        overrides = {"host": args.host, "port": args.port} if args.command == "serve" else {}
        settings = Settings.from_env(serving=args.command == "serve", **overrides)
        configure_logging(settings.log_level, settings.log_format)
        code: int = args.func(args, settings)
    except StartupError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
