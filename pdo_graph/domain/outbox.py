"""The notification outbox: every notification is written with an outbox row in its cause's
transaction; a delivery pass hands the pending ones to an adapter (e-mail, SMS, push: none is
required here) and records the outcome.

An :class:`Adapter` delivers one message or raises; a failed message is retried later with an
exponential back-off (1, 2, 4 ... minutes, at most a day), up to ``MAX_ATTEMPTS``. Shipped adapters:
:class:`LoggingAdapter` (the server's: logs that a message went out, by id and kind only, never its
text, which may name a child) and :class:`MemoryAdapter` (tests: keeps what it was given).

Many processes may run the pass at once: rows are claimed ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.session import transaction

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BATCH = 100


@dataclass(frozen=True, slots=True)
class Message:
    """A notification as an adapter receives it."""

    outbox_id: int
    notification_id: int
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    guardian_subject: str | None  # the guardian's identity (the adapter looks up where to send)
    provider_id: int | None
    created_at: datetime
    attempts: int


class Adapter(Protocol):
    """Delivers one message; raises when it could not (the message is retried later)."""

    name: str

    async def deliver(self, message: Message) -> None: ...


class LoggingAdapter:
    """Logs each delivery (id, kind, recipient's kind): no outside service, no personal data."""

    name = "log"

    async def deliver(self, message: Message) -> None:
        log.info(
            "notification %s (%s) to a %s delivered",
            message.notification_id,
            message.kind,
            "guardian" if message.guardian_subject is not None else "provider",
        )


@dataclass
class MemoryAdapter:
    """For tests: keeps every message; the first ``failures`` deliveries raise."""

    name: str = "memory"
    failures: int = 0
    delivered: list[Message] = field(default_factory=list)

    async def deliver(self, message: Message) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("delivery failed (test adapter)")
        self.delivered.append(message)


@dataclass(frozen=True, slots=True)
class Delivered:
    delivered: int
    failed: int


_PENDING = (
    "SELECT o.id AS outbox_id, o.attempts, n.id AS notification_id, n.kind, n.title, n.body, n.data, n.created_at,"
    " n.provider_id, g.subject AS guardian_subject"
    " FROM notification_outbox o JOIN notifications n ON n.id = o.notification_id"
    " LEFT JOIN guardians g ON g.id = n.guardian_id"
    " WHERE o.delivered_at IS NULL AND o.next_attempt_at <= now() AND o.attempts < :max"
    " ORDER BY o.next_attempt_at, o.id LIMIT :n FOR UPDATE OF o SKIP LOCKED"
)


async def _batch(conn: AsyncConnection, adapter: Adapter) -> Delivered:
    rows = (await conn.execute(text(_PENDING), {"max": MAX_ATTEMPTS, "n": BATCH})).all()
    ok: list[int] = []
    failed: list[tuple[int, str]] = []
    for r in rows:
        message = Message(
            outbox_id=r.outbox_id,
            notification_id=r.notification_id,
            kind=r.kind,
            title=r.title,
            body=r.body,
            data=dict(r.data),
            guardian_subject=r.guardian_subject,
            provider_id=r.provider_id,
            created_at=r.created_at,
            attempts=r.attempts,
        )
        try:
            await adapter.deliver(message)
        except Exception as exc:
            failed.append((r.outbox_id, type(exc).__name__))
            log.warning(
                "notification %s: delivery by %s failed (%s)", r.notification_id, adapter.name, type(exc).__name__
            )
        else:
            ok.append(r.outbox_id)
    if ok:
        await conn.execute(
            text("UPDATE notification_outbox SET delivered_at = now(), attempts = attempts + 1 WHERE id = ANY(:ids)"),
            {"ids": ok},
        )
    if failed:
        await conn.execute(
            text(
                "UPDATE notification_outbox o SET attempts = o.attempts + 1, last_error = t.err,"
                " next_attempt_at = now() + least(make_interval(mins => CAST(power(2, o.attempts) AS int)),"
                " interval '1 day')"
                " FROM unnest(CAST(:ids AS bigint[]), CAST(:errs AS text[])) AS t(id, err) WHERE o.id = t.id"
            ),
            {"ids": [i for i, _ in failed], "errs": [e for _, e in failed]},
        )
    return Delivered(len(ok), len(failed))


async def deliver_pending(engine: AsyncEngine, adapter: Adapter) -> Delivered:
    """Hand every pending message that is due to ``adapter``, a batch per transaction."""
    delivered = failed = 0
    while True:
        done = await transaction(engine, lambda c: _batch(c, adapter))
        delivered += done.delivered
        failed += done.failed
        if done.delivered + done.failed < BATCH:
            return Delivered(delivered, failed)
