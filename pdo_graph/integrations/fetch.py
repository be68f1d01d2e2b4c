"""Fetching feed pages: bearer token, bounded retries, Retry-After, timeouts, one token re-fetch on 401.

- 5xx, 408, timeouts, connection errors and bodies that are not JSON are retried with exponential
  backoff and jitter, at most ``max_attempts`` times per page;
- 429 waits for ``Retry-After`` (seconds or an HTTP date; without it, the backoff), bounded by
  ``max_retry_after`` and the run's time budget, and counts as an attempt;
- 401 drops the cached token and tries once more with a fresh one; a second 401 stops the run;
- other 4xx stop the run; so does a body larger than ``max_page_bytes``;
- nothing waits past the run's deadline (:class:`BudgetExhausted`).

Every retry, wait and token re-fetch is written to the run's event log.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from pdo_graph.integrations.oidc_client import TokenError, TokenProvider

MAX_EVENTS = 100
USER_AGENT = "pdo-graph-catalog-sync/1"


@dataclass(frozen=True)
class RetryPolicy:
    request_timeout: float = 15.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    max_page_bytes: int = 32 * 1024 * 1024

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Exponential backoff with jitter: half fixed, half random (never zero, never synchronised)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return float(ceiling / 2 + rng() * ceiling / 2)


class FeedError(Exception):
    """The feed cannot be read now; the run stops. ``key`` / ``params`` say why (message keys)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class BudgetExhausted(Exception):
    """The run's time budget is spent."""


@dataclass
class EventLog:
    """What happened during a run besides items: retries, waits, token re-fetches (bounded)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    def add(self, key: str, **params: object) -> None:
        if len(self.events) >= MAX_EVENTS:
            self.dropped += 1
            return
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.events.append({"at": at, "key": key, "params": params})


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Retry(Exception):
    def __init__(self, key: str, delay: float | None = None, params: dict[str, object] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.delay = delay
        self.params = params or {}


class FeedFetcher:
    """GETs pages of one feed within one run."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        policy: RetryPolicy,
        deadline: float,
        events: EventLog,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._policy = policy
        self._deadline = deadline
        self._events = events
        self._sleep = sleep

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    async def get_json(self, url: str) -> Any:
        attempt = 0
        refetched = False
        while True:
            attempt += 1
            if self.remaining() <= 0:
                raise BudgetExhausted()
            try:
                return await self._attempt(url)
            except _Unauthorized as exc:
                if refetched:
                    raise FeedError("sync_feed_unauthorized") from None
                refetched = True
                attempt -= 1  # a fresh token is not a retry of the same request
                self._tokens.invalidate(exc.token)
                self._events.add("sync_event_token_refetch")
                continue
            except _Retry as exc:
                if attempt >= self._policy.max_attempts:
                    cause = {"key": exc.key, "params": exc.params}
                    raise FeedError("sync_feed_gave_up", attempts=attempt, cause=cause) from None
                delay = exc.delay if exc.delay is not None else self._policy.backoff(attempt)
                if exc.key == "sync_event_rate_limited" and delay > self._policy.max_retry_after:
                    raise FeedError("sync_feed_rate_limited_long", seconds=round(delay)) from None
                if delay >= self.remaining():
                    self._events.add(exc.key, attempt=attempt, delay=round(delay, 3), **exc.params)
                    raise BudgetExhausted() from None
                self._events.add(exc.key, attempt=attempt, delay=round(delay, 3), **exc.params)
                await self._sleep(delay)

    async def _attempt(self, url: str) -> Any:
        timeout = max(0.001, min(self._policy.request_timeout, self.remaining()))
        try:
            token = await self._tokens.token(timeout)
        except TokenError as exc:
            if exc.transient:
                raise _Retry("sync_event_token_retry", params={"reason": exc.key, **exc.params}) from None
            raise FeedError(exc.key, **exc.params) from None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            async with asyncio.timeout(timeout):
                async with self._http.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status == 200:
                        body = await self._read(response)
                    else:
                        await response.aclose()
                        body = b""
        except TimeoutError:
            raise _Retry("sync_event_timeout", params={"seconds": round(timeout, 3)}) from None
        except httpx.TimeoutException:
            raise _Retry("sync_event_timeout", params={"seconds": round(timeout, 3)}) from None
        except httpx.TransportError as exc:
            raise _Retry("sync_event_network", params={"error": type(exc).__name__}) from None
        if status == 200:
            try:
                # big pages are parsed off the event loop (the database writes go on meanwhile)
                return orjson.loads(body) if len(body) < 65536 else await asyncio.to_thread(orjson.loads, body)
            except orjson.JSONDecodeError:
                raise _Retry("sync_event_malformed_json") from None
        if status == 401:
            raise _Unauthorized(token)
        if status == 429:
            delay = retry_after_seconds(response.headers.get("retry-after"))
            raise _Retry("sync_event_rate_limited", delay=delay, params={"status": 429})
        if status >= 500 or status == 408:
            raise _Retry("sync_event_http_status", params={"status": status})
        raise FeedError("sync_feed_http_status", status=status)

    async def _read(self, response: httpx.Response) -> bytes:
        limit = self._policy.max_page_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise FeedError("sync_feed_page_too_large", max=limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise FeedError("sync_feed_page_too_large", max=limit)
            chunks.append(chunk)
        return b"".join(chunks)


class _Unauthorized(Exception):
    def __init__(self, token: str) -> None:
        super().__init__("401")
        self.token = token
