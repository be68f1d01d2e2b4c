"""Reads of the catalog: providers, programs, groups, and what a certificate can pay now."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, cast

import orjson

from pdo_graph.domain import search
from pdo_graph.domain.search import PROGRAM_COLUMNS
from pdo_graph.reads.base import Key, Scope, many_by_key, one_by_key, row_columns


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


PROVIDER_COLUMNS = "pr.id, pr.name, pr.inn, pr.municipality, pr.address"
GROUP_COLUMNS = (
    "g.id, g.program_id, g.external_id, g.name, g.starts_on, g.ends_on, g.schedule, g.capacity,"
    " g.seats_taken, g.price, g.enrollment_open, g.archived"
)
PROVIDER_SQL = f"SELECT {PROVIDER_COLUMNS} FROM providers pr"
PROGRAM_SQL = f"SELECT {PROGRAM_COLUMNS} FROM programs p"  # the search's rows prime this loader
GROUP_SQL = f"SELECT {GROUP_COLUMNS} FROM groups g"
LISTED_GROUPS = "NOT g.archived ORDER BY g.program_id, g.starts_on, g.id"  # a program's groups, as listed

PROVIDER: Key[int, ProviderRow | None] = one_by_key("provider", PROVIDER_SQL + " WHERE pr.id = ANY(:keys)", ProviderRow)
PROGRAM: Key[int, ProgramRow | None] = one_by_key("program", PROGRAM_SQL + " WHERE p.id = ANY(:keys)", ProgramRow)
GROUP: Key[int, GroupRow | None] = one_by_key("group", GROUP_SQL + " WHERE g.id = ANY(:keys)", GroupRow)
GROUPS_OF_PROGRAM: Key[int, list[GroupRow]] = many_by_key(
    "groups_of_program",
    GROUP_SQL + " WHERE g.program_id = ANY(:keys) AND " + LISTED_GROUPS,
    GroupRow,
    key="program_id",
)


@dataclass(frozen=True, slots=True)
class Along:
    """What a search reads along with its programs, each program's: the provider (column
    ``provider_along``: one record of ``ProviderRow``'s columns) and the listed groups (column
    ``groups_along``: the text of a JSON array of arrays of ``GroupRow``'s columns, dates as ISO
    strings, as ``GROUPS_OF_PROGRAM`` lists them: JSON because records in arrays cost far more to
    decode, as text to be parsed by orjson, see ``groups_of``)."""

    provider: bool = False
    groups: bool = False


NOTHING_ALONG = Along()

_GROUP_JSON = f"json_build_array({GROUP_COLUMNS})"


def search_statement(
    query: search.SearchQuery, first: int, cursor: list[Any] | None, counts: bool, along: Along = NOTHING_ALONG
) -> tuple[str, dict[str, Any], str]:
    """SQL, parameters and cursor tag of a search page with what it reads along (``search.build``'s
    statement as it is when nothing is read along)."""
    sql, params, tag = search.build(query, first, cursor, counts)
    extra = []
    if along.provider:
        extra.append(
            f"(SELECT ROW({PROVIDER_COLUMNS}) FROM providers pr WHERE pr.id = o.provider_id) AS provider_along"
        )
    if along.groups:
        order = LISTED_GROUPS.replace("NOT g.archived ORDER BY g.program_id, ", "")
        extra.append(
            f"(SELECT coalesce(json_agg({_GROUP_JSON} ORDER BY {order}), '[]')::text FROM groups g"
            " WHERE g.program_id = o.id AND NOT g.archived) AS groups_along"
        )
    if extra:
        sql = f"SELECT o.*, {', '.join(extra)} FROM ({sql}) o ORDER BY o.sort_key, o.id"
    return sql, params, tag


_ProviderTuple = namedtuple("_ProviderTuple", row_columns(ProviderRow))  # type: ignore[misc]
_GroupTuple = namedtuple("_GroupTuple", row_columns(GroupRow))  # type: ignore[misc]
GROUP_INDEX = {c: i for i, c in enumerate(row_columns(GroupRow))}  # a group read along: its columns' places
_DATES = (GROUP_INDEX["starts_on"], GROUP_INDEX["ends_on"])


def provider_of(record: Sequence[Any]) -> ProviderRow:
    """The provider read along (a record of ``PROVIDER_COLUMNS``) as a row."""
    row: Any = _ProviderTuple(*record)
    return cast(ProviderRow, row)


def groups_of(along: str) -> list[list[Any]]:
    """The groups a program's row read along (its ``groups_along``): each a list of the columns."""
    groups: list[list[Any]] = orjson.loads(along)
    return groups


def group_of(values: Sequence[Any]) -> GroupRow:
    """A group read along (the JSON array of ``GROUP_COLUMNS``) as a row."""
    row = list(values)
    for i in _DATES:
        row[i] = date.fromisoformat(row[i])
    return cast(GroupRow, _GroupTuple(*row))


async def search_programs(
    scope: Scope,
    query: search.SearchQuery,
    first: int,
    cursor: list[Any] | None,
    counts: bool,
    along: Along = NOTHING_ALONG,
) -> search.SearchPage:
    """The navigator's page (one statement; raises ``search.BadCursor`` for a cursor of another order),
    with the rows of ``along`` in each program's row."""
    sql, params, tag = search_statement(query, first, cursor, counts, along)
    return search.page_of(query, await scope.fetch(sql, params), tag, counts)


def prime_along(scope: Scope, page: search.SearchPage, along: Along) -> None:
    """Give the loaders of providers and groups of programs what the page read along (for the fields
    resolved level by level)."""
    if scope.loaders is None:
        return
    if along.provider:
        providers = scope.loaders[PROVIDER]
        for r in page.rows:
            if r.provider_along is not None:
                providers.prime(r.provider_id, provider_of(r.provider_along))
    if along.groups:
        groups = scope.loaders[GROUPS_OF_PROGRAM]
        for r in page.rows:
            groups.prime(r.id, [group_of(g) for g in groups_of(r.groups_along)])
