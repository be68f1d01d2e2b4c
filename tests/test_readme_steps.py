"""The README's step convention (tests/e2e/readme.py) on small documents: what a step is, how an
answer is compared, which names are kept and computed. The README itself must parse: every GraphQL
block a named step with its answer (the walk-through runs in tests/e2e/test_readme_walkthrough.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.e2e.readme import Names, ReadmeError, Step, check, commands, computed, steps

README = Path(__file__).resolve().parents[1] / "README.md"


def doc(*blocks: str) -> str:
    return "Some text.\n\n" + "\n\n".join(blocks) + "\n"


STEP = "```graphql step guardian\nquery Mine { viewer { children { id } } }\n```"
ANSWER = '```json answer\n{"data": {"viewer": {"children": [{"id": "<child id>"}]}}}\n```'


def graphql_step(answer: object) -> Step:
    return Step("graphql", 1, "query Q { a }", role="anyone", answer=answer, answer_line=2)


def test_the_readme_follows_the_convention():
    walk = steps(README.read_text(encoding="utf-8"))
    graphql = [s for s in walk if s.kind == "graphql"]
    assert len(graphql) >= 15 and any(s.kind == "sh" for s in walk)
    names = [s.operation()[1] for s in graphql]
    assert len(names) == len(set(names)), "operation names are unique"
    assert all(s.answer is not None for s in graphql)


def test_a_step_is_one_named_operation_followed_by_its_answer():
    (step,) = steps(doc(STEP, ANSWER))
    assert (step.kind, step.role, step.operation()) == ("graphql", "guardian", ("query", "Mine"))
    assert step.answer == {"data": {"viewer": {"children": [{"id": "<child id>"}]}}}
    indented = (
        "1. A step in a list:\n   ```graphql step anyone\n   query A { a }\n   ```\n   ```json answer\n   {}\n   ```"
    )
    assert steps(indented)[0].body == "query A { a }"
    for wrong, why in [
        ("```graphql\nquery A { a }\n```", "is a step"),
        ("```graphql step anyone\n{ a }\n```\n```json answer\n{}\n```", "named operation"),
        ("```graphql step anyone\nquery A { a }\nquery B { b }\n```\n```json answer\n{}\n```", "named operation"),
        ("```graphql step anyone\nquery A { a }\n```", "followed by its"),
        ("```json answer\n{}\n```", "follows the GraphQL step"),
        ("```graphql step anyone\nquery A { a }\n```\n```json answer\n{oops}\n```", "not JSON"),
    ]:
        with pytest.raises(ReadmeError, match=why):
            steps(doc(wrong))
    # other languages are prose, not steps
    assert steps(doc("```sh\nmake run\n```", "```json\n{}\n```", "```text\nx\n```")) == []


def test_an_answer_is_matched_in_part_and_keeps_names():
    names = Names(date(2026, 12, 1))
    step = graphql_step({"data": {"a": {"id": "<thing id>", "items": [{"n": 1}, "…"], "userErrors": []}}})
    check(
        {"data": {"a": {"id": "VGhpbmc6MQ", "extra": True, "items": [{"n": 1, "m": 2}, {"n": 2}], "userErrors": []}}},
        step,
        names,
    )
    assert names.kept == {"thing id": "VGhpbmc6MQ"}
    # a kept name must be equal afterwards, and fills documents
    with pytest.raises(ReadmeError, match=r"expected <thing id> = 'VGhpbmc6MQ', got 'other'"):
        check({"data": {"a": {"id": "other", "items": [{"n": 1}], "userErrors": []}}}, step, names)
    assert names.fill('node(id: "<thing id>")', "here") == 'node(id: "VGhpbmc6MQ")'
    with pytest.raises(ReadmeError, match="<nothing> is used before any step keeps it"):
        names.fill("<nothing>", "here")
    for actual, why in [
        ({"data": {"a": {"id": "VGhpbmc6MQ", "userErrors": []}}}, "no 'items'"),
        ({"data": {"a": {"id": "VGhpbmc6MQ", "items": [], "userErrors": []}}}, "1 or more items"),
        ({"data": {"a": {"id": "VGhpbmc6MQ", "items": [{"n": 2}], "userErrors": []}}}, "expected 1, got 2"),
        ({"data": {"a": {"id": "VGhpbmc6MQ", "items": [{"n": True}], "userErrors": []}}}, "expected 1, got True"),
    ]:
        with pytest.raises(ReadmeError, match=why):
            check(actual, step, names)
    exact = graphql_step({"data": {"list": [1, 2]}})
    with pytest.raises(ReadmeError, match="expected 2 items, got 3"):
        check({"data": {"list": [1, 2, 3]}}, exact, names)


def test_errors_and_user_errors_fail_unless_the_answer_shows_them():
    names = Names(date(2026, 12, 1))
    refused = {"data": {"m": {"x": None, "userErrors": [{"code": "DUPLICATE", "message": "..."}]}}}
    with pytest.raises(ReadmeError, match=r"userErrors at .data.m.userErrors the README does not show"):
        check(refused, graphql_step({"data": {"m": {}}}), names)
    with pytest.raises(ReadmeError, match="expected 0 items, got 1"):
        check(refused, graphql_step({"data": {"m": {"userErrors": []}}}), names)
    check(refused, graphql_step({"data": {"m": {"userErrors": [{"code": "DUPLICATE"}]}}}), names)
    nested = {"data": {"many": [{"userErrors": []}, {"userErrors": [{"code": "INVALID"}]}]}}
    with pytest.raises(ReadmeError, match=r"at .data.many\[1\].userErrors"):
        check(nested, graphql_step({"data": {"many": [{}, "…"]}}), names)
    failed = {"errors": [{"message": "no", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}], "data": None}
    with pytest.raises(ReadmeError, match="errors the README does not show"):
        check(failed, graphql_step({}), names)
    check(failed, graphql_step({"errors": [{"extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}), names)


def test_dates_are_computed_from_today():
    today = date(2026, 1, 31)
    assert computed("today", today) == "2026-01-31"
    assert computed("this month", today) == "2026-01-01"
    assert computed("today - 10 years", today) == "2016-01-31"
    assert computed("today + 1 month", today) == "2026-02-28"
    assert computed("this month - 3 months", today) == "2025-10-01"
    assert computed("today + 3 days", today) == "2026-02-03"
    assert computed("certificate id", today) is None
    names = Names(today)
    check({"data": {"month": "2026-02-01"}}, graphql_step({"data": {"month": "<this month + 1 month>"}}), names)
    assert names.kept == {}
    with pytest.raises(ReadmeError, match="expected <this month> = '2026-01-01'"):
        check({"data": {"month": "2026-02-01"}}, graphql_step({"data": {"month": "<this month>"}}), names)


def test_commands_run_pdo_graph_and_keep_their_output():
    names = Names(date(2026, 12, 1), {"provider inn": "4703893965"})
    step = Step(
        "sh",
        10,
        "# a comment\n.venv/bin/pdo-graph dev-token --role PROVIDER --subject staff --provider <provider inn>"
        "   # → <provider token>\n.venv/bin/pdo-graph analytics refresh\n",
    )
    assert list(commands(step, names)) == [
        (["dev-token", "--role", "PROVIDER", "--subject", "staff", "--provider", "4703893965"], "provider token"),
        (["analytics", "refresh"], None),
    ]
    with pytest.raises(ReadmeError, match=r"README.md:11: a sh step runs .venv/bin/pdo-graph commands only"):
        list(commands(Step("sh", 10, "rm -rf .pdo"), names))
