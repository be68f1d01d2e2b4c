"""Running syncs: the CLI command (progress and summary), the server's background loop, metrics."""

from __future__ import annotations

import argparse
import asyncio
import io
from dataclasses import replace

from rich.console import Console
from sqlalchemy import text

from pdo_graph.db.engine import Database
from pdo_graph.ids import encode_id
from pdo_graph.integrations.cli import add_sync_command, parse_source_id, sync_command
from pdo_graph.integrations.sync.scheduler import metrics_hook, sync_due_sources
from pdo_graph.jobs.worker import run_worker
from pdo_graph.observability import Metrics
from tests.integrations.conftest import FAST, catalog_rows, pdo_program


def test_sync_command_arguments():
    parser = argparse.ArgumentParser()
    add_sync_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sync", "--source", "3", "--source", encode_id("CatalogSource", 7), "--from-start"])
    assert [parse_source_id(s) for s in args.source] == [3, 7] and args.from_start
    assert parser.parse_args(["sync", "--all"]).all is True
    assert parser.parse_args(["sync"]).source is None
    assert parse_source_id(encode_id("Program", 7)) is None


async def test_cli_syncs_with_progress_and_a_summary(db, feed, provider_x, make_source, sync_settings, tokens):
    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(5)], pdo_program("P-9", 200, minAge=99))
    first = await make_source(provider_x)
    second = await make_source(provider_x, feed_url=feed.url + "?variant=2")
    out = io.StringIO()
    code = await sync_command(
        sync_settings, [first], console=Console(file=out, width=200), engine=db, options=FAST, tokens=tokens
    )
    assert code == 0
    printed = out.getvalue()
    assert "Catalog sync" in printed and "PARTIAL" in printed and "6 items" in printed
    assert len(await catalog_rows(db, provider_x)) == 5
    # --all runs every unpaused source; unknown ids are reported
    async with db.begin() as conn:
        await conn.execute(text("UPDATE catalog_sources SET paused = true WHERE id = :s"), {"s": first})
    out = io.StringIO()
    code = await sync_command(
        sync_settings,
        None,
        all_sources=True,
        console=Console(file=out, width=200),
        engine=db,
        options=FAST,
        tokens=tokens,
    )
    assert code == 0 and f"#{second}" in out.getvalue() and f"#{first} " not in out.getvalue()
    out = io.StringIO()
    assert await sync_command(sync_settings, [999], console=Console(file=out, width=200), engine=db) == 2
    assert "not found" in out.getvalue()


async def test_due_sources_run_in_the_background(
    db, database_url, feed, provider_x, make_source, sync_settings, tokens
):
    feed.put(pdo_program("P-1", 100))
    source = await make_source(provider_x, interval_minutes=15)
    metrics = Metrics()
    done = await sync_due_sources(db, sync_settings, options=FAST, tokens=tokens, on_finish=metrics_hook(metrics))
    assert [(s.source_id, s.status) for s in done] == [(source, "SUCCEEDED")]
    assert b'pdo_catalog_sync_runs_total{status="SUCCEEDED"} 1.0' in metrics.render()
    # not due again before its interval has passed
    assert await sync_due_sources(db, sync_settings, options=FAST, tokens=tokens) == []
    async with db.connect() as conn:
        delay = (await conn.execute(text("SELECT next_run_at - now() FROM catalog_sources"))).scalar()
    assert 14 * 60 < delay.total_seconds() <= 15 * 60

    # a worker of the queue picks up a due source by itself
    feed.put(pdo_program("P-2", 200))
    async with db.begin() as conn:
        await conn.execute(text("UPDATE catalog_sources SET next_run_at = now() - interval '1 second'"))
    worker_settings = replace(sync_settings, sync_background=True, sync_poll_seconds=1, worker_heartbeat_seconds=0.5)
    task = asyncio.create_task(run_worker(Database(database_url, db), worker_settings, install_signal_handlers=False))
    try:
        for _ in range(100):
            if "P-2" in await catalog_rows(db, provider_x):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the background loop did not sync the due source")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with db.connect() as conn:
        trigger = (await conn.execute(text("SELECT trigger FROM catalog_sync_runs ORDER BY id DESC LIMIT 1"))).scalar()
    assert trigger == "SCHEDULE"


async def test_paused_sources_wait_and_running_ones_cannot_be_deleted(
    db, feed, provider_x, make_source, sync_settings, tokens, sync
):
    from pdo_graph.db.session import transaction
    from pdo_graph.domain.errors import DomainError
    from pdo_graph.integrations import sources
    from tests.integrations.conftest import OPERATOR_01

    feed.put(pdo_program("P-1", 100))
    source = await make_source(provider_x)
    await transaction(db, lambda c: sources.set_source_paused(c, OPERATOR_01, source, True))
    assert await sync_due_sources(db, sync_settings, options=FAST, tokens=tokens) == []
    feed.slow(1, 0.3)
    running = asyncio.create_task(sync(source))  # an operator may still run a paused source now
    await asyncio.sleep(0.1)
    try:
        await transaction(db, lambda c: sources.delete_source(c, OPERATOR_01, source))
    except DomainError as exc:
        assert exc.problems[0].key == "source_busy"
    else:
        raise AssertionError("a running source was deleted")
    assert (await running).status == "SUCCEEDED"
    await transaction(db, lambda c: sources.delete_source(c, OPERATOR_01, source))
    async with db.connect() as conn:
        left = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM catalog_sync_runs),"
                    " (SELECT count(*) FROM catalog_feed_items), (SELECT count(*) FROM programs)"
                )
            )
        ).one()
    assert tuple(left) == (0, 0, 1)  # runs and feed state go; the catalog stays


async def test_a_new_feed_url_starts_from_the_beginning(db, feed, provider_x, make_source, sync):
    from pdo_graph.db.session import transaction
    from pdo_graph.integrations import sources
    from pdo_graph.integrations.secrets import SecretBox
    from tests.integrations.conftest import OPERATOR_01, SECRET_KEY, source_row

    feed.put(pdo_program("P-1", 100), pdo_program("P-2", 101))
    source = await make_source(provider_x)
    await sync(source)
    assert (await source_row(db, source)).cursor is not None
    other = feed.url.replace("/feed", "/other-feed")
    await transaction(
        db, lambda c: sources.update_source(c, OPERATOR_01, source, {"feed_url": other}, SecretBox(SECRET_KEY))
    )
    moved = await source_row(db, source)
    assert moved.cursor is None and moved.position_modified is None and moved.feed_url == other
    feed.put(pdo_program("P-1", 5))  # the new system counts `modified` from scratch: not stale
    summary = await sync(source)
    assert summary.full_harvest and (summary.updated, summary.unchanged) == (0, 2)
    assert feed.log[-summary.pages].url == other
