"""The analysts' page (``/analytics``) and the CSV export of a table (``/analytics/table.csv``).

The page is static (HTML, our script and style, Chart.js from the pinned assets of ``graphiql``);
it asks ``/graphql`` with the token the analyst pastes. The CSV export answers a short-lived signed
link (``AnalyticsTable.csvUrl``): the link carries the caller's rights and the table, signed with
the server's link key, so a browser or a spreadsheet can fetch it without a header; it is checked
again against the rights when used, and it expires (``PDO_ANALYTICS_LINK_SECONDS``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pdo_graph.config import Settings
from pdo_graph.crypto import open_link, url_signing_key
from pdo_graph.domain.analytics import tables
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.messages import render
from pdo_graph.reads import analytics as reads

STATIC = Path(__file__).parent / "static"
FILES = {"app.js": "text/javascript", "app.css": "text/css"}
# our origin only; Chart.js sets canvas sizes through the style property, which CSP allows
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _lang(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "ru"


def routes(engine: Callable[[], AsyncEngine], settings: Settings) -> list[Route]:
    async def page(request: Request) -> Response:
        return FileResponse(
            STATIC / "analytics.html",
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": CSP, "cache-control": "no-cache"},
        )

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        media = FILES.get(name)
        if media is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(STATIC / name, media_type=media, headers={"cache-control": "no-cache"})

    async def table_csv(request: Request) -> Response:
        lang = _lang(request)
        payload = open_link(url_signing_key(settings), request.query_params.get("t", ""), time.time())
        try:
            if payload is None:
                raise ValueError("bad link")
            principal, asked, lang = tables.from_link(payload)
        except (ValueError, KeyError, TypeError):
            return _refusal("LINK_INVALID", render("analytics_link_invalid", lang, {}), 403)
        try:
            request_ = tables.authorize(principal, asked)
            async with engine().connect() as conn:
                table = await reads.table(conn, request_, settings.analytics_min_cell, settings.analytics_max_rows)
        except DomainError as exc:
            problem = exc.problems[0]
            status = 403 if problem.code is ErrorCode.FORBIDDEN else 400
            return _refusal(problem.code.value, problem.message(lang), status)
        return Response(
            tables.to_csv(table, lang),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": 'attachment; filename="analytics.csv"',
                "cache-control": "no-store",
            },
        )

    return [
        Route("/analytics", page),
        Route("/analytics/table.csv", table_csv),
        Route("/analytics/{name}", static),
    ]


def _refusal(code: str, message: str, status: int) -> Response:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)
