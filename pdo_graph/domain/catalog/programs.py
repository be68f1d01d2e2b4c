"""A provider's programs and groups one at a time (the mutations), written through write.py.

The caller has decided who may write (``own_program`` / ``own_group`` lock the row and check that
it is the calling provider's); these functions take ids. Rows are locked ``FOR NO KEY UPDATE`` (a
group row before anything else, as enrollment does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, Role, require_operator_of, require_provider_of, require_role
from pdo_graph.domain.catalog.rules import (
    GROUP_COLUMNS,
    GROUP_FIELDS,
    PROGRAM_COLUMNS,
    PROGRAM_FIELDS,
    GroupData,
    ProgramData,
    capacity_problem,
    normalize_group,
    normalize_program,
)
from pdo_graph.domain.catalog.write import (
    change_groups,
    change_programs,
    municipality_problem,
    put_groups,
    put_programs,
    unknown_municipalities,
)
from pdo_graph.domain.errors import DomainError, ErrorCode, field


async def _validated_program(conn: AsyncConnection, data: ProgramData) -> ProgramData:
    clean = normalize_program(data)
    if await unknown_municipalities(conn, [clean.municipality]):
        raise DomainError(municipality_problem(clean.municipality))
    return clean


async def _external_id_taken(
    conn: AsyncConnection, table: str, owner: str, owner_id: int, external_id: str, pk: int
) -> bool:
    row = await conn.execute(
        text(f"SELECT 1 FROM {table} WHERE {owner} = :o AND external_id = :e AND id <> :id"),
        {"o": owner_id, "e": external_id, "id": pk},
    )
    return row.first() is not None


# --- whose rows --------------------------------------------------------------------------------


_PROGRAM_ROW = (
    f"SELECT id, provider_id, certified, {', '.join(PROGRAM_COLUMNS)} FROM programs WHERE id = :id FOR NO KEY UPDATE"
)
_GROUP_ROW = (
    f"SELECT g.id, g.program_id, g.seats_taken, p.provider_id, {', '.join('g.' + c for c in GROUP_COLUMNS)}"
    " FROM groups g JOIN programs p ON p.id = g.program_id WHERE g.id = :id FOR NO KEY UPDATE OF g"
)


async def _locked(conn: AsyncConnection, query: str, pk: int, at: Sequence[str]) -> Row[Any]:
    row = (await conn.execute(text(query), {"id": pk})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", at)
    return row


async def _own(conn: AsyncConnection, actor: Actor, query: str, pk: int, at: Sequence[str]) -> Row[Any]:
    require_role(actor, Role.PROVIDER)
    row = await _locked(conn, query, pk, at)
    require_provider_of(actor, row.provider_id, at, "catalog_provider_not_own")
    return row


async def own_program(conn: AsyncConnection, actor: Actor, program_id: int, at: Sequence[str]) -> Row[Any]:
    """The program row, locked, if it belongs to the calling provider (FORBIDDEN otherwise)."""
    return await _own(conn, actor, _PROGRAM_ROW, program_id, at)


async def own_group(conn: AsyncConnection, actor: Actor, group_id: int, at: Sequence[str]) -> Row[Any]:
    """The group row, locked, if its program belongs to the calling provider."""
    return await _own(conn, actor, _GROUP_ROW, group_id, at)


# --- programs ----------------------------------------------------------------------------------


async def create_program(conn: AsyncConnection, provider_id: int, data: ProgramData) -> int:
    """A new program of the provider (not certified until an operator certifies it)."""
    clean = await _validated_program(conn, data)
    written = await put_programs(conn, provider_id, [clean], upsert=False)
    if not written:
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_program_external_duplicate", field("external_id"))
    return int(written[0].id)


async def update_program(conn: AsyncConnection, program_id: int, changes: Mapping[str, Any]) -> None:
    """Apply ``changes`` (ProgramData field -> value) and validate the result as a whole."""
    unknown = set(changes) - PROGRAM_FIELDS
    if unknown:
        raise ValueError(f"unknown program fields: {sorted(unknown)}")
    row = await _locked(conn, _PROGRAM_ROW, program_id, ["programId"])
    current = ProgramData(**{name: getattr(row, name) for name in PROGRAM_COLUMNS})
    clean = await _validated_program(conn, dataclasses.replace(current, **changes))
    if (
        clean.external_id is not None
        and clean.external_id != current.external_id
        and await _external_id_taken(conn, "programs", "provider_id", row.provider_id, clean.external_id, program_id)
    ):
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_program_external_duplicate", field("external_id"))
    await change_programs(conn, [(program_id, clean)])


async def set_program_archived(conn: AsyncConnection, program_id: int, archived: bool) -> None:
    """Archived programs leave search (and new applications) but stay readable by id."""
    await conn.execute(
        text("UPDATE programs SET archived = :a, modified_at = now() WHERE id = :id AND archived IS DISTINCT FROM :a"),
        {"a": archived, "id": program_id},
    )


async def certify_program(conn: AsyncConnection, actor: Actor, program_id: int, certified: bool) -> None:
    """The operator of the program's municipality certifies it (or withdraws the certificate)."""
    require_role(actor, Role.OPERATOR)
    at = ["programId"]
    row = await _locked(conn, _PROGRAM_ROW, program_id, at)
    require_operator_of(actor, row.municipality, at)
    if certified and row.funding_kind != "CERTIFICATE":
        raise DomainError.of(ErrorCode.INVALID, "catalog_certify_kind", at, kind=row.funding_kind)
    if row.certified != certified:
        await conn.execute(
            text("UPDATE programs SET certified = :c, modified_at = now() WHERE id = :id"),
            {"c": certified, "id": program_id},
        )


# --- groups ------------------------------------------------------------------------------------


async def create_group(conn: AsyncConnection, program_id: int, data: GroupData) -> int:
    """A new group (a run) of the program."""
    written = await put_groups(conn, [(program_id, normalize_group(data))], upsert=False)
    if not written:
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_group_external_duplicate", field("external_id"))
    return int(written[0].id)


async def update_group(conn: AsyncConnection, group_id: int, changes: Mapping[str, Any]) -> None:
    """Apply ``changes`` (GroupData field -> value); capacity cannot go below the seats taken."""
    unknown = set(changes) - GROUP_FIELDS
    if unknown:
        raise ValueError(f"unknown group fields: {sorted(unknown)}")
    row = await _locked(conn, _GROUP_ROW, group_id, ["groupId"])
    current = GroupData(**{name: getattr(row, name) for name in GROUP_COLUMNS})
    clean = normalize_group(dataclasses.replace(current, **changes))
    below = capacity_problem(clean.capacity, row.seats_taken)
    if below is not None:
        raise DomainError(below)
    if (
        clean.external_id is not None
        and clean.external_id != current.external_id
        and await _external_id_taken(conn, "groups", "program_id", row.program_id, clean.external_id, group_id)
    ):
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_group_external_duplicate", field("external_id"))
    await change_groups(conn, [(group_id, clean)])


async def set_group_enrollment(conn: AsyncConnection, group_id: int, open_: bool) -> None:
    """Open or close a group for new applications (running contracts are not affected)."""
    await conn.execute(
        text(
            "UPDATE groups SET enrollment_open = :o, modified_at = now()"
            " WHERE id = :id AND enrollment_open IS DISTINCT FROM :o"
        ),
        {"o": open_, "id": group_id},
    )


async def set_group_archived(conn: AsyncConnection, group_id: int, archived: bool) -> None:
    """Archived groups leave the catalog and take no applications; running contracts go on."""
    await conn.execute(
        text("UPDATE groups SET archived = :a, modified_at = now() WHERE id = :id AND archived IS DISTINCT FROM :a"),
        {"a": archived, "id": group_id},
    )
