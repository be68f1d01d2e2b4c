"""In-app notifications (domain.md, "Notifications and live updates"): what is said to whom, written in
the same transaction as its cause, each with a row in the outbox for delivery (``domain.outbox``).

A notification goes to a guardian (the family's events) or to a provider organisation (its staff
share the inbox: a new application, an application about to expire). Texts are Russian, written for
the recipient: a guardian's name their child; a provider's name no child (the enrollment's id is in
``data``). ``data`` carries the machine-readable details (ids, the month, the completeness, kopecks).

The periodic notices (a certificate expiring within 30 days, a period closing within 30 days while
money is available, an application about to expire) carry a ``dedupe_key``: the database writes
each at most once, however often and from however many processes the daily pass runs.

Every writer here runs last in its transaction: the insert references the guardian or provider row
(a foreign-key share lock), after the locks of the enrollment area's order (``domain.enrollment``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, Role, require_provider
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import format_amount

EXPIRY_WARNING_DAYS = 30  # a certificate's validity, a period's money: warned this many days ahead


class Kind(StrEnum):
    # to the guardian
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    CERTIFICATE_REJECTED = "CERTIFICATE_REJECTED"
    FUNDED_FROM_QUEUE = "FUNDED_FROM_QUEUE"
    ENROLLMENT_ACCEPTED = "ENROLLMENT_ACCEPTED"
    ENROLLMENT_REFUSED = "ENROLLMENT_REFUSED"
    ENROLLMENT_EXPIRED = "ENROLLMENT_EXPIRED"
    CHARGE_POSTED = "CHARGE_POSTED"
    CERTIFICATE_EXPIRING = "CERTIFICATE_EXPIRING"
    FUNDS_EXPIRING = "FUNDS_EXPIRING"
    DRAW_WON = "DRAW_WON"
    DRAW_LOST = "DRAW_LOST"
    WAITLIST_OFFER = "WAITLIST_OFFER"
    WAITLIST_LAPSED = "WAITLIST_LAPSED"
    # to the provider
    APPLICATION_RECEIVED = "APPLICATION_RECEIVED"
    APPLICATION_EXPIRING = "APPLICATION_EXPIRING"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to write: exactly one of ``guardian_id`` and ``provider_id``."""

    kind: Kind
    title: str
    body: str
    guardian_id: int | None = None
    provider_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None

    def __post_init__(self) -> None:
        if (self.guardian_id is None) == (self.provider_id is None):
            raise ValueError("a notice has exactly one recipient")


_SEND = (
    "WITH n AS (INSERT INTO notifications (guardian_id, provider_id, kind, title, body, data, dedupe_key)"
    " SELECT r.guardian_id, r.provider_id, r.kind, r.title, r.body, coalesce(r.data, '{}'::jsonb), r.dedupe_key"
    " FROM json_to_recordset(CAST(:rows AS json)) AS r(guardian_id bigint, provider_id bigint, kind text,"
    " title text, body text, data jsonb, dedupe_key text)"
    " ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id)"
    " INSERT INTO notification_outbox (notification_id) SELECT id FROM n RETURNING notification_id"
)


async def send(conn: AsyncConnection, notices: Iterable[Notice]) -> int:
    """Write the notices and their outbox rows (one statement); a notice whose ``dedupe_key`` was
    written before is skipped. Returns how many were written."""
    rows = [
        {
            "guardian_id": n.guardian_id,
            "provider_id": n.provider_id,
            "kind": n.kind.value,
            "title": n.title,
            "body": n.body,
            "data": dict(n.data),
            "dedupe_key": n.dedupe_key,
        }
        for n in notices
    ]
    if not rows:
        return 0
    written = await conn.execute(text(_SEND), {"rows": orjson.dumps(rows).decode()})
    return len(written.all())


# --- what is said ----------------------------------------------------------------------------------

# kind -> (title, body): Russian, what the recipient reads; ``str.format`` templates over the facts
# each writer below gives ``notice`` (dates as DD.MM.YYYY, money as rubles, optional sentences whole).
TEXTS: dict[Kind, tuple[str, str]] = {
    Kind.CERTIFICATE_ISSUED: (
        "Сертификат выдан",
        "Ребёнку {full_name} выдан сертификат дополнительного образования № {number}. Он действует до {valid_until}.",
    ),
    Kind.CERTIFICATE_REJECTED: (
        "Заявление на сертификат отклонено",
        "Заявление на сертификат для ребёнка {full_name} отклонено: {reason}."
        " Исправьте данные и подайте заявление снова.",
    ),
    Kind.FUNDED_FROM_QUEUE: (
        "Сертификат получил финансирование",
        "Сертификат № {number} получил место финансирования из очереди: на период {starts_on} – {ends_on}"
        " зачислено {credited} ₽. Теперь с ним можно записаться на программы персонифицированного финансирования.",
    ),
    Kind.APPLICATION_RECEIVED: (
        "Новая заявка",
        "Новая заявка в группу «{group}» программы «{program}» (договор № {contract_number})."
        " Примите или отклоните её до {deadline}, иначе она истечёт.",
    ),
    Kind.ENROLLMENT_ACCEPTED: (
        "Заявка принята",
        "{provider_name} принял заявку: {full_name} зачислен(а) в группу «{group}» программы «{program}»."
        " Договор № {contract_number} заключён.",
    ),
    Kind.ENROLLMENT_REFUSED: (
        "Заявка отклонена",
        "{provider_name} отказал в зачислении ребёнка {full_name} в группу «{group}» программы «{program}»."
        "{because}{money}",
    ),
    Kind.ENROLLMENT_EXPIRED: (
        "Заявка закрыта без ответа",
        "Заявка на зачисление ребёнка {full_name} в группу «{group}» программы «{program}» не была рассмотрена"
        " в срок и закрыта.{money}",
    ),
    Kind.CHARGE_POSTED: (
        "Занятия за {month}",
        "{provider_name} отчитался за {month}: занятия ребёнка {full_name} в группе «{group}» программы"
        " «{program}», полнота оказания услуги {completeness}%.{money}",
    ),
    Kind.CERTIFICATE_EXPIRING: (
        "Срок действия сертификата заканчивается",
        "Сертификат № {number} действует до {valid_until}. После этого подать с ним новую"
        " заявку будет нельзя; действующие договоры закончатся вместе с периодом.",
    ),
    Kind.FUNDS_EXPIRING: (
        "Средства сертификата сгорят",
        "Период финансирования закончится {ends_on}. На сертификате № {number} доступно"
        " {available} ₽: неиспользованные средства не переносятся и сгорят.",
    ),
    Kind.APPLICATION_EXPIRING: (
        "Заявка скоро истечёт",
        "Заявка в группу «{group}» программы «{program}» (договор № {contract_number}) истечёт {deadline},"
        " если её не принять или не отклонить.",
    ),
    Kind.DRAW_WON: (
        "Место в группе по жеребьёвке",
        "В жеребьёвке мест группы «{group}» вам выпало место: заявка передана поставщику.",
    ),
    Kind.DRAW_LOST: (
        "Жеребьёвка мест: лист ожидания",
        "В жеребьёвке мест группы «{group}» место не выпало; резерв возвращён, ребёнок в листе ожидания"
        " под номером {position}.",
    ),
    Kind.WAITLIST_OFFER: (
        "Освободилось место в группе",
        "В группе «{group}» для вас освободилось место. Оно держится до {until}: подтвердите запись или откажитесь.",
    ),
    Kind.WAITLIST_LAPSED: (
        "Предложение места истекло",
        "Предложение места в группе «{group}» не подтверждено в срок и передано следующему в очереди.",
    ),
}


def dedupe_key(kind: Kind, *ids: object) -> str:
    """A periodic notice's key: its kind and the ids it is once-only for (``KIND:id[:id]``); the daily
    pass's queries look for the same key."""
    return ":".join([kind.value, *map(str, ids)])


def notice(
    kind: Kind,
    *,
    guardian_id: int | None = None,
    provider_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    once_for: Sequence[object] = (),
    **facts: object,
) -> Notice:
    """The notice of ``kind`` (its texts from ``TEXTS`` filled with ``facts``) to one recipient;
    ``once_for``: the ids that make it a once-only notice (its ``dedupe_key``)."""
    title, body = TEXTS[kind]
    return Notice(
        kind,
        title.format(**facts),
        body.format(**facts),
        guardian_id=guardian_id,
        provider_id=provider_id,
        data=data or {},
        dedupe_key=dedupe_key(kind, *once_for) if once_for else None,
    )


def _day(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _month(d: date) -> str:
    return d.strftime("%m.%Y")


# --- certificates ----------------------------------------------------------------------------------


async def certificate_issued(conn: AsyncConnection, certificate_id: int) -> None:
    row = (
        await conn.execute(
            text(
                "SELECT c.number, c.valid_until, ch.full_name, ch.guardian_id FROM certificates c"
                " JOIN children ch ON ch.id = c.child_id WHERE c.id = :c"
            ),
            {"c": certificate_id},
        )
    ).one()
    told = notice(
        Kind.CERTIFICATE_ISSUED,
        guardian_id=row.guardian_id,
        data={"certificateId": certificate_id, "number": row.number},
        full_name=row.full_name,
        number=row.number,
        valid_until=_day(row.valid_until),
    )
    await send(conn, [told])


async def certificate_rejected(conn: AsyncConnection, application_id: int, reason: str) -> None:
    """The operator rejected a guardian's application for a certificate (with its reason)."""
    row = (
        await conn.execute(
            text(
                "SELECT ch.full_name, a.guardian_id FROM certificate_applications a"
                " JOIN children ch ON ch.id = a.child_id WHERE a.id = :a"
            ),
            {"a": application_id},
        )
    ).one()
    told = notice(
        Kind.CERTIFICATE_REJECTED,
        guardian_id=row.guardian_id,
        data={"applicationId": application_id},
        full_name=row.full_name,
        reason=reason,
    )
    await send(conn, [told])


async def funded_from_queue(conn: AsyncConnection, period_id: int, credits: Sequence[tuple[int, int]]) -> None:
    """Certificates that waited in the period's queue got a funded place: ``(certificate id, kopecks)``."""
    if not credits:
        return
    amount_of = dict(credits)
    rows = await conn.execute(
        text(
            "SELECT c.id, c.number, ch.guardian_id, p.starts_on, p.ends_on FROM certificates c"
            " JOIN children ch ON ch.id = c.child_id JOIN funding_periods p ON p.id = :p WHERE c.id = ANY(:ids)"
        ),
        {"p": period_id, "ids": list(amount_of)},
    )
    await send(
        conn,
        [
            notice(
                Kind.FUNDED_FROM_QUEUE,
                guardian_id=r.guardian_id,
                data={"certificateId": r.id, "periodId": period_id, "credited": amount_of[r.id]},
                once_for=(r.id, period_id),
                number=r.number,
                starts_on=_day(r.starts_on),
                ends_on=_day(r.ends_on),
                credited=format_amount(amount_of[r.id]),
            )
            for r in rows
        ],
    )


# --- applications and contracts --------------------------------------------------------------------

_ENROLLMENT_FACTS = (
    "SELECT e.id, e.guardian_id, e.contract_number, e.reserved, e.reason, e.created_at, ch.full_name,"
    " g.name AS group_name, pg.title AS program_title, pg.provider_id, pr.name AS provider_name"
    " FROM enrollments e JOIN children ch ON ch.id = e.child_id JOIN groups g ON g.id = e.group_id"
    " JOIN programs pg ON pg.id = g.program_id JOIN providers pr ON pr.id = pg.provider_id"
    " WHERE e.id = ANY(:ids) ORDER BY e.id"
)


async def _enrollments(conn: AsyncConnection, ids: Sequence[int]) -> list[Any]:
    return list(await conn.execute(text(_ENROLLMENT_FACTS), {"ids": list(ids)}))


class _GroupFacts(TypedDict):
    group: str
    program: str
    contract_number: str


class _FamilyFacts(_GroupFacts):
    full_name: str
    provider_name: str


def _group(r: Any) -> _GroupFacts:
    """What every enrollment's text names: the group, its program, the contract."""
    return {"group": r.group_name, "program": r.program_title, "contract_number": r.contract_number}


def _family(r: Any) -> _FamilyFacts:
    """What a family's text of an enrollment names besides: the child and the provider."""
    return {**_group(r), "full_name": r.full_name, "provider_name": r.provider_name}


def _money_back(released: int) -> str:
    return f" Резерв {format_amount(released)} ₽ вернулся на сертификат." if released > 0 else ""


@dataclass(frozen=True, slots=True)
class NewApplication:
    """What the provider's notice of a new application says (known to the application's writer, so
    the notice costs no read)."""

    enrollment_id: int
    contract_number: str
    created_at: datetime
    provider_id: int
    group_name: str
    program_title: str


async def application_received(conn: AsyncConnection, r: NewApplication, expiry_days: int) -> None:
    """The provider of the group: a new application waits for its decision."""
    deadline = r.created_at + timedelta(days=expiry_days)
    told = notice(
        Kind.APPLICATION_RECEIVED,
        provider_id=r.provider_id,
        data={"enrollmentId": r.enrollment_id, "contractNumber": r.contract_number},
        deadline=_day(deadline),
        **_group(r),
    )
    await send(conn, [told])


async def enrollment_accepted(conn: AsyncConnection, enrollment_id: int) -> None:
    (r,) = await _enrollments(conn, [enrollment_id])
    told = notice(
        Kind.ENROLLMENT_ACCEPTED,
        guardian_id=r.guardian_id,
        data={"enrollmentId": enrollment_id, "contractNumber": r.contract_number},
        **_family(r),
    )
    await send(conn, [told])


async def enrollment_ended(conn: AsyncConnection, enrollment_id: int, kind: Kind, released: int) -> None:
    """An application refused by the provider, or expired unanswered; ``released``: the reserve returned."""
    if kind not in (Kind.ENROLLMENT_REFUSED, Kind.ENROLLMENT_EXPIRED):
        raise ValueError(f"not an ending: {kind}")
    (r,) = await _enrollments(conn, [enrollment_id])
    told = notice(
        kind,
        guardian_id=r.guardian_id,
        data={"enrollmentId": enrollment_id, "released": released},
        because=f" Причина: {r.reason}." if r.reason else "",
        money=_money_back(released),
        **_family(r),
    )
    await send(conn, [told])


@dataclass(frozen=True, slots=True)
class Charge:
    """One line of a monthly provision report, as the family hears of it."""

    enrollment_id: int
    completeness: int
    charged: int
    released: int


async def charges_posted(conn: AsyncConnection, month: date, charges: Sequence[Charge]) -> None:
    """Each family whose contract was reported for ``month``: the completeness and the money."""
    if not charges:
        return
    facts = {r.id: r for r in await _enrollments(conn, [c.enrollment_id for c in charges])}
    notices = []
    for c in charges:
        r = facts[c.enrollment_id]
        money = (
            f" С сертификата списано {format_amount(c.charged)} ₽, возвращено на сертификат"
            f" {format_amount(c.released)} ₽."
            if c.charged or c.released
            else " Оплата сертификатом по договору не предусмотрена."
        )
        notices.append(
            notice(
                Kind.CHARGE_POSTED,
                guardian_id=r.guardian_id,
                data={
                    "enrollmentId": c.enrollment_id,
                    "month": month.isoformat(),
                    "completeness": c.completeness,
                    "charged": c.charged,
                    "released": c.released,
                },
                month=_month(month),
                completeness=c.completeness,
                money=money,
                **_family(r),
            )
        )
    await send(conn, notices)


# --- the daily pass ----------------------------------------------------------------------------------


async def _warn(conn: AsyncConnection, kind: Kind, query: str, today: date, tell: Callable[[Any], Notice]) -> int:
    """A daily warning of ``kind``: every row of ``query`` (over ``:today``, ``:until``, 30 days ahead,
    and ``:kind``) is told, each once. Returns how many were written."""
    until = today + timedelta(days=EXPIRY_WARNING_DAYS)
    rows = await conn.execute(text(query), {"today": today, "until": until, "kind": kind.value})
    return await send(conn, [tell(r) for r in rows])


async def certificates_expiring(conn: AsyncConnection, today: date) -> int:
    """ACTIVE certificates whose validity ends within 30 days: once per certificate."""
    return await _warn(
        conn,
        Kind.CERTIFICATE_EXPIRING,
        "SELECT c.id, c.number, c.valid_until, ch.guardian_id FROM certificates c"
        " JOIN children ch ON ch.id = c.child_id"
        " WHERE c.status = 'ACTIVE' AND c.valid_until BETWEEN :today AND :until"
        " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.dedupe_key = :kind || ':' || c.id)",
        today,
        lambda r: notice(
            Kind.CERTIFICATE_EXPIRING,
            guardian_id=r.guardian_id,
            data={"certificateId": r.id, "validUntil": r.valid_until.isoformat()},
            once_for=(r.id,),
            number=r.number,
            valid_until=_day(r.valid_until),
        ),
    )


async def funds_expiring(conn: AsyncConnection, today: date) -> int:
    """Certificates with money available in an open period that ends within 30 days and whose unused
    money expires (not carried over): once per certificate and period."""
    return await _warn(
        conn,
        Kind.FUNDS_EXPIRING,
        "SELECT b.certificate_id, b.period_id, b.available, c.number, p.ends_on, ch.guardian_id"
        " FROM funding_periods p JOIN balances b ON b.period_id = p.id"
        " JOIN certificates c ON c.id = b.certificate_id JOIN children ch ON ch.id = c.child_id"
        " WHERE p.status = 'OPEN' AND NOT p.carry_over AND p.ends_on BETWEEN :today AND :until"
        " AND b.available > 0 AND c.status = 'ACTIVE'"
        " AND NOT EXISTS (SELECT 1 FROM notifications n"
        "                  WHERE n.dedupe_key = :kind || ':' || b.certificate_id || ':' || b.period_id)",
        today,
        lambda r: notice(
            Kind.FUNDS_EXPIRING,
            guardian_id=r.guardian_id,
            data={
                "certificateId": r.certificate_id,
                "periodId": r.period_id,
                "available": r.available,
                "endsOn": r.ends_on.isoformat(),
            },
            once_for=(r.certificate_id, r.period_id),
            ends_on=_day(r.ends_on),
            number=r.number,
            available=format_amount(r.available),
        ),
    )


async def applications_expiring(conn: AsyncConnection, expiry_days: int, within: timedelta) -> int:
    """Providers: applications that expire within ``within`` unless decided; once per application."""
    rows = await conn.execute(
        text(
            "SELECT e.id FROM enrollments e WHERE e.status = 'REQUESTED'"
            " AND e.created_at < now() - make_interval(days => :d) + make_interval(secs => :w)"
            " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.dedupe_key = :kind || ':' || e.id)"
            " ORDER BY e.id"
        ),
        {"d": expiry_days, "w": within.total_seconds(), "kind": Kind.APPLICATION_EXPIRING.value},
    )
    ids = [int(r.id) for r in rows]
    if not ids:
        return 0
    notices = []
    for r in await _enrollments(conn, ids):
        deadline = r.created_at + timedelta(days=expiry_days)
        notices.append(
            notice(
                Kind.APPLICATION_EXPIRING,
                provider_id=r.provider_id,
                data={"enrollmentId": r.id, "contractNumber": r.contract_number},
                once_for=(r.id,),
                deadline=_day(deadline),
                **_group(r),
            )
        )
    return await send(conn, notices)


# --- the recipient's side ----------------------------------------------------------------------------


def recipient(actor: Actor) -> tuple[str, dict[str, Any]]:
    """The SQL condition on ``notifications`` naming the caller's own, and its parameters: a guardian's,
    or (staff of a provider) the organisation's. Others have none (FORBIDDEN)."""
    if actor.role is Role.GUARDIAN and actor.subject is not None:
        return "guardian_id = (SELECT id FROM guardians WHERE subject = :recipient)", {"recipient": actor.subject}
    if actor.role is Role.PROVIDER:
        return "provider_id = :recipient", {"recipient": require_provider(actor)}
    raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden")


async def mark_read(conn: AsyncConnection, actor: Actor, ids: Sequence[int | None]) -> int:
    """Mark the caller's notifications ``ids`` read, all or none: an id that is not one of the caller's
    (someone else's, unknown, malformed: None) is NOT_FOUND at its index. Returns how many of the
    caller's notifications stay unread."""
    own, params = recipient(actor)
    known = [i for i in ids if i is not None]
    found = {
        int(r.id)
        for r in await conn.execute(
            text(f"SELECT id FROM notifications WHERE id = ANY(:ids) AND {own} FOR NO KEY UPDATE"),
            {**params, "ids": known},
        )
    }
    missing = [Problem(ErrorCode.NOT_FOUND, "not_found", ["ids", str(n)]) for n, i in enumerate(ids) if i not in found]
    if missing:
        raise DomainError(*missing)
    if found:
        await conn.execute(
            text("UPDATE notifications SET read_at = now() WHERE id = ANY(:ids) AND read_at IS NULL"),
            {"ids": sorted(found)},
        )
    unread = await conn.execute(text(f"SELECT count(*) FROM notifications WHERE read_at IS NULL AND {own}"), params)
    return int(unread.scalar_one())
