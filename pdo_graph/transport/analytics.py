"""The analysts' page (``/analytics``) and the CSV export of a table (``/analytics/table.csv``).

The page is static (HTML, our script and style from ``pdo_graph/web/static``, Chart.js from the
pinned assets of ``graphiql``); it asks ``/graphql`` with the token the analyst pastes. The CSV
export answers a short-lived signed link (``AnalyticsTable.csvUrl``): the link carries the caller's
rights and the table, signed with the server's link key, so a browser or a spreadsheet can fetch it
without a header; it is checked again against the rights when used, and it expires
(``PDO_ANALYTICS_LINK_SECONDS``).
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from pdo_graph.crypto import open_link, url_signing_key
from pdo_graph.domain.analytics import tables
from pdo_graph.domain.messages import render
from pdo_graph.reads import analytics as reads
from pdo_graph.resolvers.analytics import CSV_PATH
from pdo_graph.services import Services
from pdo_graph.transport.exports import export, refusal
from pdo_graph.transport.params import lang

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
FILES = {"app.js": "text/javascript", "app.css": "text/css"}
# our origin only; Chart.js sets canvas sizes through the style property, which CSP allows
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class AnalyticsPages:
    """The analysts' routes of one app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def routes(self) -> list[Route]:
        return [
            Route("/analytics", self.page),
            Route(CSV_PATH, self.table_csv),
            Route("/analytics/{name}", self.static),
        ]

    async def page(self, request: Request) -> Response:
        return FileResponse(
            STATIC / "analytics.html",
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": CSP, "cache-control": "no-cache"},
        )

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        media = FILES.get(name)
        if media is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(STATIC / name, media_type=media, headers={"cache-control": "no-cache"})

    async def table_csv(self, request: Request) -> Response:
        settings = self.settings
        language = lang(request)
        payload = open_link(url_signing_key(settings), request.query_params.get("t", ""), time.time())
        try:
            if payload is None:
                raise ValueError("bad link")
            actor, asked, language = tables.from_link(payload)
        except (ValueError, KeyError, TypeError):
            return refusal("LINK_INVALID", render("analytics_link_invalid", language, {}), 403)

        async def work(conn: AsyncConnection) -> Response:
            table_request = tables.authorize(actor, asked)
            table = await reads.table(conn, table_request, settings.analytics_min_cell, settings.analytics_max_rows)
            return Response(
                tables.to_csv(table, language),
                media_type="text/csv; charset=utf-8",
                headers={
                    "content-disposition": 'attachment; filename="analytics.csv"',
                    "cache-control": "no-store",
                },
            )

        return await export(request, self.services, language, work, lag_tolerant=True)
