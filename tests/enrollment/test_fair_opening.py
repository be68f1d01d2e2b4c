"""The fair opening minute: NOT_OPEN_YET before it, PENDING_DRAW inside the window, a verifiable
draw exactly once at its end, first come first served after; the draw's order is uniform."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import periods
from pdo_graph.domain.access import Actor
from pdo_graph.domain.enrollment import draw
from pdo_graph.domain.enrollment.apply import create
from pdo_graph.domain.errors import DomainError
from pdo_graph.domain.money import add_months
from pdo_graph.jobs import run_draws_and_offers
from tests.enrollment.conftest import (
    CANCEL,
    CREATE,
    QUOTE,
    World,
    add_group,
    add_program,
    add_provider,
    balance,
    bulk_certificates,
    end_of_month,
    gid,
    next_month,
    open_period,
    pk,
    provider_token,
)


async def families(db: Any, count: int, capacity: int = 10) -> tuple[World, list[tuple[str, int]]]:
    """A provider's upcoming group and ``count`` families with certificates credited by a period."""
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    ends = end_of_month(add_months(starts, 8))
    group = await add_group(db, program, starts_on=starts, ends_on=ends, capacity=capacity, price=900_001)
    certs = await bulk_certificates(db, count)
    period = await open_period(db)
    return World(db, provider, program, group, period, starts, ends), certs


GROUP = """query($id: ID!) { node(id: $id) { ... on Group {
  seatsLeft enrollmentOpensAt fairWindowEndsAt drawSeedHash drawSeed waitlistLength } } }"""
GROUP_CREATE = """mutation($input: GroupCreateInput!) {
  groupCreate(input: $input) { group { id enrollmentOpensAt fairWindowEndsAt drawSeedHash drawSeed }
    userErrors { code field } } }"""


def test_draw_order_is_uniform() -> None:
    """Every order of four entrants is equally likely over 24 000 seeds (chi-square, 23 degrees of
    freedom: 49.7 is the 0.1% critical value), and each entrant wins the first place a quarter of the
    time. Seeds are fixed, so the test is deterministic."""
    entrants = [11, 42, 57, 93]
    draws = 24_000
    orders = Counter(tuple(draw.drawn_order(f"seed-{i}", entrants)) for i in range(draws))
    assert set(orders) == set(itertools.permutations(entrants))
    expected = draws / 24
    chi2 = sum((n - expected) ** 2 / expected for n in orders.values())
    assert chi2 < 49.7, chi2
    firsts = Counter(order[0] for order, n in orders.items() for _ in range(n))
    assert all(abs(firsts[e] / draws - 0.25) < 0.015 for e in entrants), firsts


def test_draw_is_a_function_of_seed_and_ids() -> None:
    seed = "ab" * 32
    ids = [5, 3, 9, 1]
    order = draw.drawn_order(seed, ids)
    assert order == draw.drawn_order(seed, list(reversed(ids)))
    assert order == sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    assert draw.seed_hash(seed) == hashlib.sha256(seed.encode()).hexdigest()


async def _open_at(world: World, opens_at: datetime, minutes: int = 10, capacity: int | None = None) -> None:
    async def work(c: Any) -> None:
        if capacity is not None:
            await c.execute(text("UPDATE groups SET capacity = :n WHERE id = :g"), {"n": capacity, "g": world.group_id})
        await draw.schedule(c, world.group_id, opens_at, minutes)

    await transaction(world.engine, work)


async def _shift(world: World, opens_at: timedelta, window_ends_at: timedelta) -> None:
    """Move the opening relative to now (the clock of the test)."""
    async with world.engine.begin() as c:
        await c.execute(
            text("UPDATE groups SET enrollment_opens_at = now() + :o WHERE id = :g"),
            {"o": opens_at, "g": world.group_id},
        )
        await c.execute(
            text("UPDATE group_draws SET window_ends_at = now() + :e WHERE group_id = :g"),
            {"e": window_ends_at, "g": world.group_id},
        )


async def test_fair_opening_walkthrough(gql: Any, token: Any, db: Any) -> None:
    world, certs = await families(db, 6, capacity=3)
    await _open_at(world, datetime.now(UTC) + timedelta(hours=1))
    g = (await gql(GROUP, {"id": world.group}))["data"]["node"]
    assert g["drawSeedHash"] and g["drawSeed"] is None and g["enrollmentOpensAt"] and g["seatsLeft"] == 3

    # before the opening: refused, and the quote says why
    subject, cert = certs[0]
    t = token("GUARDIAN", subject)
    q = (await gql(QUOTE, {"c": gid("Certificate", cert), "g": world.group}, token=t))["data"]["quote"]
    assert [e["code"] for e in q["userErrors"]] == ["NOT_OPEN_YET"]
    r = (await gql(CREATE, {"c": gid("Certificate", cert), "g": world.group, "k": "early"}, token=t))["data"]
    assert r["enrollmentCreate"]["userErrors"][0]["code"] == "NOT_OPEN_YET"
    assert r["enrollmentCreate"]["enrollment"] is None

    # inside the window: everyone waits for the draw, money reserved, no seat
    await _shift(world, timedelta(minutes=-1), timedelta(minutes=9))
    ids = []
    for n, (subject, cert) in enumerate(certs):
        body = await gql(
            CREATE, {"c": gid("Certificate", cert), "g": world.group, "k": f"k{n}"}, token=token("GUARDIAN", subject)
        )
        e = body["data"]["enrollmentCreate"]
        assert e["userErrors"] == [] and e["enrollment"]["status"] == "PENDING_DRAW", e
        ids.append(pk(e["enrollment"]["id"]))
        b = await balance(gql, token("GUARDIAN", subject), gid("Certificate", cert))
        assert b["reserved"] == e["enrollment"]["fromCertificate"]["kopecks"] > 0
    assert (await gql(GROUP, {"id": world.group}))["data"]["node"]["seatsLeft"] == 3

    # the window ends: the job draws once (a second pass finds nothing)
    await _shift(world, timedelta(minutes=-11), timedelta(seconds=-1))
    first = await run_draws_and_offers(world.engine, _settings())
    second = await run_draws_and_offers(world.engine, _settings())
    assert first["groups_drawn"] == 1 and first["seats_drawn"] == 3 and second["groups_drawn"] == 0
    async with world.engine.connect() as c:
        statuses = dict((await c.execute(text("SELECT id, status FROM enrollments"))).all())
        v = await draw.verify(c, world.group_id)
        queue = [
            int(r.child_id)
            for r in await c.execute(
                text(
                    "SELECT child_id FROM waitlist_entries WHERE group_id = :g AND state = 'WAITING' ORDER BY queue_no"
                ),
                {"g": world.group_id},
            )
        ]
        child_of = dict((await c.execute(text("SELECT id, child_id FROM enrollments"))).all())
        kinds = Counter(
            r[0] for r in await c.execute(text("SELECT kind FROM notifications WHERE guardian_id IS NOT NULL"))
        )
    assert v.ok and v.entrants == 6 and v.seats == 3
    assert sorted(statuses.values()) == ["EXPIRED"] * 3 + ["REQUESTED"] * 3
    assert [statuses[i] for i in v.order] == ["REQUESTED"] * 3 + ["EXPIRED"] * 3
    assert queue == [child_of[i] for i in v.order[3:]]  # the waitlist in the drawn order
    assert kinds == {"DRAW_WON": 3, "DRAW_LOST": 3}
    g = (await gql(GROUP, {"id": world.group}))["data"]["node"]
    assert g["seatsLeft"] == 0 and g["waitlistLength"] == 3
    assert hashlib.sha256(g["drawSeed"].encode()).hexdigest() == g["drawSeedHash"]
    for subject, cert in certs:  # the losers' money came back
        b = await balance(gql, token("GUARDIAN", subject), gid("Certificate", cert))
        assert b["reserved"] in (0, 900_001)
    assert sum(1 for i in ids if statuses[i] == "REQUESTED") == 3
    # tampering with the recorded outcome is caught
    async with world.engine.begin() as c:
        await c.execute(
            text("UPDATE group_draws SET drawn_order = :o WHERE group_id = :g"),
            {"o": list(reversed(v.order)), "g": world.group_id},
        )
        assert not (await draw.verify(c, world.group_id)).ok
        await c.execute(
            text("UPDATE group_draws SET drawn_order = :o WHERE group_id = :g"), {"o": v.order, "g": world.group_id}
        )


def _settings() -> Any:
    from pdo_graph.config import Settings

    return Settings()


async def test_the_first_application_after_the_window_draws_first(db: Any) -> None:
    """No job ran: the first application after the window runs the draw, then is served first come,
    first served; parallel late applications and draw passes draw exactly once."""
    world, certs = await families(db, 12, capacity=5)
    await _open_at(world, datetime.now(UTC) + timedelta(hours=1))
    await _shift(world, timedelta(minutes=-1), timedelta(minutes=9))
    early = certs[:4]
    for n, (subject, cert) in enumerate(early):
        await transaction(
            world.engine,
            lambda c, s=subject, ce=cert, n=n: create(
                c, Actor.guardian(s), ce, world.group_id, f"w{n}", datetime.now().date()
            ),
        )
    await _shift(world, timedelta(minutes=-11), timedelta(seconds=-1))

    async def late(subject: str, cert: int, n: int) -> str:
        try:
            await transaction(
                world.engine,
                lambda c: create(c, Actor.guardian(subject), cert, world.group_id, f"late{n}", datetime.now().date()),
            )
        except DomainError as exc:
            return exc.problems[0].code.value
        return "OK"

    outcomes = await asyncio.gather(
        *(late(s, c, n) for n, (s, c) in enumerate(certs[4:])),
        *(transaction(world.engine, lambda c: draw.run_draw(c, world.group_id)) for _ in range(3)),
    )
    results = Counter(o for o in outcomes[:8])
    assert results == {"OK": 1, "GROUP_FULL": 7}  # 4 drawn seats, then one free seat for the fastest
    async with world.engine.connect() as c:
        v = await draw.verify(c, world.group_id)
        taken = (await c.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": world.group_id})).scalar()
        drawn = (await c.execute(text("SELECT count(*) FROM group_draws WHERE drawn_at IS NOT NULL"))).scalar()
    assert v.ok and v.entrants == 4 and v.seats == 4 and taken == 5 and drawn == 1


async def test_group_create_with_an_opening(gql: Any, token: Any, world: World) -> None:
    opens = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    base = {
        "programId": gid("Program", world.program_id),
        "name": "Группа жеребьёвки",
        "startsOn": str(world.starts_on),
        "endsOn": str(world.ends_on),
        "capacity": 20,
        "price": 100_000,
    }
    body = await gql(
        GROUP_CREATE,
        {"input": {**base, "enrollmentOpensAt": opens.isoformat(), "fairWindowMinutes": 5}},
        token=provider_token(token),
    )
    g = body["data"]["groupCreate"]
    assert g["userErrors"] == []
    assert datetime.fromisoformat(g["group"]["fairWindowEndsAt"]) == opens + timedelta(minutes=5)
    assert len(g["group"]["drawSeedHash"]) == 64 and g["group"]["drawSeed"] is None
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = await gql(GROUP_CREATE, {"input": {**base, "enrollmentOpensAt": past}}, token=provider_token(token))
    assert body["data"]["groupCreate"]["userErrors"] == [{"code": "INVALID", "field": ["input", "enrollmentOpensAt"]}]
    body = await gql(
        GROUP_CREATE,
        {"input": {**base, "enrollmentOpensAt": opens.isoformat(), "fairWindowMinutes": -1}},
        token=provider_token(token),
    )
    assert body["data"]["groupCreate"]["userErrors"] == [{"code": "INVALID", "field": ["input", "fairWindowMinutes"]}]


async def test_waiting_for_the_draw_can_be_withdrawn_and_ends_with_its_period(gql: Any, token: Any, db: Any) -> None:
    """A guardian withdraws an application waiting for the draw (reserve back, out of the draw); a period
    closed before the draw expires the others (no money left in it); neither ever held a seat."""
    world, certs = await families(db, 3, capacity=1)
    await _open_at(world, datetime.now(UTC) + timedelta(hours=1))
    await _shift(world, timedelta(minutes=-1), timedelta(minutes=9))
    ids = []
    for n, (subject, cert) in enumerate(certs):
        body = await gql(
            CREATE, {"c": gid("Certificate", cert), "g": world.group, "k": f"k{n}"}, token=token("GUARDIAN", subject)
        )
        ids.append(body["data"]["enrollmentCreate"]["enrollment"]["id"])
    subject, cert = certs[0]
    body = await gql(CANCEL, {"id": ids[0], "reason": None}, token=token("GUARDIAN", subject))
    assert body["data"]["r"]["enrollment"]["status"] == "TERMINATED"
    assert (await balance(gql, token("GUARDIAN", subject), gid("Certificate", cert)))["reserved"] == 0
    again = await gql(
        CREATE,
        {"c": gid("Certificate", certs[1][1]), "g": world.group, "k": "twice"},
        token=token("GUARDIAN", certs[1][0]),
    )
    assert again["data"]["enrollmentCreate"]["userErrors"][0]["code"] == "ALREADY_ENROLLED"
    operator = Actor.operator("op", "01")
    await transaction(db, lambda c: periods.close_period(c, operator, world.period_id))
    async with db.connect() as c:
        statuses = [r[0] for r in await c.execute(text("SELECT status FROM enrollments ORDER BY id"))]
        taken = (await c.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": world.group_id})).scalar()
    assert statuses == ["TERMINATED", "EXPIRED", "EXPIRED"] and taken == 0
    await _shift(world, timedelta(minutes=-11), timedelta(seconds=-1))
    result = await transaction(db, lambda c: draw.run_draw(c, world.group_id))
    assert result is not None and result.entrants == 0 and result.winners == 0


async def test_applications_racing_the_end_of_the_window_are_drawn_or_served_after(db: Any) -> None:
    """Applications keep arriving while the window ends and draws run from several connections: each
    one is either in the draw or served after it; none is left waiting for a draw that has happened,
    no seat is oversold, the draw verifies."""
    world, certs = await families(db, 24, capacity=6)
    await _open_at(world, datetime.now(UTC) + timedelta(hours=1))
    await _shift(world, timedelta(minutes=-1), timedelta(seconds=1))

    async def apply_late(n: int, subject: str, cert: int) -> str:
        await asyncio.sleep(n * 0.08)  # spread over the window's last second and after it
        try:
            await transaction(
                db, lambda c: create(c, Actor.guardian(subject), cert, world.group_id, f"r{n}", datetime.now().date())
            )
        except DomainError as exc:
            return exc.problems[0].code.value
        return "OK"

    async def draws() -> int:
        done = 0
        for _ in range(12):
            await asyncio.sleep(0.2)
            done += (await transaction(db, lambda c: draw.run_draw(c, world.group_id))) is not None
        return done

    *outcomes, drawn_here, drawn_there = await asyncio.gather(
        *(apply_late(n, s, c) for n, (s, c) in enumerate(certs)), draws(), draws()
    )
    await transaction(db, lambda c: draw.run_draw(c, world.group_id))
    async with db.connect() as c:
        statuses = Counter(r[0] for r in await c.execute(text("SELECT status FROM enrollments")))
        taken = (await c.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": world.group_id})).scalar()
        v = await draw.verify(c, world.group_id)
    assert v.ok and statuses["PENDING_DRAW"] == 0
    assert taken == statuses["REQUESTED"] <= 6
    assert set(outcomes) <= {"OK", "GROUP_FULL"} and outcomes.count("OK") == statuses["REQUESTED"] + statuses["EXPIRED"]
    assert drawn_here + drawn_there <= 1
