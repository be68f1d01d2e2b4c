"""Catalog sources: registering, changing, pausing and deleting a provider's feed (operator rules).

Only the operator of the provider's municipality manages its sources. Secrets (a client secret, or
a private key for ``private_key_jwt``) are write-only: sealed with :class:`SecretBox` before they
reach the database, never returned. Without ``PDO_SECRET_KEY`` no secret can be stored, so such
requests are refused with a user error. URLs must be https (plain http only on loopback, for
development and tests) and carry no credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.domain.access import Actor, Role, require_operator_of, require_role
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.errors import field as field_path
from pdo_graph.integrations.feeds import FORMATS
from pdo_graph.integrations.secrets import (
    BadPrivateKey,
    SecretBox,
    SecretUnreadable,
    SourceSecret,
    normalize_private_key,
)
from pdo_graph.net import is_loopback

AUTH_METHODS = ("CLIENT_SECRET_BASIC", "PRIVATE_KEY_JWT")
LOCK_CLASS = 7201003  # pg advisory lock class of "one sync run per source"
URL_MAX = 2000
TEXT_MAX = 500
SECRET_MAX = 2000
PEM_MAX = 20_000
INTERVAL = (1, 10_080)
MAX_ACTIVITY_MAP = 500
DEFAULT_INTERVAL = 60

Path = Sequence[str]
SOURCE = ["sourceId"]  # the field a refusal about the source itself names


def lock_key(source_id: int) -> int:
    """The second key of the source's advisory lock (int4)."""
    return source_id % 2_147_483_647


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
class _Clean:
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


def _validate(values: Mapping[str, Any], at: Path, problems: list[Problem]) -> _Clean:
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
    return _Clean(
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


def _new_secret(
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


def _required_secret_field(client_auth: str) -> str:
    return "private_key_pem" if client_auth == "PRIVATE_KEY_JWT" else "client_secret"


async def _provider(conn: AsyncConnection, provider_id: int, field: list[str]) -> Row[Any]:
    row = (
        await conn.execute(
            text("SELECT id, inn, municipality FROM providers WHERE id = :id"),
            {"id": provider_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", field)
    return row


async def create_source(
    conn: AsyncConnection, actor: Actor, spec: SourceSpec, box: SecretBox | None, at: Path = ()
) -> int:
    """An operator of the provider's municipality registers a feed of that provider."""
    require_role(actor, Role.OPERATOR)
    provider = await _provider(conn, spec.provider_id, field_path("provider_id", at))
    require_operator_of(actor, provider.municipality, field_path("provider_id", at))
    problems: list[Problem] = []
    values = {name: getattr(spec, name) for name in UPDATABLE if name not in ("client_secret", "private_key_pem")}
    clean = _validate(values, at, problems)
    secret = _new_secret(problems, at, clean.client_auth, spec.client_secret, spec.private_key_pem, clean.key_id, box)
    required = field_path(_required_secret_field(clean.client_auth), at)
    if secret is None and clean.client_auth in AUTH_METHODS and not any(p.field == required for p in problems):
        problems.append(Problem(ErrorCode.INVALID, "source_secret_required", required))
    if problems:
        raise DomainError(*problems)
    assert secret is not None and box is not None
    new_id = (
        await conn.execute(
            text(
                "INSERT INTO catalog_sources (provider_id, feed_url, format, issuer, client_id, client_auth,"
                " secret_encrypted, audience, scope, interval_minutes, default_direction, activity_directions)"
                " VALUES (:provider_id, :feed_url, :format, :issuer, :client_id, :client_auth, :secret, :audience,"
                " :scope, :interval, :direction, CAST(:map AS jsonb))"
                " ON CONFLICT (provider_id, feed_url) DO NOTHING RETURNING id"
            ),
            {
                "provider_id": provider.id,
                "feed_url": clean.feed_url,
                "format": clean.format,
                "issuer": clean.issuer,
                "client_id": clean.client_id,
                "client_auth": clean.client_auth,
                "secret": box.seal(secret),
                "audience": clean.audience,
                "scope": clean.scope,
                "interval": clean.interval_minutes,
                "direction": clean.default_direction,
                "map": orjson.dumps(clean.activity_directions).decode(),
            },
        )
    ).scalar()
    if new_id is None:
        raise DomainError.of(ErrorCode.DUPLICATE, "source_duplicate", field_path("feed_url", at))
    return int(new_id)


_SOURCE_LOCK = (
    "SELECT s.*, pr.municipality AS provider_municipality FROM catalog_sources s"
    " JOIN providers pr ON pr.id = s.provider_id WHERE s.id = :id FOR NO KEY UPDATE OF s"
)


async def managed_source(conn: AsyncConnection, actor: Actor, source_id: int, at: Path) -> Row[Any]:
    """The source row, locked, if the caller is the operator of its provider's municipality."""
    require_role(actor, Role.OPERATOR)
    row = (await conn.execute(text(_SOURCE_LOCK), {"id": source_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", at)
    require_operator_of(actor, row.provider_municipality, at)
    return row


async def update_source(
    conn: AsyncConnection,
    actor: Actor,
    source_id: int,
    changes: Mapping[str, Any],
    box: SecretBox | None,
    at: Path = (),
) -> None:
    """Change a source; a new feed URL or format starts the next sync from the feed's beginning."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not changeable: {sorted(unknown)}")
    row = await managed_source(conn, actor, source_id, field_path("source_id", at))
    current: dict[str, Any] = {
        "feed_url": row.feed_url,
        "format": row.format,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "client_auth": row.client_auth,
        "audience": row.audience,
        "scope": row.scope,
        "interval_minutes": row.interval_minutes,
        "default_direction": row.default_direction,
        "activity_directions": [(m["activity"], m["direction"]) for m in row.activity_directions or []],
        "key_id": None,
    }
    stored: SourceSecret | None = None
    if box is not None and row.secret_encrypted is not None:
        try:
            stored = box.open(row.secret_encrypted)
        except SecretUnreadable:
            stored = None
    if stored is not None:
        current["key_id"] = stored.key_id
    merged = {**current, **{k: v for k, v in changes.items() if k not in ("client_secret", "private_key_pem")}}
    problems: list[Problem] = []
    clean = _validate(merged, at, problems)
    secret = _new_secret(
        problems, at, clean.client_auth, changes.get("client_secret"), changes.get("private_key_pem"), clean.key_id, box
    )
    if secret is None and not problems:
        required = field_path(_required_secret_field(clean.client_auth), at)
        if row.secret_encrypted is None or clean.client_auth != row.client_auth:
            problems.append(Problem(ErrorCode.INVALID, "source_secret_required", required))
        elif "key_id" in changes and clean.key_id != current["key_id"]:
            if stored is None or stored.kind != "private_key":
                problems.append(Problem(ErrorCode.INVALID, "source_secret_required", required))
            else:
                secret = SourceSecret(stored.kind, stored.value, key_id=clean.key_id, alg=stored.alg)
    if problems:
        raise DomainError(*problems)
    if clean.feed_url != row.feed_url:
        taken = await conn.execute(
            text("SELECT 1 FROM catalog_sources WHERE provider_id = :p AND feed_url = :u AND id <> :id"),
            {"p": row.provider_id, "u": clean.feed_url, "id": source_id},
        )
        if taken.first() is not None:
            raise DomainError.of(ErrorCode.DUPLICATE, "source_duplicate", field_path("feed_url", at))
    restart = clean.feed_url != row.feed_url or clean.format != row.format
    params: dict[str, Any] = {
        "id": source_id,
        "feed_url": clean.feed_url,
        "format": clean.format,
        "issuer": clean.issuer,
        "client_id": clean.client_id,
        "client_auth": clean.client_auth,
        "audience": clean.audience,
        "scope": clean.scope,
        "interval": clean.interval_minutes,
        "direction": clean.default_direction,
        "map": orjson.dumps(clean.activity_directions).decode(),
        "secret": None if secret is None else box.seal(secret) if box is not None else None,
        "restart": restart,
    }
    await conn.execute(
        text(
            "UPDATE catalog_sources SET feed_url = :feed_url, format = :format, issuer = :issuer,"
            " client_id = :client_id, client_auth = :client_auth, audience = :audience, scope = :scope,"
            " interval_minutes = :interval, default_direction = :direction, activity_directions = CAST(:map AS jsonb),"
            " secret_encrypted = coalesce(:secret, secret_encrypted), updated_at = now(),"
            " cursor = CASE WHEN :restart THEN NULL ELSE cursor END,"
            " position_modified = CASE WHEN :restart THEN NULL ELSE position_modified END,"
            " position_id = CASE WHEN :restart THEN NULL ELSE position_id END,"
            " harvest_run_id = CASE WHEN :restart THEN NULL ELSE harvest_run_id END,"
            " caught_up_at = CASE WHEN :restart THEN NULL ELSE caught_up_at END"
            " WHERE id = :id"
        ),
        params,
    )
    if restart:
        # Another feed may count `modified` differently: nothing it sends is stale for us.
        await conn.execute(text("UPDATE catalog_feed_items SET modified = 0 WHERE source_id = :id"), {"id": source_id})


async def set_source_paused(conn: AsyncConnection, actor: Actor, source_id: int, paused: bool, at: Path = ()) -> None:
    """Paused sources are not synced in the background (an operator may still sync them now)."""
    await managed_source(conn, actor, source_id, field_path("source_id", at))
    await conn.execute(
        text(
            "UPDATE catalog_sources SET paused = :p, updated_at = now(),"
            " next_run_at = CASE WHEN :p THEN next_run_at ELSE least(next_run_at, now()) END WHERE id = :id"
        ),
        {"p": paused, "id": source_id},
    )


async def delete_source(conn: AsyncConnection, actor: Actor, source_id: int, at: Path = ()) -> None:
    """Forget a source, its runs and its feed positions; the programs it brought stay in the catalog."""
    await managed_source(conn, actor, source_id, field_path("source_id", at))
    free = (
        await conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:cls, :key)"), {"cls": LOCK_CLASS, "key": lock_key(source_id)}
        )
    ).scalar()
    if not free:
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "source_busy", field_path("source_id", at))
    await conn.execute(text("DELETE FROM catalog_sources WHERE id = :id"), {"id": source_id})
