"""The analysts' page and GraphiQL's analyst examples in a real browser (Debian chromium via
playwright-core), every asset from our own origin; screenshots in artifacts/."""

from __future__ import annotations

import pytest

from tests.analytics.conftest import make_region
from tests.helpers import ARTIFACTS, node_report

pytestmark = [pytest.mark.e2e, pytest.mark.browser]  # a real server, Chromium


async def test_analysts_page_shows_a_table_and_charts_in_chromium(live_server, db):
    await make_region(db)
    analyst = live_server.cli("dev-token", "--role", "ANALYST", "--subject", "browser-analyst")
    report = node_report("analytics.mjs", live_server.url, analyst, str(ARTIFACTS))
    assert report["outside"] == [], "the page reached an outside host"
    assert report["problems"] == [], "errors in the page (a CSP violation, a script error)"
    assert "default-src 'none'" in report["csp"] and "script-src 'self'" in report["csp"]
    lines, bars = report["lines"], report["bars"]
    assert lines["chart"]["type"] == "line" and lines["chart"]["points"] > 12 and lines["chart"]["datasets"] == 1
    assert lines["header"] == ["Месяц", "Израсходовано, ₽"] and lines["rows"] > 12
    assert bars["chart"]["type"] == "bar" and bars["chart"]["datasets"] >= 2
    assert bars["header"] == ["Муниципалитет", "Направление", "Дети с договорами"]
    assert "Данные на" in bars["status"] and lines["canvas"]["width"] > 300
    assert report["csv"]["status"] == 200 and report["csv"]["bom"]
    assert len(report["tabs"]) == 6
    assert '"columns"' in report["result"] and '"errors"' not in report["result"]
    for shot in ("analytics-months.png", "analytics-bars.png", "graphiql-analytics.png"):
        assert (ARTIFACTS / shot).stat().st_size > 10_000
