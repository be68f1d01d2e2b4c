"""Background work on the distributed queue: procrastinate over the application's PostgreSQL.

``passes`` holds each piece of work as one pass that the CLI can run too (housekeeping, the close of
periods past their end, the analytics refresh, a period's credits in batches, draws at the end of fair windows and
waitlist offers); ``queue`` registers them with procrastinate as tasks, the
periodic ones deferred once per tick across every worker process and machine (procrastinate's
periodic-defer table) and run one at a time (a job lock each); ``worker`` runs a worker:
``pdo-graph worker`` on its own, or inside the server with ``serve --with-worker`` /
``PDO_BACKGROUND_JOBS=1``. A worker that dies half-way through a job (killed, machine lost) stops
heartbeating; another worker sends its jobs round again. Each pass is safe to repeat: every money
movement it makes is one transaction that re-checks state under its locks, so a repeat finds the
work done and does nothing twice.
"""

from pdo_graph.jobs.passes import (
    close_due_periods,
    credit_period,
    deliver_notifications,
    refresh_analytics,
    run_draws_and_offers,
    run_housekeeping,
    send_daily_notices,
)

__all__ = [
    "close_due_periods",
    "credit_period",
    "deliver_notifications",
    "refresh_analytics",
    "run_draws_and_offers",
    "run_housekeeping",
    "send_daily_notices",
]
