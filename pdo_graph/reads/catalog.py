"""Reads of the catalog: providers, programs, groups, and what a certificate can pay now."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from pdo_graph.domain import search
from pdo_graph.domain.search import PROGRAM_COLUMNS
from pdo_graph.reads.base import Key, Scope, many_by_key, one_by_key


class ProviderRow(Protocol):
    id: int
    name: str
    inn: str
    municipality: str
    address: str | None


class ProgramRow(Protocol):
    id: int
    provider_id: int
    external_id: str | None
    title: str
    description: str
    direction: str
    min_age: int
    max_age: int
    hours: int | None
    form: str
    municipality: str
    address: str | None
    latitude: float | None
    longitude: float | None
    normative_cost: int | None
    certified: bool
    archived: bool
    rating_sum: int
    rating_count: int
    funding_kind: str
    for_disabilities: bool


class GroupRow(Protocol):
    id: int
    program_id: int
    external_id: str | None
    name: str
    starts_on: date
    ends_on: date
    schedule: str | None
    capacity: int
    seats_taken: int
    price: int
    enrollment_open: bool
    archived: bool


PROVIDER_SQL = "SELECT pr.id, pr.name, pr.inn, pr.municipality, pr.address FROM providers pr"
PROGRAM_SQL = f"SELECT {PROGRAM_COLUMNS} FROM programs p"  # the search's rows prime this loader
GROUP_SQL = (
    "SELECT g.id, g.program_id, g.external_id, g.name, g.starts_on, g.ends_on, g.schedule, g.capacity,"
    " g.seats_taken, g.price, g.enrollment_open, g.archived FROM groups g"
)

PROVIDER: Key[int, ProviderRow | None] = one_by_key("provider", PROVIDER_SQL + " WHERE pr.id = ANY(:keys)", ProviderRow)
PROGRAM: Key[int, ProgramRow | None] = one_by_key("program", PROGRAM_SQL + " WHERE p.id = ANY(:keys)", ProgramRow)
GROUP: Key[int, GroupRow | None] = one_by_key("group", GROUP_SQL + " WHERE g.id = ANY(:keys)", GroupRow)
GROUPS_OF_PROGRAM: Key[int, list[GroupRow]] = many_by_key(
    "groups_of_program",
    GROUP_SQL + " WHERE g.program_id = ANY(:keys) AND NOT g.archived ORDER BY g.program_id, g.starts_on, g.id",
    GroupRow,
    key="program_id",
)


async def search_programs(
    scope: Scope, query: search.SearchQuery, first: int, cursor: list[Any] | None, counts: bool
) -> search.SearchPage:
    """The navigator's page (one statement; raises ``search.BadCursor`` for a cursor of another order)."""
    sql, params, tag = search.build(query, first, cursor, counts)
    return search.page_of(query, await scope.fetch(sql, params), tag, counts)
