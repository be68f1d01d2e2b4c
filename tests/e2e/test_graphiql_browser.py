"""GraphiQL in a real browser (Debian chromium via playwright-core), assets served by us."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import APPLY, ISSUE, years_ago

pytestmark = [pytest.mark.e2e, pytest.mark.browser]  # a real server, Chromium

TOOLS = Path(__file__).resolve().parents[1] / "http_audit"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


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
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "graphiql.png"
    out = subprocess.run(
        ["node", str(TOOLS / "browser.mjs"), live_server.url, guardian, str(shot)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["outside"] == [], "GraphiQL reached an outside host"
    assert "Белова Алиса Игоревна" in report["result"]
    assert shot.stat().st_size > 10_000
