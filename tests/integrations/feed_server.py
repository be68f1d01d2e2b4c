"""A provider's feed server for the tests: Starlette on uvicorn, in a thread, on a free loopback port.

It checks the bearer token like a real resource server (joserfc against the issuer's JWKS: ``typ``
``at+jwt``, ``iss``, ``aud`` = the feed resource, ``exp`` essential; one JWKS re-fetch on an unknown
``kid``) and serves RPDE pages of the items it is given, ordered by (modified, id), paged with
``(modified = t AND id > last) OR modified > t``. Switches for faults:

- ``fail(k, status)``: the next k requests answer ``status`` (500...);
- ``slow(k, seconds)``: the next k requests answer after ``seconds`` (past the client's timeout);
- ``rate_limit(k, retry_after)``: the next k requests answer 429 with Retry-After;
- ``malformed(k)``: the next k requests answer a body that is not JSON;
- ``expire_tokens()``: every token seen so far is refused from now on (401), as if it had expired;
- ``refresh_jwks()``: forget the cached keys (after the issuer rotated its signing keys);
- ``ge_bug``: page with ``>=`` instead of ``>`` (the classic bug that repeats items);
- ``page_size``.

Every request is logged (path with query, status, token jti and kid).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import uvicorn
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Logged:
    url: str
    status: int
    jti: str | None
    kid: str | None
    at: float


def _order(item: dict[str, Any]) -> tuple[int, str]:
    modified = item["modified"]
    return (modified if isinstance(modified, int) else 0, str(item["id"]))


class FeedServer:
    def __init__(self, issuer: str, jwks_uri: str, audience: str, page_size: int = 3) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.audience = audience
        self.port = 0
        self.url = ""
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._keys: KeySet | None = None
        self.reset(page_size)

    # -- state --------------------------------------------------------------------------------

    def reset(self, page_size: int = 3) -> None:
        with self._lock:
            self.items: dict[str, dict[str, Any]] = {}
            self.page_size = page_size
            self.ge_bug = False
            self.faults: deque[tuple[str, Any]] = deque()
            self.log: list[Logged] = []
            self.revoked: set[str] = set()
            self.seen_jtis: set[str] = set()
            self.path = "/feed"

    def put(self, *items: dict[str, Any]) -> None:
        """Add or replace items (by id), as a publisher's table would hold them."""
        with self._lock:
            for item in items:
                self.items[str(item["id"])] = item

    def fail(self, k: int, status: int = 500) -> None:
        self.faults.extend([("status", status)] * k)

    def slow(self, k: int, seconds: float) -> None:
        self.faults.extend([("slow", seconds)] * k)

    def rate_limit(self, k: int, retry_after: str | int) -> None:
        self.faults.extend([("429", str(retry_after))] * k)

    def malformed(self, k: int) -> None:
        self.faults.extend([("malformed", None)] * k)

    def expire_tokens(self) -> None:
        with self._lock:
            self.revoked |= self.seen_jtis

    def refresh_jwks(self) -> None:
        self._keys = None

    def served(self, status: int | None = 200) -> list[Logged]:
        return [entry for entry in self.log if status is None or entry.status == status]

    # -- HTTP -----------------------------------------------------------------------------------

    async def _jwks(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            async with httpx.AsyncClient(timeout=5.0) as http:
                data = (await http.get(self.jwks_uri)).json()
            self._keys = KeySet.import_key_set(data)
        return self._keys

    async def _verify(self, request: Request) -> tuple[dict[str, Any] | None, str | None]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, None
        try:
            headers = jws.extract_compact(token.encode()).headers()
            if str(headers.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
                return None, None
            kid = headers.get("kid")
            keys = await self._jwks()
            if not any(k.kid == kid for k in keys.keys):
                keys = await self._jwks(refresh=True)
            decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
            registry = JWTClaimsRegistry(
                leeway=0,
                exp={"essential": True},
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError):
            return None, None
        claims = dict(decoded.claims)
        return claims, kid

    async def _feed(self, request: Request) -> Response:
        claims, kid = await self._verify(request)
        jti = None if claims is None else str(claims.get("jti"))
        url = str(request.url)
        if claims is None or jti in self.revoked:
            self.log.append(Logged(url, 401, jti, kid, time.time()))
            return Response(status_code=401, headers={"www-authenticate": 'Bearer error="invalid_token"'})
        with self._lock:
            self.seen_jtis.add(str(jti))
            fault = self.faults.popleft() if self.faults else None
        status = 200
        if fault is not None:
            kind, arg = fault
            if kind == "status":
                self.log.append(Logged(url, arg, jti, kid, time.time()))
                return Response(b"oops", status_code=arg)
            if kind == "429":
                self.log.append(Logged(url, 429, jti, kid, time.time()))
                return Response(status_code=429, headers={"retry-after": arg})
            if kind == "malformed":
                self.log.append(Logged(url, 200, jti, kid, time.time()))
                return Response(b'{"items": [{"id": "P-1", ', media_type="application/json")
            if kind == "slow":
                await asyncio.sleep(arg)
        body = self._page(request, url)
        self.log.append(Logged(url, status, jti, kid, time.time()))
        return Response(body, media_type="application/json")

    def _page(self, request: Request, url: str) -> bytes:
        params = request.query_params
        after_ts = params.get("afterTimestamp")
        after_id = params.get("afterId", "")
        with self._lock:
            items = sorted(self.items.values(), key=_order)
            if after_ts is not None:
                t = int(after_ts)
                if self.ge_bug:
                    items = [i for i in items if _order(i) >= (t, after_id)]
                else:
                    items = [i for i in items if (_order(i)[0] == t and str(i["id"]) > after_id) or _order(i)[0] > t]
            chunk = items[: self.page_size]
        if chunk:
            last = chunk[-1]
            next_url = f"{self.url}?afterTimestamp={_order(last)[0]}&afterId={quote(str(last['id']), safe='')}"
        else:
            next_url = url
        return orjson.dumps(
            {"next": next_url, "items": chunk, "license": "https://creativecommons.org/licenses/by/4.0/"}
        )

    # -- process --------------------------------------------------------------------------------

    def start(self) -> None:
        app = Starlette(routes=[Route("/feed", self._feed), Route("/other-feed", self._feed)])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/feed"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("feed server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
