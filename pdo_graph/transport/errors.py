"""The error contract of ``/graphql``, over HTTP and over WebSocket alike: every error carries
``extensions.code`` and ``extensions.requestId``, its message in the request's language (Russian by
default, English with ``Accept-Language: en``), unexpected faults masked.

- Refusals of the transport (401, 405, 413, 415, 400 for a body that is no GraphQL request, 503,
  persisted documents; over WebSocket too many subscriptions, an operation that is no subscription)
  are made here (:func:`error`, :func:`refusal` for an HTTP response), from :data:`MESSAGES`.
- The gate's refusals and the library's syntax and validation errors: :func:`rejected`. The
  library's messages come in English; :func:`localize` translates the common ones
  (:mod:`.library_messages`) and prefixes the rest.
- Errors of an execution: :func:`executed` (an unexpected fault logged under the request id and
  masked, :func:`masked`).
- :func:`contract` gives every error its request id (and a code when the library left it without one).

``docs/errors.md`` lists every code the service answers; ``tests/hardening/test_error_contract.py``
checks the list against the codes the source can produce.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from graphql import GraphQLError
from starlette.responses import Response

from pdo_graph.limits import Invalid, Refused
from pdo_graph.transport.library_messages import translate
from pdo_graph.transport.params import Refusal, json_response

# Codes of the transport (the gate's are in pdo_graph.limits, the business ones are UserErrorCode).
BAD_REQUEST = "BAD_REQUEST"
UNAUTHENTICATED = "UNAUTHENTICATED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
OVERLOADED = "OVERLOADED"
NOT_FOUND = "NOT_FOUND"
PDF_FONT_MISSING = "PDF_FONT_MISSING"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
WRONG_REGION = "WRONG_REGION"

log = logging.getLogger("pdo_graph")
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")

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
    "writes_busy": (
        "Сервер перегружен: запрос не выполнен, повторите его через несколько секунд",
        "The server is overloaded: nothing was done, retry the request in a few seconds",
    ),
    "db_unavailable": (
        "База данных временно недоступна, повторите запрос",
        "The database is temporarily unavailable, retry the request",
    ),
    "wrong_region": (
        "Токен выдан для региона {region}, а этот сервер обслуживает регион {here}",
        "The token was issued for region {region}; this server serves region {here}",
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
    "too_many_subscriptions": (
        "На одном соединении не больше {max} подписок",
        "At most {max} subscriptions per connection",
    ),
    "contract_auth": (
        "Документ договора доступен только с заголовком Authorization: Bearer <токен>",
        "The contract document needs the header Authorization: Bearer <token>",
    ),
    "contract_format": ("format: html или pdf", "format: html or pdf"),
    "contract_not_found": (
        "Договор не найден (или недоступен вам)",
        "No such contract (or it is not yours to see)",
    ),
    "pdf_font_missing": (
        "PDF недоступен: на сервере нет шрифта с кириллицей (fonts-dejavu-core или PDO_PDF_FONT); HTML доступен",
        "PDF unavailable: the server has no Cyrillic font (fonts-dejavu-core or PDO_PDF_FONT); HTML is available",
    ),
    "not_subscription": (
        "По WebSocket выполняются только подписки; запросы и мутации — POST /graphql",
        "Only subscriptions run over WebSocket; send queries and mutations with POST /graphql",
    ),
}


def message(key: str, lang: str, **params: object) -> str:
    ru, en = MESSAGES[key]
    return (en if lang == "en" else ru).format(**params)


def error(code: str, key: str, lang: str, rid: str, **params: object) -> dict[str, Any]:
    """One error of the transport: its message in ``lang``, its code and the request id."""
    return {"message": message(key, lang, **params), "extensions": {"code": code, "requestId": rid}}


def refused(found: Refusal, lang: str, rid: str) -> dict[str, Any]:
    """The error of a request the transport refused (:class:`~.params.Refusal`)."""
    return error(found.code, found.key, lang, rid, **found.params)


def unavailable(rid: str, lang: str) -> dict[str, Any]:
    """The database is unreachable: retry later."""
    return error(SERVICE_UNAVAILABLE, "db_unavailable", lang, rid)


def overloaded(rid: str, lang: str) -> dict[str, Any]:
    """More writes than the process admits (``db.admission``): nothing was done, retry later."""
    return error(OVERLOADED, "writes_busy", lang, rid)


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


def library_error(error: GraphQLError, lang: str) -> dict[str, Any]:
    """A syntax, validation or variable error of the library: without field suggestions, in ``lang``."""
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
    return localize(formatted, lang)


def rejected(outcome: Refused | Invalid, rid: str, lang: str) -> list[dict[str, Any]]:
    """The errors of a document the gate did not let run (a limit, syntax or validation)."""
    if isinstance(outcome, Refused):
        return contract([outcome.error(lang)], rid, outcome.code)
    return contract([library_error(e, lang) for e in outcome.errors], rid, outcome.code)


def masked(rid: str, lang: str, fault: BaseException, path: list[str | int] | None = None) -> dict[str, Any]:
    """An unexpected fault: logged (without its message) under the request id; the client learns
    only that it happened."""
    log.error("unexpected error [%s]", rid, exc_info=fault)
    found: dict[str, Any] = {"message": message("internal", lang)}
    if path is not None:
        found["path"] = path
    found["extensions"] = {"code": INTERNAL_SERVER_ERROR, "requestId": rid}
    return found


def executed(found: Iterable[GraphQLError], rid: str, lang: str) -> list[dict[str, Any]]:
    """The errors of an execution: ours carry their code; an unexpected fault is masked; the library's
    own (a variable's value refused while coercing it) are translated, BAD_USER_INPUT."""
    out = []
    for item in found:
        original = item.original_error
        if original is not None and not isinstance(original, GraphQLError):
            out.append(masked(rid, lang, original, item.path))
        elif item.extensions and "code" in item.extensions:
            formatted = dict(item.formatted)
            formatted["message"] = _SUGGESTION.sub("", str(formatted.get("message", "")))
            out.append(formatted)
        else:
            out.append(library_error(item, lang))
    return contract(out, rid, BAD_USER_INPUT)


def contract(errors: list[dict[str, Any]], rid: str, fallback: str) -> list[dict[str, Any]]:
    """Every error with ``extensions.code`` (``fallback`` where the library gave none) and the request id."""
    out = []
    for item in errors:
        extensions = dict(item.get("extensions") or {})
        extensions.setdefault("code", fallback)
        extensions["requestId"] = rid
        out.append({**item, "extensions": extensions})
    return out
