"""Enqueueing a job of the distributed queue (procrastinate's tables, migration 0070) inside the
caller's transaction: the job exists exactly when the work that asked for it commits.

The names of the tasks that domain transactions enqueue live here, so that the domain names them
without importing the queue (``pdo_graph.jobs`` registers the same names with procrastinate).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

QUEUE = "pdo"  # the one queue of pdo-graph's jobs
CREDIT_PERIOD = "pdo.credit_period"  # credit a period's queued certificates in batches


def credit_period_locks(period_id: int) -> tuple[str, str]:
    """(lock, queueing lock) of a period's credit job: one runs at a time, one waits at most."""
    return f"credit-period-{period_id}", f"credit-period-{period_id}"


async def enqueue(
    conn: AsyncConnection, task: str, args: dict[str, Any], *, lock: str | None = None, queueing_lock: str | None = None
) -> int | None:
    """Insert a job in the caller's transaction; None when a job with the same lock is waiting or
    running (that one does the work). A savepoint keeps a refusal by the queueing lock's index (a job
    enqueued meanwhile) from aborting the caller's transaction."""
    if lock is not None:
        busy = await conn.execute(
            text("SELECT 1 FROM procrastinate_jobs WHERE lock = :l AND status IN ('todo', 'doing') LIMIT 1"),
            {"l": lock},
        )
        if busy.first() is not None:
            return None
    try:
        async with conn.begin_nested():
            job_id = await conn.execute(
                text(
                    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:q, :t, 0, :l, :ql, CAST(:a AS jsonb), NULL)"
                    "::procrastinate_job_to_defer_v1]))"
                ),
                {"q": QUEUE, "t": task, "l": lock, "ql": queueing_lock, "a": orjson.dumps(args).decode()},
            )
            return int(job_id.scalar_one())
    except IntegrityError as exc:
        if "procrastinate_jobs_queueing_lock_idx" in str(exc.orig):
            return None
        raise
