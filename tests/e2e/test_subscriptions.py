"""Subscriptions over real WebSockets against TWO real server processes sharing one database: what
is committed through one process reaches subscribers on the other (PostgreSQL LISTEN/NOTIFY), with
each subscriber's own permissions; the connection's limits and the protocol's refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.auth.principal import Role
from pdo_graph.auth.tokens import load_or_create_dev_key, mint_dev_token
from pdo_graph.ids import encode_id
from tests.e2e.conftest import LiveServer, running_server
from tests.e2e.live import LiveClient
from tests.enrollment.conftest import (
    ACCEPT,
    CREATE,
    OTHER_INN,
    PROVIDER_INN,
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    end_of_month,
    next_month,
    open_period,
)

pytestmark = pytest.mark.e2e  # real server processes

MAX_SUBSCRIPTIONS = 3
MAX_MESSAGE_BYTES = 16384
PING_SECONDS = 1.5


@dataclass
class Pair:
    a: LiveServer
    b: LiveServer


@pytest.fixture(scope="module")
def pair(database_url: str, data_dir: Path, engine: AsyncEngine) -> Iterator[Pair]:
    limits = {
        "PDO_WS_MAX_SUBSCRIPTIONS": str(MAX_SUBSCRIPTIONS),
        "PDO_WS_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
        "PDO_WS_INIT_TIMEOUT_SECONDS": "1",
        "PDO_WS_PING_SECONDS": str(PING_SECONDS),
    }
    with (
        running_server(database_url, data_dir, data_dir / "live-a.log", **limits) as a,
        running_server(database_url, data_dir, data_dir / "live-b.log", **limits) as b,
    ):
        yield Pair(a, b)


async def gql(server: LiveServer, query: str, variables: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{server.url}/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


@dataclass
class World:
    group: str
    group_pk: int
    families: list[tuple[str, str]]  # (guardian subject, certificate global id)


async def make_world(engine: AsyncEngine, families: int = 2, capacity: int = 10) -> World:
    provider = await add_provider(engine)
    await add_provider(engine, OTHER_INN)
    program = await add_program(engine, provider)
    starts = next_month()
    group = await add_group(
        engine, program, starts_on=starts, ends_on=end_of_month(starts), capacity=capacity, price=500_000
    )
    certs = await bulk_certificates(engine, families, prefix="live")
    await open_period(engine)
    return World(encode_id("Group", group), group, [(s, encode_id("Certificate", c)) for s, c in certs])


SEATS = "subscription($g: ID!) { groupSeats(groupId: $g) { id seatsLeft capacity } }"
BALANCE = """subscription($c: ID!) { certificateBalance(certificateId: $c) {
  credited { kopecks } reserved { kopecks } available { kopecks } } }"""
ENROLLMENT = "subscription($e: ID!) { enrollmentUpdated(enrollmentId: $e) { id status } }"
PUPIL = "subscription($e: ID!) { enrollmentUpdated(enrollmentId: $e) { status pupil { fullName } } }"
NOTIFICATIONS = "subscription { notificationAdded { id kind title body readAt } }"
CAPACITY = """mutation($g: ID!, $c: Int!) { groupUpdate(input: {groupId: $g, capacity: $c}) {
  group { capacity } userErrors { code } } }"""
CANCEL = """mutation($id: ID!) { enrollmentCancel(input: {enrollmentId: $id}) { enrollment { status }
  userErrors { code } } }"""


def provider_token(token: Any, inn: str = PROVIDER_INN) -> str:
    return str(token("PROVIDER", f"staff-{inn}", provider=inn))


async def enroll(server: LiveServer, token: Any, subject: str, cert: str, group: str, key: str = "k1") -> str:
    created = (await gql(server, CREATE, {"c": cert, "g": group, "k": key}, token("GUARDIAN", subject)))[
        "enrollmentCreate"
    ]
    assert created["userErrors"] == [], created
    enrollment_id: str = created["enrollment"]["id"]
    return enrollment_id


def reserved(data: dict[str, Any]) -> int:
    value: int = data["certificateBalance"]["reserved"]["kopecks"]
    return value


async def test_a_change_committed_through_one_process_reaches_subscribers_on_the_other(
    pair: Pair, db: AsyncEngine, token: Any
) -> None:
    world = await make_world(db)
    subject, cert = world.families[0]
    family = await LiveClient.start(pair.b.url, token("GUARDIAN", subject))
    await family.subscribe("balance", BALANCE, {"c": cert})
    await family.subscribe("seats", SEATS, {"g": world.group})
    first = await family.nexts(2)
    assert reserved(first["balance"]) == 0 and first["balance"]["certificateBalance"]["credited"]["kopecks"] > 0
    assert first["seats"]["groupSeats"]["seatsLeft"] == 10
    anonymous_on_a = await LiveClient.start(pair.a.url)
    await anonymous_on_a.subscribe("seats", SEATS, {"g": world.group})
    assert (await anonymous_on_a.next("seats"))["groupSeats"]["seatsLeft"] == 10

    enrollment = await enroll(pair.a, token, subject, cert, world.group)

    got = await family.nexts(2)
    assert reserved(got["balance"]) > 0
    assert got["seats"]["groupSeats"]["seatsLeft"] == 9
    assert (await anonymous_on_a.next("seats"))["groupSeats"]["seatsLeft"] == 9

    staff = await LiveClient.start(pair.b.url, provider_token(token))
    await staff.subscribe("e", PUPIL, {"e": enrollment})
    assert (await staff.next("e"))["enrollmentUpdated"] == {
        "status": "REQUESTED",
        "pupil": {"fullName": "Ученик0 live Сертификатович"},
    }
    await family.subscribe("e", ENROLLMENT, {"e": enrollment})
    assert (await family.next("e"))["enrollmentUpdated"]["status"] == "REQUESTED"

    accepted = (await gql(pair.a, ACCEPT, {"id": enrollment}, provider_token(token)))["r"]
    assert accepted["userErrors"] == []

    assert (await staff.next("e"))["enrollmentUpdated"]["status"] == "ACTIVE"
    assert (await family.next("e"))["enrollmentUpdated"] == {"id": enrollment, "status": "ACTIVE"}
    # the provider read the pupil's name twice, through a subscription: both reads are in the audit log
    async with db.connect() as conn:
        audited = (
            await conn.execute(
                text("SELECT count(*) FROM audit_log WHERE actor_role = 'PROVIDER' AND 'fullName' = ANY(fields)")
            )
        ).scalar_one()
    assert audited == 2
    # every delivery gave its connection back before it was sent
    metrics = httpx.get(f"{pair.b.url}/metrics").text
    assert "pdo_db_pool_connections_in_use 0.0" in metrics
    for client in (family, anonymous_on_a, staff):
        await client.close()


PUBLIC_SUBSCRIPTIONS = {"groupSeats"}


async def test_a_subscriber_without_the_right_is_refused_at_subscribe_time(
    pair: Pair, db: AsyncEngine, token: Any
) -> None:
    """Every subscription field (found by introspection: a new one fails here until it has a rule),
    tried by every other tenant against family A's objects, is refused before anything is sent."""
    world = await make_world(db)
    (owner, cert), (other, _) = world.families
    enrollment = await enroll(pair.a, token, owner, cert, world.group)
    attackers = {
        "guardian B": token("GUARDIAN", other),
        "provider Y": provider_token(token, OTHER_INN),
        "operator 02": token("OPERATOR", "op-02", municipality="02"),
        "analyst": token("ANALYST", "an"),
        "anonymous": None,
    }
    rules: dict[str, tuple[str, dict[str, Any], set[str]]] = {  # field -> document, variables, who may
        "certificateBalance": (BALANCE, {"c": cert}, set()),
        "enrollmentUpdated": (PUPIL, {"e": enrollment}, set()),
        "notificationAdded": (NOTIFICATIONS, {}, {"guardian B"}),  # B's own notifications: see below
    }
    fields = await gql(pair.a, "{ __schema { subscriptionType { fields { name } } } }", {})
    names = {f["name"] for f in fields["__schema"]["subscriptionType"]["fields"]}
    assert names - PUBLIC_SUBSCRIPTIONS - set(rules) == set(), "subscriptions without an authorization rule"

    tried = 0
    for who, bearer in attackers.items():
        client = await LiveClient.start(pair.b.url, bearer, **{"Accept-Language": "en"})
        for n, (field, (document, variables, legit)) in enumerate(rules.items()):
            if who in legit:
                continue
            await client.subscribe(str(n), document, variables)
            errors = await client.error(str(n))
            assert errors[0]["extensions"]["code"] in {"NOT_FOUND", "FORBIDDEN", "UNAUTHENTICATED"}, (who, field)
            tried += 1
        await client.subscribe("bad-id", BALANCE, {"c": "not-an-id"})
        assert (await client.error("bad-id"))[0]["extensions"]["code"] in {"NOT_FOUND", "UNAUTHENTICATED"}
        # the same connection still serves what its caller may see
        await client.subscribe("public", SEATS, {"g": world.group})
        assert (await client.next("public"))["groupSeats"]["seatsLeft"] == 9
        await client.close()
    assert tried == 14

    stranger = await LiveClient.start(pair.b.url, attackers["guardian B"], **{"Accept-Language": "en"})
    await stranger.subscribe("1", BALANCE, {"c": cert})
    [refused] = await stranger.error("1")
    assert refused == {
        "message": "No such object, or it is not yours to see",
        "extensions": {"code": "NOT_FOUND", "requestId": refused["extensions"]["requestId"]},
    }
    assert refused["extensions"]["requestId"]
    await stranger.close()
    # the positive controls: the family, its provider and its municipality's operator
    for bearer, (document, variables) in (
        (token("GUARDIAN", owner), (BALANCE, {"c": cert})),
        (token("OPERATOR", "op-01", municipality="01"), (BALANCE, {"c": cert})),
        (provider_token(token), (PUPIL, {"e": enrollment})),
        (token("GUARDIAN", owner), (ENROLLMENT, {"e": enrollment})),
    ):
        client = await LiveClient.start(pair.b.url, bearer)
        await client.subscribe("1", document, variables)
        assert await client.next("1")
        await client.close()


async def test_another_familys_changes_never_reach_a_subscriber(pair: Pair, db: AsyncEngine, token: Any) -> None:
    world = await make_world(db)
    (mine, my_cert), (theirs, their_cert) = world.families
    me = await LiveClient.start(pair.b.url, token("GUARDIAN", mine))
    await me.subscribe("mine", BALANCE, {"c": my_cert})
    assert reserved(await me.next("mine")) == 0

    their_enrollment = await enroll(pair.a, token, theirs, their_cert, world.group)
    await gql(pair.a, CANCEL, {"id": their_enrollment}, token("GUARDIAN", theirs))
    my_enrollment = await enroll(pair.a, token, mine, my_cert, world.group)

    # the next message is my own change: nothing of theirs came before it
    held = reserved(await me.next("mine"))
    assert held > 0
    await gql(pair.a, CANCEL, {"id": my_enrollment}, token("GUARDIAN", mine))
    assert reserved(await me.next("mine")) == 0
    await me.close()


async def test_a_rolled_back_change_sends_nothing(pair: Pair, db: AsyncEngine, token: Any) -> None:
    world = await make_world(db)
    watcher = await LiveClient.start(pair.b.url)
    await watcher.subscribe("s", SEATS, {"g": world.group})
    assert (await watcher.next("s"))["groupSeats"]["capacity"] == 10

    async with db.connect() as conn:
        await conn.execute(text("UPDATE groups SET capacity = 50 WHERE id = :g"), {"g": world.group_pk})
        await conn.rollback()
    staff = provider_token(token)
    await gql(pair.a, CAPACITY, {"g": world.group, "c": 20}, staff)
    assert (await watcher.next("s"))["groupSeats"]["capacity"] == 20  # not 50, and no re-read of 10 before it
    await gql(pair.a, CAPACITY, {"g": world.group, "c": 30}, staff)
    assert (await watcher.next("s"))["groupSeats"]["capacity"] == 30  # nothing in between
    await watcher.close()


async def test_an_expiring_token_closes_the_subscription(pair: Pair, db: AsyncEngine, data_dir: Path) -> None:
    world = await make_world(db)
    key = load_or_create_dev_key(data_dir)
    short = mint_dev_token(key, role=Role.GUARDIAN, subject=world.families[0][0], ttl_seconds=2)
    client = await LiveClient.start(pair.b.url, short)
    await client.subscribe("b", BALANCE, {"c": world.families[0][1]})
    assert reserved(await client.next("b")) == 0
    assert await client.closed() == (4403, "Forbidden: token expired")


async def notify(engine: AsyncEngine, subject: str, title: str) -> str:
    """A notification for the guardian, as the family-side services will add them (one INSERT)."""
    async with engine.begin() as conn:
        pk = (
            await conn.execute(
                text(
                    "INSERT INTO notifications (guardian_id, kind, title, body)"
                    " SELECT id, 'ENROLLMENT_ACCEPTED', :t, 'Заявка принята' FROM guardians WHERE subject = :s"
                    " RETURNING id"
                ),
                {"s": subject, "t": title},
            )
        ).scalar_one()
    return encode_id("Notification", pk)


async def following(client: LiveClient, engine: AsyncEngine, subject: str) -> None:
    """Until a notification arrives we cannot know that the server has set the subscription's watch
    (nothing is sent at once): notifications are added until one does; each one after it arrives."""
    for attempt in range(40):
        added = await notify(engine, subject, f"проба {attempt}")
        try:
            message = await client.message(wait=0.5)
        except TimeoutError:
            continue
        assert message["payload"]["data"]["notificationAdded"]["id"] == added, message
        return
    raise AssertionError("no notification arrived")


async def test_notifications_reach_their_recipient_only(pair: Pair, db: AsyncEngine, token: Any) -> None:
    world = await make_world(db)
    (mine, _), (theirs, _) = world.families
    me = await LiveClient.start(pair.b.url, token("GUARDIAN", mine))
    them = await LiveClient.start(pair.a.url, token("GUARDIAN", theirs))
    await me.subscribe("n", NOTIFICATIONS)
    await them.subscribe("n", NOTIFICATIONS)
    await following(me, db, mine)
    await following(them, db, theirs)

    their_own = await notify(db, theirs, "чужое")
    second = await notify(db, mine, "второе")
    third = await notify(db, mine, "третье")
    assert (await me.next("n"))["notificationAdded"] == {
        "id": second,
        "kind": "ENROLLMENT_ACCEPTED",
        "title": "второе",
        "body": "Заявка принята",
        "readAt": None,
    }
    assert (await me.next("n"))["notificationAdded"]["id"] == third
    assert (await them.next("n"))["notificationAdded"]["id"] == their_own
    # a notification is a node its recipient (and nobody else) can read
    query = "query($id: ID!) { node(id: $id) { ... on Notification { title } } }"
    assert (await gql(pair.a, query, {"id": third}, token("GUARDIAN", mine)))["node"] == {"title": "третье"}
    assert (await gql(pair.a, query, {"id": third}, token("GUARDIAN", theirs)))["node"] is None
    # a burst arrives whole and in order
    burst = [await notify(db, mine, f"пачка {i}") for i in range(5)]
    assert [(await me.next("n"))["notificationAdded"]["id"] for _ in burst] == burst
    await me.close()
    await them.close()


async def test_the_listener_reconnects_and_nothing_stays_missed(pair: Pair, db: AsyncEngine, token: Any) -> None:
    world = await make_world(db)
    watcher = await LiveClient.start(pair.b.url)
    await watcher.subscribe("s", SEATS, {"g": world.group})
    assert (await watcher.next("s"))["groupSeats"]["capacity"] == 10
    async with db.connect() as conn:
        killed = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'pdo-graph-live' AND datname = current_database()"
                )
            )
        ).scalar_one()
    assert killed >= 2  # the listeners of both processes
    await gql(pair.a, CAPACITY, {"g": world.group, "c": 12}, provider_token(token))
    # once B listens again it re-reads what it may have missed: the new capacity arrives either way
    capacities = []
    while not capacities or capacities[-1] != 12:
        capacities.append((await watcher.next("s"))["groupSeats"]["capacity"])
    assert set(capacities) <= {10, 12}
    await gql(pair.a, CAPACITY, {"g": world.group, "c": 13}, provider_token(token))
    assert (await watcher.next("s"))["groupSeats"]["capacity"] == 13
    reconnects = [
        line
        for line in httpx.get(f"{pair.b.url}/metrics").text.splitlines()
        if line.startswith("pdo_live_listener_reconnects_total ")
    ]
    assert float(reconnects[0].split()[1]) >= 1
    await watcher.close()


# --- the connection's limits and the protocol's refusals --------------------------------------------


async def test_subscriptions_per_connection_are_limited(pair: Pair, db: AsyncEngine) -> None:
    world = await make_world(db)
    client = await LiveClient.start(pair.b.url)
    for n in range(MAX_SUBSCRIPTIONS):
        await client.subscribe(str(n), SEATS, {"g": world.group})
        await client.next(str(n))
    await client.subscribe("one-too-many", SEATS, {"g": world.group})
    refused = await client.error("one-too-many")
    assert refused[0]["extensions"] == {
        "code": "TOO_MANY_SUBSCRIPTIONS",
        "max": MAX_SUBSCRIPTIONS,
        "requestId": refused[0]["extensions"]["requestId"],
    }
    await client.send({"id": "0", "type": "complete"})
    await client.subscribe("again", SEATS, {"g": world.group})
    assert (await client.next("again"))["groupSeats"]["seatsLeft"] == 10
    await client.close()


async def test_the_gate_checks_subscription_documents(pair: Pair, db: AsyncEngine) -> None:
    world = await make_world(db)
    client = await LiveClient.start(pair.b.url)
    aliases = " ".join(f"a{i}: seatsLeft" for i in range(31))
    await client.subscribe(
        "1", f"subscription($g: ID!) {{ groupSeats(groupId: $g) {{ {aliases} }} }}", {"g": world.group}
    )
    assert (await client.error("1"))[0]["extensions"]["code"] == "QUERY_TOO_MANY_ALIASES"
    await client.subscribe("2", "subscription { groupSeats(groupId: 1) { nope } }")
    assert (await client.error("2"))[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await client.subscribe("3", "subscription { a: groupSeats(groupId: 1) { id } b: groupSeats(groupId: 2) { id } }")
    assert (await client.error("3"))[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await client.subscribe("4", "{ viewer { role } }")
    assert (await client.error("4"))[0]["extensions"]["code"] == "OPERATION_NOT_SUPPORTED"
    await client.subscribe("5", "subscription { groupSeats(groupId: ")
    assert (await client.error("5"))[0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    await client.subscribe("6", SEATS, {"g": world.group})
    assert (await client.next("6"))["groupSeats"]["capacity"] == 10
    await client.close()


async def test_a_message_over_the_limit_closes_the_connection(pair: Pair, db: AsyncEngine) -> None:
    client = await LiveClient.start(pair.b.url)
    padding = "#" + "ы" * MAX_MESSAGE_BYTES + "\n"
    await client.subscribe("1", padding + "subscription { groupSeats(groupId: 1) { id } }")
    code, _ = await client.closed()
    assert code == 1009


async def test_connection_init_must_come_in_time(pair: Pair, db: AsyncEngine) -> None:
    client = await LiveClient.connect(pair.b.url)
    assert await client.closed() == (4408, "Connection initialisation timeout")


async def test_a_client_that_does_not_answer_pings_is_closed(pair: Pair, db: AsyncEngine) -> None:
    world = await make_world(db)
    silent = await LiveClient.connect(pair.b.url, answer_pings=False)
    await silent.send({"type": "connection_init"})
    assert await silent.message() == {"type": "connection_ack"}
    talking = await LiveClient.start(pair.b.url)
    await talking.subscribe("s", SEATS, {"g": world.group})
    await talking.next("s")
    assert await silent.closed() == (4408, "Ping timeout: no pong")
    assert silent.pings == 1
    # the one that answers stays, pinged and pinged again
    for _ in range(300):
        if talking.pings >= 2:
            break
        await asyncio.sleep(0.05)
    assert talking.pings >= 2
    await talking.send({"type": "ping"})
    assert await talking.message() == {"type": "pong"}
    await talking.close()


@pytest.mark.parametrize(
    ("steps", "closed"),
    [
        ([{"id": "1", "type": "subscribe", "payload": {"query": SEATS}}], (4401, "Unauthorized")),
        (
            [{"type": "connection_init"}, {"type": "connection_init"}],
            (4429, "Too many initialisation requests"),
        ),
        (
            [{"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}],
            (4403, "Forbidden: the token is not accepted"),
        ),
        ([{"type": "connection_init", "payload": "text"}], (4400, "Invalid connection_init payload")),
        (
            [{"type": "connection_init"}, {"type": "subscribe", "id": "", "payload": {"query": SEATS}}],
            (4400, "Invalid subscribe message"),
        ),
        (
            [{"type": "connection_init"}, {"type": "subscribe", "id": "1", "payload": {}}],
            (4400, "Invalid subscribe message"),
        ),
        ([{"type": "connection_init"}, {"type": "what"}], (4400, "Unknown message type")),
        ([{"no": "type"}], (4400, "Message has no type")),
    ],
)
async def test_protocol_violations_close_the_connection(
    pair: Pair, db: AsyncEngine, steps: list[dict[str, Any]], closed: tuple[int, str]
) -> None:
    client = await LiveClient.connect(pair.b.url)
    for step in steps:
        await client.send(step)
    assert await client.closed() == closed


async def test_a_reused_id_binary_and_broken_json_close_the_connection(pair: Pair, db: AsyncEngine) -> None:
    world = await make_world(db)
    client = await LiveClient.start(pair.b.url)
    await client.subscribe("same", SEATS, {"g": world.group})
    await client.next("same")
    await client.subscribe("same", SEATS, {"g": world.group})
    assert await client.closed() == (4409, "Subscriber for this id already exists")

    client = await LiveClient.start(pair.b.url)
    await client.ws.send(b"\x00\x01")
    assert await client.closed() == (4400, "Binary messages are not supported")

    client = await LiveClient.start(pair.b.url)
    await client.ws.send("{not json")
    assert await client.closed() == (4400, "Message is not valid JSON")


@pytest.mark.parametrize("offer", [(), ("graphql-ws",)])  # none, or the old subscriptions-transport-ws
async def test_the_subprotocol_is_required(pair: Pair, db: AsyncEngine, offer: tuple[str, ...]) -> None:
    client = await LiveClient.connect(pair.b.url, offer=offer)
    assert await client.closed() == (4406, "Subprotocol not acceptable")


async def test_a_completed_subscription_sends_nothing_more_and_its_id_is_free(
    pair: Pair, db: AsyncEngine, token: Any
) -> None:
    world = await make_world(db)
    client = await LiveClient.start(pair.b.url)
    await client.subscribe("s", SEATS, {"g": world.group})
    await client.next("s")
    await client.subscribe("t", SEATS, {"g": world.group})
    await client.next("t")
    await client.send({"id": "s", "type": "complete"})
    await gql(pair.a, CAPACITY, {"g": world.group, "c": 11}, provider_token(token))
    assert (await client.next("t"))["groupSeats"]["capacity"] == 11  # and nothing for "s" before or after
    await client.subscribe("s", SEATS, {"g": world.group})
    assert (await client.next("s"))["groupSeats"]["capacity"] == 11
    await gql(pair.a, CAPACITY, {"g": world.group, "c": 12}, provider_token(token))
    seen = await client.nexts(2)
    assert {k: v["groupSeats"]["capacity"] for k, v in seen.items()} == {"s": 12, "t": 12}
    await client.close()


async def test_a_waitlist_offer_reaches_the_family_live(pair: Pair, db: AsyncEngine, token: Any) -> None:
    """A seat freed through process A is offered by the periodic pass; the offered family, subscribed
    on process B, gets the WAITLIST_OFFER notification, the other waiting family nothing yet."""
    from pdo_graph.config import Settings
    from pdo_graph.jobs import run_draws_and_offers

    world = await make_world(db, families=3, capacity=1)
    (holder, holder_cert), (first, first_cert), (second, second_cert) = world.families
    enrollment = await enroll(pair.a, token, holder, holder_cert, world.group)
    join = """mutation($c: ID!, $g: ID!) { waitlistJoin(input: {certificateId: $c, groupId: $g}) {
      entry { id position } userErrors { code } } }"""
    for subject, cert in ((first, first_cert), (second, second_cert)):
        assert (await gql(pair.a, join, {"c": cert, "g": world.group}, token("GUARDIAN", subject)))["waitlistJoin"][
            "userErrors"
        ] == []
    me = await LiveClient.start(pair.b.url, token("GUARDIAN", first))
    other = await LiveClient.start(pair.b.url, token("GUARDIAN", second))
    await me.subscribe("n", NOTIFICATIONS)
    await other.subscribe("n", NOTIFICATIONS)
    await following(me, db, first)
    await following(other, db, second)
    cancelled = await gql(pair.a, CANCEL, {"id": enrollment}, token("GUARDIAN", holder))
    assert cancelled["enrollmentCancel"]["userErrors"] == []
    assert (await run_draws_and_offers(db, Settings()))["offers_made"] == 1
    offer = (await me.next("n"))["notificationAdded"]
    assert offer["kind"] == "WAITLIST_OFFER" and offer["title"] == "Освободилось место в группе"
    with pytest.raises(TimeoutError):
        await other.message(wait=1.0)
    await me.close()
    await other.close()


async def test_a_token_of_another_region_is_refused(pair: Pair, db: AsyncEngine, data_dir: Path) -> None:
    """The servers serve region 77 (PDO_REGION_CODE's default): a token issued for region 50 is refused
    at connection_init, as over HTTP (421 WRONG_REGION there)."""
    key = load_or_create_dev_key(data_dir)
    elsewhere = mint_dev_token(key, role=Role.GUARDIAN, subject="g-50", region="50")
    client = await LiveClient.connect(pair.a.url)
    await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {elsewhere}"}})
    assert await client.closed() == (4403, "Forbidden: the token is not accepted")
