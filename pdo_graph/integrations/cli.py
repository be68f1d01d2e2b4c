"""``pdo-graph sync [--source ID | --all] [--from-start] [--budget SECONDS]``: pull catalogs now.

Without ``--source`` or ``--all`` it runs the sources that are due (as the server's background loop
would). Each source shows a progress line (pages, items, items/s); a summary table follows. An
unknown source is refused before anything runs, one line each. The exit code is 0 when every run
SUCCEEDED or was PARTIAL, 1 when one FAILED or was already running elsewhere, 2 when a source is
unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import EXIT_FAILED, EXIT_OK, EXIT_SETTINGS, Settings
from pdo_graph.ids import decode_pk
from pdo_graph.integrations.sync import store
from pdo_graph.integrations.sync.run import FAILED, RunSummary, SourceNotFound, SyncBusy, SyncOptions, run_source

STATUS_STYLE = {"SUCCEEDED": "green", "PARTIAL": "yellow", "FAILED": "red", "RUNNING": "cyan"}


def add_sync_command(subparsers: Any, epilog: str | None = None) -> None:
    """Register ``sync`` on the ``pdo-graph`` parser (``build_parser`` in pdo_graph/cli.py)."""
    p = subparsers.add_parser(
        "sync",
        help="pull provider catalogs now (due sources by default)",
        description=textwrap.fill(
            "Pull providers' catalog feeds now: the sources that are due, the ones named with --source, or --all."
            " Shows progress per source on a terminal, then a summary table.",
            100,
        ),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--source", action="append", metavar="ID", help="a source id (number or global id); repeatable")
    which.add_argument("--all", action="store_true", help="every source that is not paused")
    p.add_argument("--from-start", action="store_true", help="read the feeds from their start (full re-harvest)")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="time budget per source (default 600)")
    p.set_defaults(func=cmd_sync)


def parse_source_id(value: str) -> int | None:
    if value.isdigit():
        return int(value)
    return decode_pk(value, "CatalogSource")


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    ids: list[int] | None = None
    if args.source:
        ids = []
        for value in args.source:
            pk = parse_source_id(value)
            if pk is None:
                print(f"sync --source: not a source id: {value!r} (a number or a CatalogSource id)", file=sys.stderr)
                return EXIT_SETTINGS
            ids.append(pk)
    return asyncio.run(
        sync_command(settings, ids, all_sources=args.all, from_start=args.from_start, budget=args.budget)
    )


async def sync_command(
    settings: Settings,
    ids: list[int] | None,
    *,
    all_sources: bool = False,
    from_start: bool = False,
    budget: float | None = None,
    console: Console | None = None,
    engine: AsyncEngine | None = None,
    **run_kwargs: Any,
) -> int:
    from pdo_graph.db.engine import open_database

    console = console or Console(stderr=True)
    database = None
    if engine is None:
        database = await open_database(settings)
        engine = database.direct  # a run holds a session lock: past any pooler
    try:
        if ids is None:
            ids = await store.unpaused_sources(engine) if all_sources else await store.due_sources(engine)
        if not ids:
            console.print("no sources to sync")
            return EXIT_OK
        names = await store.provider_names(engine, ids)
        unknown = [source_id for source_id in ids if source_id not in names]
        if unknown:
            for source_id in unknown:
                console.print(f"catalog source {source_id} not found (the operator lists them: catalogSources)")
            return EXIT_SETTINGS
        options = run_kwargs.pop("options", None) or SyncOptions.from_settings(settings, budget=budget)
        results: list[tuple[int, RunSummary | str]] = []
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[pages]} pages"),
            TextColumn("{task.completed:.0f} items"),
            TextColumn("{task.fields[rate]} items/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            for source_id in ids:
                label = f"#{source_id} {names.get(source_id, '?')}"[:48]
                task = progress.add_task(label, total=None, pages=0, rate="-")

                def show(summary: RunSummary, task: Any = task) -> None:
                    rate = summary.items / summary.seconds if summary.seconds > 0 else 0.0
                    progress.update(task, completed=summary.items, pages=summary.pages, rate=f"{rate:,.0f}")

                try:
                    summary = await run_source(
                        engine,
                        source_id,
                        settings=settings,
                        options=options,
                        trigger="CLI",
                        from_start=from_start,
                        progress=show,
                        **run_kwargs,
                    )
                except SyncBusy:
                    results.append((source_id, "already running"))
                    progress.update(task, total=1, completed=1)
                    continue
                except SourceNotFound:
                    results.append((source_id, "not found"))
                    progress.update(task, total=1, completed=1)
                    continue
                show(summary)
                progress.update(task, total=max(summary.items, 1), completed=max(summary.items, 1))
                results.append((source_id, summary))
        console.print(_table(results, names))
        if any(isinstance(r, str) and r == "not found" for _, r in results):
            return EXIT_SETTINGS  # deleted while the others ran
        failed = any(isinstance(r, str) or r.status == FAILED for _, r in results)
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        if database is not None:
            await database.dispose()


def _table(results: list[tuple[int, RunSummary | str]], names: dict[int, str]) -> Table:
    table = Table(title="Catalog sync")
    for column in ("source", "provider", "status", "pages", "created", "updated", "archived", "failed", "unchanged"):
        table.add_column(column, justify="right" if column not in ("provider", "status") else "left")
    table.add_column("time", justify="right")
    table.add_column("message")
    for source_id, result in results:
        if isinstance(result, str):
            table.add_row(str(source_id), names.get(source_id, "?"), f"[red]{result}[/]", *[""] * 8)
            continue
        style = STATUS_STYLE.get(result.status, "")
        table.add_row(
            str(source_id),
            names.get(source_id, "?"),
            f"[{style}]{result.status}[/]",
            str(result.pages),
            str(result.created),
            str(result.updated),
            str(result.archived),
            str(result.failed),
            str(result.unchanged + result.skipped),
            f"{result.seconds:.1f}s",
            result.message("ru") or "",
        )
    return table
