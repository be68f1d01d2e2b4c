"""Admission control of write transactions: at most ``limit`` in flight per process, a short queue
behind them, and beyond it a fast refusal.

Without it a burst (an opening minute) is queued by the connection pool: every request waits its
turn for a connection however long the line, latency grows without bound and the clients' own
timeouts turn the wait into duplicate work. With it, a process holds at most ``limit`` write
transactions (``PDO_MAX_INFLIGHT_WRITES``, at most the pool: a write never waits for a connection),
at most ``queue`` more wait, each no longer than ``wait`` seconds (``PDO_WRITE_QUEUE``,
``PDO_WRITE_QUEUE_MS``), and any other is refused at once with :class:`WritesBusy`: the transport
answers HTTP 503 ``OVERLOADED`` with ``Retry-After`` (docs/errors.md). Nothing was written, so
a retry is safe (applications carry an idempotency key).

Reads are not admitted here: they go to the read pool (``db.reads``); a refusal decided on a read
(a full group in the rush: ``enrollment.apply_for``) never asks for a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

RETRY_AFTER_SECONDS = 1


class WritesBusy(Exception):
    """No write slot within the queue's bounds; nothing was done."""

    retry_after = RETRY_AFTER_SECONDS


class WriteGate:
    """The process's write slots (one event loop)."""

    def __init__(self, limit: int, queue: int, wait: float) -> None:
        if limit < 1 or queue < 0 or wait < 0:
            raise ValueError("limit >= 1, queue >= 0, wait >= 0")
        self.limit, self.queue, self.wait = limit, queue, wait
        self.in_flight = 0
        self.peak = 0  # the most in flight at once since the start
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block, or raise :class:`WritesBusy` (at once when the queue is full,
        after ``wait`` seconds in the queue otherwise)."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self._take()
            return
        if len(self._waiters) >= self.queue:
            self.refused += 1
            raise WritesBusy
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._waiters.append(turn)
        timer = loop.call_later(self.wait, _expire, turn)
        try:
            await turn  # a releasing holder hands its slot over (in_flight unchanged)
        except WritesBusy:
            self.refused += 1
            raise
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._release()  # handed a slot as the wait was cancelled: pass it on
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(turn)

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def _release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.in_flight -= 1


def _expire(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_exception(WritesBusy())
