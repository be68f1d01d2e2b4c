"""Periods close themselves after their endsOn (municipality time), exactly once whatever runs the
job; the close serialises with every money movement of the period through the period's gate."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from pdo_graph import clock
from pdo_graph.db.session import transaction
from pdo_graph.domain import enrollment, periods
from pdo_graph.domain.access import Actor
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.jobs import close_due_periods
from tests.enrollment.conftest import add_group, add_program, add_provider, bulk_certificates

STARTS, ENDS = date(2030, 9, 1), date(2031, 5, 31)
OPERATOR = Actor.operator("op-01", "01")


async def open_period(db, municipality: str = "01", starts: date = STARTS, ends: date = ENDS, **kw) -> int:
    req = periods.PeriodRequest(municipality, starts, ends, [periods.Nominal(0, 18, 3_000_000)], **kw)
    operator = Actor.operator(f"op-{municipality}", municipality)
    return (await transaction(db, lambda c: periods.open_period(c, operator, req))).period_id


async def status(db, period: int) -> str:
    async with db.connect() as conn:
        return str(
            (await conn.execute(text("SELECT status FROM funding_periods WHERE id = :p"), {"p": period})).scalar_one()
        )


async def test_the_job_closes_after_the_end_in_the_municipality_time_zone(db, settings):
    moscow = await open_period(db, "01")
    vladivostok = await open_period(db, "02")
    utc = await open_period(db, "03")
    async with db.begin() as conn:
        await conn.execute(text("UPDATE municipalities SET time_zone = 'Asia/Vladivostok' WHERE code = '02'"))
        await conn.execute(text("UPDATE municipalities SET time_zone = 'UTC' WHERE code = '03'"))

    async def at(instant: datetime) -> dict[str, int]:
        with clock.use(clock.FixedClock(instant)):
            return await close_due_periods(db, settings)

    # 31 May, 14:30 UTC: 31 May everywhere but Vladivostok (UTC+10: 1 June, 00:30)
    assert (await at(datetime(2031, 5, 31, 14, 30, tzinfo=UTC)))["periods_closed"] == 1
    assert [await status(db, p) for p in (moscow, vladivostok, utc)] == ["OPEN", "CLOSED", "OPEN"]
    # 31 May, 21:30 UTC: Moscow's 1 June 00:30 (UTC+3); still 31 May in UTC
    assert (await at(datetime(2031, 5, 31, 21, 30, tzinfo=UTC)))["periods_closed"] == 1
    assert [await status(db, p) for p in (moscow, vladivostok, utc)] == ["CLOSED", "CLOSED", "OPEN"]
    assert (await at(datetime(2031, 6, 1, 0, 30, tzinfo=UTC)))["periods_closed"] == 1
    assert (await at(datetime(2031, 6, 2, tzinfo=UTC)))["periods_closed"] == 0  # once


async def test_several_processes_close_each_period_exactly_once(db, settings):
    """Eight job passes at once (as eight server processes would run them), over three due periods."""
    await bulk_certificates(db, 5, "01", today=STARTS)
    ids = [await open_period(db, m) for m in ("01", "02", "03")]
    passes = await asyncio.gather(*(close_due_periods(db, settings, ENDS + timedelta(days=1)) for _ in range(8)))
    assert sum(p["periods_closed"] for p in passes) == 3
    assert [await status(db, p) for p in ids] == ["CLOSED"] * 3
    async with db.connect() as conn:
        closed_at = (await conn.execute(text("SELECT count(DISTINCT closed_at) FROM funding_periods"))).scalar_one()
    assert closed_at == 3


async def test_concurrent_closes_one_succeeds_the_others_are_refused(db):
    await bulk_certificates(db, 3, today=STARTS)
    period = await open_period(db)

    async def close() -> str:
        try:
            await transaction(db, lambda c: periods.close_period(c, OPERATOR, period))
            return "closed"
        except DomainError as exc:
            return exc.problems[0].code.value

    outcomes = await asyncio.gather(*(close() for _ in range(10)))
    print("concurrent closes:", {o: outcomes.count(o) for o in set(outcomes)})
    assert outcomes.count("closed") == 1
    assert outcomes.count(ErrorCode.INVALID_TRANSITION.value) == 9


async def waiting(db, pid: int) -> bool:
    """Whether the backend ``pid`` waits for a lock."""
    async with db.connect() as conn:
        row = await conn.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"), {"p": pid})
        return row.scalar() == "Lock"


async def until(predicate, *args) -> None:
    for _ in range(500):
        if await predicate(*args):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_movement_arriving_while_a_close_waits_goes_after_the_close(db):
    """The gate queues newcomers behind a waiting close: a money movement that starts while the close
    waits for the movements already inside runs after the close (and sees the period closed), so a
    stream of movements cannot starve the close."""
    [(subject, cert)] = await bulk_certificates(db, 1)
    period = await open_period(db, starts=date.today() - timedelta(days=30), ends=date.today() + timedelta(days=200))
    program = await add_program(db, await add_provider(db))
    group = await add_group(db, program, starts_on=date.today(), ends_on=date.today() + timedelta(days=90))

    inside = await db.connect()
    await inside.begin()
    await periods.lock_shared(inside, [period])  # a movement holding the gate

    async def pid_of(conn) -> int:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    closer = await db.connect()
    newcomer = await db.connect()
    try:
        closer_pid, newcomer_pid = await pid_of(closer), await pid_of(newcomer)
        await closer.commit()
        await newcomer.commit()

        async def close() -> periods.CloseResult:
            async with closer.begin():
                return await periods.close_period(closer, OPERATOR, period)

        closing = asyncio.create_task(close())
        await until(waiting, db, closer_pid)

        async def apply() -> str:
            try:
                async with newcomer.begin():
                    await enrollment.create(newcomer, Actor.guardian(subject), cert, group, "k", date.today())
                return "applied"
            except DomainError as exc:
                return exc.problems[0].code.value

        applying = asyncio.create_task(apply())
        await until(waiting, db, newcomer_pid)  # queued behind the close, not let in beside the movement
        await inside.rollback()
        result = await closing
        assert result.expired == 3_000_000
        assert await applying == ErrorCode.PERIOD_CLOSED.value
    finally:
        await inside.close()
        await closer.close()
        await newcomer.close()
