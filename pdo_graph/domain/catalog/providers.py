"""Providers (organisations) and who may act for them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, Role, require_operator_of, require_provider_of, require_role
from pdo_graph.domain.catalog.rules import ProviderData, normalize_provider
from pdo_graph.domain.catalog.write import municipality_problem, unknown_municipalities
from pdo_graph.domain.errors import DomainError, ErrorCode, field


async def insert_provider(conn: AsyncConnection, data: ProviderData) -> int:
    """Register an organisation; a second one with the same ИНН is a DUPLICATE."""
    clean = normalize_provider(data)
    if await unknown_municipalities(conn, [clean.municipality]):
        raise DomainError(municipality_problem(clean.municipality))
    new_id = (
        await conn.execute(
            text(
                "INSERT INTO providers (name, inn, municipality, address) VALUES (:name, :inn, :m, :address)"
                " ON CONFLICT (inn) DO NOTHING RETURNING id"
            ),
            {"name": clean.name, "inn": clean.inn, "m": clean.municipality, "address": clean.address},
        )
    ).scalar()
    if new_id is None:
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_provider_duplicate", field("inn"))
    return int(new_id)


async def register_provider(conn: AsyncConnection, actor: Actor, data: ProviderData) -> int:
    """An operator registers an organisation of their own municipality."""
    require_operator_of(actor, data.municipality.strip(), field("municipality"))
    return await insert_provider(conn, data)


async def editable_provider(conn: AsyncConnection, actor: Actor, provider_id: int, at: Sequence[str]) -> Row[Any]:
    """The provider row, locked, if the caller is its staff or the operator of its municipality."""
    require_role(actor, Role.PROVIDER, Role.OPERATOR)
    row = (
        await conn.execute(
            text("SELECT id, name, inn, municipality, address FROM providers WHERE id = :id FOR NO KEY UPDATE"),
            {"id": provider_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", at)
    if actor.role is Role.OPERATOR:
        require_operator_of(actor, row.municipality, at)
    else:
        require_provider_of(actor, provider_id, at, "catalog_provider_not_own")
    return row


async def update_provider(conn: AsyncConnection, provider_id: int, changes: Mapping[str, Any]) -> None:
    """Change the name and/or address (the ИНН and municipality identify the organisation)."""
    unknown = set(changes) - {"name", "address"}
    if unknown:
        raise ValueError(f"not changeable: {sorted(unknown)}")
    row = (
        await conn.execute(
            text("SELECT name, inn, municipality, address FROM providers WHERE id = :id FOR NO KEY UPDATE"),
            {"id": provider_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ["providerId"])
    current = ProviderData(name=row.name, inn=row.inn, municipality=row.municipality, address=row.address)
    clean = normalize_provider(dataclasses.replace(current, **changes))
    await conn.execute(
        text("UPDATE providers SET name = :name, address = :address WHERE id = :id"),
        {"name": clean.name, "address": clean.address, "id": provider_id},
    )
