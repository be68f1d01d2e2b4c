"""The error contract of ``/graphql``: every error carries ``extensions.code`` and
``extensions.requestId``, its message in the request's language (Russian by default, English with
``Accept-Language: en``).

- Refusals of the transport (401, 405, 413, 415, 400 for a body that is no GraphQL request, 503,
  persisted documents) are made here (:func:`refusal`), from :data:`MESSAGES`.
- Syntax, validation and variable errors of the GraphQL library come in English; :func:`localize`
  translates the common ones (:mod:`.library_messages`) and prefixes the rest.
- :func:`contract` gives every error of a response its request id (and a code when the library left
  it without one).

``docs/errors.md`` lists every code the service answers; ``tests/hardening/test_error_contract.py``
checks the list against the codes the source can produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from pdo_graph.transport.library_messages import translate
from pdo_graph.transport.params import json_response

# Codes of the transport (the gate's are in pdo_graph.limits, the business ones are UserErrorCode).
BAD_REQUEST = "BAD_REQUEST"
UNAUTHENTICATED = "UNAUTHENTICATED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"

MESSAGES: dict[str, tuple[str, str]] = {
    "auth_header": (
        "Ожидается заголовок Authorization: Bearer <токен>",
        "Expected the header Authorization: Bearer <token>",
    ),
    "body_not_json": ("Тело запроса — некорректный JSON", "The request body is not valid JSON"),
    "variables_not_json": ("variables: некорректный JSON", "variables: not valid JSON"),
    "extensions_not_json": ("extensions: некорректный JSON", "extensions: not valid JSON"),
    "batch": ("Пакетные запросы не поддерживаются", "Batched requests are not supported"),
    "body_not_object": ("Тело запроса должно быть объектом JSON", "The request body must be a JSON object"),
    "document_id_type": ("documentId должен быть непустой строкой", "documentId must be a non-empty string"),
    "no_query": ("В запросе нет поля query", "The request has no query"),
    "variables_type": ("variables должен быть объектом", "variables must be an object"),
    "operation_name_type": ("operationName должен быть строкой", "operationName must be a string"),
    "extensions_type": ("extensions должен быть объектом", "extensions must be an object"),
    "content_type": ("Ожидается Content-Type: application/json", "Expected Content-Type: application/json"),
    "too_large": ("Запрос больше {max} байт", "The request is larger than {max} bytes"),
    "mutation_get": ("Мутации только методом POST", "Mutations are accepted by POST only"),
    "internal": ("Внутренняя ошибка сервера", "Internal server error"),
    "db_unavailable": (
        "База данных временно недоступна, повторите запрос",
        "The database is temporarily unavailable, retry the request",
    ),
    "issuer_unavailable": (
        "Не удалось получить ключи издателя токенов, повторите запрос",
        "The token issuer's keys could not be fetched, retry the request",
    ),
    # Apollo's protocol: clients recognise the miss by this message (and by the code), in any language.
    "persisted_not_found": ("PersistedQueryNotFound", "PersistedQueryNotFound"),
    "persisted_version": (
        "Поддерживается только persistedQuery версии 1",
        "Only persistedQuery version 1 is supported",
    ),
    "persisted_hash": (
        "sha256Hash не совпадает с хешем текста запроса",
        "sha256Hash does not match the hash of the query",
    ),
    "persisted_not_allowed": (
        "Выполняются только зарегистрированные документы, этого документа нет в списке",
        "Only registered documents run, and this document is not registered",
    ),
}


def message(key: str, lang: str, **params: object) -> str:
    ru, en = MESSAGES[key]
    return (en if lang == "en" else ru).format(**params)


def error(code: str, key: str, lang: str, rid: str, **params: object) -> dict[str, Any]:
    """One error of the transport: its message in ``lang``, its code and the request id."""
    return {"message": message(key, lang, **params), "extensions": {"code": code, "requestId": rid}}


def respond(
    status: int, errors: list[dict[str, Any]], rid: str, media: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An answer of errors only (never stored by a cache)."""
    body = {"errors": errors, "extensions": {"requestId": rid}}
    return json_response(body, status, {"cache-control": "no-store", **(headers or {})}, media)


def refusal(
    status: int,
    code: str,
    key: str,
    lang: str,
    rid: str,
    media: str = "application/json",
    headers: Mapping[str, str] | None = None,
    **params: object,
) -> Response:
    """A response refusing the request before any GraphQL ran."""
    return respond(status, [error(code, key, lang, rid, **params)], rid, media, headers)


def localize(formatted: dict[str, Any], lang: str) -> dict[str, Any]:
    """A library error (syntax, validation, variables) with its message in ``lang``."""
    text = str(formatted.get("message", ""))
    return {**formatted, "message": translate(text) if lang != "en" else text}


def contract(errors: list[dict[str, Any]], rid: str, fallback: str) -> list[dict[str, Any]]:
    """Every error with ``extensions.code`` (``fallback`` where the library gave none) and the request id."""
    out = []
    for item in errors:
        extensions = dict(item.get("extensions") or {})
        extensions.setdefault("code", fallback)
        extensions["requestId"] = rid
        out.append({**item, "extensions": extensions})
    return out
