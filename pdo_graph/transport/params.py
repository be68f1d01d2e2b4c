"""What a GraphQL request over HTTP carries: its request id, language, and parameters (GET query
string or a JSON body within the size limit)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def request_id(given: str | None) -> str:
    """The client's ``x-request-id`` when it is short and plain (at most 64 of ``A-Z a-z 0-9 . _ -``),
    otherwise a new one."""
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def is_json_media_type(value: str) -> bool:
    """``application/json``, optionally with parameters (RFC 9110 media type; ``charset`` must be UTF-8)."""
    media, *parameters = value.split(";")
    if media.strip().lower() != "application/json":
        return False
    for parameter in parameters:
        name, eq, raw = parameter.strip().partition("=")
        if not eq or not _TOKEN_CHARS.fullmatch(name):
            return False
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
        arg = raw[1:-1] if quoted else raw
        if not quoted and not _TOKEN_CHARS.fullmatch(arg):
            return False
        if name.lower() == "charset" and arg.lower() not in ("utf-8", "utf8"):
            return False
    return True


def lang(request: HTTPConnection) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "ru"


def response_media(request: Request) -> str:
    """``application/graphql-response+json`` when the client accepts it, else ``application/json``."""
    return GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in request.headers.get("accept", "") else "application/json"


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None, media: str = "application/json"
) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type=media)


def _refusal(message: str, status: int) -> tuple[dict[str, Any], Response]:
    return {}, json_response({"errors": [{"message": message}]}, status)


async def read_params(request: Request, max_body_bytes: int) -> tuple[dict[str, Any], Response | None]:
    """The request's ``query``, ``variables`` and ``operationName``, or the response refusing it."""
    if request.method == "GET":
        q = request.query_params
        params: dict[str, Any] = {"query": q.get("query"), "operationName": q.get("operationName")}
        if q.get("variables"):
            try:
                params["variables"] = orjson.loads(q["variables"])
            except orjson.JSONDecodeError:
                return _refusal("variables: некорректный JSON", 400)
        return params, None
    if not is_json_media_type(request.headers.get("content-type", "")):
        return _refusal("Ожидается Content-Type: application/json", 415)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_body_bytes:
        return _refusal("Слишком большой запрос", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body_bytes:
            return _refusal("Слишком большой запрос", 413)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _refusal("Тело запроса — некорректный JSON", 400)
    if not isinstance(data, dict):
        return _refusal("Пакетные запросы не поддерживаются", 400)
    return data, None


def check_params(params: dict[str, Any]) -> str | None:
    """Why the parameters are not a GraphQL request (None when they are)."""
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        return "В запросе нет поля query"
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return "variables должен быть объектом"
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return "operationName должен быть строкой"
    return None
