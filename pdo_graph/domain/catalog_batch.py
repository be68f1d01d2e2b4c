"""Set-based catalog upserts for a page of a feed: PROPOSED for ``pdo_graph/domain/catalog.py``.

This module holds only domain code (no HTTP, no GraphQL) and is written to be moved verbatim into
the catalog domain service (then ``integrations.writer`` imports it from there). It applies the
same rules as ``upsert_program`` / ``upsert_group`` / ``archive_groups_except`` / ``set_program_archived``,
to many programs in a handful of statements instead of ~5 round trips per program:

1. every program and group is validated with ``normalize_program`` / ``normalize_group`` (no SQL);
2. unknown municipalities: one ``SELECT``;
3. the existing programs are looked up; their synced groups are locked (``FOR NO KEY UPDATE``, by
   id, as a group row is locked before anything else) and a capacity below the seats taken refuses
   the item;
4. one ``INSERT .. SELECT unnest(..) ON CONFLICT DO UPDATE .. WHERE (..) IS DISTINCT FROM (..)`` for
   the programs, one for the groups, one ``UPDATE`` archiving the synced groups no longer listed.

An item is refused as a whole before anything is written (its problems are returned), so a refused
item never leaves a half-applied program. Unexpected database errors propagate: the caller then
applies the page item by item with the per-row functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.catalog import GroupData, ProgramData, normalize_group, normalize_program
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem

Path = Sequence[str]

_PROGRAM_TYPES = {
    "title": "text",
    "description": "text",
    "direction": "text",
    "min_age": "smallint",
    "max_age": "smallint",
    "municipality": "text",
    "normative_cost": "bigint",
    "hours": "integer",
    "form": "text",
    "address": "text",
    "latitude": "double precision",
    "longitude": "double precision",
    "external_id": "text",
    "archived": "boolean",
}
_GROUP_TYPES = {
    "name": "text",
    "starts_on": "date",
    "ends_on": "date",
    "capacity": "integer",
    "price": "bigint",
    "enrollment_open": "boolean",
    "schedule": "text",
    "external_id": "text",
    "archived": "boolean",
}
_PROGRAM_COLUMNS = tuple(f.name for f in dataclasses.fields(ProgramData))
_GROUP_COLUMNS = tuple(f.name for f in dataclasses.fields(GroupData))
if set(_PROGRAM_COLUMNS) != set(_PROGRAM_TYPES) or set(_GROUP_COLUMNS) != set(_GROUP_TYPES):
    raise RuntimeError("catalog_batch: ProgramData / GroupData changed; update the column types here")


class BatchStatus(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    REFUSED = "REFUSED"


@dataclass(frozen=True, slots=True)
class ProgramWithGroups:
    """A program (``external_id`` set) with the complete list of its synced groups."""

    program: ProgramData
    groups: tuple[GroupData, ...]
    at: tuple[str, ...] = ("input",)  # field path prefix of the program's problems
    group_at: tuple[tuple[str, ...], ...] = ()  # one prefix per group (default: at + groups + index)

    def group_path(self, index: int) -> tuple[str, ...]:
        if index < len(self.group_at):
            return self.group_at[index]
        return (*self.at, "groups", str(index))


@dataclass(frozen=True, slots=True)
class BatchResult:
    status: BatchStatus
    program_id: int | None = None
    problems: tuple[Problem, ...] = ()


def _record(columns: Sequence[str], types: dict[str, str]) -> str:
    return ", ".join(f"{c} {types[c]}" for c in columns)


# Rows travel as one JSON document (orjson serialises the dataclasses, dates as ISO-8601) unpacked by
# json_to_recordset: an array parameter per column costs the driver a type check per element.


_P_COLS = ", ".join(_PROGRAM_COLUMNS)
_PROGRAMS_UPSERT = (
    f"INSERT INTO programs (provider_id, {_P_COLS}) SELECT :provider_id, {_P_COLS}"
    f" FROM json_to_recordset(CAST(:rows AS json)) AS r({_record(_PROGRAM_COLUMNS, _PROGRAM_TYPES)})"
    " ON CONFLICT (provider_id, external_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PROGRAM_COLUMNS if c != "external_id")
    + ", modified_at = now(), certified = programs.certified AND programs.municipality = excluded.municipality"
    " WHERE ("
    + ", ".join(f"programs.{c}" for c in _PROGRAM_COLUMNS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"excluded.{c}" for c in _PROGRAM_COLUMNS)
    + ") RETURNING id, external_id, (xmax = 0) AS created"
)
_G_COLS = ", ".join(_GROUP_COLUMNS)
_GROUPS_UPSERT = (
    f"INSERT INTO groups (program_id, {_G_COLS}) SELECT program_id, {_G_COLS}"
    " FROM ROWS FROM (unnest(CAST(:program_ids AS bigint[])),"
    f" json_to_recordset(CAST(:rows AS json)) AS ({_record(_GROUP_COLUMNS, _GROUP_TYPES)}))"
    f" AS r(program_id, {_G_COLS})"
    " ON CONFLICT (program_id, external_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _GROUP_COLUMNS if c != "external_id")
    + ", modified_at = now() WHERE groups.seats_taken <= excluded.capacity AND ("
    + ", ".join(f"groups.{c}" for c in _GROUP_COLUMNS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"excluded.{c}" for c in _GROUP_COLUMNS)
    + ") RETURNING program_id"
)
_ARCHIVE_MISSING = (
    "UPDATE groups g SET archived = true, modified_at = now()"
    " WHERE g.program_id = ANY(CAST(:pids AS bigint[])) AND g.external_id IS NOT NULL AND NOT g.archived"
    " AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:kp AS bigint[]), CAST(:ke AS text[])) AS k(p, e)"
    " WHERE k.p = g.program_id AND k.e = g.external_id) RETURNING g.program_id"
)


def _at(prefix: Sequence[str], name: str) -> list[str]:
    head, *rest = name.split("_")
    return [*prefix, head + "".join(part.title() for part in rest)]


@dataclass(frozen=True, slots=True)
class Checked:
    """An item that passed every rule needing no database (normalised program and groups)."""

    item: ProgramWithGroups
    program: ProgramData
    groups: tuple[GroupData, ...]


def check_program_with_groups(item: ProgramWithGroups) -> Checked | BatchResult:
    """The rules that need no database (pure: may run ahead of the writes, in another thread)."""
    if item.program.external_id is None:
        raise ValueError("every item needs an external_id")
    problems: list[Problem] = []
    program = item.program
    try:
        program = normalize_program(item.program, item.at)
    except DomainError as exc:
        problems += exc.problems
    groups: list[GroupData] = []
    seen: set[str | None] = set()
    for j, group in enumerate(item.groups):
        if group.external_id is None:
            raise ValueError("every group needs an external_id")
        try:
            cleaned = normalize_group(group, item.group_path(j))
        except DomainError as exc:
            problems += exc.problems
            continue
        if cleaned.external_id in seen:
            field = _at(item.group_path(j), "external_id")
            problems.append(Problem(ErrorCode.DUPLICATE, "catalog_group_external_duplicate", field))
        seen.add(cleaned.external_id)
        groups.append(cleaned)
    if problems:
        return BatchResult(BatchStatus.REFUSED, problems=tuple(problems))
    return Checked(item, program, tuple(groups))


async def upsert_programs_with_groups(
    conn: AsyncConnection, provider_id: int, items: Sequence[ProgramWithGroups]
) -> list[BatchResult]:
    """Create or update the provider's programs (by external id) with their groups, set-based.

    Each item's groups are the complete list of its synced groups: synced groups not listed are
    archived. External ids must be unique within ``items``. Refused items write nothing.
    """
    return await write_checked(conn, provider_id, [check_program_with_groups(item) for item in items])


async def write_checked(
    conn: AsyncConnection, provider_id: int, checked: Sequence[Checked | BatchResult]
) -> list[BatchResult]:
    """The database part of ``upsert_programs_with_groups`` for items already checked."""
    externals = [c.program.external_id for c in checked if isinstance(c, Checked)]
    if len(set(externals)) != len(externals):
        raise ValueError("every item needs a distinct external_id")
    results: list[BatchResult | None] = [c if isinstance(c, BatchResult) else None for c in checked]
    clean: dict[int, tuple[ProgramData, tuple[GroupData, ...]]] = {
        i: (c.program, c.groups) for i, c in enumerate(checked) if isinstance(c, Checked)
    }
    items = [c.item if isinstance(c, Checked) else None for c in checked]
    if clean:
        codes = sorted({p.municipality for p, _ in clean.values()})
        known = set(
            (await conn.execute(text("SELECT code FROM municipalities WHERE code = ANY(:c)"), {"c": codes})).scalars()
        )
        for i in [i for i, (p, _) in clean.items() if p.municipality not in known]:
            program = clean.pop(i)[0]
            problem = Problem(
                ErrorCode.INVALID,
                "municipality_unknown",
                _at(_item(items, i).at, "municipality"),
                code=program.municipality,
            )
            results[i] = BatchResult(BatchStatus.REFUSED, problems=(problem,))
    existing: dict[str, int] = {}
    if clean:
        rows = await conn.execute(
            text("SELECT id, external_id FROM programs WHERE provider_id = :p AND external_id = ANY(:e)"),
            {"p": provider_id, "e": [p.external_id for p, _ in clean.values()]},
        )
        existing = {r.external_id: int(r.id) for r in rows}
    if existing:
        taken_rows = await conn.execute(
            text(
                "SELECT program_id, external_id, seats_taken FROM groups"
                " WHERE program_id = ANY(:ids) AND external_id IS NOT NULL ORDER BY id FOR NO KEY UPDATE"
            ),
            {"ids": sorted(existing.values())},
        )
        taken = {(r.program_id, r.external_id): int(r.seats_taken) for r in taken_rows if r.seats_taken}
        if taken:
            for i in list(clean):
                program, groups = clean[i]
                pid = existing.get(program.external_id or "")
                problems = []
                for j, group in enumerate(groups):
                    seats = taken.get((pid, group.external_id), 0)
                    if seats > group.capacity:
                        field = _at(_item(items, i).group_path(j), "capacity")
                        problems.append(Problem(ErrorCode.INVALID, "catalog_capacity_below_taken", field, taken=seats))
                if problems:
                    del clean[i]
                    results[i] = BatchResult(BatchStatus.REFUSED, problems=tuple(problems))
    if clean:
        await _write(conn, provider_id, clean, results, existing)
    return [r if r is not None else BatchResult(BatchStatus.REFUSED) for r in results]


def _item(items: Sequence[ProgramWithGroups | None], i: int) -> ProgramWithGroups:
    item = items[i]
    assert item is not None
    return item


async def _write(
    conn: AsyncConnection,
    provider_id: int,
    clean: dict[int, tuple[ProgramData, tuple[GroupData, ...]]],
    results: list[BatchResult | None],
    existing: dict[str, int],
) -> None:
    order = list(clean)
    programs = orjson.dumps([clean[i][0] for i in order]).decode()
    written = (await conn.execute(text(_PROGRAMS_UPSERT), {"provider_id": provider_id, "rows": programs})).all()
    ids = {**existing, **{r.external_id: int(r.id) for r in written}}
    created = {r.external_id for r in written if r.created}
    missing = [clean[i][0].external_id for i in order if clean[i][0].external_id not in ids]
    if missing:  # created meanwhile by another transaction and unchanged since
        found = await conn.execute(
            text("SELECT id, external_id FROM programs WHERE provider_id = :p AND external_id = ANY(:e)"),
            {"p": provider_id, "e": missing},
        )
        ids.update({r.external_id: int(r.id) for r in found})
    group_rows = [(ids[clean[i][0].external_id], g) for i in order for g in clean[i][1]]
    changed: set[int] = set()
    if group_rows:
        gparams = {
            "program_ids": [pid for pid, _ in group_rows],
            "rows": orjson.dumps([g for _, g in group_rows]).decode(),
        }
        changed |= {int(pid) for pid in (await conn.execute(text(_GROUPS_UPSERT), gparams)).scalars()}
    program_ids = [ids[clean[i][0].external_id] for i in order if clean[i][0].external_id not in created]
    if program_ids:  # a program created just now has no other groups
        archived = await conn.execute(
            text(_ARCHIVE_MISSING),
            {"pids": program_ids, "kp": [pid for pid, _ in group_rows], "ke": [g.external_id for _, g in group_rows]},
        )
        changed |= {int(pid) for pid in archived.scalars()}
    updated = {r.external_id for r in written if not r.created}
    for i in order:
        external_id = clean[i][0].external_id
        pid = ids[external_id]
        if external_id in created:
            status = BatchStatus.CREATED
        elif external_id in updated or pid in changed:
            status = BatchStatus.UPDATED
        else:
            status = BatchStatus.UNCHANGED
        results[i] = BatchResult(status, pid)


async def archive_programs(conn: AsyncConnection, provider_id: int, external_ids: Sequence[str]) -> set[str]:
    """Archive the provider's programs with these external ids and their synced groups (running
    contracts go on); returns the external ids where anything changed."""
    if not external_ids:
        return set()
    programs = await conn.execute(
        text(
            "UPDATE programs SET archived = true, modified_at = now()"
            " WHERE provider_id = :p AND external_id = ANY(:e) AND NOT archived RETURNING external_id"
        ),
        {"p": provider_id, "e": list(external_ids)},
    )
    changed = {str(e) for e in programs.scalars()}
    groups = await conn.execute(
        text(
            "UPDATE groups g SET archived = true, modified_at = now() FROM programs p"
            " WHERE p.id = g.program_id AND p.provider_id = :p AND p.external_id = ANY(:e)"
            " AND g.external_id IS NOT NULL AND NOT g.archived RETURNING p.external_id"
        ),
        {"p": provider_id, "e": list(external_ids)},
    )
    changed |= {str(e) for e in groups.scalars()}
    return changed
