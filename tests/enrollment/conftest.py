"""Enrollment test data: catalog rows by direct SQL (independent of the catalog mutations), certificates
in bulk, and the GraphQL documents of this area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db import session
from pdo_graph.db.session import transaction
from pdo_graph.domain import periods
from pdo_graph.domain.access import Actor
from pdo_graph.domain.money import add_months, month_start
from pdo_graph.domain.people import certificate_valid_until, name_key
from pdo_graph.ids import decode_id, encode_id
from tests.helpers import years_ago

PROVIDER_INN = "7701234567"
OTHER_INN = "7707654321"
NOMINAL = 3_000_000  # 30 000 ₽


async def add_provider(engine: AsyncEngine, inn: str = PROVIDER_INN, municipality: str = "01") -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    text("INSERT INTO providers (name, inn, municipality) VALUES (:n, :i, :m) RETURNING id"),
                    {"n": f"Центр творчества {inn}", "i": inn, "m": municipality},
                )
            ).scalar_one()
        )


async def add_program(
    engine: AsyncEngine,
    provider_id: int,
    *,
    min_age: int = 5,
    max_age: int = 17,
    certified: bool = True,
    normative_cost: int | None = None,
    municipality: str = "01",
    title: str = "Робототехника",
) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "INSERT INTO programs (provider_id, title, description, direction, min_age, max_age,"
                        " municipality, normative_cost, certified)"
                        " VALUES (:p, :t, 'Занятия для детей', 'TECHNICAL', :a, :b, :m, :n, :c) RETURNING id"
                    ),
                    {
                        "p": provider_id,
                        "t": title,
                        "a": min_age,
                        "b": max_age,
                        "m": municipality,
                        "n": normative_cost,
                        "c": certified,
                    },
                )
            ).scalar_one()
        )


async def add_group(
    engine: AsyncEngine,
    program_id: int,
    *,
    starts_on: date,
    ends_on: date,
    capacity: int = 10,
    price: int = 900_000,
    enrollment_open: bool = True,
    name: str = "Группа 1",
) -> int:
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, price, enrollment_open)"
                        " VALUES (:p, :n, :s, :e, :c, :price, :o) RETURNING id"
                    ),
                    {
                        "p": program_id,
                        "n": name,
                        "s": starts_on,
                        "e": ends_on,
                        "c": capacity,
                        "price": price,
                        "o": enrollment_open,
                    },
                )
            ).scalar_one()
        )


def next_month(today: date | None = None, n: int = 1) -> date:
    return add_months(month_start(today or date.today()), n)


def end_of_month(first: date) -> date:
    return add_months(first, 1) - timedelta(days=1)


async def open_period(
    engine: AsyncEngine,
    municipality: str = "01",
    nominal: int = NOMINAL,
    today: date | None = None,
    cap_at_normative: bool = False,
) -> int:
    """A period covering today (a year around it), credited to every active certificate."""
    today = today or date.today()
    req = periods.PeriodRequest(
        municipality=municipality,
        starts_on=today - timedelta(days=90),
        ends_on=today + timedelta(days=300),
        nominals=[periods.Nominal(0, 18, nominal)],
        cap_at_normative=cap_at_normative,
    )
    operator = Actor.operator(f"op-{municipality}", municipality)
    result = await transaction(engine, lambda c: periods.open_period(c, operator, req))
    return result.period_id


async def bulk_certificates(
    engine: AsyncEngine,
    count: int,
    municipality: str = "01",
    age: int = 10,
    prefix: str = "g",
    today: date | None = None,
) -> list[tuple[str, int]]:
    """``count`` guardians with one child and an ACTIVE certificate each: [(guardian subject, certificate id)]."""
    birth = years_ago(age, today, days=40)
    subjects = [f"{prefix}{i}" for i in range(count)]
    async with engine.begin() as conn:
        gids = (
            await conn.execute(
                text("INSERT INTO guardians (subject) SELECT unnest(CAST(:s AS text[])) RETURNING id, subject"),
                {"s": subjects},
            )
        ).all()
        by_subject = {r.subject: int(r.id) for r in gids}
        names = [f"Ученик{i} {prefix} Сертификатович" for i in range(count)]
        children = (
            await conn.execute(
                text(
                    "INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)"
                    " SELECT t.g, t.n, t.k, :b, :m FROM unnest(CAST(:g AS bigint[]), CAST(:n AS text[]),"
                    " CAST(:k AS text[])) AS t(g, n, k) RETURNING id, guardian_id"
                ),
                {
                    "g": [by_subject[s] for s in subjects],
                    "n": names,
                    "k": [name_key(n) for n in names],
                    "b": birth,
                    "m": municipality,
                },
            )
        ).all()
        child_of = {int(r.guardian_id): int(r.id) for r in children}
        numbers = [f"99{municipality}{prefix}{i:05d}" for i in range(count)]
        certs = (
            await conn.execute(
                text(
                    "INSERT INTO certificates (number, child_id, municipality, status, issued_on, valid_until)"
                    " SELECT t.n, t.c, :m, 'ACTIVE', :today, :vu FROM unnest(CAST(:n AS text[]),"
                    " CAST(:c AS bigint[])) AS t(n, c) RETURNING id, child_id"
                ),
                {
                    "n": numbers,
                    "c": [child_of[by_subject[s]] for s in subjects],
                    "m": municipality,
                    "today": today or date.today(),
                    "vu": certificate_valid_until(birth),
                },
            )
        ).all()
    cert_of_child = {int(r.child_id): int(r.id) for r in certs}
    return [(s, cert_of_child[child_of[by_subject[s]]]) for s in subjects]


@pytest.fixture
def retried(monkeypatch) -> list[str]:
    """SQLSTATEs of every failed transaction attempt (run_transaction retries deadlocks silently)."""
    seen: list[str] = []
    original = session.sqlstate

    def spy(exc: BaseException) -> str | None:
        code = original(exc)
        seen.append(str(code))
        return code

    monkeypatch.setattr(session, "sqlstate", spy)
    return seen


def gid(type_name: str, pk: int) -> str:
    return encode_id(type_name, pk)


def pk(global_id: str) -> int:
    decoded = decode_id(global_id)
    assert decoded is not None
    return int(decoded[1])


@dataclass
class World:
    """One provider with a certified program (ages 5..17) and an upcoming group; a funded period."""

    engine: AsyncEngine
    provider_id: int
    program_id: int
    group_id: int
    period_id: int
    starts_on: date
    ends_on: date

    @property
    def group(self) -> str:
        return gid("Group", self.group_id)


@pytest.fixture
async def world(db: AsyncEngine) -> World:
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    ends = end_of_month(add_months(starts, 8))  # 9 months
    group = await add_group(db, program, starts_on=starts, ends_on=ends, capacity=10, price=900_001)
    period = await open_period(db)
    return World(db, provider, program, group, period, starts, ends)


QUOTE = """
query($c: ID!, $g: ID!) {
  quote(certificateId: $c, groupId: $g) {
    price { kopecks } fullPrice { kopecks } fromCertificate { kopecks amount } fromFamily { kopecks }
    firstMonth months joinsRunningGroup
    monthly { month fromCertificate { kopecks } fromFamily { kopecks } }
    userErrors { code field message }
  }
}"""

ENROLLMENT_FIELDS = """
  id status price { kopecks } fromCertificate { kopecks } fromFamily { kopecks } reserved { kopecks }
  charged { kopecks } firstMonth months reason decidedAt
"""

CREATE = """
mutation($c: ID!, $g: ID!, $k: String!) {
  enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: $k}) {
    enrollment { FIELDS }
    userErrors { code field message }
  }
}""".replace("FIELDS", ENROLLMENT_FIELDS)


def decision(name: str) -> str:
    return """
mutation($id: ID!, $reason: String) {
  r: NAME(input: {enrollmentId: $id, reason: $reason}) {
    enrollment { FIELDS }
    userErrors { code field message }
  }
}""".replace("NAME", name).replace("FIELDS", ENROLLMENT_FIELDS)


ACCEPT = decision("enrollmentAccept")
REFUSE = decision("enrollmentRefuse")
CANCEL = decision("enrollmentCancel")

REPORT = """
mutation($month: Date!, $items: [ProvisionItem!]!) {
  provisionReport(input: {month: $month, items: $items}) {
    charged { kopecks } released { kopecks } contracts
    userErrors { code field message }
  }
}"""

BALANCE = """
query($id: ID!) {
  node(id: $id) { ... on Certificate { balance { credited { kopecks } reserved { kopecks } spent { kopecks }
    available { kopecks } } } }
}"""


async def balance(gql: Any, token: str, cert_id: str) -> dict[str, int]:
    body = await gql(BALANCE, {"id": cert_id}, token=token)
    b = body["data"]["node"]["balance"]
    return {k: v["kopecks"] for k, v in b.items()}


async def enroll(gql: Any, token: Any, subject: str, cert_id: str, group_id: str, key: str = "k1") -> dict[str, Any]:
    body = await gql(CREATE, {"c": cert_id, "g": group_id, "k": key}, token=token("GUARDIAN", subject))
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["enrollmentCreate"]
    return result


def provider_token(token: Any, inn: str = PROVIDER_INN) -> str:
    return str(token("PROVIDER", f"staff-{inn}", provider=inn))
