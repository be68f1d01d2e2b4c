"""Audit of personal-data reads (152-ФЗ): who read which fields of which child, when, in which request.

Every read of a child's personal data (name, birth date, СНИЛС, age) by someone other than the
child's guardian is noted while a request resolves and written once, in one INSERT, before the
response leaves. The table is append-only: the database refuses UPDATE and DELETE (migration 0004).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, can_act_for_family


@dataclass(frozen=True, slots=True)
class ChildRef:
    """Whose data a value is: the child, its municipality and its guardian's subject."""

    id: int
    municipality: str
    guardian_subject: str


@dataclass
class ReadAudit:
    """The personal-data reads of one request, by child."""

    actor: Actor
    request_id: str | None
    _reads: dict[int, tuple[str, set[str]]] = field(default_factory=dict)

    def note(self, child: ChildRef, name: str) -> None:
        """Record that field ``name`` of ``child`` is being read (nothing for the child's own guardian)."""
        if can_act_for_family(self.actor, child.guardian_subject):
            return
        self._reads.setdefault(child.id, (child.municipality, set()))[1].add(name)

    @property
    def pending(self) -> int:
        return len(self._reads)

    async def flush(self, conn: AsyncConnection) -> int:
        """Write the noted reads (one row per child) in one statement; returns the rows written."""
        reads, self._reads = self._reads, {}
        if not reads:
            return 0
        role = self.actor.role
        children = sorted(reads)
        await conn.execute(
            text(
                "INSERT INTO audit_log (actor_role, actor_subject, child_id, municipality, fields, request_id)"
                " SELECT :role, :subject, t.c, t.m, string_to_array(t.f, ','), :rid"
                " FROM unnest(CAST(:c AS bigint[]), CAST(:m AS text[]), CAST(:f AS text[])) AS t(c, m, f)"
            ),
            {
                "role": role.value if role is not None else "ANONYMOUS",
                "subject": self.actor.subject or "",
                "rid": self.request_id or None,
                "c": children,
                "m": [reads[c][0] for c in children],
                "f": [",".join(sorted(reads[c][1])) for c in children],
            },
        )
        return len(children)
