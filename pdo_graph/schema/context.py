"""The per-request context handed to every resolver (a subscription's context lives as long as it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pdo_graph import clock
from pdo_graph.config import Settings
from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import ANONYMOUS, Actor
from pdo_graph.domain.audit import ReadAudit
from pdo_graph.live import Hub, Topic
from pdo_graph.reads.base import Loaders, Scope, SharedReads


@dataclass(frozen=True)
class Live:
    """What subscriptions follow: the process's hub (LISTEN) and the reads its deliveries share."""

    hub: Hub
    reads: SharedReads


@dataclass
class Context:
    """One request: who acts (``actor``, built once by the transport), its database, its loaders.

    ``live`` is set for subscriptions (the WebSocket transport).
    """

    db: RequestDb
    settings: Settings
    actor: Actor = ANONYMOUS
    lang: str = "ru"
    today: date = field(default_factory=clock.today)
    request_id: str = ""
    services: dict[str, Any] = field(default_factory=dict)
    live: Live | None = None
    read_ahead: bool = True  # resolvers read the levels below along when the selection asks (reads_ahead)
    scope: Scope = field(init=False)
    loaders: Loaders = field(init=False)
    _audit: ReadAudit | None = None
    _round: int | None = None

    def __post_init__(self) -> None:
        self._own_reads()

    def _own_reads(self) -> None:
        self.scope = Scope(self.db, self.today)
        self.loaders = Loaders(self.scope)

    @property
    def audit(self) -> ReadAudit:
        """Personal-data reads of this request (written before the response by the schema's extension)."""
        if self._audit is None:
            self._audit = ReadAudit(self.actor, self.request_id)
        return self._audit

    async def flush_audit(self) -> None:
        """Write the personal-data reads recorded so far (one INSERT; nothing when there are none)."""
        if self._audit is not None and self._audit.pending:
            await self.db.write(self._audit.flush)

    def reset_loaders(self) -> None:
        """Drop cached rows after a write, so the payload shows the new state."""
        self.loaders.reset()

    async def changes(self, topic: Topic, key: Hashable) -> AsyncGenerator[None, None]:
        """The beat of a subscription: once at once (to read the current state, as any request reads),
        then once after each committed change of ``(topic, key)`` made by any process, a burst that
        comes while this subscriber is busy folded into one. The watch is set before the first read,
        so no change after that read is missed. Each later beat reads afresh, through the loaders of
        that change's round (shared with the other subscribers it woke in this process).

        Iterate it inside ``contextlib.aclosing``: a subscription that ends while this generator waits
        at a ``yield`` (the client's ``complete``, an error) must end it too, or its watch stays set."""
        if self.live is None:
            raise RuntimeError("subscriptions are served over WebSocket")
        with self.live.hub.watch(topic, key) as watch:
            yield
            while True:
                await self.end_delivery()
                stamp = await watch.next()
                self.today = clock.today(self.settings.time_zone)
                self.scope, self.loaders = self.live.reads.acquire(stamp)
                self._round = stamp
                yield

    async def end_delivery(self) -> None:
        """A subscription's result is built: let go of its round's reads and give back the
        connection (the transport calls it before sending; calling it again does nothing)."""
        if self._round is not None and self.live is not None:
            stamp, self._round = self._round, None
            await self.live.reads.release(stamp)
        self._own_reads()
        await self.db.close()
