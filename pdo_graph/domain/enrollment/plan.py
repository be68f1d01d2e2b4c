"""Plans (trajectories): several groups for one certificate, in priority order (domain.md "Waitlist,
fair opening, planning").

``plan`` quotes them together: each group is assessed against what the certificate still has after
the groups before it (the money flows from one to the next), with its monthly split and every
reason applying to it would fail; a group that would fail takes no money from the ones after it.
``create_many`` applies for all of them in one transaction, or for none: each application is
``apply.create`` (the rule redone under the locks) with a key derived from the plan's key, and
the family's confirmed total (``expectedFromFamily``) is compared with the recomputed one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, can_read_family, require_guardian
from pdo_graph.domain.enrollment import apply, draw
from pdo_graph.domain.enrollment.consent import require_family_share
from pdo_graph.domain.enrollment.eligibility import assess, load_facts
from pdo_graph.domain.enrollment.lifecycle import CERTIFICATE
from pdo_graph.domain.enrollment.terms import Terms
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem

MAX_GROUPS = 20
GROUPS = ["groupIds"]


@dataclass(frozen=True, slots=True)
class PlanItem:
    group_id: int
    terms: Terms | None  # None when the group is unknown
    available_after: int
    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class Plan:
    items: list[PlanItem]
    problems: list[Problem]  # about the whole plan (the certificate, the list)

    @property
    def from_certificate(self) -> int:
        return sum(i.terms.from_certificate for i in self.items if i.terms is not None and not i.problems)

    @property
    def from_family(self) -> int:
        return sum(i.terms.from_family for i in self.items if i.terms is not None and not i.problems)

    @property
    def remaining(self) -> int:
        return self.items[-1].available_after if self.items else 0


def _check_list(group_ids: list[int]) -> None:
    if not 1 <= len(group_ids) <= MAX_GROUPS:
        raise DomainError.of(ErrorCode.INVALID, "plan_size", GROUPS, min=1, max=MAX_GROUPS)


async def plan(conn: AsyncConnection, actor: Actor, certificate_id: int, group_ids: list[int], today: date) -> Plan:
    """The plan as the guardian of the certificate (or the operator of its municipality) sees it."""
    try:
        _check_list(group_ids)
    except DomainError as exc:
        return Plan([], exc.problems)
    exists = (
        await conn.execute(
            text(
                "SELECT gu.subject, c.municipality FROM certificates c JOIN children ch ON ch.id = c.child_id"
                " JOIN guardians gu ON gu.id = ch.guardian_id WHERE c.id = :c"
            ),
            {"c": certificate_id},
        )
    ).first()
    if exists is None:
        return Plan([], [Problem(ErrorCode.NOT_FOUND, "not_found", CERTIFICATE)])
    if not can_read_family(actor, exists.subject, exists.municipality):
        return Plan([], [Problem(ErrorCode.FORBIDDEN, "forbidden", CERTIFICATE)])
    items: list[PlanItem] = []
    running: int | None = None
    seen: set[int] = set()
    for n, gid in enumerate(group_ids):
        at = [*GROUPS, str(n)]
        try:
            facts = await load_facts(conn, certificate_id, gid, today)
        except DomainError:
            items.append(PlanItem(gid, None, running or 0, [Problem(ErrorCode.NOT_FOUND, "not_found", at)]))
            continue
        if running is None:
            running = facts.available if facts.period_id is not None else 0
        terms, problems = assess(replace(facts, available=running), today)
        problems = [Problem(p.code, p.key, at, **p.params) for p in problems]
        problems += [Problem(p.code, p.key, at, **p.params) for p in await draw.quote_problems(conn, gid)]
        if gid in seen:
            problems.append(Problem(ErrorCode.INVALID, "plan_repeated", at))
        seen.add(gid)
        if not problems:
            running -= terms.from_certificate
        items.append(PlanItem(gid, terms, running, problems))
    return Plan(items, [])


def _plan_hash(certificate_id: int, group_ids: list[int]) -> str:
    return hashlib.sha256(f"enrollmentCreateMany|{certificate_id}|{','.join(map(str, group_ids))}".encode()).hexdigest()


async def create_many(
    conn: AsyncConnection,
    actor: Actor,
    certificate_id: int,
    group_ids: list[int],
    key: str,
    today: date,
    expected_from_family: int | None,
) -> list[int]:
    """Apply for every group of the plan, in its order, in this transaction; any refusal refuses all.

    Idempotent: the same key and plan return the same enrollments; the key with another plan is
    IDEMPOTENCY_KEY_REUSED. Each application's key is ``KEY|<plan hash>|<position>``.
    """
    require_guardian(actor)
    _check_list(group_ids)
    if len(set(group_ids)) != len(group_ids):
        raise DomainError.of(ErrorCode.INVALID, "plan_repeated", GROUPS)
    key = key.strip()
    if not 1 <= len(key) <= apply.MAX_KEY_LENGTH - 80:
        raise DomainError.of(ErrorCode.INVALID, "text_length", apply.KEY, min=1, max=apply.MAX_KEY_LENGTH - 80)
    digest = _plan_hash(certificate_id, group_ids)[:16]
    other = (
        await conn.execute(
            text(
                "SELECT 1 FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id"
                " WHERE gu.subject = :s AND starts_with(e.idempotency_key, :prefix)"
                " AND NOT starts_with(e.idempotency_key, :mine) LIMIT 1"
            ),
            {"s": actor.subject, "prefix": f"{key}|", "mine": f"{key}|{digest}|"},
        )
    ).first()
    if other is not None:
        raise DomainError.of(ErrorCode.IDEMPOTENCY_KEY_REUSED, "enrollment_key_reused", apply.KEY)
    ids: list[int] = []
    problems: list[Problem] = []
    for n, gid in enumerate(group_ids):
        try:
            ids.append(await apply.create(conn, actor, certificate_id, gid, f"{key}|{digest}|{n}", today))
        except DomainError as exc:
            problems += [Problem(p.code, p.key, [*GROUPS, str(n)], **p.params) for p in exc.problems]
            break  # the transaction rolls back: nothing of the plan is written
    if problems:
        raise DomainError(*problems)
    await confirm_family_share(conn, ids, expected_from_family)
    return ids


async def confirm_family_share(conn: AsyncConnection, enrollment_ids: list[int], expected: int | None) -> None:
    """QUOTE_CHANGED (the transaction rolls back) when the family's recomputed share of these
    enrollments differs from the one it confirmed (``consent.require_family_share``, the one rule);
    nothing to check without a confirmation."""
    if expected is None:
        return
    total = (
        await conn.execute(
            text(
                "SELECT coalesce(sum(price), 0) AS price, coalesce(sum(from_certificate), 0) AS fc,"
                " coalesce(sum(from_family), 0) AS ff FROM enrollments WHERE id = ANY(:ids)"
            ),
            {"ids": enrollment_ids},
        )
    ).one()
    require_family_share(expected, int(total.price), int(total.fc), int(total.ff))
