"""The demo catalog loads through the catalog services and is searchable."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.demo import content
from pdo_graph.demo.catalog import full_group_ids, load_catalog_demo
from pdo_graph.demo.loader import NOMINALS
from pdo_graph.demo.programs import COPAY_PRICE, COPAY_TITLE
from tests.catalog.steps import facets, search


async def test_demo_catalog(gql, db):
    async with db.begin() as conn:
        await conn.execute(
            text("INSERT INTO municipalities (code, name) VALUES (:c, :n) ON CONFLICT (code) DO NOTHING"),
            [{"c": c, "n": n} for c, n in content.MUNICIPALITIES],
        )
    today = date.today()
    counts = await transaction(db, lambda c: load_catalog_demo(c, today))
    assert counts["providers"] == 48
    assert counts["programs"] >= 300
    assert 0 < counts["programs_certified"] < counts["programs"]
    assert counts["groups"] > counts["programs"]
    full = await transaction(db, lambda c: full_group_ids(c, today))
    assert 0 < len(full) < counts["groups"]

    everything = await search(gql, first=5)
    assert everything["totalCount"] == counts["programs"]
    assert all(n > 0 for n in facets(everything).values())
    robotics = await search(gql, search="робототехника", filter={"age": 10, "certifiedOnly": True})
    assert robotics["totalCount"] > 0
    assert all("робот" in (e["node"]["title"].lower()) for e in robotics["edges"][:1])

    # the README's co-pay: one certified program of municipality 01 whose group costs more than any nominal
    copay = await search(gql, search="шахматы гроссмейстер", filter={"municipality": "01", "certifiedOnly": True})
    assert [e["node"]["title"] for e in copay["edges"]] == [COPAY_TITLE]
    async with db.connect() as conn:
        prices = (
            (
                await conn.execute(
                    text("SELECT g.price FROM groups g JOIN programs p ON p.id = g.program_id WHERE p.title = :t"),
                    {"t": COPAY_TITLE},
                )
            )
            .scalars()
            .all()
        )
    assert prices == [COPAY_PRICE] and COPAY_PRICE > max(n.kopecks for n in NOMINALS)
