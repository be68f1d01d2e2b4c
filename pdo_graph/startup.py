"""The steps before a command works (database, migrations, demo data, GraphiQL's files), each shown
on the console, and the summary the server prints once it listens: where, what the database
holds, and in dev mode ready-to-paste tokens of real demo subjects."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.console import Console
from pdo_graph.db.embedded import EmbeddedPostgres
from pdo_graph.db.engine import Database, migrate, open_database, schema_revision, where


def shown(path: Path) -> str:
    """A path as a person reads it: relative to the working directory when it lies below it."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


async def open_database_step(settings: Settings, console: Console) -> Database:
    if settings.database_url:
        place = where(settings.database_url)
        with console.step(f"connecting to PostgreSQL at {place}") as step:
            db = await open_database(settings)
            step.done = f"PostgreSQL at {place}"
        return db
    embedded = EmbeddedPostgres(settings.data_dir)
    pgdata = shown(embedded.pgdata)
    first = not embedded.created
    doing = f"creating the embedded PostgreSQL in {pgdata} (first run)" if first else "starting the embedded PostgreSQL"
    with console.step(doing) as step:
        db = await open_database(settings)
        step.done = f"embedded PostgreSQL {'created' if first else 'running'} in {pgdata}"
    return db


async def migrate_step(engine: AsyncEngine, settings: Settings, console: Console) -> None:
    with console.step("applying migrations") as step:
        before = await schema_revision(engine)
        await migrate(engine, settings=settings, progress=step.update)
        after = await schema_revision(engine)
        if before == after:
            step.done = f"database schema up to date ({after})"
        else:
            step.done = f"database schema migrated: {before or 'empty'} → {after}"


def _counted(counts: dict[str, int]) -> str:
    shown = ("certificates", "providers", "programs", "groups")
    return ", ".join(f"{counts[k]} {k}" for k in shown if k in counts)


async def demo_step(engine: AsyncEngine, settings: Settings, console: Console) -> dict[str, int] | None:
    """The demo region, loaded into an empty database (None: the database is not empty)."""
    from pdo_graph.demo.loader import load_demo_if_empty

    with console.step("loading the demo region") as step:
        counts = await load_demo_if_empty(engine, settings, date.today(), step.progress)
        step.done = (
            "demo data: the database holds data already, nothing loaded"
            if counts is None
            else f"demo region loaded: {_counted(counts)}"
        )
    return counts


async def assets_step(settings: Settings, console: Console) -> None:
    """GraphiQL's pinned files, fetched before the server listens (once; they stay in the data dir)."""
    from pdo_graph import graphiql

    directory = settings.data_dir / "assets"
    if graphiql.assets_present(directory):
        return
    with console.step("fetching GraphiQL's files") as step:
        try:
            await asyncio.to_thread(graphiql.ensure_assets, directory, 60.0, step.update)
            step.done = f"GraphiQL's files fetched into {shown(directory)}"
        except Exception as exc:
            step.warn(
                f"GraphiQL's files could not be fetched ({type(exc).__name__}): /graphql answers queries,"
                " but shows no GraphiQL page; `pdo-graph assets` fetches them later"
            )


async def prepare(settings: Settings, console: Console, *, migrations: bool, demo: bool) -> Database:
    """The database ready for the server: open (or start) it, migrate, load the demo when empty."""
    db = await open_database_step(settings, console)
    try:
        if migrations:
            await migrate_step(db.direct, settings, console)
        if demo:
            await demo_step(db.engine, settings, console)
        await assets_step(settings, console)
    except BaseException:
        await db.dispose()
        raise
    return db


# ---- what the server says once it listens --------------------------------------------------------


@dataclass
class Overview:
    """What the database holds, and whom to try it as."""

    counts: dict[str, int] = field(default_factory=dict)
    guardian: tuple[str, int] | None = None  # subject, enrollments
    provider: tuple[str, int] | None = None  # INN, groups
    municipality: tuple[str, str] | None = None  # code, name


_COUNTS = {
    "municipalities": "SELECT count(*) FROM municipalities",
    "providers": "SELECT count(*) FROM providers",
    "programs": "SELECT count(*) FROM programs WHERE NOT archived",
    "groups": "SELECT count(*) FROM groups WHERE NOT archived",
    "families": "SELECT count(*) FROM guardians",
    "certificates": "SELECT count(*) FROM certificates",
    "enrollments": "SELECT count(*) FROM enrollments",
}


async def overview(engine: AsyncEngine) -> Overview:
    found = Overview()
    async with engine.connect() as conn:
        for name, sql in _COUNTS.items():
            found.counts[name] = int((await conn.execute(text(sql))).scalar_one())
        guardian = (
            await conn.execute(
                text(
                    "SELECT gu.subject, count(e.id) AS n FROM guardians gu"
                    " LEFT JOIN enrollments e ON e.guardian_id = gu.id"
                    " GROUP BY gu.id ORDER BY count(e.id) DESC, gu.subject LIMIT 1"
                )
            )
        ).first()
        if guardian is not None:
            found.guardian = (str(guardian.subject), int(guardian.n))
        provider = (
            await conn.execute(
                text(
                    "SELECT pr.inn, count(DISTINCT g.id) AS groups, count(e.id) AS enrollments FROM providers pr"
                    " JOIN programs p ON p.provider_id = pr.id JOIN groups g ON g.program_id = p.id AND NOT g.archived"
                    " LEFT JOIN enrollments e ON e.group_id = g.id"
                    " GROUP BY pr.id ORDER BY count(e.id) DESC, count(DISTINCT g.id) DESC, pr.inn LIMIT 1"
                )
            )
        ).first()
        if provider is not None:
            found.provider = (str(provider.inn), int(provider.groups))
        municipality = (
            await conn.execute(text("SELECT code, name FROM municipalities ORDER BY code <> '01', code LIMIT 1"))
        ).first()
        if municipality is not None:
            found.municipality = (str(municipality.code), str(municipality.name))
    return found


@dataclass(frozen=True)
class DevToken:
    role: str
    who: str
    token: str


def dev_tokens(settings: Settings, found: Overview) -> list[DevToken]:
    """A token for a guardian, a provider, an operator and an analyst of the database (dev mode)."""
    from pdo_graph.auth.principal import Role
    from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token

    key = load_or_create_dev_key(settings.data_dir)
    tokens = []
    subject, enrollments = found.guardian or ("alice", 0)
    who = f"subject {subject}" + (f", {enrollments} enrollments" if enrollments else "")
    tokens.append(DevToken("guardian", who, mint_dev_token(key, role=Role.GUARDIAN, subject=subject)))
    if found.provider is not None:
        inn, groups = found.provider
        token = mint_dev_token(key, role=Role.PROVIDER, subject=f"staff-{inn}", provider=inn)
        tokens.append(DevToken("provider", f"ИНН {inn}, {groups} groups", token))
    if found.municipality is not None:
        code, name = found.municipality
        token = mint_dev_token(key, role=Role.OPERATOR, subject=f"operator-{code}", municipality=code)
        tokens.append(DevToken("operator", f"municipality {code} {name}", token))
    tokens.append(DevToken("analyst", "aggregates only", mint_dev_token(key, role=Role.ANALYST, subject="analyst")))
    return tokens


def command_name() -> str:
    """How this person started ``pdo-graph`` (``.venv/bin/pdo-graph`` from ``make run``)."""
    started = Path(sys.argv[0])
    on_path = shutil.which("pdo-graph")
    if started.name != "pdo-graph" or (on_path is not None and Path(on_path).resolve() == started.resolve()):
        return "pdo-graph"
    return shown(started)


def summary(url: str, found: Overview, tokens: list[DevToken], workers: int = 1) -> str:
    """The lines the server prints once it listens."""
    counts = found.counts
    held = ", ".join(
        f"{counts.get(name, 0)} {name}"
        for name in ("municipalities", "providers", "programs", "families", "certificates")
    )
    lines = [
        "",
        f"pdo-graph is serving {url}" + (f" ({workers} workers)" if workers > 1 else "") + " — GraphiQL in a browser",
        f"  database: {held}",
    ]
    if tokens:
        lines.append("  dev tokens (24 h) for GraphiQL's Headers tab:")
        width = max(len(t.role) for t in tokens)
        for t in tokens:
            lines.append(f"    {t.role:<{width}}  {t.who}")
            lines.append(f"    {'':<{width}}  {json.dumps({'Authorization': f'Bearer {t.token}'})}")
        lines.append(f"  other tokens: {command_name()} dev-token --role GUARDIAN --subject alice (see --help)")
    lines.append("  first query: { municipalities { code name currentPeriod { startsOn endsOn } } }")
    lines.append("  stop: Ctrl-C")
    return "\n".join(lines)
