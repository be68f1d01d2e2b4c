"""Response compression: brotli when the client accepts it, else gzip.

:class:`Compression` compresses every HTTP response of at least ``minimum_size`` bytes that is not
compressed already (Starlette's responders do the streaming; brotli at a quality that costs about
what gzip's level 6 costs). GraphiQL's files are compressed once, when they are fetched
(:func:`pdo_graph.graphiql.ensure_assets`), and served as they are (:func:`choose`).
"""

from __future__ import annotations

import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipResponder, IdentityResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BROTLI_QUALITY = 5  # dynamic responses (GraphiQL's files are compressed once, at 9)
GZIP_LEVEL = 6
MINIMUM_SIZE = 1024


def accepted(header: str | None) -> dict[str, float]:
    """The codings of an ``Accept-Encoding`` header with their weights (``gzip;q=0`` refuses gzip)."""
    codings: dict[str, float] = {}
    for part in (header or "").split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if not name:
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        codings[name.lower()] = weight
    return codings


def choose(header: str | None, offered: tuple[str, ...] = ("br", "gzip")) -> str | None:
    """The first of ``offered`` (in our order of preference) that the client accepts, or None."""
    codings = accepted(header)
    star = codings.get("*", 0.0)
    for coding in offered:
        if codings.get(coding, star) > 0:
            return coding
    return None


class BrotliResponder(IdentityResponder):
    content_encoding = "br"

    def __init__(self, app: ASGIApp, minimum_size: int, quality: int = BROTLI_QUALITY) -> None:
        super().__init__(app, minimum_size)
        self._compressor = brotli.Compressor(quality=quality)

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        chunk = bytes(self._compressor.process(body))
        return chunk + bytes(self._compressor.flush() if more_body else self._compressor.finish())


class Compression:
    """ASGI middleware: brotli or gzip for HTTP responses, as the client accepts; other scopes
    (WebSocket, lifespan) pass through."""

    def __init__(self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE) -> None:
        self.app = app
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = choose(Headers(scope=scope).get("accept-encoding"))
        responder: ASGIApp
        if coding == "br":
            responder = BrotliResponder(self.app, self.minimum_size)
        elif coding == "gzip":
            responder = GZipResponder(self.app, self.minimum_size, compresslevel=GZIP_LEVEL)
        else:
            responder = IdentityResponder(self.app, self.minimum_size)

        async def send_once_varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "vary" in headers:  # the responder adds Accept-Encoding to what the app may have said
                    names = [n.strip() for n in headers["vary"].split(",") if n.strip()]
                    headers["vary"] = ", ".join(dict.fromkeys(names, None))
            await send(message)

        await responder(scope, receive, send_once_varied)
