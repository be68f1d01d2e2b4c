"""Reads that may lag a little, from a streaming replica (``PDO_DATABASE_REPLICA_URL``).

Which reads: the transport decides (queries of anonymous visitors and analysts: the navigator's
search, the catalog, the analysts' tables); everything else, and every mutation with its payload,
reads the primary. Whether the replica is fresh enough is measured here, at most once a
``CHECK_SECONDS`` per process: the primary's WAL insert position (all it has committed, even before
its WAL is written out) against the replica's replay position;
when the replica is behind, its lag is the age of the last transaction it replayed. Beyond
``PDO_REPLICA_MAX_LAG_SECONDS`` (or when the replica does not answer) those reads go to the primary
until the replica catches up.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
CHECK_TIMEOUT = 2.0


class Replica:
    def __init__(self, primary: AsyncEngine, replica: AsyncEngine, max_lag_seconds: float) -> None:
        self.primary = primary
        self.engine = replica
        self.max_lag_seconds = max_lag_seconds
        self._checked_at = float("-inf")
        self._fresh = False
        self._lag: float | None = None
        self._lock = asyncio.Lock()

    async def measure_lag(self) -> float | None:
        """Seconds the replica is behind the primary now (0: it has replayed all the primary has
        written); None when either does not answer."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                async with self.primary.connect() as conn:
                    written = (await conn.execute(text("SELECT pg_current_wal_insert_lsn()::text"))).scalar_one()
                async with self.engine.connect() as conn:
                    row = (
                        await conn.execute(
                            text(
                                "SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:w AS text) AS pg_lsn) AS caught_up,"
                                " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS age"
                            ),
                            {"w": written},
                        )
                    ).one()
        except Exception as exc:
            log.warning("replica lag unknown: %s", type(exc).__name__)
            return None
        if row.caught_up:
            return 0.0
        return float("inf") if row.age is None else max(0.0, float(row.age))

    async def reads_engine(self) -> AsyncEngine:
        """The replica while its lag is within the setting, else the primary."""
        if time.monotonic() - self._checked_at >= CHECK_SECONDS:
            async with self._lock:
                if time.monotonic() - self._checked_at >= CHECK_SECONDS:
                    self._lag = await self.measure_lag()
                    fresh = self._lag is not None and self._lag <= self.max_lag_seconds
                    if fresh != self._fresh:
                        log.info("replica %s (lag %s s)", "in use" if fresh else "bypassed", self._lag)
                    self._fresh = fresh
                    self._checked_at = time.monotonic()
        return self.engine if self._fresh else self.primary

    def forget(self) -> None:
        """Measure again on the next read (after a change of the setting)."""
        self._checked_at = float("-inf")

    @property
    def lag(self) -> float | None:
        """The lag last measured."""
        return self._lag
