"""Two ``pdo-graph worker`` processes on one database: each periodic tick runs once between them, and a
worker killed (SIGKILL) in the middle of a period's credits loses nothing and credits nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from sqlalchemy import text

from pdo_graph.db.queue import CREDIT_PERIOD
from pdo_graph.jobs.queue import HOUSEKEEPING
from tests.enrollment.conftest import bulk_certificates, enroll, pk
from tests.helpers import new_certificate
from tests.jobs.conftest import jobs, open_in_batches

pytestmark = pytest.mark.slow

DEADLINE = 120  # seconds a worker gets to do what is awaited (polled; never a timing assertion)


async def until(check, what: str, deadline: float = DEADLINE):  # type: ignore[no-untyped-def]
    for _ in range(int(deadline * 10)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {deadline} s: {what}")


async def live_workers(engine) -> list[int]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return [int(i) for i in (await conn.execute(text("SELECT id FROM procrastinate_workers"))).scalars()]


async def test_two_workers_run_each_periodic_tick_once(queue, workers, world, gql, token):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    stale = (await enroll(gql, token, "alice", cert["id"], world.group))["enrollment"]
    async with queue.begin() as conn:  # unanswered for six days: housekeeping expires it
        await conn.execute(
            text("UPDATE enrollments SET created_at = now() - interval '6 days' WHERE id = :id"),
            {"id": pk(stale["id"])},
        )
    env = {"PDO_HOUSEKEEPING_SECONDS": "1"}
    first, second = workers("w1", **env), workers("w2", **env)
    await until(lambda: _both(queue), "both workers registered")

    async def ticks_done():  # type: ignore[no-untyped-def]
        done = [j for j in await jobs(queue, HOUSEKEEPING) if j.status == "succeeded"]
        return done if len(done) >= 4 else None

    await until(ticks_done, "four housekeeping ticks")
    runs = await jobs(queue, HOUSEKEEPING)
    stamps = [j.args["timestamp"] for j in runs]
    assert len(stamps) == len(set(stamps)), "a tick deferred twice"
    assert all(j.attempts == 1 for j in runs if j.status == "succeeded")
    async with queue.connect() as conn:
        by = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT e.job_id) FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id"
                    " WHERE j.task_name = :t AND e.type = 'started'"
                ),
                {"t": HOUSEKEEPING},
            )
        ).scalar_one()
    assert by == len([j for j in runs if j.status in ("succeeded", "doing", "failed")])
    assert first.poll() is None and second.poll() is None
    async with queue.connect() as conn:
        status = (
            await conn.execute(text("SELECT status FROM enrollments WHERE id = :id"), {"id": pk(stale["id"])})
        ).scalar_one()
        releases = (
            await conn.execute(
                text("SELECT count(*) FROM ledger_entries WHERE enrollment_id = :id AND kind = 'RELEASE'"),
                {"id": pk(stale["id"])},
            )
        ).scalar_one()
    assert (status, releases) == ("EXPIRED", 1), "expired once, whatever the ticks and workers"


async def _both(engine) -> bool:  # type: ignore[no-untyped-def]
    return len(await live_workers(engine)) == 2


async def test_a_worker_killed_mid_credit_loses_nothing_and_credits_nothing_twice(queue, workers):
    certificates = await bulk_certificates(queue, 3000)
    opened = await open_in_batches(queue, batch=25)
    assert opened.credit_job is not None
    doomed = workers("w1")

    async def half_way():  # type: ignore[no-untyped-def]
        """The credit job running, a few batches credited."""
        async with queue.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT j.worker_id, (SELECT count(*) FROM period_fundings f WHERE f.period_id = :p"
                        " AND f.status = 'FUNDED') AS funded FROM procrastinate_jobs j WHERE j.id = :j AND j.status = 'doing'"
                    ),
                    {"j": opened.credit_job, "p": opened.period_id},
                )
            ).first()
        return row if row is not None and 100 <= row.funded < 2000 else None

    running = await until(half_way, "the credit job half-way in the first worker")
    survivor = workers("w2")  # idle: the job is locked by the first
    await until(lambda: _both(queue), "the second worker registered")
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()

    async def finished():  # type: ignore[no-untyped-def]
        [job] = await jobs(queue, CREDIT_PERIOD)
        return job if job.status == "succeeded" else None

    job = await until(finished, "the credit job finished by the second worker")
    assert job.attempts == 2, "run once more after the kill, no more"
    assert running.worker_id not in await live_workers(queue), "the dead worker was pruned"
    async with queue.connect() as conn:
        credits = (
            await conn.execute(
                text(
                    "SELECT count(*) AS entries, count(DISTINCT certificate_id) AS certificates, sum(amount) AS total"
                    " FROM ledger_entries WHERE period_id = :p AND kind = 'CREDIT'"
                ),
                {"p": opened.period_id},
            )
        ).one()
    assert (credits.entries, credits.certificates) == (len(certificates), len(certificates)), "each credited once"
    assert credits.total == len(certificates) * 1_000_000
    assert survivor.poll() is None
