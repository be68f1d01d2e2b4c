"""What a GraphQL request over HTTP carries: its request id, language, and parameters (GET query
string or a JSON body within the size limit)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an HTTP request is no GraphQL request: the status, the code and the message key
    (:data:`pdo_graph.transport.errors.MESSAGES`)."""

    status: int
    code: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)


async def read_params(request: Request, max_body_bytes: int) -> dict[str, Any] | Refusal:
    """The request's ``query``, ``variables``, ``operationName`` and ``extensions`` (GET: the query
    string, ``variables`` and ``extensions`` as JSON; POST: a JSON body within the size limit), or
    why they cannot be read."""
    if request.method == "GET":
        q = request.query_params
        params: dict[str, Any] = {
            "query": q.get("query"),
            "operationName": q.get("operationName"),
            "documentId": q.get("documentId"),
        }
        for name in ("variables", "extensions"):
            if q.get(name):
                try:
                    params[name] = orjson.loads(q[name])
                except orjson.JSONDecodeError:
                    return Refusal(400, "BAD_REQUEST", f"{name}_not_json")
        return params
    if not is_json_media_type(request.headers.get("content-type", "")):
        return Refusal(415, "UNSUPPORTED_MEDIA_TYPE", "content_type")
    too_large = Refusal(413, "PAYLOAD_TOO_LARGE", "too_large", {"max": max_body_bytes})
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_body_bytes:
        return too_large
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body_bytes:
            return too_large
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Refusal(400, "BAD_REQUEST", "body_not_json")
    if not isinstance(data, dict):
        return Refusal(400, "BAD_REQUEST", "batch" if isinstance(data, list) else "body_not_object")
    return data


def check_params(params: dict[str, Any], query_required: bool = True) -> Refusal | None:
    """Why the parameters are not a GraphQL request (None when they are); ``query_required=False``
    when a persisted document may stand in for the query."""
    query = params.get("query")
    if query is not None or query_required:
        if not isinstance(query, str) or not query.strip():
            return Refusal(400, "BAD_REQUEST", "no_query")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return Refusal(400, "BAD_REQUEST", "variables_type")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return Refusal(400, "BAD_REQUEST", "operation_name_type")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        return Refusal(400, "BAD_REQUEST", "extensions_type")
    return None
