"""One actor per request: the token's principal with its provider organisation resolved.

A provider's token names its organisation as the platform's global id, its ИНН, or its numeric
id; which organisation that is gets looked up here once (one statement, only for PROVIDER tokens).
Every other role needs no lookup: an operator's or analyst's municipality is the token's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.auth.principal import Principal
from pdo_graph.domain.access import ANONYMOUS, Actor, Role
from pdo_graph.ids import decode_pk

T = TypeVar("T")
Read = Callable[[Callable[[AsyncConnection], Awaitable[T]]], Awaitable[T]]

# The ИНН first, then the numeric id (a claim of digits is an ИНН unless no provider has it).
_PROVIDER_SQL = "SELECT id FROM providers WHERE inn = :claim OR id = :pk ORDER BY (inn = :claim) DESC LIMIT 1"


def provider_pk_of_claim(claim: str) -> int | None:
    """The id a provider claim may name: its global id, or a short number (an ИНН has 10 or 12 digits)."""
    pk = decode_pk(claim, "Provider")
    if pk is None and claim.isdigit() and len(claim) < 10:
        pk = int(claim)
    return pk


async def resolve_actor(principal: Principal, read: Read[Actor]) -> Actor:
    """The actor of ``principal``; ``read`` runs a statement (``RequestDb.read`` in a request)."""
    if principal.role is None:
        return ANONYMOUS
    if principal.role is not Role.PROVIDER or principal.provider is None:
        return Actor(principal.role, principal.subject, principal.municipality)
    claim = principal.provider
    pk = provider_pk_of_claim(claim)
    by_global_id = decode_pk(claim, "Provider") is not None

    async def lookup(conn: AsyncConnection) -> Actor:
        found = (await conn.execute(text(_PROVIDER_SQL), {"claim": None if by_global_id else claim, "pk": pk})).scalar()
        return Actor(Role.PROVIDER, principal.subject, principal.municipality, None if found is None else int(found))

    return await read(lookup)
