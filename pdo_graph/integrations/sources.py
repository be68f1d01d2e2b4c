"""Catalog sources: registering, changing, pausing and deleting a provider's feed (operator rules).

Only the operator of the provider's municipality manages its sources. Secrets (a client secret, or
a private key for ``private_key_jwt``) are write-only: sealed with :class:`SecretBox` before they
reach the database, never returned. Without ``PDO_SECRET_KEY`` no secret can be stored, so such
requests are refused with a user error. URLs must be https (plain http only on loopback, for
development and tests) and carry no credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, Role, require_operator_of, require_role
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.errors import field as field_path
from pdo_graph.integrations.secrets import SecretBox, SecretUnreadable, SourceSecret
from pdo_graph.integrations.source_rules import (
    AUTH_METHODS,
    UPDATABLE,
    Path,
    SourceSpec,
    new_secret,
    required_secret_field,
    validate,
)

LOCK_CLASS = 7201003  # pg advisory lock class of "one sync run per source"
SOURCE = ["sourceId"]  # the field a refusal about the source itself names


def lock_key(source_id: int) -> int:
    """The second key of the source's advisory lock (int4)."""
    return source_id % 2_147_483_647


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
    clean = validate(values, at, problems)
    secret = new_secret(problems, at, clean.client_auth, spec.client_secret, spec.private_key_pem, clean.key_id, box)
    required = field_path(required_secret_field(clean.client_auth), at)
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
    clean = validate(merged, at, problems)
    secret = new_secret(
        problems, at, clean.client_auth, changes.get("client_secret"), changes.get("private_key_pem"), clean.key_id, box
    )
    if secret is None and not problems:
        required = field_path(required_secret_field(clean.client_auth), at)
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
