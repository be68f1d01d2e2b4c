"""``/graphql`` over WebSocket: subscriptions with the ``graphql-transport-ws`` protocol
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).

The protocol's state machine is ours rather than Strawberry's handler: Strawberry's handler takes one
context for the whole connection and runs documents without our gate, our error masking, the
personal-data audit or per-delivery reads; here each subscription gets its own context, its document
passes the gate (:mod:`pdo_graph.limits`) like any HTTP request, and Strawberry executes it
(``Schema.subscribe``).

A connection:

- must offer the subprotocol ``graphql-transport-ws`` (else: close 4406);
- sends ``connection_init`` within ``PDO_WS_INIT_TIMEOUT_SECONDS`` (else 4408), once (else 4429); its
  payload may carry ``{"Authorization": "Bearer <token>"}`` (any case of the key; GraphiQL sends
  its headers so) and ``Accept-Language``. A token that cannot be accepted closes with 4403; no
  token is an anonymous caller. The token's expiry closes the connection with 4403 ("token
  expired"): every subscription on it was authorised by that token, and clients of graphql-ws
  reconnect with fresh ``connectionParams`` after a 4403;
- may then ``subscribe`` (before the ack: 4401; an id in use: 4409) up to ``PDO_WS_MAX_SUBSCRIPTIONS``
  operations at once (one more gets an ``error`` message with code TOO_MANY_SUBSCRIPTIONS, the
  connection stays). Only subscription operations run here (queries and mutations: an ``error``,
  OPERATION_NOT_SUPPORTED; they go over HTTP). The document is found as over HTTP (text, or a
  persisted document by APQ's extension or ``documentId``; only the manifest's documents with
  ``PDO_TRUSTED_DOCUMENTS``). A refusal at subscribe time (persisted documents, the gate, validation,
  authorisation, an object not visible) is the operation's ``error`` message; afterwards results
  come as ``next`` and the end as ``complete``;
- sends messages of at most ``PDO_WS_MAX_MESSAGE_BYTES`` (else 1009), text JSON only (else 4400);
- answers our ``ping`` (sent after ``PDO_WS_PING_SECONDS`` of silence) within as long again, or
  is closed with 4408 ("ping timeout"); its own ``ping`` gets a ``pong``.

Every error in an ``error`` or ``next`` message keeps the error contract of HTTP (:mod:`.errors`):
``extensions.code``, ``extensions.requestId`` (one per subscription, in its log line too), the
message in the connection's language, unexpected faults masked. Close reasons are the protocol's,
in English. ``docs/errors.md`` lists the close codes.

No origin check is needed: nothing ambient (cookies) authenticates a WebSocket here, only the token
the client itself puts in ``connection_init``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Coroutine
from enum import IntEnum
from typing import Any

import orjson
from graphql import OperationType
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.types import ExecutionResult

from pdo_graph.auth.actor import resolve_actor
from pdo_graph.auth.oidc import IssuerUnavailable
from pdo_graph.auth.principal import ANONYMOUS, AuthError, Principal
from pdo_graph.domain.access import ANONYMOUS as NOBODY
from pdo_graph.domain.access import Actor
from pdo_graph.graphql_schema import Schema
from pdo_graph.limits import Invalid, Prepared
from pdo_graph.observability import bind_request_id
from pdo_graph.schema.context import Context
from pdo_graph.services import Services
from pdo_graph.tracing import Tracing
from pdo_graph.transport import errors
from pdo_graph.transport.documents import resolve, wants_persisted
from pdo_graph.transport.execution import authenticate, context, is_database_down, prepare
from pdo_graph.transport.params import Refusal, check_params, lang

log = logging.getLogger("pdo_graph")

PROTOCOL = "graphql-transport-ws"
MAX_OPERATION_ID = 128


class Close(IntEnum):
    """Close codes (the protocol's 44xx, and the standard ones we use)."""

    MESSAGE_TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    TIMEOUT = 4408
    SUBSCRIBER_EXISTS = 4409
    TOO_MANY_INITIALISATION_REQUESTS = 4429


class LiveEndpoint:
    """The WebSocket side of ``/graphql``."""

    def __init__(self, schema: Schema, services: Services) -> None:
        self.schema = schema
        self.services = services

    async def handle(self, websocket: WebSocket) -> None:
        await _Connection(self.schema, self.services, websocket).serve()


class _Connection:
    """One client's WebSocket: its principal, its operations, its timers."""

    def __init__(self, schema: Schema, services: Services, ws: WebSocket) -> None:
        self.schema = schema
        self.services = services
        self.settings = services.settings
        self.ws = ws
        self.id = uuid.uuid4().hex
        self.lang = lang(ws)
        self.principal: Principal = ANONYMOUS
        self.actor: Actor = NOBODY
        self.initialised = False
        self.acknowledged = False
        self.closed = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.timers: list[asyncio.Task[None]] = []
        self.last_heard = time.monotonic()
        self.sending = asyncio.Lock()
        self.count = 0

    # --- the connection ---------------------------------------------------------------------------

    async def serve(self) -> None:
        if PROTOCOL not in self.ws.scope.get("subprotocols", []):
            await self.ws.accept()
            await self.ws.close(Close.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable")
            return
        await self.ws.accept(subprotocol=PROTOCOL)
        bind_request_id(self.id)
        metrics = self.services.metrics
        metrics.ws_connections.inc()
        self._later(self._init_timeout())
        try:
            await self._read()
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            tasks = [*self.timers, *self.operations.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            metrics.ws_connections.dec()

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        self.timers.append(asyncio.create_task(work))

    async def close(self, code: Close, reason: str) -> None:
        """Close the connection (once); operations stop sending at once."""
        if self.closed:
            return
        self.closed = True
        async with self.sending:
            with contextlib.suppress(Exception):
                await self.ws.close(int(code), reason)

    async def send(self, message: dict[str, Any]) -> bool:
        if self.closed:
            return False
        async with self.sending:
            if self.closed:
                return False
            try:
                await self.ws.send_text(orjson.dumps(message).decode())
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True
                return False
        return True

    async def _read(self) -> None:
        limit = self.settings.ws_max_message_bytes
        while not self.closed:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self.close(Close.BAD_REQUEST, "Binary messages are not supported")
                return
            if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
                await self.close(Close.MESSAGE_TOO_BIG, f"Message too big (at most {limit} bytes)")
                return
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                await self.close(Close.BAD_REQUEST, "Message is not valid JSON")
                return
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                await self.close(Close.BAD_REQUEST, "Message has no type")
                return
            self.last_heard = time.monotonic()
            await self._dispatch(data)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass  # heard: that is all a pong is for
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            self._complete(message.get("id"))
        else:
            await self.close(Close.BAD_REQUEST, "Unknown message type")

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.settings.ws_init_timeout_seconds)
        if not self.initialised:
            await self.close(Close.TIMEOUT, "Connection initialisation timeout")

    async def _init(self, payload: object) -> None:
        if self.initialised:
            await self.close(Close.TOO_MANY_INITIALISATION_REQUESTS, "Too many initialisation requests")
            return
        self.initialised = True
        if payload is not None and not isinstance(payload, dict):
            await self.close(Close.BAD_REQUEST, "Invalid connection_init payload")
            return
        params = {str(k).lower(): v for k, v in (payload or {}).items()}
        language = params.get("accept-language")
        if isinstance(language, str):
            self.lang = "en" if language.lower().startswith("en") else "ru"
        try:
            principal = await authenticate(self.services, params.get("authorization"))
        except IssuerUnavailable:
            await self.close(Close.TRY_AGAIN_LATER, "Token issuer unavailable")
            return
        except AuthError:
            await self.close(Close.FORBIDDEN, "Forbidden: the token is not accepted")
            return
        assert self.services.database is not None
        db = self.services.request_db()
        try:
            actor = await resolve_actor(principal, db.read)
        except Exception as exc:
            if not is_database_down(exc):
                raise
            await self.close(Close.TRY_AGAIN_LATER, "Database unavailable")
            return
        finally:
            await db.close()
        self.principal, self.actor = principal, actor
        if principal.expires_at is not None:
            self._later(self._expiry(principal.expires_at))
        self._later(self._keepalive())
        self.acknowledged = True
        await self.send({"type": "connection_ack"})

    async def _expiry(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        await self.close(Close.FORBIDDEN, "Forbidden: token expired")

    async def _keepalive(self) -> None:
        interval = self.settings.ws_ping_seconds
        pinged_at: float | None = None
        while not self.closed:
            await asyncio.sleep(interval)
            if pinged_at is not None and self.last_heard < pinged_at:
                await self.close(Close.TIMEOUT, "Ping timeout: no pong")
                return
            pinged_at = None
            now = time.monotonic()
            if now - self.last_heard >= interval:
                pinged_at = now
                await self.send({"type": "ping"})

    # --- operations -------------------------------------------------------------------------------

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self.close(Close.UNAUTHORIZED, "Unauthorized")
            return
        op_id, payload = message.get("id"), message.get("payload")
        valid_id = isinstance(op_id, str) and 0 < len(op_id) <= MAX_OPERATION_ID
        if not valid_id or not isinstance(payload, dict) or check_params(payload, not wants_persisted(payload)):
            await self.close(Close.BAD_REQUEST, "Invalid subscribe message")
            return
        assert isinstance(op_id, str)
        if op_id in self.operations:
            await self.close(Close.SUBSCRIBER_EXISTS, "Subscriber for this id already exists")
            return
        self.count += 1
        rid = f"{self.id[:16]}-{self.count}"
        most = self.settings.ws_max_subscriptions
        if len(self.operations) >= most:
            refused = errors.error(errors.TOO_MANY_SUBSCRIPTIONS, "too_many_subscriptions", self.lang, rid, max=most)
            refused["extensions"]["max"] = most
            await self.send({"id": op_id, "type": "error", "payload": [refused]})
            return
        task = asyncio.create_task(self._operation(op_id, rid, payload))
        self.operations[op_id] = task

    def _complete(self, op_id: object) -> None:
        """The client is done with an operation: it stops, and nothing more is sent for it."""
        if isinstance(op_id, str):
            task = self.operations.pop(op_id, None)
            if task is not None:
                task.cancel()

    def _forget(self, op_id: str) -> None:
        """The operation's id is free again (before its last message, so the client may reuse it then)."""
        if self.operations.get(op_id) is asyncio.current_task():
            del self.operations[op_id]

    async def _error(self, op_id: str, refused: list[dict[str, Any]]) -> None:
        self._forget(op_id)
        await self.send({"id": op_id, "type": "error", "payload": refused})

    async def _operation(self, op_id: str, rid: str, payload: dict[str, Any]) -> None:
        bind_request_id(rid)
        started = time.perf_counter()
        metrics = self.services.metrics
        metrics.subscriptions.inc()
        outcome, operation, cost = "ok", None, 0
        role = self.principal.role.value if self.principal.role else "ANONYMOUS"
        variables: dict[str, Any] = payload.get("variables") or {}
        operation_name: str | None = payload.get("operationName")
        try:
            document = resolve(self.services.documents, payload)
            if isinstance(document, Refusal):
                outcome = "refused"
                await self._error(op_id, [errors.refused(document, self.lang, rid)])
                return
            prepared = await prepare(self.schema, self.services, document, operation_name, variables)
            if not isinstance(prepared, Prepared):
                outcome = "invalid" if isinstance(prepared, Invalid) else "refused"
                await self._error(op_id, errors.rejected(prepared, rid, self.lang))
                return
            operation = prepared.operation.name.value if prepared.operation.name else None
            cost = prepared.cost
            kind = prepared.operation.operation
            if kind is not OperationType.SUBSCRIPTION:
                outcome = "refused"
                await self._error(
                    op_id, [errors.error(errors.OPERATION_NOT_SUPPORTED, "not_subscription", self.lang, rid)]
                )
                return
            with self.services.tracing.operation(operation, kind.value, self.ws.headers, rid) as span:
                try:
                    outcome = await self._follow(op_id, rid, document.query, variables, operation_name)
                except asyncio.CancelledError:
                    Tracing.record(span, "completed", role, cost)
                    raise
                except Exception:
                    Tracing.record(span, "error", role, cost)
                    raise
                Tracing.record(span, outcome, role, cost)
        except asyncio.CancelledError:
            outcome = "completed"
            raise
        except Exception as exc:
            outcome = "error"
            if is_database_down(exc):
                await self._error(op_id, [errors.unavailable(rid, self.lang)])
            else:
                await self._error(op_id, [errors.masked(rid, self.lang, exc)])
        finally:
            self._forget(op_id)
            metrics.subscriptions.dec()
            log.info(
                "graphql subscription",
                extra={
                    "request_id": rid,
                    "operation": operation,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "role": role,
                    "cost": cost,
                    "outcome": outcome,
                },
            )

    async def _follow(
        self, op_id: str, rid: str, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> str:
        """Run the subscription: its first result (or its refusal), then one ``next`` per result."""
        assert self.services.database is not None
        db = self.services.request_db()
        ctx = context(self.services, self.actor, db, self.lang, rid, self.services.live)
        try:
            stream = await self.schema.subscribe(
                query, variable_values=variables, context_value=ctx, operation_name=operation_name
            )
            return await self._deliver(op_id, rid, ctx, stream)
        finally:
            await ctx.end_delivery()

    async def _deliver(self, op_id: str, rid: str, ctx: Context, stream: AsyncGenerator[ExecutionResult, None]) -> str:
        first = True
        async with contextlib.aclosing(stream):
            async for result in stream:
                failed = result.data is None and bool(result.errors)
                found = self._errors(result, rid)
                if first and failed:
                    await ctx.end_delivery()
                    await self._error(op_id, found or [])
                    return "refused"
                try:
                    await ctx.flush_audit()  # nothing read about a child leaves before its audit entry
                except Exception as exc:
                    await ctx.end_delivery()
                    fault = errors.masked(rid, self.lang, exc)
                    await self.send({"id": op_id, "type": "next", "payload": {"errors": [fault]}})
                    break
                await ctx.end_delivery()
                payload: dict[str, Any] = {"data": result.data}
                if found:
                    payload["errors"] = found
                if not await self.send({"id": op_id, "type": "next", "payload": payload}):
                    return "closed"
                self.services.metrics.live_deliveries.inc()
                first = False
                if failed:  # the object went away or out of sight: the stream ends here
                    break
        self._forget(op_id)
        await self.send({"id": op_id, "type": "complete"})
        return "ok"

    def _errors(self, result: ExecutionResult, rid: str) -> list[dict[str, Any]] | None:
        if not result.errors:
            return None
        if any(is_database_down(e.original_error) for e in result.errors):
            return [errors.unavailable(rid, self.lang)]
        return errors.executed(result.errors, rid, self.lang)
