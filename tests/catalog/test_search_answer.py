"""The navigator's page read ahead and shaped from one statement's rows answers exactly as the same
search resolved field by field (``Context.read_ahead=False``: the search, then providers and groups
by their loaders), over generated searches (text × filters × orders × pages) and generated
selections (aliases, fragments, ``__typename``, and fields the plan leaves to the ordinary path)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.reads import ReadPool, open_read_pool
from pdo_graph.db.session import RequestDb, transaction
from pdo_graph.domain import catalog
from pdo_graph.domain.access import ANONYMOUS, Actor, Role
from pdo_graph.domain.identifiers import inn_with_checksum
from pdo_graph.graphql_schema import build_schema
from pdo_graph.schema import navigator
from pdo_graph.schema.context import Context
from tests.helpers import new_certificate, open_period, recorded_statements

WORDS = ["робототехника", "шахмат", "танц", "английский язык", "програм", "рисование", "ро", "и", "футбол "]
TITLES = [
    ("Робототехника для начинающих", "Собираем и программируем роботов.", "TECHNICAL"),
    ("Программирование на Python", "Курс для тех, кто знаком с робототехникой.", "TECHNICAL"),
    ("Шахматы", "Шахматная азбука для первоклассников.", "PHYSICAL_SPORTS"),
    ("Юные шахматисты", "Турниры и разбор партий.", "PHYSICAL_SPORTS"),
    ("Современный танец", "Танцы для детей и подростков.", "ARTS"),
    ("Рисование акварелью", "Живопись и графика.", "ARTS"),
    ("Английский язык", "Разговорный английский язык для школьников.", "SOCIAL_HUMANITARIAN"),
    ("Юный эколог", "Природа родного края.", "NATURAL_SCIENCE"),
    ("Туристы-краеведы", "Походы и история края.", "TOURISM_LOCAL_HISTORY"),
    ("Футбол", "Секция футбола.", "PHYSICAL_SPORTS"),
]
FORMS = ["очная", "очно-заочная", "заочная", "дистанционная"]
KINDS = ["CERTIFICATE", "MUNICIPAL", "PAID"]
ORDERS = ["RELEVANCE", "PRICE_ASC", "RATING_DESC", "STARTS_ON_ASC", "DISTANCE_ASC"]


async def random_catalog(engine: AsyncEngine, rng: random.Random, programs: int = 70) -> None:
    today = date.today()

    async def work(conn):  # type: ignore[no-untyped-def]
        houses = [
            catalog.ProviderData(
                f"Дом творчества № {i}", inn_with_checksum(f"4703000{i:02d}"), rng.choice(["01", "02"]), address
            )
            for i, address in enumerate(rng.choice([None, "ул. Мира, 3"]) for _ in range(8))
        ]
        providers = [await catalog.insert_provider(conn, house) for house in houses]
        for i in range(programs):
            title, description, direction = rng.choice(TITLES)
            located = rng.random() < 0.7
            pid = await catalog.create_program(
                conn,
                rng.choice(providers),
                catalog.ProgramData(
                    title=f"{title} {i}" if rng.random() < 0.5 else title,
                    description=description,
                    direction=direction,
                    min_age=rng.randint(5, 10),
                    max_age=rng.randint(11, 17),
                    municipality=rng.choice(["01", "02"]),
                    normative_cost=rng.choice([None, 300_000, 1_500_000]),
                    hours=rng.choice([None, 36, 72]),
                    form=rng.choice(FORMS),
                    address=rng.choice([None, "ул. Ленина, 1"]),
                    latitude=59.9 + rng.uniform(-0.3, 0.3) if located else None,
                    longitude=30.3 + rng.uniform(-0.3, 0.3) if located else None,
                    external_id=rng.choice([None, f"ext-{i}"]),
                    archived=rng.random() < 0.08,
                    funding_kind=rng.choice(KINDS),
                    for_disabilities=rng.random() < 0.3,
                ),
            )
            for j in range(rng.choice([0, 1, 2, 3, 4, 7])):
                starts = today + timedelta(days=rng.randint(-150, 90))
                await catalog.create_group(
                    conn,
                    pid,
                    catalog.GroupData(
                        name=f"Группа {j + 1}",
                        starts_on=starts,
                        ends_on=starts + timedelta(days=rng.choice([30, 200])),
                        capacity=rng.randint(5, 15),
                        price=rng.choice([0, 250_000, 480_000, 900_000, 2_000_000]),
                        enrollment_open=rng.random() < 0.85,
                        schedule=rng.choice([None, "пн, ср 16:00"]),
                        external_id=rng.choice([None, f"g-{i}-{j}"]),
                        archived=rng.random() < 0.1,
                    ),
                )
        await conn.execute(
            text(
                "UPDATE programs SET certified = (funding_kind = 'CERTIFICATE' AND random() < 0.85),"
                " rating_count = CASE WHEN random() < 0.6 THEN (random() * 9)::int ELSE 0 END"
            )
        )
        await conn.execute(text("UPDATE programs SET rating_sum = rating_count * (1 + (id % 5))"))
        await conn.execute(text("UPDATE groups SET seats_taken = (random() * capacity)::int"))

    await transaction(engine, work)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT setseed(0.5)"))


def pick(rng: random.Random, items: list[str], least: int = 1) -> list[str]:
    return rng.sample(items, rng.randint(least, len(items)))


def aliased(rng: random.Random, field: str) -> str:
    return f"a{rng.randint(0, 9)}_{field.split('(')[0].split(' ')[0]}: {field}" if rng.random() < 0.15 else field


def money(rng: random.Random) -> str:
    return "{ " + " ".join(pick(rng, ["amount", "kopecks", "currency", "__typename"])) + " }"


def group(rng: random.Random) -> str:
    fields = pick(
        rng,
        "id name startsOn endsOn schedule capacity seatsLeft enrollmentOpen archived externalId __typename price".split(),
    )
    if rng.random() < 0.1:
        fields.append(rng.choice(["program { id title }", "waitlistLength", "enrollmentOpensAt"]))  # ordinary path
    return " ".join(aliased(rng, f"price {money(rng)}" if f == "price" else f) for f in fields)


def groups(rng: random.Random) -> str:
    first = rng.choice(["1", "2", "5", "$g"])
    parts = pick(rng, ["edges", "pageInfo", "totalCount", "__typename"])
    out = []
    for p in parts:
        if p == "edges":
            out.append("edges { " + " ".join(pick(rng, ["cursor", f"node {{ {group(rng)} }}"])) + " }")
        elif p == "pageInfo":
            out.append(
                "pageInfo { "
                + " ".join(pick(rng, ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"]))
                + " }"
            )
        else:
            out.append(p)
    return f"groups(first: {first}) {{ {' '.join(out)} }}"


def program(rng: random.Random) -> str:
    fields = pick(
        rng,
        (
            "id title description direction minAge maxAge hours form certified fundingKind forDisabilities archived"
            " municipality address latitude longitude externalId rating reviewCount __typename normativeCost provider"
            " groups"
        ).split(),
        3,
    )
    out = []
    for f in fields:
        if f == "normativeCost":
            out.append(f"normativeCost {money(rng)}")
        elif f == "provider":
            provider = " ".join(pick(rng, ["id", "name", "inn", "municipality", "address", "__typename"]))
            out.append(aliased(rng, f"provider {{ {provider} }}"))
        elif f == "groups":
            out.append(aliased(rng, groups(rng)))
        else:
            out.append(aliased(rng, f))
    if rng.random() < 0.05:
        out.append("reviews(first: 2) { totalCount }")  # ordinary path
    body = " ".join(out)
    return rng.choice([body, f"... on Program {{ {body} }}", "...P", f"... on Node {{ id }} {body}"])


def selection(rng: random.Random) -> tuple[str, str]:
    """The selection of ``programs`` and the fragments it uses."""
    node = program(rng)
    parts = pick(rng, ["edges", "pageInfo", "totalCount", "facets", "kindFacets", "__typename"])
    out = []
    for p in parts:
        if p == "edges":
            out.append("edges { " + " ".join(pick(rng, ["cursor", f"node {{ {node} }}", "__typename"])) + " }")
            if rng.random() < 0.1:
                out.append("edges { cursor }")  # merged with the one above
        elif p == "pageInfo":
            out.append(
                "pageInfo { "
                + " ".join(pick(rng, ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"]))
                + " }"
            )
        elif p == "facets":
            out.append(aliased(rng, "facets { " + " ".join(pick(rng, ["direction", "count", "__typename"])) + " }"))
        elif p == "kindFacets":
            out.append("kindFacets { " + " ".join(pick(rng, ["fundingKind", "count"])) + " }")
        else:
            out.append(p)
    if rng.random() < 0.05:
        out.append("totalCount @include(if: $yes)")  # ordinary path
    body = " ".join(out)
    fragments = "fragment P on Program { " + program(rng).replace("...P", "id") + " }" if "...P" in body else ""
    return body, fragments


def search_variables(rng: random.Random, certificate: str | None) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for key, values in (
        ("age", [6, 10, 14, 30]),
        ("municipality", ["01", "02", "x"]),
        ("direction", ["TECHNICAL", "ARTS", "PHYSICAL_SPORTS"]),
        ("maxPrice", [300_000, 1_000_000]),
        ("hasFreeSeats", [True, False]),
        ("certifiedOnly", [True]),
        ("fundingKind", KINDS),
        ("form", ["очная", " Очно-заочная ", "заочная"]),
        ("forDisabilities", [True, False]),
        (
            "near",
            [
                {"latitude": 59.9, "longitude": 30.3, "radiusKm": 15},
                {"latitude": 59.9, "longitude": 30.3, "radiusKm": 60},
            ],
        ),
    ):
        if rng.random() < 0.15:
            f[key] = rng.choice(values)
    if certificate is not None:
        f["coveredByCertificate"] = certificate
    order = rng.choice(ORDERS)
    if order == "DISTANCE_ASC" and "near" not in f and rng.random() < 0.8:
        f["near"] = {"latitude": 59.95, "longitude": 30.25, "radiusKm": 40}
    return {
        "first": rng.randint(1, 8),
        "search": rng.choice([None, None, None, None, *WORDS]),
        "filter": f,
        "order": rng.choice([None, order]),
        "g": rng.randint(1, 4),
        "yes": True,
    }


def document(body: str, fragments: str) -> str:
    """The query of a selection, declaring the variables it uses."""
    used = body + fragments
    extra = "".join(f", ${name}: {kind}" for name, kind in (("g", "Int!"), ("yes", "Boolean!")) if f"${name}" in used)
    return (
        f"query($first: Int!, $after: String, $search: String, $filter: ProgramFilter, $order: ProgramOrder{extra})"
        f" {{ programs(first: $first, after: $after, search: $search, filter: $filter, orderBy: $order) {{ {body} }} }}"
        f" {fragments}"
    )


@pytest.fixture
async def seats(db: AsyncEngine) -> AsyncIterator[None]:
    """The random catalog's seats are taken without enrollments: given back before the ledger check."""
    yield
    async with db.begin() as conn:
        await conn.execute(text("UPDATE groups SET seats_taken = 0"))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[ReadPool]:
    reads = await open_read_pool(database_url, 2)
    yield reads
    await reads.close()


async def run(
    engine: AsyncEngine,
    reads: ReadPool,
    settings: Settings,
    schema: Any,
    actor: Actor,
    query: str,
    variables: dict[str, Any],
    ahead: bool,
) -> tuple[Any, list[tuple[str, Any]]]:
    db = RequestDb(engine, reads)
    ctx = Context(db=db, settings=settings, actor=actor, read_ahead=ahead)
    try:
        result = await schema.execute(query, variable_values=variables, context_value=ctx)
    finally:
        await db.close()
    return result.data, [(e.message, e.path) for e in result.errors or ()]


async def test_generated_searches_answer_the_same_shaped_from_one_statement_or_field_by_field(
    db, seats, pool, settings, gql, token, monkeypatch
):
    rng = random.Random(20261202)
    await random_catalog(db, rng, programs=90)
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    today = date.today()
    await open_period(gql, token, "01", today - timedelta(days=10), today + timedelta(days=300), [(5, 17, 900_000)])
    alice = Actor(role=Role.GUARDIAN, subject="alice")
    schema = build_schema(settings)
    planned = []
    plan_of = navigator.plan_of

    def counted(*args: Any) -> Any:
        plan = plan_of(*args)
        planned.append(plan is not None)
        return plan

    monkeypatch.setattr(navigator, "plan_of", counted)
    compared = nonempty = 0
    for n in range(300):
        covered = rng.random() < 0.1
        body, fragments = selection(rng)
        query = document(body, fragments)
        variables = search_variables(rng, cert["id"] if covered else None)
        variables = {k: v for k, v in variables.items() if k not in ("g", "yes") or f"${k}" in query}
        actor = alice if covered else ANONYMOUS
        for page in range(2):
            with recorded_statements(db) as shaped_statements:
                shaped = await run(db, pool, settings, schema, actor, query, variables, True)
            with recorded_statements(db) as level_statements:
                level = await run(db, pool, settings, schema, actor, query, variables, False)
            assert shaped == level, (n, query, variables)
            assert len(shaped_statements) <= len(level_statements), (query, shaped_statements)
            compared += 1
            data = shaped[0]
            edges = (data or {}).get("programs", {}).get("edges") or []
            nonempty += bool(edges)
            end = ((data or {}).get("programs") or {}).get("pageInfo", {}).get("endCursor")
            if page or not end:
                break
            variables = {**variables, "after": end}
    assert compared >= 300 and nonempty > 120
    assert sum(planned) > 200 and not all(planned)  # most shaped from rows, some the ordinary way


# the search of bench/search.py
TYPICAL = (
    "query($first: Int!, $search: String, $filter: ProgramFilter, $order: ProgramOrder) {"
    " programs(first: $first, search: $search, filter: $filter, orderBy: $order) {"
    " totalCount facets { direction count } pageInfo { hasNextPage endCursor }"
    " edges { cursor node { id title direction minAge maxAge certified rating provider { id name }"
    " groups(first: 5) { edges { node { id startsOn price { kopecks } seatsLeft } } } } } } }"
)


async def test_a_typical_search_is_one_statement_and_its_answer_is_shaped_from_it(db, seats, gql, monkeypatch):
    await random_catalog(db, random.Random(7), programs=40)
    planned = []
    plan_of = navigator.plan_of
    monkeypatch.setattr(navigator, "plan_of", lambda *a: planned.append(plan_of(*a)) or planned[-1])
    variables = {"first": 20, "search": "шахмат", "filter": {"municipality": "01"}, "order": "PRICE_ASC"}
    with recorded_statements(db) as statements:
        body = await gql(TYPICAL, variables)
    assert "errors" not in body, body
    assert body["data"]["programs"]["edges"], body
    assert len(statements) == 1, "\n".join(statements)
    assert "provider_along" in statements[0] and "groups_along" in statements[0] and "count(*)" in statements[0]
    assert planned and planned[0] is not None and planned[0].along.provider and planned[0].along.groups
    # without totalCount and facets nothing is counted, without groups none are read
    with recorded_statements(db) as statements:
        body = await gql("{ programs(first: 20) { edges { node { id title provider { name } } } } }")
    assert len(body["data"]["programs"]["edges"]) == 20
    assert len(statements) == 1
    assert "count(*)" not in statements[0] and "groups_along" not in statements[0] and "provider_along" in statements[0]
