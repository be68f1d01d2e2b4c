"""Property-based tests: the money rule's invariants, and a state machine on the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.engine import make_engine
from pdo_graph.db.session import transaction
from pdo_graph.domain import enrollment as enr
from pdo_graph.domain.access import Actor
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.ledger import check_invariants
from pdo_graph.domain.money import add_months, month_start, months_between
from tests.conftest import MUNICIPALITIES, TABLES
from tests.enrollment.conftest import (
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    end_of_month,
    open_period,
)

kopecks = st.integers(min_value=0, max_value=100_000_000)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2035, 12, 31))


@given(total=kopecks, family=kopecks, months=st.integers(1, 24), first=days)
def test_monthly_plan_sums_and_the_first_month_takes_the_remainder(total, family, months, first):
    plan = enr.monthly_plan(month_start(first), months, total, family)
    assert len(plan) == months
    assert sum(m.from_certificate for m in plan) == total
    assert sum(m.from_family for m in plan) == family
    assert plan[0].from_certificate == total // months + total % months
    assert all(m.from_certificate == total // months for m in plan[1:])
    assert all(m.from_family == family // months for m in plan[1:])
    assert [m.month for m in plan] == [add_months(month_start(first), i) for i in range(months)]
    assert [enr.certificate_share(total, months, i) for i in range(months)] == [m.from_certificate for m in plan]


@given(
    price=kopecks,
    available=st.integers(-1000, 100_000_000),
    normative=st.none() | kopecks,
    cap=st.booleans(),
    starts=days,
    length=st.integers(0, 400),
    offset=st.integers(-400, 400),
)
def test_terms_split_the_price_and_never_exceed_the_balance(price, available, normative, cap, starts, length, offset):
    ends = starts + timedelta(days=length)
    today = starts + timedelta(days=offset)
    t = enr.compute_terms(price, starts, ends, today, available, normative, cap)
    assert t.from_certificate + t.from_family == t.price
    assert 0 <= t.from_certificate <= max(available, 0)
    assert t.from_family >= 0
    assert 0 <= t.price <= t.full_price == price
    assert 1 <= t.months <= t.months_total == months_between(starts, ends)
    if cap and normative is not None:
        assert t.from_certificate <= enr.contract_price(normative, t.months, t.months_total)
    if today <= starts:
        assert t.price == price and t.first_month == month_start(starts)
    else:
        assert t.first_month == min(month_start(today), month_start(ends))
        assert t.price == enr.contract_price(price, t.months, t.months_total)
    plan = t.monthly
    assert sum(m.from_certificate for m in plan) == t.from_certificate
    assert sum(m.from_family for m in plan) == t.from_family
    assert enr.month_index(t.first_month, t.months, add_months(t.first_month, t.months - 1)) == t.months - 1
    assert enr.month_index(t.first_month, t.months, add_months(t.first_month, t.months)) is None
    assert enr.month_index(t.first_month, t.months, add_months(t.first_month, -1)) is None


@given(share=kopecks, completeness=st.integers(0, 100))
def test_charge_and_release_make_the_month_share(share, completeness):
    charged, released = enr.provision_amounts(share, completeness)
    assert charged + released == share
    assert 0 <= charged <= share and released >= 0
    assert abs(charged * 100 - share * completeness) <= 50  # rounded to the nearest kopeck
    if completeness == 100:
        assert released == 0
    if completeness == 0:
        assert charged == 0


# --- the state machine ---------------------------------------------------------------------------

START = date(2031, 9, 10)  # a virtual "today" the groups below are planned around


class EnrollmentMachine(RuleBasedStateMachine):
    """Apply, accept, refuse, report, cancel, expire and complete in any order; the ledger holds."""

    url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine: AsyncEngine = make_engine(self.url, pool_size=2)
        self.today = START
        self.keys = 0
        self.enrollments: list[int] = []
        self.run(self._seed())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _seed(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
            await conn.execute(
                text("INSERT INTO municipalities (code, name) VALUES (:c, :n)"),
                [{"c": c, "n": n} for c, n in MUNICIPALITIES],
            )
        self.provider_id = await add_provider(self.engine)
        self.provider = Actor.provider("staff", self.provider_id)
        program = await add_program(self.engine, self.provider_id)
        starts, ends = date(2031, 9, 1), end_of_month(date(2032, 5, 1))
        self.groups = [
            await add_group(self.engine, program, starts_on=starts, ends_on=ends, capacity=2, price=900_007),
            await add_group(self.engine, program, starts_on=starts, ends_on=ends, capacity=3, price=1_234_567),
            await add_group(
                self.engine,
                program,
                starts_on=date(2031, 10, 1),
                ends_on=end_of_month(date(2031, 12, 1)),
                capacity=2,
                price=300_001,
                name="Короткая",
            ),
        ]
        self.certs = await bulk_certificates(self.engine, 3, today=START)
        await open_period(self.engine, nominal=1_500_000, today=START)

    async def _do(self, fn: Any) -> Any:
        try:
            return await transaction(self.engine, fn)
        except DomainError as exc:
            assert all(p.code is not ErrorCode.FORBIDDEN for p in exc.problems), exc
            return None

    @initialize(accept_first=st.booleans(), report_first=st.integers(-1, 100))
    def start(self, accept_first: bool, report_first: int) -> None:
        """Every run starts with two applications; usually one is already a contract, maybe reported."""
        self.apply(0, 0, False)
        self.apply(1, 1, False)
        if accept_first and self.enrollments:
            first = self.enrollments[0]
            self.run(self._do(lambda c: enr.accept(c, self.provider, first, 5)))
            if report_first >= 0:
                self.report(0, report_first, 0, False)

    @rule(c=st.integers(0, 2), g=st.integers(0, 2), replay=st.booleans())
    def apply(self, c: int, g: int, replay: bool) -> None:
        subject, cert = self.certs[c]
        if not replay:
            self.keys += 1
        key = f"k{self.keys}"
        principal = Actor.guardian(subject)
        eid = self.run(self._do(lambda conn: enr.create(conn, principal, cert, self.groups[g], key, self.today)))
        if eid is not None and eid not in self.enrollments:
            self.enrollments.append(eid)

    def _pick(self, i: int, *statuses: str) -> int | None:
        """An enrollment in one of ``statuses`` (any enrollment when none are given)."""

        async def ids() -> list[int]:
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT id FROM enrollments WHERE cardinality(CAST(:s AS text[])) = 0 OR status = ANY(:s)"
                        " ORDER BY id"
                    ),
                    {"s": list(statuses)},
                )
                return [int(r.id) for r in rows]

        found = self.run(ids())
        return found[i % len(found)] if found else None

    @precondition(lambda self: self.enrollments)
    @rule(i=st.integers(0, 100), any_status=st.booleans())
    def accept(self, i: int, any_status: bool) -> None:
        eid = self._pick(i) if any_status else self._pick(i, "REQUESTED")
        if eid is not None:
            self.run(self._do(lambda c: enr.accept(c, self.provider, eid, 5)))

    @precondition(lambda self: self.enrollments)
    @rule(i=st.integers(0, 100), any_status=st.booleans())
    def refuse(self, i: int, any_status: bool) -> None:
        eid = self._pick(i) if any_status else self._pick(i, "REQUESTED")
        if eid is not None:
            self.run(self._do(lambda c: enr.refuse(c, self.provider, eid, "нет мест")))

    @precondition(lambda self: self.enrollments)
    @rule(i=st.integers(0, 100), by_provider=st.booleans(), any_status=st.booleans())
    def cancel(self, i: int, by_provider: bool, any_status: bool) -> None:
        eid = self._pick(i) if any_status else self._pick(i, "ACTIVE", "REQUESTED")
        if eid is None:
            return
        if by_provider:
            self.run(self._do(lambda c: enr.cancel(c, self.provider, eid, None)))
            return

        async def as_guardian(conn: Any) -> int:
            subject = (
                await conn.execute(
                    text(
                        "SELECT gu.subject FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id"
                        " WHERE e.id = :id"
                    ),
                    {"id": eid},
                )
            ).scalar_one()
            return await enr.cancel(conn, Actor.guardian(subject), eid, None)

        self.run(self._do(as_guardian))

    @precondition(lambda self: self.enrollments)
    @rule(i=st.integers(0, 100), completeness=st.integers(0, 100), back=st.integers(0, 2), any_status=st.booleans())
    def report(self, i: int, completeness: int, back: int, any_status: bool) -> None:
        eid = self._pick(i) if any_status else self._pick(i, "ACTIVE")
        if eid is None:
            return
        month = add_months(month_start(self.today), -back)
        line = enr.ProvisionLine(eid, completeness)
        self.run(self._do(lambda c: enr.report_provision(c, self.provider, month, [line], self.today)))

    @rule(months=st.integers(1, 3))
    def advance(self, months: int) -> None:
        self.today = min(add_months(self.today, months), date(2032, 8, 1))

    @rule()
    def expire(self) -> None:
        self.run(enr.expire_stale_applications(self.engine, 5, now=datetime.now(UTC) + timedelta(days=6)))

    @rule()
    def complete(self) -> None:
        self.run(enr.complete_finished_groups(self.engine, self.today))

    @invariant()
    def ledger_holds(self) -> None:
        async def check() -> None:
            async with self.engine.connect() as conn:
                assert await check_invariants(conn) == []
                bad = await conn.execute(
                    text(
                        "SELECT e.id FROM enrollments e JOIN groups g ON g.id = e.group_id"
                        " WHERE e.from_certificate + e.from_family <> e.price OR e.reserved + e.charged"
                        " > e.from_certificate OR g.seats_taken > g.capacity"
                        " OR (e.status NOT IN ('REQUESTED', 'ACTIVE') AND e.reserved <> 0)"
                    )
                )
                assert bad.all() == []

        self.run(check())

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()


@pytest.mark.slow
async def test_state_machine_keeps_the_ledger_consistent(db, database_url):
    EnrollmentMachine.url = database_url
    config = settings(
        max_examples=15,
        stateful_step_count=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    # its own thread and event loop: the rules are synchronous, the database calls are not
    await asyncio.to_thread(run_state_machine_as_test, EnrollmentMachine, settings=config)
