"""The demo region loads through the domain services, and its money is in the ledger."""

from datetime import date

import pytest
from sqlalchemy import text

from pdo_graph.demo.loader import load_demo


@pytest.mark.slow
async def test_demo_region(db, settings, gql, token):
    counts = await load_demo(db, settings, date.today())
    assert counts["certificates"] >= 50 and counts["certificates_credited"] == counts["certificates"]
    assert counts["programs"] >= 300 and counts["full_groups"] >= 5
    async with db.connect() as conn:
        directions = (await conn.execute(text("SELECT count(DISTINCT direction) FROM programs"))).scalar_one()
        full = (await conn.execute(text("SELECT count(*) FROM groups WHERE seats_taken = capacity"))).scalar_one()
    assert directions == 6 and full >= 5
    body = await gql(
        "{ viewer { children { fullName certificate { number balance { credited { amount } } } } } }",
        token=token("GUARDIAN", "guardian-001"),
    )
    child = body["data"]["viewer"]["children"][0]
    assert child["certificate"]["balance"]["credited"]["amount"] in {"25000.00", "35000.00"}
    found = await gql('{ programs(first: 5, search: "робототехника") { totalCount edges { node { title } } } }')
    assert found["data"]["programs"]["totalCount"] > 0
