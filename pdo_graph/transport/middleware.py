"""Every request gets an id (the client's ``x-request-id`` when short and plain, else a new one),
bound to the log context and echoed in the response; a GraphQL request that the endpoint answered
gets its metric and, when it ran, its log line (operation, role, cost, outcome, time)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pdo_graph.observability import Metrics, bind_request_id
from pdo_graph.transport.params import request_id

log = logging.getLogger("pdo_graph")


@dataclass(frozen=True, slots=True)
class Observation:
    """What the endpoint tells the middleware about a GraphQL request it answered."""

    operation: str | None  # the operation's name; None: unnamed; observability.OTHER: refused before running
    outcome: str  # ok, error, refused, invalid, unavailable
    ran: bool = False  # executed (logged); refused and invalid documents are counted only
    role: str = "ANONYMOUS"
    cost: int = 0


def observe(scope: Scope, observation: Observation) -> None:
    """Called by the endpoint: the request's outcome, for the middleware to count and log."""
    scope.setdefault("state", {})["observation"] = observation


class RequestObserver:
    """ASGI middleware: request id, metrics and the request's log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(Headers(scope=scope).get("x-request-id"))
        bind_request_id(rid)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            observation: Observation | None = state.get("observation")
            if observation is not None:
                self._record(rid, observation, time.perf_counter() - started)

    def _record(self, rid: str, o: Observation, seconds: float) -> None:
        self.metrics.observe(o.operation, o.outcome, seconds)
        if o.ran:
            log.info(
                "graphql request",
                extra={
                    "request_id": rid,
                    "operation": o.operation,
                    "ms": round(seconds * 1000, 1),
                    "role": o.role,
                    "cost": o.cost,
                    "outcome": o.outcome,
                },
            )
