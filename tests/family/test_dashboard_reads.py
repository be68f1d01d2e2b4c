"""The family dashboard's read path: its statements are pinned, and reading the levels below along
(``reads_ahead``) answers exactly as reading level by level, and a compiled plan
(``transport/plans.py``) exactly as graphql-core's execution, for many generated queries, for the
guardian and for an operator (whose reads of children's names are audited on every path)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.reads import ReadPool, open_read_pool
from pdo_graph.db.session import RequestDb
from pdo_graph.demo.loader import load_demo
from pdo_graph.domain.access import Actor, Role
from pdo_graph.graphql_schema import build_schema
from pdo_graph.ids import encode_id
from pdo_graph.schema.context import Context
from pdo_graph.transport.plans import Plans
from tests.helpers import recorded_statements

DASHBOARD = """
query Dashboard {
  viewer {
    children {
      fullName
      certificate {
        number
        balance { credited { amount } reserved { amount } spent { amount } available { amount } }
        transactions(first: 10) { edges { node { kind amount { amount } description createdAt } } }
      }
      enrollments(first: 20) {
        edges { node { status fromCertificate { amount } group { name startsOn program { title provider { name } } } } }
      }
    }
  }
}"""


async def busiest_guardians(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT g.subject FROM guardians g JOIN enrollments e ON e.guardian_id = g.id"
                " GROUP BY g.subject ORDER BY count(*) DESC, g.subject LIMIT 6"
            )
        )
        return [r[0] for r in rows]


@pytest.fixture
async def demo(db: AsyncEngine, settings: Settings) -> AsyncEngine:
    await load_demo(db, settings, date.today())
    return db


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[ReadPool]:
    reads = await open_read_pool(database_url, 2)
    yield reads
    await reads.close()


@pytest.mark.slow
async def test_the_dashboard_takes_three_read_statements_and_counts_nothing_unasked(demo, gql, token):
    subject = (await busiest_guardians(demo))[0]
    with recorded_statements(demo) as seen:
        body = await gql(DASHBOARD, token=token("GUARDIAN", subject))
    children = body["data"]["viewer"]["children"]
    assert children and all(ch["certificate"]["transactions"]["edges"] for ch in children)
    assert sum(len(ch["enrollments"]["edges"]) for ch in children) > 0
    reads = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(reads) <= 3, reads
    assert len(seen) == len(reads)  # no transaction, no SET: each read is one autocommit statement
    assert not any("count(*) AS n" in s for s in seen)  # totalCount was not selected


async def test_total_count_is_counted_when_selected(demo, gql, token):
    subject = (await busiest_guardians(demo))[0]
    query = "{ viewer { children { certificate { transactions(first: 1) { totalCount edges { cursor } } } } } }"
    body = await gql(query, token=token("GUARDIAN", subject))
    async with demo.connect() as conn:
        expected = (
            await conn.execute(
                text(
                    "SELECT count(l.id) FROM children ch JOIN guardians g ON g.id = ch.guardian_id"
                    " JOIN certificates c ON c.child_id = ch.id LEFT JOIN ledger_entries l ON l.certificate_id = c.id"
                    " WHERE g.subject = :s GROUP BY ch.id ORDER BY ch.id"
                ),
                {"s": subject},
            )
        ).all()
    got = [ch["certificate"]["transactions"]["totalCount"] for ch in body["data"]["viewer"]["children"]]
    assert got == [r[0] for r in expected] and all(n > 1 for n in got)


# --- generated queries: read ahead or level by level, the same answers ------------------------------


def pick(rng: random.Random, options: list[str]) -> list[str]:
    chosen = [o for o in options if rng.random() < 0.6]
    return chosen or [rng.choice(options)]


def fragment(rng: random.Random, type_name: str, body: str) -> str:
    """The selection as it is, or inside an inline fragment, or twice (merged by GraphQL)."""
    roll = rng.random()
    if roll < 0.25:
        return f"... on {type_name} {{ {body} }}"
    if roll < 0.35:
        return f"{body} ... on {type_name} {{ {body} }}"
    return body


def money(rng: random.Random) -> str:
    return "{ " + " ".join(pick(rng, ["amount", "kopecks", "currency"])) + " }"


def certificate(rng: random.Random) -> str:
    parts = pick(rng, ["number", "status", "validUntil", "balance", "transactions", "id"])
    out = []
    for p in parts:
        if p == "balance":
            terms = pick(rng, ["credited", "reserved", "spent", "available", "expired"])
            out.append("balance { " + " ".join(f"{t} {money(rng)}" for t in terms) + " }")
        elif p == "transactions":
            node = " ".join(
                f"{f} {money(rng)}" if f == "amount" else f
                for f in pick(rng, ["kind", "amount", "description", "createdAt", "id"])
            )
            extra = " ".join(pick(rng, ["totalCount", "pageInfo { hasNextPage endCursor }", "edges { cursor }"]))
            out.append(f"transactions(first: {rng.randint(1, 12)}) {{ {extra} edges {{ node {{ {node} }} }} }}")
        else:
            out.append(p)
    return "certificate { " + fragment(rng, "Certificate", " ".join(out)) + " }"


def group(rng: random.Random) -> str:
    fields = pick(rng, ["name", "startsOn", "capacity", "seatsLeft", "program"])
    out = []
    for f in fields:
        if f == "program":
            program = pick(rng, ["title", "direction", "provider"])
            inner = " ".join(
                "provider { " + " ".join(pick(rng, ["name", "inn", "id"])) + " }" if p == "provider" else p
                for p in program
            )
            out.append(f"program {{ {inner} }}")
        else:
            out.append(f)
    return "group { " + fragment(rng, "Group", " ".join(out)) + " }"


def enrollments(rng: random.Random) -> str:
    fields = pick(rng, ["status", "fromCertificate", "group", "id", "months"])
    node = " ".join(
        group(rng) if f == "group" else (f"fromCertificate {money(rng)}" if f == "fromCertificate" else f)
        for f in fields
    )
    extra = " ".join(pick(rng, ["totalCount", "pageInfo { hasNextPage hasPreviousPage }", "edges { cursor }"]))
    return f"enrollments(first: {rng.randint(1, 25)}) {{ {extra} edges {{ node {{ {node} }} }} }}"


def child(rng: random.Random) -> str:
    fields = pick(rng, ["id", "fullName", "municipality", "certificate", "enrollments", "birthDate"])
    body = " ".join(
        certificate(rng) if f == "certificate" else enrollments(rng) if f == "enrollments" else f for f in fields
    )
    return fragment(rng, "Child", body)


def generated(rng: random.Random, child_ids: list[str]) -> tuple[str, bool]:
    """A query of the guardian's (viewer) or the operator's (node of children); True: the operator's."""
    if rng.random() < 0.3:
        nodes = " ".join(
            f'c{n}: node(id: "{cid}") {{ ... on Child {{ {child(rng)} }} }}' for n, cid in enumerate(child_ids)
        )
        return "{ " + nodes + " }", True
    return "{ viewer { children { " + child(rng) + " } } }", False


async def run(
    engine: AsyncEngine, reads: ReadPool, settings: Settings, schema: Any, actor: Actor, query: str, ahead: bool
) -> tuple[Any, int]:
    db = RequestDb(engine, reads)
    ctx = Context(db=db, settings=settings, actor=actor, read_ahead=ahead, request_id=uuid.uuid4().hex)
    try:
        result = await schema.execute(query, context_value=ctx)
    finally:
        await db.close()
    assert result.errors is None, (query, result.errors)
    return result.data, await audited(engine, ctx.request_id)


async def audited(engine: AsyncEngine, request_id: str) -> list[tuple[int, list[str]]]:
    """The personal-data reads one request wrote to the audit log: (child, fields)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT child_id, fields FROM audit_log WHERE request_id = :r ORDER BY child_id"), {"r": request_id}
        )
        return [(r.child_id, sorted(r.fields)) for r in rows]


async def run_plan(
    engine: AsyncEngine, reads: ReadPool, settings: Settings, schema: Any, plans: Plans, actor: Actor, query: str
) -> tuple[Any, int]:
    """The same through the query's compiled plan (which must not leave it to the general path)."""
    prepared = schema.gate.prepare(query, None, {})
    plan = plans.get(query, None, prepared.document, prepared.operation)
    assert plan is not None, query
    db = RequestDb(engine, reads)
    ctx = Context(db=db, settings=settings, actor=actor, request_id=uuid.uuid4().hex)
    try:
        data = await plan.run(ctx, {})
        await ctx.flush_audit()  # as the endpoint does after a plan
    finally:
        await db.close()
    return data, await audited(engine, ctx.request_id)


@pytest.mark.slow
async def test_generated_queries_answer_the_same_read_ahead_or_level_by_level_or_by_plan(demo, pool, settings):
    schema = build_schema(settings)
    plans = Plans(schema._schema)
    subjects = await busiest_guardians(demo)
    async with demo.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT ch.id, ch.municipality FROM children ch JOIN guardians g ON g.id = ch.guardian_id"
                    " WHERE g.subject = ANY(:s) ORDER BY ch.id"
                ),
                {"s": subjects},
            )
        ).all()
    rng = random.Random(20261201)
    seen_ahead = seen_audited = 0
    for n in range(120):
        subject = subjects[n % len(subjects)]
        mine = [r for r in rows if r.municipality == rows[n % len(rows)].municipality]
        query, operators = generated(rng, [encode_id("Child", r.id) for r in mine[:4]])
        actor = (
            Actor(role=Role.OPERATOR, subject="operator-1", municipality=mine[0].municipality)
            if operators
            else Actor(role=Role.GUARDIAN, subject=subject)
        )
        with recorded_statements(demo) as ahead_statements:
            ahead = await run(demo, pool, settings, schema, actor, query, True)
        with recorded_statements(demo) as level_statements:
            level = await run(demo, pool, settings, schema, actor, query, False)
        with recorded_statements(demo) as plan_statements:  # its audit's INSERT is among them
            planned = await run_plan(demo, pool, settings, schema, plans, actor, query)
        assert ahead == level, query
        assert planned == ahead, query
        assert json.dumps(planned[0]) == json.dumps(ahead[0]), query  # the same order of keys too
        assert len(ahead_statements) <= len(level_statements), query
        assert len(plan_statements) <= len(ahead_statements), query
        seen_ahead += "along_0" in " ".join(ahead_statements)
        seen_audited += bool(planned[1])
    assert seen_ahead > 30  # the generated queries do read ahead, often
    assert seen_audited > 10  # and read children's names as officials, often
