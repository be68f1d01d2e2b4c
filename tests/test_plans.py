"""Compiled plans (``transport/plans.py``): what gets no plan, and that a request the plan leaves to
the general path is answered as the general path answers it (errors with their codes), the plan given
up when it nearly always falls back. That plans answer as the general path does on many generated
queries: ``tests/family/test_dashboard_reads.py``."""

from __future__ import annotations

from typing import Any

import pytest

from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import Actor, Role
from pdo_graph.graphql_schema import build_schema
from pdo_graph.limits import Prepared
from pdo_graph.schema.context import Context
from pdo_graph.transport.plans import RETIRE_AFTER, Fallback, Plans

TOO_MANY = "{ programs(first: 1000) { totalCount } }"  # BAD_USER_INPUT from the resolver


def compiled(schema: Any, plans: Plans, query: str) -> Any:
    prepared = schema.gate.prepare(query, None, {})
    assert isinstance(prepared, Prepared), prepared
    return plans.get(query, None, prepared.document, prepared.operation)


def test_directives_get_no_plan_and_plain_selections_do(settings):
    schema = build_schema(settings)
    plans = Plans(schema._schema)
    assert compiled(schema, plans, "{ viewer { role @include(if: true) } }") is None
    assert compiled(schema, plans, "{ viewer { ... @skip(if: false) { role } } }") is None
    assert compiled(schema, plans, "{ __typename viewer { __typename role } }") is not None
    assert compiled(
        schema, plans, "query Q($f: Int!) { viewer { children { enrollments(first: $f) { totalCount } } } }"
    )


async def test_a_plan_that_keeps_falling_back_is_given_up(db, settings):
    schema = build_schema(settings)
    plans = Plans(schema._schema)
    actor = Actor(role=Role.GUARDIAN, subject="guardian-x")
    for _ in range(RETIRE_AFTER):
        plan = compiled(schema, plans, TOO_MANY)
        assert plan is not None
        request = RequestDb(db, None)
        try:
            with pytest.raises(Fallback):
                await plan.run(Context(db=request, settings=settings, actor=actor), {})
        finally:
            await request.close()
    assert compiled(schema, plans, TOO_MANY) is None


async def test_the_endpoint_answers_what_a_plan_leaves_with_the_general_paths_errors(gql, token):
    for _ in range(2):  # the first request compiles the plan, the second runs it: both fall back alike
        body = await gql(TOO_MANY, token=token("GUARDIAN", "guardian-x"))
        assert body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert body["errors"][0]["path"] == ["programs"], body
