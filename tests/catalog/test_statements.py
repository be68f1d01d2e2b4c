"""Reads without N+1: the number of SQL statements for a page of programs is pinned."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.session import transaction
from pdo_graph.domain import catalog
from pdo_graph.domain.identifiers import inn_with_checksum
from tests.helpers import new_certificate, open_period, recorded_statements

PAGE = """
query($search: String, $filter: ProgramFilter, $order: ProgramOrder, $after: String) {
  programs(first: 50, search: $search, filter: $filter, orderBy: $order, after: $after) {
    totalCount
    facets { direction count }
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id title rating reviewCount
        provider { id name inn }
        groups(first: 10) {
          totalCount
          edges { node { id name price { kopecks } seatsLeft enrollmentOpen program { id title } } }
        }
      }
    }
  }
}"""


async def make_catalog(engine: AsyncEngine, programs: int = 60) -> None:
    """Ten providers, ``programs`` certified robotics programs with two groups each."""
    today = date.today()

    async def work(conn):  # type: ignore[no-untyped-def]
        providers = [
            await catalog.insert_provider(
                conn,
                catalog.ProviderData(
                    f"Центр технического творчества № {i}", inn_with_checksum(f"4702000{i:02d}"), "01"
                ),
            )
            for i in range(10)
        ]
        for i in range(programs):
            pid = await catalog.create_program(
                conn,
                providers[i % 10],
                catalog.ProgramData(
                    title=f"Робототехника, модуль {i}",
                    description="Собираем и программируем роботов.",
                    direction="TECHNICAL",
                    min_age=7,
                    max_age=14,
                    municipality="01",
                ),
            )
            for j in range(2):
                await catalog.create_group(
                    conn,
                    pid,
                    catalog.GroupData(
                        name=f"Группа {j + 1}",
                        starts_on=today + timedelta(days=10 + j),
                        ends_on=today + timedelta(days=200),
                        capacity=10,
                        price=500_000 + 1000 * i + j,
                    ),
                )
        await conn.execute(text("UPDATE programs SET certified = true"))  # certification is the operator's

    await transaction(engine, work)


async def test_a_page_of_50_programs_with_provider_and_groups_takes_one_statement(gql, db):
    await make_catalog(db)
    with recorded_statements(db) as statements:
        body = await gql(PAGE)
    assert "errors" not in body, body
    page = body["data"]["programs"]
    assert (len(page["edges"]), page["totalCount"], page["pageInfo"]["hasNextPage"]) == (50, 60, True)
    assert all(len(e["node"]["groups"]["edges"]) == 2 for e in page["edges"])
    # search + facets + total, with each program's provider and groups read along; group.program is primed
    assert len(statements) == 1, "\n".join(statements)

    variables = {
        "search": "робототехника",
        "filter": {
            "age": 10,
            "municipality": "01",
            "hasFreeSeats": True,
            "maxPrice": 10_000_000,
            "certifiedOnly": True,
        },
        "order": "PRICE_ASC",
        "after": page["pageInfo"]["endCursor"],
    }
    with recorded_statements(db) as statements:
        body = await gql(PAGE, {**variables, "after": None})
    assert len(body["data"]["programs"]["edges"]) == 50
    assert len(statements) == 1, "\n".join(statements)

    # without totalCount and facets the counts are not computed at all
    with recorded_statements(db) as statements:
        body = await gql("{ programs(first: 50) { edges { node { id provider { name } } } } }")
    assert len(body["data"]["programs"]["edges"]) == 50
    assert len(statements) == 1
    assert "count(*)" not in statements[0] and "groups_along" not in statements[0]


async def test_covered_by_certificate_adds_two_batched_reads(gql, token, db):
    await make_catalog(db, programs=20)
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    today = date.today()
    await open_period(gql, token, "01", today - timedelta(days=10), today + timedelta(days=300), [(5, 17, 510_000)])
    with recorded_statements(db) as statements:
        body = await gql(PAGE, {"filter": {"coveredByCertificate": cert["id"]}}, token=token("GUARDIAN", "alice"))
    assert body["data"]["programs"]["totalCount"] == 11  # prices 500 000 + 1000·i <= 510 000
    # the certificate (who may read it), its coverage, then the page's one
    assert len(statements) == 3, "\n".join(statements)


async def test_counts_are_computed_when_selected_through_fragments_or_aliases(gql, db):
    await make_catalog(db, programs=3)
    fragment = """
    query { programs(first: 2) { ...Page } }
    fragment Page on ProgramConnection { ... on ProgramConnection { n: totalCount facets { count } } }"""
    with recorded_statements(db) as statements:
        body = await gql(fragment)
    assert body["data"]["programs"]["n"] == 3
    assert sum(f["count"] for f in body["data"]["programs"]["facets"]) == 3
    assert len(statements) == 1 and "count(*)" in statements[0]


def test_search_rows_have_the_program_loaders_columns():
    """Search rows prime the program loader, so they must carry what the loader's rows carry."""
    from pdo_graph.domain.search import PROGRAM_COLUMNS
    from pdo_graph.reads.catalog import PROGRAM_SQL

    assert PROGRAM_SQL == f"SELECT {PROGRAM_COLUMNS} FROM programs p"
