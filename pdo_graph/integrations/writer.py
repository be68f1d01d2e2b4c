"""Writing feed items and pushed rows into the catalog through the catalog domain service.

Two ways, same rules and results:

- item by item (``upsert_one`` / ``archive_one``): ``catalog.upsert_program``, ``upsert_group``,
  ``archive_groups_except``, ``set_program_archived``, each item in its own savepoint, so a refused
  item leaves nothing behind and the others go on;
- a page at once (``apply_page_items``): the set-based ``upsert_programs_with_groups`` /
  ``archive_programs`` (``catalog_batch``), falling back to item by item when the database refuses
  the batch for a reason the validation did not foresee.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.db.session import RETRYABLE_SQLSTATES, sqlstate
from pdo_graph.domain import catalog
from pdo_graph.domain.catalog_batch import (
    BatchResult,
    BatchStatus,
    Checked,
    ProgramWithGroups,
    archive_programs,
    check_program_with_groups,
    write_checked,
)
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    ARCHIVED = "ARCHIVED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    outcome: Outcome
    program_id: int | None = None
    problems: tuple[Problem, ...] = ()


_STATUS = {
    catalog.UpsertStatus.CREATED: Outcome.CREATED,
    catalog.UpsertStatus.UPDATED: Outcome.UPDATED,
    catalog.UpsertStatus.UNCHANGED: Outcome.UNCHANGED,
}
_BATCH = {
    BatchStatus.CREATED: Outcome.CREATED,
    BatchStatus.UPDATED: Outcome.UPDATED,
    BatchStatus.UNCHANGED: Outcome.UNCHANGED,
    BatchStatus.REFUSED: Outcome.FAILED,
}


def _database_refusal(exc: DBAPIError, at: Sequence[str]) -> ItemOutcome:
    if sqlstate(exc) in RETRYABLE_SQLSTATES:
        raise exc
    log.warning("catalog write refused by the database (sqlstate %s)", sqlstate(exc))
    return ItemOutcome(Outcome.FAILED, problems=(Problem(ErrorCode.INVALID, "sync_item_database", list(at)),))


def _duplicate_groups(item: ProgramWithGroups) -> list[Problem]:
    seen: set[str | None] = set()
    problems = []
    for j, group in enumerate(item.groups):
        if group.external_id in seen:
            problems.append(
                Problem(ErrorCode.DUPLICATE, "catalog_group_external_duplicate", [*item.group_path(j), "externalId"])
            )
        seen.add(group.external_id)
    return problems


async def upsert_one(conn: AsyncConnection, provider_id: int, item: ProgramWithGroups) -> ItemOutcome:
    """One program with the complete list of its synced groups, in a savepoint."""
    duplicates = _duplicate_groups(item)
    if duplicates:
        return ItemOutcome(Outcome.FAILED, problems=tuple(duplicates))
    try:
        async with conn.begin_nested():
            program = await catalog.upsert_program(conn, provider_id, item.program, item.at)
            outcome = _STATUS[program.status]
            for j, group in enumerate(item.groups):
                done = await catalog.upsert_group(conn, program.id, group, item.group_path(j))
                if done.status is not catalog.UpsertStatus.UNCHANGED and outcome is Outcome.UNCHANGED:
                    outcome = Outcome.UPDATED
            keep = [g.external_id for g in item.groups if g.external_id is not None]
            if await catalog.archive_groups_except(conn, program.id, keep) and outcome is Outcome.UNCHANGED:
                outcome = Outcome.UPDATED
    except DomainError as exc:
        return ItemOutcome(Outcome.FAILED, problems=tuple(exc.problems))
    except DBAPIError as exc:
        return _database_refusal(exc, item.at)
    return ItemOutcome(outcome, program.id)


async def archive_one(conn: AsyncConnection, provider_id: int, external_id: str) -> ItemOutcome:
    """A deleted item: archive the program and its synced groups (running contracts go on)."""
    row = (
        await conn.execute(
            text("SELECT id, archived FROM programs WHERE provider_id = :p AND external_id = :e"),
            {"p": provider_id, "e": external_id},
        )
    ).first()
    if row is None:
        return ItemOutcome(Outcome.UNCHANGED)
    async with conn.begin_nested():
        await catalog.set_program_archived(conn, row.id, True)
        groups = await catalog.archive_groups_except(conn, row.id, [])
    changed = not row.archived or groups > 0
    return ItemOutcome(Outcome.ARCHIVED if changed else Outcome.UNCHANGED, int(row.id))


async def apply_page_items(
    conn: AsyncConnection,
    provider_id: int,
    upserts: Sequence[ProgramWithGroups],
    archives: Sequence[str],
    batch: bool = True,
    checked: Sequence[Checked | BatchResult] | None = None,
) -> tuple[list[ItemOutcome], list[ItemOutcome]]:
    """Apply one page: outcomes of ``upserts`` and of ``archives`` (external ids), in their order.

    External ids must be distinct across both lists (the caller keeps the newest item of an id).
    ``checked`` may carry ``check_program_with_groups`` of each upsert, done ahead of time.
    """
    if batch:
        try:
            async with conn.begin_nested():
                changed = await archive_programs(conn, provider_id, archives)
                ready = checked if checked is not None else [check_program_with_groups(u) for u in upserts]
                done = await write_checked(conn, provider_id, ready)
        except DBAPIError as exc:
            if sqlstate(exc) in RETRYABLE_SQLSTATES:
                raise
            log.warning("batch upsert refused (sqlstate %s); applying the page item by item", sqlstate(exc))
        else:
            archived = [ItemOutcome(Outcome.ARCHIVED if e in changed else Outcome.UNCHANGED) for e in archives]
            upserted = [ItemOutcome(_BATCH[r.status], r.program_id, r.problems) for r in done]
            return upserted, archived
    archived = [await archive_one(conn, provider_id, e) for e in archives]
    upserted = [await upsert_one(conn, provider_id, item) for item in upserts]
    return upserted, archived
