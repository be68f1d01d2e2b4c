"""Push: a provider (its staff or its machine client) sends up to 500 programs with their groups.

Rows are keyed by the provider's own external ids and written by the catalog's one write path
(``catalog.write_items``). A row's groups are the complete list of its synced groups: synced groups
missing from it are archived (running contracts go on). Problems carry the row's own field names
(``["groups", "0", "price"]``); the resolver puts them under the row's input path.

- ``REJECT_EVERYTHING`` (default): all or nothing. Every row is still checked, so the answer lists
  every refused row; if any is refused, :class:`PushRejected` rolls the whole transaction back.
- ``REJECT_FAILED_ROWS``: refused rows write nothing; the others are saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import catalog
from pdo_graph.domain.access import Actor, require_provider
from pdo_graph.domain.catalog import ItemResult, Outcome, ProgramItem
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem

MAX_ITEMS = 500
MAX_GROUPS = 200


class ErrorPolicy(StrEnum):
    REJECT_EVERYTHING = "REJECT_EVERYTHING"
    REJECT_FAILED_ROWS = "REJECT_FAILED_ROWS"


class PushRejected(Exception):
    """REJECT_EVERYTHING and some rows were refused: nothing is saved (the transaction rolls back)."""

    def __init__(self, results: list[ItemResult]) -> None:
        super().__init__(f"{sum(r.outcome is Outcome.REJECTED for r in results)} rows refused")
        self.results = results

    @property
    def refused(self) -> int:
        return sum(r.outcome is Outcome.REJECTED for r in self.results)


def _refusals(rows: Sequence[ProgramItem]) -> list[list[Problem]]:
    """What the push itself refuses: a row repeating an earlier row's external id, too many groups."""
    seen: set[str] = set()
    out: list[list[Problem]] = []
    for row in rows:
        external_id = (row.program.external_id or "").strip()
        problems: list[Problem] = []
        if external_id and external_id in seen:
            problems.append(Problem(ErrorCode.DUPLICATE, "push_duplicate_item", ["externalId"]))
        if len(row.groups) > MAX_GROUPS:
            problems.append(Problem(ErrorCode.INVALID, "push_too_many_groups", ["groups"], max=MAX_GROUPS))
        seen.add(external_id)
        out.append(problems)
    return out


async def push_catalog(
    conn: AsyncConnection,
    actor: Actor,
    rows: Sequence[ProgramItem],
    policy: ErrorPolicy = ErrorPolicy.REJECT_EVERYTHING,
) -> list[ItemResult]:
    """Upsert the calling provider's rows; one result per row, in order."""
    provider_id = require_provider(actor)
    if len(rows) > MAX_ITEMS:
        raise DomainError.of(ErrorCode.INVALID, "push_too_many_items", ["items"], max=MAX_ITEMS)
    checked = [
        ItemResult(Outcome.REJECTED, problems=tuple(problems)) if problems else catalog.check_item(row)
        for row, problems in zip(rows, _refusals(rows), strict=True)
    ]
    results, _ = await catalog.write_items(conn, provider_id, checked)
    if policy is ErrorPolicy.REJECT_EVERYTHING and any(r.outcome is Outcome.REJECTED for r in results):
        raise PushRejected([r if r.outcome is Outcome.REJECTED else ItemResult(Outcome.NOT_SAVED) for r in results])
    return results
