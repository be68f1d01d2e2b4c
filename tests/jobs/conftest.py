"""The queue's tests: an empty queue per test (its tables are procrastinate's, not the app's), and
``pdo-graph worker`` processes on the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.session import transaction
from pdo_graph.domain import periods
from pdo_graph.domain.access import Actor
from tests.enrollment.conftest import world  # noqa: F401  a group to apply to

QUEUE_TABLES = "procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, procrastinate_workers"


@pytest.fixture
async def queue(db: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test's database with an empty queue."""
    async with db.begin() as conn:
        await conn.execute(text(f"TRUNCATE {QUEUE_TABLES} RESTART IDENTITY CASCADE"))
    yield db


async def open_in_batches(engine: AsyncEngine, batch: int, municipality: str = "01") -> periods.OpenResult:
    """Open a period covering today whose credits beyond the first ``batch`` go to the queue."""
    today = date.today()
    req = periods.PeriodRequest(
        municipality=municipality,
        starts_on=today - timedelta(days=30),
        ends_on=today + timedelta(days=300),
        nominals=[periods.Nominal(0, 18, 1_000_000)],
        credit_batch=batch,
    )
    operator = Actor.operator(f"op-{municipality}", municipality)
    return await transaction(engine, lambda c: periods.open_period(c, operator, req))


async def jobs(engine: AsyncEngine, task: str) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, status, attempts, args, worker_id FROM procrastinate_jobs WHERE task_name = :t ORDER BY id"
            ),
            {"t": task},
        )
        return list(rows.all())


Workers = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def workers(database_url: str, data_dir: Any) -> Iterator[Workers]:
    """Start ``pdo-graph worker`` processes on the test database (stopped, or killed, at the end)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, **env: str) -> subprocess.Popen[bytes]:
        environ = {
            **os.environ,
            "PDO_DATABASE_URL": database_url,
            "PDO_DATA_DIR": str(data_dir),
            "PDO_LOG_FORMAT": "text",
            "PDO_WORKER_HEARTBEAT_SECONDS": "2",  # dead after 6 s: a live worker on a loaded machine is not taken for dead
            "PDO_ANALYTICS_REFRESH_MINUTES": "0",
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "pdo_graph.cli", "worker", "--name", name],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
