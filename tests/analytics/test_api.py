"""The analytics query through the API: who may ask, bad input, the signed CSV, freshness."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import text

from pdo_graph.crypto import open_link, sign_link, url_signing_key
from pdo_graph.domain.analytics.refresh import LOCK_KEY, refresh
from pdo_graph.jobs.passes import refresh_analytics_if_due

Q = """query($m: [AnalyticsMeasure!]!, $by: [AnalyticsDimension!]!, $f: AnalyticsQueryFilter) {
  analytics(measures: $m, by: $by, filter: $f) { columns rows suppressed csvUrl asOf monthFrom monthTo } }"""


def codes(body):
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]


async def test_operators_see_their_municipality_only(gql, token, region):
    operator = token("OPERATOR", "op", municipality="01")
    body = await gql(Q, {"m": ["SPENT", "CHILDREN_ENROLLED"], "by": ["MUNICIPALITY"], "f": None}, token=operator)
    rows = body["data"]["analytics"]["rows"]
    assert {r[0] for r in rows} == {"01", None}, "only municipality 01 and its total"
    assert rows[0][1:] == rows[-1][1:], "the total is municipality 01's own"
    foreign = await gql(Q, {"m": ["SPENT"], "by": [], "f": {"municipality": "02"}}, token=operator)
    assert codes(foreign) == [("FORBIDDEN", ["filter", "municipality"])]
    scoped_analyst = token("ANALYST", "an-01", municipality="01")
    scoped = await gql(Q, {"m": ["SPENT"], "by": ["MUNICIPALITY"], "f": None}, token=scoped_analyst)
    assert {r[0] for r in scoped["data"]["analytics"]["rows"]} == {"01", None}
    everything = await gql(Q, {"m": ["SPENT"], "by": ["MUNICIPALITY"], "f": None}, token=token("ANALYST", "an"))
    assert len({r[0] for r in everything["data"]["analytics"]["rows"]}) > 2


@pytest.mark.parametrize(
    ("who", "code"),
    [(("GUARDIAN", "g"), "FORBIDDEN"), (("PROVIDER", "staff"), "FORBIDDEN"), (None, "UNAUTHENTICATED")],
)
async def test_others_are_refused(gql, token, db, who, code):
    t = None if who is None else token(*who, provider="7701234567" if who[0] == "PROVIDER" else None)
    body = await gql(Q, {"m": ["SPENT"], "by": [], "f": None}, token=t)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code


BAD = [
    ({"m": [], "by": []}, ("INVALID", ["measures"]), "Choose at least one measure"),
    ({"m": ["SPENT", "SPENT"], "by": []}, ("INVALID", ["measures"]), "given twice"),
    ({"m": ["SPENT"], "by": ["AGE", "MONTH", "DIRECTION", "PROVIDER"]}, ("INVALID", ["by"]), "At most 3"),
    ({"m": ["SPENT"], "by": ["AGE", "AGE"]}, ("INVALID", ["by"]), "given twice"),
    ({"m": ["CREDITED"], "by": ["DIRECTION"]}, ("INVALID", ["by"]), "CREDITED cannot be broken down by DIRECTION"),
    (
        {"m": ["FUNDED_CERTIFICATES"], "by": [], "f": {"direction": "ARTS"}},
        ("INVALID", ["filter", "direction"]),
        "cannot be broken down",
    ),
    ({"m": ["SPENT"], "by": [], "f": {"monthFrom": "1812-06-01"}}, ("INVALID", ["filter", "monthFrom"]), "2000"),
    (
        {"m": ["SPENT"], "by": [], "f": {"monthFrom": "2025-05-01", "monthTo": "2025-01-01"}},
        ("INVALID", ["filter", "monthTo"]),
        "End date",
    ),
    ({"m": ["SPENT"], "by": [], "f": {"municipality": "0\u200b1"}}, ("INVALID", ["filter", "municipality"]), "two"),
]


@pytest.mark.parametrize(("variables", "expected", "english"), BAD)
async def test_bad_input_is_a_typed_refusal(gql, token, db, variables, expected, english):
    analyst = token("ANALYST", "an")
    body = await gql(Q, {"f": None, **variables}, token=analyst)
    assert body["data"] is None
    assert codes(body)[0] == expected
    assert any("а" <= ch <= "я" for ch in body["errors"][0]["message"].lower()), "Russian by default"
    en = await gql(Q, {"f": None, **variables}, token=analyst, lang="en")
    assert english in en["errors"][0]["message"]


async def test_a_table_too_large_is_refused(app, gql, token, region):
    settings = app.state.services.settings
    object.__setattr__(settings, "analytics_max_rows", 50)
    try:
        body = await gql(Q, {"m": ["SPENT"], "by": ["PROVIDER", "MONTH"], "f": None}, token=token("ANALYST", "an"))
    finally:
        object.__setattr__(settings, "analytics_max_rows", 10_000)
    assert codes(body) == [("INVALID", ["by"])]


async def test_before_the_first_refresh_the_table_is_empty_and_says_so(gql, token, db):
    body = await gql(
        Q, {"m": ["SPENT", "AVERAGE_COMPLETENESS"], "by": ["MUNICIPALITY"], "f": None}, token=token("ANALYST", "an")
    )
    t = body["data"]["analytics"]
    assert t["asOf"] is None and t["rows"] == [[None, "0.00", None]] and t["suppressed"] == 0


async def call_csv(app, url: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(url, headers=headers)


async def test_csv_is_the_same_table(app, gql, token, region):
    body = await gql(
        Q,
        {"m": ["SPENT", "CHILDREN_ENROLLED", "AVERAGE_COMPLETENESS"], "by": ["AGE", "DIRECTION"], "f": None},
        token=token("ANALYST", "an"),
    )
    t = body["data"]["analytics"]
    assert t["csvUrl"].startswith("/analytics/table.csv?t=")
    response = await call_csv(app, t["csvUrl"])  # no authorization header: the link carries the rights
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == t["columns"]
    assert len(rows) == len(t["rows"]) + 1
    for got, want in zip(rows[1:], t["rows"], strict=True):
        expected = [
            ("Итого" if v is None else v) if i < 2 else ("" if v is None else v.replace(".", ","))
            for i, v in enumerate(want)
        ]
        assert got == expected
    assert any("," in cell for row in rows[1:] for cell in row[2:]), "decimal comma"


async def test_csv_links_expire_and_cannot_be_forged(app, gql, token, region, settings):
    operator = token("OPERATOR", "op", municipality="01")
    body = await gql(Q, {"m": ["SPENT"], "by": ["MUNICIPALITY"], "f": None}, token=operator)
    link = body["data"]["analytics"]["csvUrl"]
    raw = parse_qs(urlparse(link).query)["t"][0]
    key = url_signing_key(settings)
    payload = open_link(key, raw, time.time())
    assert payload is not None and payload["role"] == "OPERATOR" and payload["muni"] == "01"
    assert "fullName" not in str(payload)
    # altered: the operator of 01 claims municipality 02
    body_part, _, mac = raw.partition(".")
    forged = sign_link(b"another key" * 3, {**payload, "muni": "02"}, int(time.time()) + 60)
    for bad in (forged, body_part + "." + mac[::-1], "garbage", ""):
        response = await call_csv(app, f"/analytics/table.csv?t={bad}", **{"accept-language": "en"})
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "LINK_INVALID"
    expired = sign_link(key, payload, int(time.time()) - 1)
    assert (await call_csv(app, f"/analytics/table.csv?t={expired}")).status_code == 403
    # a validly signed link is checked against the rights again: an operator link for another municipality
    other = sign_link(key, {**payload, "filter_muni": "02"}, int(time.time()) + 60)
    response = await call_csv(app, f"/analytics/table.csv?t={other}")
    assert response.status_code == 403 and response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok = await call_csv(app, link)
    lines = ok.content.decode("utf-8-sig").splitlines()
    assert [line.split(";")[0] for line in lines[1:]] == ["01", "Итого"]


async def test_as_of_moves_with_each_refresh_and_one_refresh_runs_at_a_time(db, gql, token, region):
    analyst = token("ANALYST", "an")
    first = (await gql(Q, {"m": ["SPENT"], "by": [], "f": None}, token=analyst))["data"]["analytics"]["asOf"]
    async with db.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        assert await refresh(db) is None, "another refresh holds the lock"
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    done = await refresh(db)
    assert done is not None and done.generation == region.generation + 1
    second = (await gql(Q, {"m": ["SPENT"], "by": [], "f": None}, token=analyst))["data"]["analytics"]["asOf"]
    assert second > first
    async with db.connect() as conn:
        generations = (await conn.execute(text("SELECT DISTINCT generation FROM analytics_cells"))).scalars().all()
    assert sorted(generations) == [region.generation, done.generation], "the previous generation is kept, no older"
    again = await refresh(db)
    async with db.connect() as conn:
        generations = (await conn.execute(text("SELECT DISTINCT generation FROM analytics_cells"))).scalars().all()
    assert sorted(generations) == [done.generation, again.generation]


async def generation_of(db) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(text("SELECT generation FROM analytics_state"))).scalar_one())


async def test_the_queue_refreshes_when_the_aggregates_are_older_than_the_interval(db, settings, region):
    """The queue's periodic check refreshes stale aggregates (never fresh ones); 0 minutes: never."""
    hourly = replace(settings, analytics_refresh_minutes=60.0)
    assert await refresh_analytics_if_due(db, hourly) is None
    assert await generation_of(db) == region.generation, "fresh aggregates are not recomputed"
    async with db.begin() as conn:
        await conn.execute(text("UPDATE analytics_state SET as_of = as_of - interval '2 hours'"))
    assert await refresh_analytics_if_due(db, replace(settings, analytics_refresh_minutes=0)) is None
    done = await refresh_analytics_if_due(db, hourly)
    assert done is not None and await generation_of(db) == region.generation + 1


async def test_no_child_level_data_in_the_aggregates(db, region):
    async with db.connect() as conn:
        columns = (
            (
                await conn.execute(
                    text("SELECT column_name FROM information_schema.columns WHERE table_name = 'analytics_cells'")
                )
            )
            .scalars()
            .all()
        )
        child_ids = set((await conn.execute(text("SELECT id FROM children"))).scalars().all())
        pseudonyms = (
            (
                await conn.execute(
                    text(
                        "SELECT DISTINCT x FROM analytics_cells, unnest(spent_ids || enrollments_ids || credited_ids"
                        " || expired_ids || completeness_ids) x"
                    )
                )
            )
            .scalars()
            .all()
        )
        temp = (
            await conn.execute(
                text("SELECT count(*) FROM pg_class WHERE relname LIKE 'a\\_%' AND relpersistence = 't'")
            )
        ).scalar_one()
    assert not {c for c in columns if c.endswith("_id") and c != "provider_id"} | {
        c for c in columns if "name" in c or "birth" in c or "snils" in c
    }, "counts and pseudonyms only"
    assert pseudonyms and not child_ids & set(pseudonyms), "pseudonyms are not child ids"
    assert temp == 0, "the child-level temporary tables are gone after the refresh"


async def test_the_deprecated_summary_still_answers(gql, token, region):
    body = await gql(
        """query($m: Date!) { analyticsSummary(filter: {monthFrom: $m, monthTo: $m}) { direction suppressed } }""",
        {"m": date.today().replace(day=1).isoformat()},
        token=token("ANALYST", "an"),
    )
    assert "errors" not in body
    schema = await gql(
        '{ __type(name: "Query") { fields(includeDeprecated: true) { name isDeprecated deprecationReason } } }'
    )
    summary = next(f for f in schema["data"]["__type"]["fields"] if f["name"] == "analyticsSummary")
    assert summary["isDeprecated"] and "analytics(" in summary["deprecationReason"]


DOCS = (Path(__file__).resolve().parents[2] / "docs" / "analytics.md").read_text()


async def test_the_analysts_examples_run_and_are_documented(gql, token, region):
    from pdo_graph.graphiql import PAGE
    from pdo_graph.web.examples import ANALYTICS_EXAMPLES

    docs = DOCS
    analyst = token("ANALYST", "an")
    for name, query in ANALYTICS_EXAMPLES:
        assert query in docs, f"docs/analytics.md lacks the example {name!r}"
        body = await gql(query, token=analyst)
        assert "errors" not in body, (name, body)
        assert body["data"]["analytics"]["columns"]
        assert name in PAGE, "GraphiQL's analyst tabs"
