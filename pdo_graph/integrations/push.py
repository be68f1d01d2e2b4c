"""Push: a provider (its staff or its machine client) sends up to 500 programs with their groups.

Rows are keyed by the provider's own external ids and written with the catalog domain's per-row
functions (``writer.upsert_one``: ``upsert_program``, ``upsert_group``, ``archive_groups_except``),
each in its own savepoint. A row's groups are the complete list of its synced groups: synced
groups missing from it are archived (running contracts go on).

- ``REJECT_EVERYTHING`` (default): all or nothing. Every row is still checked, so the answer lists
  every refused row; if any is refused, :class:`PushRejected` rolls the whole transaction back.
- ``REJECT_FAILED_ROWS``: refused rows are rolled back to their savepoint; the others are saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import catalog
from pdo_graph.domain.access import Actor
from pdo_graph.domain.catalog_batch import ProgramWithGroups
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.integrations import writer

MAX_ITEMS = 500
MAX_GROUPS = 200


class ErrorPolicy(StrEnum):
    REJECT_EVERYTHING = "REJECT_EVERYTHING"
    REJECT_FAILED_ROWS = "REJECT_FAILED_ROWS"


class RowStatus(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    REJECTED = "REJECTED"
    NOT_SAVED = "NOT_SAVED"


@dataclass(frozen=True, slots=True)
class RowResult:
    external_id: str
    status: RowStatus
    program_id: int | None = None
    problems: tuple[Problem, ...] = ()


class PushRejected(Exception):
    """REJECT_EVERYTHING and some rows were refused: nothing is saved (the transaction rolls back)."""

    def __init__(self, results: list[RowResult]) -> None:
        super().__init__(f"{sum(r.status is RowStatus.REJECTED for r in results)} rows refused")
        self.results = results

    @property
    def refused(self) -> int:
        return sum(r.status is RowStatus.REJECTED for r in self.results)


_STATUS = {
    writer.Outcome.CREATED: RowStatus.CREATED,
    writer.Outcome.UPDATED: RowStatus.UPDATED,
    writer.Outcome.UNCHANGED: RowStatus.UNCHANGED,
}


async def push_catalog(
    conn: AsyncConnection,
    principal: Actor,
    own_provider_id: int | None,
    rows: Sequence[ProgramWithGroups],
    policy: ErrorPolicy = ErrorPolicy.REJECT_EVERYTHING,
) -> list[RowResult]:
    """Upsert the calling provider's rows; one result per row, in order."""
    provider_id = catalog.require_some_provider(principal, own_provider_id)
    if len(rows) > MAX_ITEMS:
        raise DomainError.of(ErrorCode.INVALID, "push_too_many_items", ["input", "items"], max=MAX_ITEMS)
    results: list[RowResult] = []
    seen: set[str] = set()
    for row in rows:
        external_id = (row.program.external_id or "").strip()
        problems: list[Problem] = []
        if external_id and external_id in seen:
            problems.append(Problem(ErrorCode.DUPLICATE, "push_duplicate_item", [*row.at, "externalId"]))
        if len(row.groups) > MAX_GROUPS:
            problems.append(Problem(ErrorCode.INVALID, "push_too_many_groups", [*row.at, "groups"], max=MAX_GROUPS))
        seen.add(external_id)
        if problems:
            results.append(RowResult(external_id, RowStatus.REJECTED, problems=tuple(problems)))
            continue
        outcome = await writer.upsert_one(conn, provider_id, row)
        if outcome.outcome is writer.Outcome.FAILED:
            results.append(RowResult(external_id, RowStatus.REJECTED, problems=outcome.problems))
        else:
            results.append(RowResult(external_id, _STATUS[outcome.outcome], outcome.program_id))
    if policy is ErrorPolicy.REJECT_EVERYTHING and any(r.status is RowStatus.REJECTED for r in results):
        raise PushRejected(
            [r if r.status is RowStatus.REJECTED else RowResult(r.external_id, RowStatus.NOT_SAVED) for r in results]
        )
    return results
