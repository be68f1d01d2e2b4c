"""What both transports (HTTP and WebSocket) share: a document through the gate (new documents off
the event loop), and errors as the client sees them (unexpected faults masked, the database's
unavailability told apart)."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from pdo_graph.auth.principal import ANONYMOUS, AuthError, Principal
from pdo_graph.graphql_schema import Schema
from pdo_graph.limits import Invalid, Prepared, Refused
from pdo_graph.services import Services

log = logging.getLogger("pdo_graph")

MASKED_MESSAGE = "Внутренняя ошибка сервера"
DB_UNAVAILABLE = "База данных временно недоступна, повторите запрос"
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")
_DB_DOWN_CAUSES = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "AdminShutdownError",
    "ConnectionFailureError",
    "InterfaceError",
}


async def authenticate(services: Services, header: object) -> Principal:
    """The principal of an ``Authorization`` value (``Bearer <token>``); anonymous without one.
    ``AuthError`` when it cannot be accepted (``IssuerUnavailable`` when the issuer cannot be asked)."""
    if not header:
        return ANONYMOUS
    if not isinstance(header, str):
        raise AuthError("Ожидается заголовок Authorization: Bearer <токен>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Ожидается заголовок Authorization: Bearer <токен>")
    assert services.verifier is not None
    return await services.verifier.verify(token.strip())


async def prepare(
    schema: Schema, services: Services, query: str, operation_name: str | None, variables: dict[str, Any]
) -> Prepared | Refused | Invalid:
    """The gate's answer for a document (:mod:`pdo_graph.limits`)."""
    gate = schema.gate
    if gate.knows(query):
        return gate.prepare(query, operation_name, variables)
    # a new document is parsed and validated off the event loop: /healthz and others keep answering
    work = functools.partial(gate.prepare, query, operation_name, variables)
    return await asyncio.get_running_loop().run_in_executor(services.gate_thread, work)


def is_database_down(exc: BaseException | None) -> bool:
    """Connection-level failures (server restarted, connections killed, pool exhausted)."""
    if exc is None:
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (SATimeoutError, OSError, ConnectionError, InterfaceError, OperationalError)):
        return True
    cause = exc.__cause__ or getattr(exc, "orig", None)
    return cause is not None and type(cause).__name__ in _DB_DOWN_CAUSES


def unavailable_error(rid: str) -> dict[str, Any]:
    return {"message": DB_UNAVAILABLE, "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": rid}}


def request_error(error: GraphQLError, code: str) -> dict[str, Any]:
    """A syntax or validation error, with its code and without field suggestions."""
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    formatted["extensions"] = {"code": code, **(error.extensions or {})}
    return formatted


def format_error(error: GraphQLError, rid: str) -> dict[str, Any]:
    """An execution error; an unexpected fault is logged with the request id and masked."""
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error [%s]", rid, exc_info=original)
        return {
            "message": MASKED_MESSAGE,
            "path": error.path,
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        }
    formatted = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    return formatted
