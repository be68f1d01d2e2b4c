"""The opening-minute rush on real parallel connections: no oversell, no overdraw, one result per key."""

from __future__ import annotations

import asyncio
import random
from datetime import date

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import enrollment
from pdo_graph.domain.access import Actor
from pdo_graph.domain.errors import DomainError
from pdo_graph.domain.money import month_start
from tests.enrollment.conftest import (
    CREATE,
    NOMINAL,
    add_group,
    add_program,
    add_provider,
    balance,
    bulk_certificates,
    end_of_month,
    gid,
    next_month,
    open_period,
)
from tests.helpers import new_certificate

TODAY = date.today()


def guardian(subject: str) -> Actor:
    return Actor.guardian(subject)


async def apply_direct(engine, subject: str, cert: int, group: int, key: str) -> int | list[str]:
    """One application on its own pooled connection; a refusal comes back as its codes."""
    try:
        return await transaction(engine, lambda c: enrollment.create(c, guardian(subject), cert, group, key, TODAY))
    except DomainError as exc:
        return [p.code.value for p in exc.problems]


async def scalar(engine, sql: str, **params) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_rush_300_applications_for_20_seats(db, retried):
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    group = await add_group(db, program, starts_on=starts, ends_on=end_of_month(starts), capacity=20, price=150_000)
    certs = await bulk_certificates(db, 300)
    await open_period(db)  # credits the 300 certificates

    results = await asyncio.gather(*(apply_direct(db, s, c, group, "rush") for s, c in certs))
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if not isinstance(r, int)]
    assert len(won) == 20 and len(set(won)) == 20
    assert len(lost) == 280 and all(r == ["GROUP_FULL"] for r in lost)
    assert await scalar(db, "SELECT seats_taken FROM groups WHERE id = :g", g=group) == 20
    assert await scalar(db, "SELECT count(*) FROM enrollments WHERE status = 'REQUESTED'") == 20
    assert await scalar(db, "SELECT count(*) FROM enrollments") == 20
    assert await scalar(db, "SELECT count(*) FROM ledger_entries WHERE kind = 'RESERVE'") == 20
    assert await scalar(db, "SELECT sum(reserved) FROM balances") == 20 * 150_000
    assert retried == []  # no deadlock was retried away


async def test_one_certificate_40_groups_at_once_never_overdraws(gql, token, db, retried):
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    prices = [200_000 + 10_007 * i for i in range(40)]  # 15.8 M in all, against 3 M available
    groups = [
        await add_group(db, program, starts_on=starts, ends_on=end_of_month(starts), price=p, name=f"Группа {i}")
        for i, p in enumerate(prices)
    ]
    await open_period(db)
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")

    bodies = await asyncio.gather(
        *(gql(CREATE, {"c": cert["id"], "g": gid("Group", g), "k": f"k{g}"}, token=alice) for g in groups)
    )
    payloads = [b["data"]["enrollmentCreate"] for b in bodies]
    assert all(p["userErrors"] == [] for p in payloads), payloads
    assert sum(p["enrollment"]["fromCertificate"]["kopecks"] for p in payloads) == NOMINAL
    assert sorted(p["enrollment"]["price"]["kopecks"] for p in payloads) == prices
    for p in payloads:
        e = p["enrollment"]
        assert e["fromCertificate"]["kopecks"] + e["fromFamily"]["kopecks"] == e["price"]["kopecks"]
        assert e["fromCertificate"]["kopecks"] == e["reserved"]["kopecks"]
    b = await balance(gql, alice, cert["id"])
    assert b == {"credited": NOMINAL, "reserved": NOMINAL, "spent": 0, "available": 0}
    assert await scalar(db, "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'RESERVE'") == NOMINAL
    assert await scalar(db, "SELECT sum(reserved) FROM enrollments") == NOMINAL
    assert retried == []


async def test_30_concurrent_replays_of_one_key_make_one_enrollment(gql, token, db, retried):
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    group = await add_group(db, program, starts_on=starts, ends_on=end_of_month(starts), capacity=1)
    other = await add_group(db, program, starts_on=starts, ends_on=end_of_month(starts), capacity=5, name="Б")
    await open_period(db)
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    same = {"c": cert["id"], "g": gid("Group", group), "k": "one-key"}
    bodies = await asyncio.gather(*(gql(CREATE, same, token=alice) for _ in range(30)))
    assert all("errors" not in b for b in bodies), [b for b in bodies if "errors" in b]
    ids = {b["data"]["enrollmentCreate"]["enrollment"]["id"] for b in bodies}
    assert len(ids) == 1 and all(b["data"]["enrollmentCreate"]["userErrors"] == [] for b in bodies)
    assert await scalar(db, "SELECT count(*) FROM enrollments") == 1
    assert await scalar(db, "SELECT count(*) FROM ledger_entries WHERE kind = 'RESERVE'") == 1
    assert await scalar(db, "SELECT seats_taken FROM groups WHERE id = :g", g=group) == 1

    # one key raced over two groups: one enrollment; the other request is told the key is taken
    mixed = [{"c": cert["id"], "g": gid("Group", g), "k": "race"} for g in (other, other, group, other, group)]
    bodies = await asyncio.gather(*(gql(CREATE, v, token=alice) for v in mixed * 4))
    assert all("errors" not in b for b in bodies), [b for b in bodies if "errors" in b]
    outcomes = {
        (p["enrollment"] or {}).get("id") or p["userErrors"][0]["code"]
        for p in (b["data"]["enrollmentCreate"] for b in bodies)
    }
    created = await scalar(db, "SELECT count(*) FROM enrollments WHERE idempotency_key = 'race'")
    assert created == 1
    assert outcomes <= {"IDEMPOTENCY_KEY_REUSED", "ALREADY_ENROLLED", "GROUP_FULL"} | {
        gid("Enrollment", await scalar(db, "SELECT id FROM enrollments WHERE idempotency_key = 'race'"))
    }


async def test_decisions_reports_and_applications_race_without_deadlock_or_drift(db, retried):
    """Everything at once on shared rows: applications, accepts, refusals, cancels, reports, expiry."""
    provider_id = await add_provider(db)
    program = await add_program(db, provider_id)
    this_month = month_start(TODAY)
    groups = [
        await add_group(
            db,
            program,
            starts_on=this_month,
            ends_on=end_of_month(next_month(n=3)),
            capacity=8,
            price=400_000 + g,
            name=f"Г{g}",
        )
        for g in range(3)
    ]
    certs = await bulk_certificates(db, 40)
    await open_period(db, nominal=900_000)
    provider = Actor.provider("staff", provider_id)
    rng = random.Random(7)

    # each child applies to two of the three groups at once
    first_wave = await asyncio.gather(
        *(apply_direct(db, s, c, g, f"{s}-{g}") for s, c in certs for g in rng.sample(groups, 2))
    )
    live = [r for r in first_wave if isinstance(r, int)]
    assert live and await scalar(db, "SELECT max(seats_taken) FROM groups") <= 8

    async def act(eid: int) -> None:
        choice = rng.random()
        row = None
        async with db.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT e.status, gu.subject FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id"
                        " WHERE e.id = :id"
                    ),
                    {"id": eid},
                )
            ).one()
        try:
            if choice < 0.3:
                await transaction(db, lambda c: enrollment.accept(c, provider, eid, 5))
                await transaction(
                    db,
                    lambda c: enrollment.report_provision(
                        c,
                        provider,
                        this_month,
                        [enrollment.ProvisionLine(eid, rng.randint(0, 100))],
                        TODAY,
                    ),
                )
            elif choice < 0.5:
                await transaction(db, lambda c: enrollment.refuse(c, provider, eid, "мест нет"))
            elif choice < 0.7:
                await transaction(db, lambda c: enrollment.cancel(c, guardian(row.subject), eid, None))
            else:
                await transaction(db, lambda c: enrollment.accept(c, provider, eid, 5))
                await transaction(db, lambda c: enrollment.cancel(c, provider, eid, "выбыл"))
        except DomainError:
            pass

    late = [apply_direct(db, s, c, g, f"late-{s}-{g}") for s, c in certs[:20] for g in groups]
    await asyncio.gather(
        *(act(e) for e in live),
        *late,
        enrollment.expire_stale_applications(db, 0),  # "now": every unanswered one is stale
    )
    async with db.connect() as conn:
        from pdo_graph.domain.ledger import check_invariants

        assert await check_invariants(conn) == []
    assert await scalar(db, "SELECT count(*) FROM balances WHERE available < 0") == 0
    assert "40P01" not in retried, retried


async def test_same_child_same_group_with_different_keys_gets_one_application(db, retried):
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    group = await add_group(db, program, starts_on=starts, ends_on=end_of_month(starts), capacity=5)
    [(subject, cert)] = await bulk_certificates(db, 1)
    await open_period(db)
    results = await asyncio.gather(*(apply_direct(db, subject, cert, group, f"key-{i}") for i in range(12)))
    assert sum(isinstance(r, int) for r in results) == 1
    assert sorted(r for r in results if not isinstance(r, int)) == [["ALREADY_ENROLLED"]] * 11
    assert await scalar(db, "SELECT seats_taken FROM groups WHERE id = :g", g=group) == 1
    assert await scalar(db, "SELECT count(*) FROM ledger_entries WHERE kind = 'RESERVE'") == 1
    assert retried == []
