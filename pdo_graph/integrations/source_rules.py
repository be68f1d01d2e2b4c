"""What a catalog source may be: the spec an operator gives, URL rules, and the validation of its
fields and secrets (no database). Problems name the fields as the spec does, under ``at``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.domain.errors import ErrorCode, Problem
from pdo_graph.domain.errors import field as field_path
from pdo_graph.integrations.feeds import FORMATS
from pdo_graph.integrations.secrets import BadPrivateKey, SecretBox, SourceSecret, normalize_private_key
from pdo_graph.net import is_loopback

AUTH_METHODS = ("CLIENT_SECRET_BASIC", "PRIVATE_KEY_JWT")
URL_MAX = 2000
TEXT_MAX = 500
SECRET_MAX = 2000
PEM_MAX = 20_000
INTERVAL = (1, 10_080)
MAX_ACTIVITY_MAP = 500
DEFAULT_INTERVAL = 60

Path = Sequence[str]


@dataclass(frozen=True)
class SourceSpec:
    """What an operator gives when registering a source (ProgramData-style, ids resolved)."""

    provider_id: int
    feed_url: str
    format: str
    issuer: str
    client_id: str
    client_auth: str
    client_secret: str | None = field(default=None, repr=False)
    private_key_pem: str | None = field(default=None, repr=False)
    key_id: str | None = None
    audience: str | None = None
    scope: str | None = None
    interval_minutes: int | None = None
    default_direction: str | None = None
    activity_directions: Sequence[tuple[str, str]] | None = None


UPDATABLE = frozenset(
    {
        "feed_url",
        "format",
        "issuer",
        "client_id",
        "client_auth",
        "client_secret",
        "private_key_pem",
        "key_id",
        "audience",
        "scope",
        "interval_minutes",
        "default_direction",
        "activity_directions",
    }
)


def url_problem(value: str, field: list[str]) -> Problem | None:
    """Why ``value`` is not an acceptable feed or issuer URL (None when it is)."""
    if not value or len(value) > URL_MAX or any(c.isspace() for c in value):
        return Problem(ErrorCode.INVALID, "source_url_invalid", field)
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return Problem(ErrorCode.INVALID, "source_url_invalid", field)
    if parts.scheme not in ("https", "http") or not host or parts.fragment:
        return Problem(ErrorCode.INVALID, "source_url_invalid", field)
    if parts.username is not None or parts.password is not None:
        return Problem(ErrorCode.INVALID, "source_url_credentials", field)
    if parts.scheme == "http" and not is_loopback(host):
        return Problem(ErrorCode.INVALID, "source_url_https", field)
    return None


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _optional_text(problems: list[Problem], value: str | None, field: list[str], limit: int = TEXT_MAX) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        return None
    if len(cleaned) > limit or any(ord(c) < 32 for c in cleaned):
        problems.append(Problem(ErrorCode.INVALID, "source_text_invalid", field, max=limit))
    return cleaned


@dataclass(frozen=True)
class Clean:
    feed_url: str
    format: str
    issuer: str
    client_id: str
    client_auth: str
    key_id: str | None
    audience: str | None
    scope: str | None
    interval_minutes: int
    default_direction: str | None
    activity_directions: list[dict[str, str]]


def validate(values: Mapping[str, Any], at: Path, problems: list[Problem]) -> Clean:
    feed_url = str(values["feed_url"]).strip()
    issuer = str(values["issuer"]).strip()
    for name, value in (("feed_url", feed_url), ("issuer", issuer)):
        problem = url_problem(value, field_path(name, at))
        if problem is not None:
            problems.append(problem)
    fmt = values["format"]
    if fmt not in FORMATS:
        problems.append(Problem(ErrorCode.INVALID, "source_format_unknown", field_path("format", at)))
    client_auth = values["client_auth"]
    if client_auth not in AUTH_METHODS:
        problems.append(Problem(ErrorCode.INVALID, "source_auth_unknown", field_path("client_auth", at)))
    client_id = str(values["client_id"]).strip()
    if not 1 <= len(client_id) <= TEXT_MAX or any(ord(c) < 32 for c in client_id):
        problems.append(Problem(ErrorCode.INVALID, "source_text_invalid", field_path("client_id", at), max=TEXT_MAX))
    key_id = _optional_text(problems, values.get("key_id"), field_path("key_id", at))
    audience = _optional_text(problems, values.get("audience"), field_path("audience", at))
    scope = _optional_text(problems, values.get("scope"), field_path("scope", at))
    interval = values.get("interval_minutes")
    interval = DEFAULT_INTERVAL if interval is None else interval
    if not INTERVAL[0] <= interval <= INTERVAL[1]:
        problems.append(
            Problem(
                ErrorCode.INVALID,
                "source_interval",
                field_path("interval_minutes", at),
                min=INTERVAL[0],
                max=INTERVAL[1],
            )
        )
    direction = values.get("default_direction")
    if direction is not None and direction not in DIRECTIONS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_direction_unknown", field_path("default_direction", at)))
    mapping: list[dict[str, str]] = []
    raw_map = values.get("activity_directions") or []
    if len(raw_map) > MAX_ACTIVITY_MAP:
        problems.append(
            Problem(
                ErrorCode.INVALID,
                "source_activity_map_size",
                field_path("activity_directions", at),
                max=MAX_ACTIVITY_MAP,
            )
        )
    for index, (label, target) in enumerate(list(raw_map)[:MAX_ACTIVITY_MAP]):
        cleaned = " ".join(str(label).split())
        field = [*field_path("activity_directions", at), str(index)]
        if not 1 <= len(cleaned) <= TEXT_MAX:
            problems.append(Problem(ErrorCode.INVALID, "source_text_invalid", [*field, "activity"], max=TEXT_MAX))
        if target not in DIRECTIONS:
            problems.append(Problem(ErrorCode.INVALID, "catalog_direction_unknown", [*field, "direction"]))
        mapping.append({"activity": cleaned, "direction": str(target)})
    return Clean(
        feed_url=feed_url,
        format=str(fmt),
        issuer=issuer,
        client_id=client_id,
        client_auth=str(client_auth),
        key_id=key_id,
        audience=audience,
        scope=scope,
        interval_minutes=int(interval),
        default_direction=direction,
        activity_directions=mapping,
    )


def new_secret(
    problems: list[Problem],
    at: Path,
    client_auth: str,
    client_secret: str | None,
    private_key_pem: str | None,
    key_id: str | None,
    box: SecretBox | None,
) -> SourceSecret | None:
    """The secret given in this request for ``client_auth`` (None when none was given)."""
    secret: SourceSecret | None = None
    if client_secret is not None:
        if client_auth != "CLIENT_SECRET_BASIC":
            problems.append(Problem(ErrorCode.INVALID, "source_secret_not_used", field_path("client_secret", at)))
        elif not 1 <= len(client_secret) <= SECRET_MAX:
            problems.append(
                Problem(ErrorCode.INVALID, "source_secret_length", field_path("client_secret", at), max=SECRET_MAX)
            )
        else:
            secret = SourceSecret("client_secret", client_secret)
    if private_key_pem is not None:
        if client_auth != "PRIVATE_KEY_JWT":
            problems.append(Problem(ErrorCode.INVALID, "source_secret_not_used", field_path("private_key_pem", at)))
        elif len(private_key_pem) > PEM_MAX:
            problems.append(Problem(ErrorCode.INVALID, "source_key_invalid", field_path("private_key_pem", at)))
        else:
            try:
                pem, alg = normalize_private_key(private_key_pem)
            except BadPrivateKey as exc:
                problems.append(Problem(ErrorCode.INVALID, exc.reason, field_path("private_key_pem", at)))
            else:
                secret = SourceSecret("private_key", pem, key_id=key_id, alg=alg)
    if secret is not None and box is None:
        name = "client_secret" if secret.kind == "client_secret" else "private_key_pem"
        problems.append(Problem(ErrorCode.INVALID, "source_secret_key_missing", field_path(name, at)))
        return None
    return secret


def required_secret_field(client_auth: str) -> str:
    return "private_key_pem" if client_auth == "PRIVATE_KEY_JWT" else "client_secret"
