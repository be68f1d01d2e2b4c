"""The waitlist with offers: FIFO, one place per child, an offer holds the freed seat for its hours,
accept becomes an application, decline or lapse passes it on; races on real parallel connections."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import text

from pdo_graph.config import Settings
from pdo_graph.db.session import transaction
from pdo_graph.domain.access import Actor
from pdo_graph.domain.enrollment import refuse, waitlist
from pdo_graph.domain.enrollment.apply import create
from pdo_graph.domain.errors import DomainError
from pdo_graph.domain.ledger import check_invariants
from pdo_graph.jobs import run_draws_and_offers
from tests.enrollment.conftest import CANCEL, REFUSE, gid, pk, provider_token
from tests.enrollment.test_fair_opening import families

JOIN = """mutation($c: ID!, $g: ID!) { waitlistJoin(input: {certificateId: $c, groupId: $g}) {
  entry { id state position offerExpiresAt group { id waitlistLength } } userErrors { code field } } }"""
ACCEPT = """mutation($e: ID!, $k: String!, $x: SafeInt) {
  waitlistOfferAccept(input: {entryId: $e, idempotencyKey: $k, expectedFromFamily: $x}) {
    enrollment { id status fromFamily { kopecks } } userErrors { code field message } } }"""
DECLINE = (
    """mutation($e: ID!) { waitlistOfferDecline(input: {entryId: $e}) { entry { id state } userErrors { code } } }"""
)
LEAVE = """mutation($e: ID!) { waitlistLeave(input: {entryId: $e}) { entry { id state } userErrors { code } } }"""
ENTRY = """query($e: ID!) { node(id: $e) { ... on WaitlistEntry { state position offerExpiresAt
  enrollment { status } } } }"""
MINE = """query($c: ID!) { node(id: $c) { ... on Certificate { waitlist { id position state } } } }"""
SETTINGS = Settings()
TODAY = date.today()


async def _apply(engine: Any, subject: str, cert: int, group: int, key: str) -> int:
    return await transaction(engine, lambda c: create(c, Actor.guardian(subject), cert, group, key, TODAY))


async def test_waitlist_walkthrough(gql: Any, token: Any, db: Any) -> None:
    world, certs = await families(db, 5, capacity=2)
    (s0, c0), (s1, c1), (s2, c2), (s3, c3), (s4, c4) = certs
    first = await _apply(db, s0, c0, world.group_id, "a")
    await _apply(db, s1, c1, world.group_id, "b")

    # a group with free seats is not queued for
    body = await gql(JOIN, {"c": gid("Certificate", c4), "g": world.group}, token=token("GUARDIAN", s4))
    assert body["data"]["waitlistJoin"]["userErrors"] == []  # full now: joins
    entries = [body["data"]["waitlistJoin"]["entry"]]
    for s, c in ((s2, c2), (s3, c3)):
        body = await gql(JOIN, {"c": gid("Certificate", c), "g": world.group}, token=token("GUARDIAN", s))
        entries.append(body["data"]["waitlistJoin"]["entry"])
    assert [e["position"] for e in entries] == [1, 2, 3] and entries[-1]["group"]["waitlistLength"] == 3
    again = await gql(JOIN, {"c": gid("Certificate", c4), "g": world.group}, token=token("GUARDIAN", s4))
    assert again["data"]["waitlistJoin"]["userErrors"] == [{"code": "DUPLICATE", "field": ["input", "groupId"]}]
    other = await gql(ENTRY, {"e": entries[0]["id"]}, token=token("GUARDIAN", s2))
    assert other["data"]["node"] is None  # another family's entry is invisible
    mine = await gql(MINE, {"c": gid("Certificate", c2)}, token=token("GUARDIAN", s2))
    assert mine["data"]["node"]["waitlist"] == [{"id": entries[1]["id"], "position": 2, "state": "WAITING"}]

    # a seat frees (the provider refuses): nobody but the queue may take it, the pass offers it
    await gql(REFUSE, {"id": gid("Enrollment", first), "reason": "нет"}, token=provider_token(token))
    try:
        await _apply(db, s0, c0, world.group_id, "again")
        raise AssertionError("the freed seat went past the queue")
    except DomainError as exc:
        assert exc.problems[0].code.value == "GROUP_FULL"
    done = await run_draws_and_offers(db, SETTINGS)
    assert done["offers_made"] == 1
    offered = (await gql(ENTRY, {"e": entries[0]["id"]}, token=token("GUARDIAN", s4)))["data"]["node"]
    assert offered["state"] == "OFFERED" and offered["offerExpiresAt"] and offered["position"] is None
    assert (await gql(ENTRY, {"e": entries[1]["id"]}, token=token("GUARDIAN", s2)))["data"]["node"]["position"] == 1
    async with db.connect() as c:
        kinds = [
            r[0]
            for r in await c.execute(text("SELECT kind FROM notifications WHERE kind LIKE 'WAITLIST%' ORDER BY id"))
        ]
        seats = (await c.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": world.group_id})).scalar()
    assert kinds == ["WAITLIST_OFFER"] and seats == 2  # the offer holds the seat

    # decline: the next in line is offered at once
    body = await gql(DECLINE, {"e": entries[0]["id"]}, token=token("GUARDIAN", s4))
    assert body["data"]["waitlistOfferDecline"]["entry"]["state"] == "DECLINED"
    assert (await gql(ENTRY, {"e": entries[1]["id"]}, token=token("GUARDIAN", s2)))["data"]["node"][
        "state"
    ] == "OFFERED"

    # accept with a wrong confirmed share: QUOTE_CHANGED, nothing written; then accept
    wrong = await gql(ACCEPT, {"e": entries[1]["id"], "k": "x", "x": 1}, token=token("GUARDIAN", s2))
    assert [e["code"] for e in wrong["data"]["waitlistOfferAccept"]["userErrors"]] == ["QUOTE_CHANGED"]
    ok = await gql(ACCEPT, {"e": entries[1]["id"], "k": "y", "x": 0}, token=token("GUARDIAN", s2))
    e = ok["data"]["waitlistOfferAccept"]
    assert e["userErrors"] == [] and e["enrollment"]["status"] == "REQUESTED"
    replay = await gql(ACCEPT, {"e": entries[1]["id"], "k": "y", "x": 0}, token=token("GUARDIAN", s2))
    assert replay["data"]["waitlistOfferAccept"]["enrollment"]["id"] == e["enrollment"]["id"]
    node = (await gql(ENTRY, {"e": entries[1]["id"]}, token=token("GUARDIAN", s2)))["data"]["node"]
    assert node["state"] == "ACCEPTED" and node["enrollment"]["status"] == "REQUESTED"

    # a lapsed offer passes on; accepting it afterwards is OFFER_EXPIRED
    await gql(CANCEL, {"id": e["enrollment"]["id"], "reason": None}, token=token("GUARDIAN", s2))
    await run_draws_and_offers(db, SETTINGS)
    assert (await gql(ENTRY, {"e": entries[2]["id"]}, token=token("GUARDIAN", s3)))["data"]["node"][
        "state"
    ] == "OFFERED"
    async with db.begin() as c:
        await c.execute(
            text("UPDATE waitlist_entries SET offer_expires_at = now() - interval '1 second' WHERE id = :e"),
            {"e": pk(entries[2]["id"])},
        )
    late = await gql(ACCEPT, {"e": entries[2]["id"], "k": "z"}, token=token("GUARDIAN", s3))
    assert [x["code"] for x in late["data"]["waitlistOfferAccept"]["userErrors"]] == ["OFFER_EXPIRED"]
    done = await run_draws_and_offers(db, SETTINGS)
    assert done["offers_lapsed"] == 1 and done["offers_made"] == 0  # nobody left waiting
    async with db.connect() as c:
        seats = (await c.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": world.group_id})).scalar()
    assert seats == 1
    body = await gql(LEAVE, {"e": entries[2]["id"]}, token=token("GUARDIAN", s3))
    assert body["data"]["waitlistLeave"]["userErrors"] == [{"code": "INVALID_TRANSITION"}]


async def test_races_between_a_freed_seat_new_applications_and_an_accepted_offer(db: Any) -> None:
    """Rounds of: a seat is freed while the offer pass runs, newcomers apply and the offered family
    accepts, all at once on separate connections. Never more offers than free seats, never an
    oversold seat; the offered family gets the seat, the newcomers never do while anyone waits."""
    world, certs = await families(db, 14, capacity=2)
    holders = [await _apply(db, s, c, world.group_id, f"h{n}") for n, (s, c) in enumerate(certs[:2])]
    queue = certs[2:6]
    for s, c in queue:
        await transaction(db, lambda conn, s=s, c=c: waitlist.join(conn, Actor.guardian(s), c, world.group_id, TODAY))
    newcomers = certs[6:]
    provider = Actor.provider("staff", world.provider_id)
    outcomes: Counter[str] = Counter()
    for rnd in range(2):
        results = await asyncio.gather(
            _refuse(db, provider, holders[rnd]),
            run_draws_and_offers(db, SETTINGS),
            *(_newcomer(db, world.group_id, s, c, f"n{rnd}-{n}") for n, (s, c) in enumerate(newcomers[:4])),
        )
        outcomes.update(r for r in results if isinstance(r, str))
        await run_draws_and_offers(db, SETTINGS)
        async with db.connect() as c:
            offered = [
                (int(r.id), str(r.subject))
                for r in await c.execute(
                    text(
                        "SELECT w.id, gu.subject FROM waitlist_entries w JOIN guardians gu ON gu.id = w.guardian_id"
                        " WHERE w.state = 'OFFERED'"
                    )
                )
            ]
            assert len(offered) == 1 and await check_invariants(c) == []
        entry, subject = offered[0]
        results = await asyncio.gather(
            _accept(db, subject, entry, f"o{rnd}"),
            run_draws_and_offers(db, SETTINGS),
            *(_newcomer(db, world.group_id, s, c, f"m{rnd}-{n}") for n, (s, c) in enumerate(newcomers[4:])),
        )
        outcomes.update(r for r in results if isinstance(r, str))
    assert outcomes["newcomer-seated"] == 0 and outcomes["offer-accepted"] == 2, outcomes
    async with db.connect() as c:
        taken, capacity = (
            await c.execute(text("SELECT seats_taken, capacity FROM groups WHERE id = :g"), {"g": world.group_id})
        ).one()
        states = Counter(r[0] for r in await c.execute(text("SELECT state FROM waitlist_entries")))
    assert taken == capacity == 2 and states == {"ACCEPTED": 2, "WAITING": 2}


async def _refuse(db: Any, provider: Actor, enrollment_id: int) -> str:
    await transaction(db, lambda c: refuse(c, provider, enrollment_id, None))
    return "freed"


async def _newcomer(db: Any, group_id: int, subject: str, cert: int, key: str) -> str:
    try:
        await _apply(db, subject, cert, group_id, key)
    except DomainError as exc:
        return exc.problems[0].code.value
    return "newcomer-seated"


async def _accept(db: Any, subject: str, entry: int, key: str) -> str:
    try:
        await transaction(db, lambda c: waitlist.accept(c, Actor.guardian(subject), entry, key, TODAY))
    except DomainError as exc:
        return exc.problems[0].code.value
    return "offer-accepted"
