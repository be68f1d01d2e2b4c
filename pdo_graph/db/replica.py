"""Reads that may lag a little, from a streaming replica (``PDO_DATABASE_REPLICA_URL``), and the
callers who must see their own writes.

Which reads: the transport decides (queries whose root fields are the navigator, dashboards,
analytics and statements); every mutation with its payload, every subscription and every other
query reads the primary. Whether the replica is fresh enough is measured here, at most once a
``CHECK_SECONDS`` per process: the primary's WAL insert position (all it has committed, even before
its WAL is written out) against the replica's replay position;
when the replica is behind, its lag is the age of the last transaction it replayed. Beyond
``PDO_REPLICA_MAX_LAG_SECONDS`` (or when the replica does not answer) those reads go to the primary
until the replica catches up.

Read-your-writes (sticky reads by WAL position, as GitLab's database load balancer does): after a
caller's mutation the primary's WAL insert position is remembered for that caller (``remember``, in
this process) and given to the client (the ``x-pdo-min-lsn`` header, which it sends back, so that
another server process honours it too). A read of a caller with such a position goes to the replica
only once the replica has replayed at least that far (``reads_engine(after=...)``), else to the
primary. A position names no one and can only send reads to the primary, so it is not signed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
CHECK_TIMEOUT = 2.0
REMEMBERED_CALLERS = 100_000  # callers whose last write's position is kept (least recently written out)

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def parse_lsn(value: str | None) -> int | None:
    """A WAL position as PostgreSQL prints it (``16/B374D848``) as a number; None for anything else."""
    if not value:
        return None
    match = _LSN.fullmatch(value.strip())
    if match is None:
        return None
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(position: int) -> str:
    """A WAL position as PostgreSQL prints it."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


class Replica:
    def __init__(self, primary: AsyncEngine, replica: AsyncEngine, max_lag_seconds: float) -> None:
        self.primary = primary
        self.engine = replica
        self.max_lag_seconds = max_lag_seconds
        self._checked_at = float("-inf")
        self._fresh = False
        self._lag: float | None = None
        self._replayed: int | None = None  # the replica's replay position at the last check
        self._lock = asyncio.Lock()
        self._written: OrderedDict[str, int] = OrderedDict()  # caller -> WAL position after its last write

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
                                " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS age,"
                                " pg_last_wal_replay_lsn()::text AS replayed"
                            ),
                            {"w": written},
                        )
                    ).one()
        except Exception as exc:
            log.warning("replica lag unknown: %s", type(exc).__name__)
            self._replayed = None
            return None
        self._replayed = parse_lsn(row.replayed)
        if row.caught_up:
            return 0.0
        return float("inf") if row.age is None else max(0.0, float(row.age))

    async def reads_engine(self, after: int | None = None) -> AsyncEngine:
        """The replica while its lag is within the setting and it has replayed the WAL up to ``after``
        (a caller's last write), else the primary."""
        if time.monotonic() - self._checked_at >= CHECK_SECONDS:
            async with self._lock:
                if time.monotonic() - self._checked_at >= CHECK_SECONDS:
                    self._lag = await self.measure_lag()
                    fresh = self._lag is not None and self._lag <= self.max_lag_seconds
                    if fresh != self._fresh:
                        log.info("replica %s (lag %s s)", "in use" if fresh else "bypassed", self._lag)
                    self._fresh = fresh
                    self._checked_at = time.monotonic()
        if not self._fresh:
            return self.primary
        if after is not None and (self._replayed is None or self._replayed < after):
            return self.primary
        return self.engine

    def remember(self, caller: str, position: int) -> None:
        """``caller`` wrote: its reads wait for the replica to replay up to ``position``."""
        if position > self._written.get(caller, -1):
            self._written[caller] = position
        self._written.move_to_end(caller)
        while len(self._written) > REMEMBERED_CALLERS:
            self._written.popitem(last=False)

    def written_by(self, caller: str) -> int | None:
        """The position of ``caller``'s last write while the replica (as last measured) has not
        replayed it; None (and forgotten) once it has."""
        position = self._written.get(caller)
        if position is not None and self._replayed is not None and self._replayed >= position:
            del self._written[caller]
            return None
        return position

    def forget(self) -> None:
        """Measure again on the next read (after a change of the setting)."""
        self._checked_at = float("-inf")

    @property
    def lag(self) -> float | None:
        """The lag last measured."""
        return self._lag

    @property
    def replayed(self) -> int | None:
        """The replica's replay position last measured (None: unknown)."""
        return self._replayed
