"""One ``LISTEN`` connection per server process and the watches of that process's subscriptions.

The hub holds a dedicated asyncpg connection (outside the request pool) listening on the channel.
Every notification bumps the hub's stamp and wakes the watches of its topic and key. When the
connection is lost the hub reconnects with exponential backoff (0.1 s doubling to 5 s, with jitter);
once listening again it wakes every watch, because changes committed while it was away were not
heard: a subscriber then gets the current state, so nothing stays missed.

A :class:`Watch` is the subscription's side: ``await watch.next()`` returns once something changed
since the last call, with the stamp of the newest wake-up. Wake-ups that come while the subscriber
is busy fold into one (bursts are coalesced per subscriber and key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any

import asyncpg

from pdo_graph.live.topics import CHANNEL, parse

log = logging.getLogger("pdo_graph.live")

MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
CONNECT_TIMEOUT = 10.0

Slot = tuple[str, Hashable]


class Watch:
    """One subscription's view of one topic and key; ``with hub.watch(...) as w`` forgets it at the end."""

    __slots__ = ("_hub", "_slot", "_stamp", "_woken")

    def __init__(self, hub: Hub, slot: Slot) -> None:
        self._hub = hub
        self._slot = slot
        self._stamp = 0
        self._woken = asyncio.Event()

    def poke(self, stamp: int) -> None:
        self._stamp = stamp
        self._woken.set()

    @property
    def pending(self) -> bool:
        """Whether a change waits to be taken by :meth:`next`."""
        return self._woken.is_set()

    async def next(self) -> int:
        """Wait for a change since the last call; the stamp of the newest wake-up."""
        await self._woken.wait()
        self._woken.clear()
        return self._stamp

    def close(self) -> None:
        self._hub._forget(self._slot, self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Hub:
    """The process's ear on the channel: one listening connection, the watches by (topic, key).

    ``on_notification`` and ``on_reconnect`` are called for each notification heard and each
    reconnection (metrics)."""

    def __init__(
        self,
        dsn: str,
        *,
        keepalive: float = 15.0,
        on_notification: Callable[[], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._keepalive = keepalive
        self._on_notification = on_notification
        self._on_reconnect = on_reconnect
        self._watches: dict[Slot, set[Watch]] = {}
        self._stamp = 0
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self.listening = asyncio.Event()

    # --- the subscriptions' side ------------------------------------------------------------------

    def watch(self, topic: str, key: Hashable) -> Watch:
        slot = (str(topic), key)
        watch = Watch(self, slot)
        self._watches.setdefault(slot, set()).add(watch)
        return watch

    def _forget(self, slot: Slot, watch: Watch) -> None:
        watches = self._watches.get(slot)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._watches[slot]

    @property
    def watching(self) -> int:
        """How many watches are registered (for tests and metrics)."""
        return sum(len(w) for w in self._watches.values())

    # --- the channel's side -----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pdo-live-listener")
        return self._task

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _heard(self, connection: object, pid: int, channel: str, payload: str) -> None:
        parsed = parse(payload)
        if parsed is None:
            log.warning("live: a notification on %s that is not ours was ignored", channel)
            return
        if self._on_notification is not None:
            self._on_notification()
        watches = self._watches.get(parsed)
        if watches:
            self._stamp += 1
            for watch in watches:
                watch.poke(self._stamp)

    def _wake_all(self) -> None:
        self._stamp += 1
        for watches in self._watches.values():
            for watch in watches:
                watch.poke(self._stamp)

    async def _run(self) -> None:
        delay = MIN_BACKOFF
        connected_before = False
        while True:
            try:
                await self._listen(connected_before)
                delay = MIN_BACKOFF  # it was up for a while: start the backoff again
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, reset, timed out, server restarted...
                log.warning("live: listening connection unavailable (%s); retrying", type(exc).__name__)
            connected_before = connected_before or self._connection is not None
            self._connection = None
            self.listening.clear()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, MAX_BACKOFF)

    async def _listen(self, reconnecting: bool) -> None:
        """Connect, listen, wake every watch (what was missed), and keep the connection checked
        until it fails."""
        connection = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": "pdo-graph-live"},
        )
        self._connection = connection
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_lost(_: object) -> None:
            if not lost.done():
                lost.set_result(None)

        try:
            connection.add_termination_listener(on_lost)
            await connection.add_listener(CHANNEL, self._heard)
            self.listening.set()
            if reconnecting:
                log.info("live: listening again")
                if self._on_reconnect is not None:
                    self._on_reconnect()
            self._wake_all()
            while not lost.done():
                await asyncio.wait([lost], timeout=self._keepalive)
                if not lost.done():  # a half-open TCP connection is only found by using it
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), timeout=self._keepalive)
            raise ConnectionError("the listening connection was closed")
        finally:
            self.listening.clear()
            if not connection.is_closed():
                try:
                    await asyncio.wait_for(connection.close(), timeout=2)
                except (asyncio.CancelledError, Exception):
                    connection.terminate()
                    raise
