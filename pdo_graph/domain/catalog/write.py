"""The one way programs and groups are written: set-based, for one row or a page of thousands.

Every write of catalog data comes here: the mutations (``create_*``, ``update_*`` in programs.py and
groups.py, one row each), a provider's push and the catalog sync (``write_items``: programs with
the complete lists of their synced groups), the demo. Rows travel as one JSON document unpacked by
``json_to_recordset``, so a page costs a handful of statements whatever its size:

- programs and groups keyed by external id: one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE (..) IS
  DISTINCT FROM (..)`` each (an unchanged row is not touched); a create (``upsert=False``) leaves a
  conflicting row alone and is told its external id is taken;
- rows changed by id: one ``UPDATE .. FROM`` each;
- certification is the act of the program's municipality's operator: a program moved to another
  municipality loses it, whichever way it is written.

An item of ``write_items`` is refused as a whole before anything is written, in this order: every
rule needing no database at once (rules.py), then its municipality, then its groups' capacity
against the seats taken (existing synced groups are locked first, by id, ``FOR NO KEY UPDATE``).
Problems carry the item's own field names (``["groups", "0", "capacity"]``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Row, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.db.session import RETRYABLE_SQLSTATES, sqlstate
from pdo_graph.domain.catalog.items import Checked, ItemResult, Outcome
from pdo_graph.domain.catalog.rules import (
    GROUP_COLUMNS,
    PROGRAM_COLUMNS,
    GroupData,
    ProgramData,
    capacity_problem,
)
from pdo_graph.domain.errors import ErrorCode, Problem, field

log = logging.getLogger(__name__)


# --- statements --------------------------------------------------------------------------------

_TYPES = {
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
    "name": "text",
    "starts_on": "date",
    "ends_on": "date",
    "capacity": "integer",
    "price": "bigint",
    "enrollment_open": "boolean",
    "schedule": "text",
    "external_id": "text",
    "archived": "boolean",
    "funding_kind": "text",
    "for_disabilities": "boolean",
    "id": "bigint",
}
if not set(PROGRAM_COLUMNS) | set(GROUP_COLUMNS) <= set(_TYPES):
    raise RuntimeError("catalog.write: ProgramData / GroupData changed; give the new columns their types here")


def _record(columns: Sequence[str]) -> str:
    return ", ".join(f"{c} {_TYPES[c]}" for c in columns)


def _differs(table: str, other: str, columns: Sequence[str]) -> str:
    return "({}) IS DISTINCT FROM ({})".format(
        ", ".join(f"{table}.{c}" for c in columns), ", ".join(f"{other}.{c}" for c in columns)
    )


def _assign(source: str, columns: Sequence[str]) -> str:
    return ", ".join(f"{c} = {source}.{c}" for c in columns)


_P = ", ".join(PROGRAM_COLUMNS)
_G = ", ".join(GROUP_COLUMNS)
# certification stays only where the program stays in its municipality (its operator certified it) and
# stays certificate-funded (a MUNICIPAL or PAID program is never certified)
_KEEP_CERTIFIED = (
    "certified = {t}.certified AND {t}.municipality = {s}.municipality AND {s}.funding_kind = 'CERTIFICATE'"
)
_PUT_PROGRAMS = (
    f"INSERT INTO programs (provider_id, {_P}) SELECT :provider_id, {_P}"
    f" FROM json_to_recordset(CAST(:rows AS json)) AS r({_record(PROGRAM_COLUMNS)})"
    " ON CONFLICT (provider_id, external_id) DO UPDATE SET"
    f" {_assign('excluded', [c for c in PROGRAM_COLUMNS if c != 'external_id'])}, modified_at = now(),"
    f" {_KEEP_CERTIFIED.format(t='programs', s='excluded')}"
    f" WHERE CAST(:upsert AS boolean) AND {_differs('programs', 'excluded', PROGRAM_COLUMNS)}"
    " RETURNING id, external_id, (xmax = 0) AS created"
)
_CHANGE_PROGRAMS = (
    f"UPDATE programs p SET {_assign('r', PROGRAM_COLUMNS)}, modified_at = now(), {_KEEP_CERTIFIED.format(t='p', s='r')}"
    f" FROM json_to_recordset(CAST(:rows AS json)) AS r({_record(('id', *PROGRAM_COLUMNS))})"
    f" WHERE p.id = r.id AND {_differs('p', 'r', PROGRAM_COLUMNS)} RETURNING p.id"
)
_PUT_GROUPS = (
    f"INSERT INTO groups (program_id, {_G}) SELECT program_id, {_G}"
    " FROM ROWS FROM (unnest(CAST(:program_ids AS bigint[])),"
    f" json_to_recordset(CAST(:rows AS json)) AS ({_record(GROUP_COLUMNS)})) AS r(program_id, {_G})"
    " ON CONFLICT (program_id, external_id) DO UPDATE SET"
    f" {_assign('excluded', [c for c in GROUP_COLUMNS if c != 'external_id'])}, modified_at = now()"
    f" WHERE CAST(:upsert AS boolean) AND {_differs('groups', 'excluded', GROUP_COLUMNS)}"
    " RETURNING id, program_id, (xmax = 0) AS created"
)
_CHANGE_GROUPS = (
    f"UPDATE groups g SET {_assign('r', GROUP_COLUMNS)}, modified_at = now()"
    f" FROM json_to_recordset(CAST(:rows AS json)) AS r({_record(('id', *GROUP_COLUMNS))})"
    f" WHERE g.id = r.id AND {_differs('g', 'r', GROUP_COLUMNS)} RETURNING g.id"
)
_ARCHIVE_UNLISTED = (
    "UPDATE groups g SET archived = true, modified_at = now()"
    " WHERE g.program_id = ANY(CAST(:pids AS bigint[])) AND g.external_id IS NOT NULL AND NOT g.archived"
    " AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:kp AS bigint[]), CAST(:ke AS text[])) AS k(p, e)"
    " WHERE k.p = g.program_id AND k.e = g.external_id) RETURNING g.program_id"
)


def _json(rows: Iterable[object]) -> str:
    return orjson.dumps(list(rows)).decode()


def _with_id(row_id: int, data: ProgramData | GroupData) -> dict[str, Any]:
    return {"id": row_id, **{f.name: getattr(data, f.name) for f in dataclasses.fields(data)}}


async def put_programs(
    conn: AsyncConnection, provider_id: int, programs: Sequence[ProgramData], upsert: bool
) -> list[Row[Any]]:
    """Insert the provider's programs (cleaned); keyed by external id, an existing one is updated where
    it differs (``upsert``) or left alone. Returns (id, external_id, created) of rows written."""
    params = {"provider_id": provider_id, "rows": _json(programs), "upsert": upsert}
    return list((await conn.execute(text(_PUT_PROGRAMS), params)).all())


async def change_programs(conn: AsyncConnection, programs: Sequence[tuple[int, ProgramData]]) -> set[int]:
    """Update programs by id (cleaned data); returns the ids that changed."""
    rows = _json(_with_id(pk, data) for pk, data in programs)
    return {int(pk) for pk in (await conn.execute(text(_CHANGE_PROGRAMS), {"rows": rows})).scalars()}


async def put_groups(conn: AsyncConnection, groups: Sequence[tuple[int, GroupData]], upsert: bool) -> list[Row[Any]]:
    """Insert groups (program id, cleaned data); keyed by (program, external id) like ``put_programs``.
    Returns (id, program_id, created) of rows written."""
    params = {"program_ids": [pid for pid, _ in groups], "rows": _json(g for _, g in groups), "upsert": upsert}
    return list((await conn.execute(text(_PUT_GROUPS), params)).all())


async def change_groups(conn: AsyncConnection, groups: Sequence[tuple[int, GroupData]]) -> set[int]:
    """Update groups by id (cleaned data; capacity already checked); returns the ids that changed."""
    rows = _json(_with_id(pk, data) for pk, data in groups)
    return {int(pk) for pk in (await conn.execute(text(_CHANGE_GROUPS), {"rows": rows})).scalars()}


# --- what the database knows -------------------------------------------------------------------


async def unknown_municipalities(conn: AsyncConnection, codes: Iterable[str]) -> set[str]:
    wanted = sorted(set(codes))
    rows = await conn.execute(text("SELECT code FROM municipalities WHERE code = ANY(:c)"), {"c": wanted})
    return set(wanted) - set(rows.scalars())


def municipality_problem(code: str) -> Problem:
    return Problem(ErrorCode.INVALID, "municipality_unknown", field("municipality"), code=code)


async def _program_ids(conn: AsyncConnection, provider_id: int, external_ids: list[str | None]) -> dict[str, int]:
    rows = await conn.execute(
        text("SELECT id, external_id FROM programs WHERE provider_id = :p AND external_id = ANY(:e)"),
        {"p": provider_id, "e": external_ids},
    )
    return {r.external_id: int(r.id) for r in rows}


async def _lock_synced_groups(conn: AsyncConnection, program_ids: Iterable[int]) -> dict[tuple[int, str], int]:
    """Seats taken in the programs' synced groups, the groups locked (by id, as enrollment locks)."""
    rows = await conn.execute(
        text(
            "SELECT program_id, external_id, seats_taken FROM groups"
            " WHERE program_id = ANY(:ids) AND external_id IS NOT NULL ORDER BY id FOR NO KEY UPDATE"
        ),
        {"ids": sorted(program_ids)},
    )
    return {(int(r.program_id), r.external_id): int(r.seats_taken) for r in rows}


# --- programs with their groups ----------------------------------------------------------------


async def write_checked(
    conn: AsyncConnection, provider_id: int, checked: Sequence[Checked | ItemResult]
) -> list[ItemResult]:
    """Write items already checked (``check_item``); one result per item, in order.

    External ids must be distinct across the items. Refused items write nothing."""
    ready = {i: c for i, c in enumerate(checked) if isinstance(c, Checked)}
    externals = [c.program.external_id for c in ready.values()]
    if len(set(externals)) != len(externals):
        raise ValueError("every item needs a distinct external_id")
    results: list[ItemResult | None] = [c if isinstance(c, ItemResult) else None for c in checked]
    if ready:
        unknown = await unknown_municipalities(conn, (c.program.municipality for c in ready.values()))
        for i in [i for i, c in ready.items() if c.program.municipality in unknown]:
            results[i] = ItemResult(
                Outcome.REJECTED, problems=(municipality_problem(ready.pop(i).program.municipality),)
            )
    existing = await _program_ids(conn, provider_id, [c.program.external_id for c in ready.values()]) if ready else {}
    if existing:
        taken = await _lock_synced_groups(conn, existing.values())
        for i, item in list(ready.items()):
            pid = existing.get(item.program.external_id or "")
            if pid is None:
                continue
            below = (
                capacity_problem(g.capacity, taken.get((pid, g.external_id or ""), 0), ("groups", str(j)))
                for j, g in enumerate(item.groups)
            )
            problems = [p for p in below if p is not None]
            if problems:
                del ready[i]
                results[i] = ItemResult(Outcome.REJECTED, problems=tuple(problems))
    if ready:
        await _write_ready(conn, provider_id, ready, results, existing)
    return [r if r is not None else ItemResult(Outcome.REJECTED) for r in results]


async def _write_ready(
    conn: AsyncConnection,
    provider_id: int,
    ready: dict[int, Checked],
    results: list[ItemResult | None],
    existing: dict[str, int],
) -> None:
    written = await put_programs(conn, provider_id, [c.program for c in ready.values()], upsert=True)
    ids = {**existing, **{r.external_id: int(r.id) for r in written}}
    created = {r.external_id for r in written if r.created}
    updated = {r.external_id for r in written if not r.created}
    missing = [c.program.external_id for c in ready.values() if c.program.external_id not in ids]
    if missing:  # created meanwhile by another transaction and unchanged since
        ids.update(await _program_ids(conn, provider_id, missing))
    groups = [(ids[c.program.external_id or ""], g) for c in ready.values() for g in c.groups]
    changed: set[int] = set()
    if groups:
        changed |= {int(r.program_id) for r in await put_groups(conn, groups, upsert=True)}
    kept = [ids[c.program.external_id or ""] for c in ready.values() if c.program.external_id not in created]
    if kept:  # a program created just now has no other groups
        params = {"pids": kept, "kp": [pid for pid, _ in groups], "ke": [g.external_id for _, g in groups]}
        changed |= {int(pid) for pid in (await conn.execute(text(_ARCHIVE_UNLISTED), params)).scalars()}
    for i, item in ready.items():
        external_id = item.program.external_id
        pid = ids[external_id or ""]
        if external_id in created:
            outcome = Outcome.CREATED
        elif external_id in updated or pid in changed:
            outcome = Outcome.UPDATED
        else:
            outcome = Outcome.UNCHANGED
        results[i] = ItemResult(outcome, pid)


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


async def write_items(
    conn: AsyncConnection,
    provider_id: int,
    items: Sequence[Checked | ItemResult],
    archives: Sequence[str] = (),
) -> tuple[list[ItemResult], list[ItemResult]]:
    """Write checked items and archive deleted programs (by external id): results of each, in order.

    External ids must be distinct across both lists. All in one savepoint; when the database refuses
    it for a reason the rules did not foresee, each item is written alone in its own savepoint (one
    the database refuses is REJECTED with ``sync_item_database``, the others go on)."""
    try:
        async with conn.begin_nested():
            changed = await archive_programs(conn, provider_id, archives)
            written = await write_checked(conn, provider_id, items)
    except DBAPIError as exc:
        if sqlstate(exc) in RETRYABLE_SQLSTATES:
            raise
        log.warning("catalog write refused by the database (sqlstate %s); writing item by item", sqlstate(exc))
    else:
        return written, [ItemResult(Outcome.ARCHIVED if e in changed else Outcome.UNCHANGED) for e in archives]
    archived = []
    for external_id in archives:
        async with conn.begin_nested():
            archived.append(
                ItemResult(
                    Outcome.ARCHIVED if await archive_programs(conn, provider_id, [external_id]) else Outcome.UNCHANGED
                )
            )
    return [await _write_alone(conn, provider_id, item) for item in items], archived


async def _write_alone(conn: AsyncConnection, provider_id: int, item: Checked | ItemResult) -> ItemResult:
    try:
        async with conn.begin_nested():
            return (await write_checked(conn, provider_id, [item]))[0]
    except DBAPIError as exc:
        if sqlstate(exc) in RETRYABLE_SQLSTATES:
            raise
        log.warning("catalog item refused by the database (sqlstate %s)", sqlstate(exc))
        return ItemResult(Outcome.REJECTED, problems=(Problem(ErrorCode.INVALID, "sync_item_database"),))
