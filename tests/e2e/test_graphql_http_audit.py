"""The graphql-http audit suite (npm) against the real running server."""

from __future__ import annotations

import pytest

from tests.helpers import node_report

pytestmark = pytest.mark.e2e  # a real server process


def test_graphql_over_http_audit(live_server, db):
    results = node_report("audit.mjs", f"{live_server.url}/graphql", timeout=120)
    must = [r for r in results if r["name"].startswith("MUST")]
    should = [r for r in results if r["name"].startswith("SHOULD")]
    print(
        f"\ngraphql-http audit: MUST {sum(r['status'] == 'ok' for r in must)}/{len(must)} ok, "
        f"SHOULD {sum(r['status'] == 'ok' for r in should)}/{len(should)} ok"
    )
    for r in should:
        if r["status"] != "ok":
            print(f"  SHOULD {r['status']}: {r['name']} — {r['reason']}")
    failed = [f"{r['name']}: {r['reason']}" for r in must if r["status"] != "ok"]
    assert must and failed == []
