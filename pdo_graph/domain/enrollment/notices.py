"""In-app notifications of the waitlist and the draw, written in the same transaction as their cause
(a trigger of migration 0040 announces each on the live channel: ``notificationAdded``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import notifications

# kind -> (title, body), Russian (what the family reads in the app)
TEXTS: dict[str, tuple[str, str]] = {
    "draw_won": (
        "Место в группе по жеребьёвке",
        "В жеребьёвке мест группы «{group}» вам выпало место: заявка передана поставщику.",
    ),
    "draw_lost": (
        "Жеребьёвка мест: лист ожидания",
        "В жеребьёвке мест группы «{group}» место не выпало; резерв возвращён, ребёнок в листе ожидания под номером {position}.",
    ),
    "waitlist_offer": (
        "Освободилось место в группе",
        "В группе «{group}» для вас освободилось место. Оно держится до {until}: подтвердите запись или откажитесь.",
    ),
    "waitlist_lapsed": (
        "Предложение места истекло",
        "Предложение места в группе «{group}» не подтверждено в срок и передано следующему в очереди.",
    ),
}


@dataclass(frozen=True, slots=True)
class Notice:
    guardian_id: int
    kind: str  # the notification's kind (upper case), e.g. WAITLIST_OFFER
    text_key: str
    params: Mapping[str, object] = field(default_factory=dict)


async def notify_many(conn: AsyncConnection, notices: Sequence[Notice]) -> None:
    """Write the notices with their outbox rows (``notifications.send``: one statement)."""
    await notifications.send(
        conn,
        [
            notifications.Notice(
                notifications.Kind(n.kind),
                TEXTS[n.text_key][0].format(**n.params),
                TEXTS[n.text_key][1].format(**n.params),
                guardian_id=n.guardian_id,
            )
            for n in notices
        ],
    )
