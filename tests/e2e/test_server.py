"""The README walk-through against a real server over HTTP."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from tests.helpers import APPLY, ISSUE, OPEN_PERIOD, years_ago

pytestmark = pytest.mark.e2e  # a real server process


def gql(server, query: str, variables: dict | None = None, token: str | None = None, **headers: str) -> dict:
    h = dict(headers)
    if token:
        h["authorization"] = f"Bearer {token}"
    r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables or {}}, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"]
    return r.json()


async def test_health_and_graphiql(live_server, db):
    assert httpx.get(f"{live_server.url}/healthz").text == "ok"
    assert httpx.get(f"{live_server.url}/readyz").json() == {"status": "ready", "region": "77"}
    page = httpx.get(f"{live_server.url}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_walkthrough_apply_issue_open_balance(live_server, db):
    guardian = live_server.cli("dev-token", "--role", "GUARDIAN", "--subject", "alice")
    operator = live_server.cli("dev-token", "--role", "OPERATOR", "--subject", "op", "--municipality", "01")
    application = {
        "input": {
            "fullName": "Кузнецова Дарья Алексеевна",
            "birthDate": years_ago(10).isoformat(),
            "municipality": "01",
        }
    }
    applied = gql(
        live_server,
        APPLY,
        application,
        token=guardian,
    )["data"]["certificateApply"]
    assert applied["userErrors"] == []
    issued = gql(live_server, ISSUE, {"id": applied["application"]["id"]}, token=operator)["data"]["certificateIssue"]
    number = issued["certificate"]["number"]
    today = date.today()
    opened = gql(
        live_server,
        OPEN_PERIOD,
        {
            "input": {
                "municipality": "01",
                "startsOn": (today - timedelta(days=10)).isoformat(),
                "endsOn": (today + timedelta(days=300)).isoformat(),
                "nominals": [{"minAge": 5, "maxAge": 17, "kopecks": 2500000}],
            }
        },
        token=operator,
    )["data"]["fundingPeriodOpen"]
    assert opened["certificatesCredited"] == 1
    mine = gql(
        live_server,
        """{ viewer { children { fullName certificate { number
        transactions(first: 5) { totalCount } } } } }""",
        token=guardian,
    )
    child = mine["data"]["viewer"]["children"][0]
    assert child["certificate"] == {"number": number, "transactions": {"totalCount": 1}}
    bad = httpx.post(
        f"{live_server.url}/graphql", json={"query": "{ viewer { role } }"}, headers={"authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
    english = gql(
        live_server,
        APPLY,
        application,
        token=guardian,
        **{"accept-language": "en"},
    )
    assert english["data"]["certificateApply"]["userErrors"][0]["message"].startswith("An application")
    cert = gql(
        live_server,
        """query($n: String!) { certificateByNumber(number: $n) {
        balance { credited { amount } available { amount } }
        transactions(first: 5) { edges { node { kind amount { amount } description } } } } }""",
        {"n": number},
        token=guardian,
    )["data"]["certificateByNumber"]
    assert cert["balance"] == {"credited": {"amount": "25000.00"}, "available": {"amount": "25000.00"}}
    assert cert["transactions"]["edges"][0]["node"]["kind"] == "CREDIT"
