"""GraphiQL in a real browser (Debian chromium via playwright-core), assets served by us."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from pdo_graph.ids import encode_id
from tests.enrollment.conftest import PROVIDER_INN, add_group, add_program, add_provider, end_of_month, next_month
from tests.helpers import APPLY, ARTIFACTS, ISSUE, TOOLS, node_report, years_ago

pytestmark = [pytest.mark.e2e, pytest.mark.browser]  # a real server, Chromium


def _gql(server, query, variables, token):
    import httpx

    return httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    ).json()


def test_graphiql_runs_a_query_in_chromium(live_server, db):
    guardian = live_server.cli("dev-token", "--role", "GUARDIAN", "--subject", "browser-family")
    operator = live_server.cli("dev-token", "--role", "OPERATOR", "--subject", "op", "--municipality", "01")
    applied = _gql(
        live_server,
        APPLY,
        {"input": {"fullName": "Белова Алиса Игоревна", "birthDate": years_ago(8).isoformat(), "municipality": "01"}},
        guardian,
    )
    _gql(live_server, ISSUE, {"id": applied["data"]["certificateApply"]["application"]["id"]}, operator)
    shot = ARTIFACTS / "graphiql.png"
    report = node_report("browser.mjs", live_server.url, guardian, str(shot), timeout=120)
    assert report["outside"] == [], "GraphiQL reached an outside host"
    assert "Белова Алиса Игоревна" in report["result"]
    assert shot.stat().st_size > 10_000


async def test_graphiql_runs_a_subscription_in_chromium(live_server, db, token):
    """GraphiQL's fetcher sends a subscription over WebSocket (graphql-transport-ws) with the headers
    editor's token; a change committed meanwhile shows up in the result pane."""
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = next_month()
    group = encode_id(
        "Group", await add_group(db, program, starts_on=starts, ends_on=end_of_month(starts), capacity=10)
    )
    query = f'subscription {{ groupSeats(groupId: "{group}") {{ name seatsLeft capacity }} }}'
    guardian = token("GUARDIAN", "browser-family")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "graphiql-subscription.png"
    browser = await asyncio.create_subprocess_exec(
        "node",
        str(TOOLS / "subscription.mjs"),
        live_server.url,
        guardian,
        query,
        '"capacity": 10',
        '"capacity": 17',
        str(shot),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert browser.stdout is not None
    ready = await asyncio.wait_for(browser.stdout.readline(), 120)
    assert ready == b"ready\n", ready + await browser.stderr.read()  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=30) as client:
        changed = await client.post(
            f"{live_server.url}/graphql",
            json={
                "query": "mutation($g: ID!) { groupUpdate(input: {groupId: $g, capacity: 17}) { userErrors { code } } }",
                "variables": {"g": group},
            },
            headers={"authorization": f"Bearer {token('PROVIDER', 'staff', provider=PROVIDER_INN)}"},
        )
    assert changed.json()["data"]["groupUpdate"]["userErrors"] == []
    out, err = await asyncio.wait_for(browser.communicate(), 120)
    assert browser.returncode == 0, err
    report = json.loads(out)
    assert report["outside"] == [], "GraphiQL reached an outside host"
    assert report["sockets"] == [live_server.url.replace("http://", "ws://") + "/graphql"]
    assert '"seatsLeft": 17' in report["result"]
    assert shot.stat().st_size > 10_000
