"""The demo catalog loads through the catalog services and is searchable."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.demo import content
from pdo_graph.demo.catalog import full_group_ids, load_catalog_demo
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
