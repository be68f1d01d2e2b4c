"""Two school years of one municipality, with an injected clock: the whole life cycle of the money
(domain.md, "The operator's year"), with ``ledger check`` after every simulated day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from pdo_graph.demo.year import COMPLETENESS, NOMINAL, simulate, table
from pdo_graph.domain.ledger import check_invariants

YEAR = 2030


async def rows(db, sql: str, **params):
    async with db.connect() as conn:
        return (await conn.execute(text(sql), params)).all()


async def test_two_school_years_of_a_municipality(db, settings):
    checked: list[date] = []

    async def on_day(day: date) -> None:
        async with db.connect() as conn:
            violations = await check_invariants(conn)
        assert violations == [], (day, violations)
        checked.append(day)

    summary = await simulate(db, settings, "01", YEAR, on_day=on_day)
    print(table(summary))  # the figures of the closing note (pytest -s)
    assert checked[0] == date(YEAR, 8, 20) and checked[-1] == date(YEAR + 2, 8, 31)
    assert len(checked) == (date(YEAR + 2, 8, 31) - date(YEAR, 8, 20)).days + 1

    # verification: two rejected, one of them applied again and was issued
    apps = await rows(db, "SELECT status, rejection_reason FROM certificate_applications ORDER BY id")
    assert [a.status for a in apps] == ["ISSUED"] * 4 + ["REJECTED", "REJECTED", "ISSUED", "ISSUED"]
    assert summary.rejected == 2

    # the periods closed themselves the day after their end, once each
    closes = [(c.day, c.periods) for c in summary.closes]
    assert closes == [(date(YEAR + 1, 6, 1), 1), (date(YEAR + 2, 6, 1), 1)]
    first, second = summary.closes
    periods = await rows(db, "SELECT id, status, carry_over FROM funding_periods ORDER BY id")
    assert [(p.status, p.carry_over) for p in periods] == [("CLOSED", True), ("CLOSED", False)]
    # CARRY_OVER: the first close carried (and expired only the 18-year-old's leftover); EXPIRE: the second
    assert first.carried > 0 and second.carried == 0 and second.expired > 0
    carried = await rows(db, "SELECT sum(amount) AS a, count(to_period_id) AS credited, count(*) AS n FROM carry_overs")
    assert carried[0].a == first.carried == summary.carried_in and carried[0].credited == carried[0].n

    # the 18th birthday: EXPIRED on 15 February; its contract ran to its end; its leftover was not carried
    gleb = await rows(
        db,
        "SELECT c.status, c.id FROM certificates c JOIN children ch ON ch.id = c.child_id"
        " WHERE ch.full_name LIKE '%Глеб%'",
    )
    assert gleb[0].status == "EXPIRED" and summary.certificates_expired == 1
    gleb_carry = await rows(db, "SELECT count(*) AS n FROM carry_overs WHERE certificate_id = :c", c=gleb[0].id)
    assert gleb_carry[0].n == 0

    # the long group: its first contract covered the period's 9 months, ended with the period and was
    # prolonged (the family's share changed: consent), the other long group's without consent
    long = await rows(
        db,
        "SELECT e.status, e.months, e.price, e.from_family, e.prolonged_from, e.ended_by_period, g.name"
        " FROM enrollments e JOIN groups g ON g.id = e.group_id WHERE g.name IN ('Группа g2', 'Группа g4')"
        " ORDER BY e.id",
    )
    assert [(r.name, r.months, r.ended_by_period) for r in long if r.prolonged_from is None] == [
        ("Группа g2", 9, True),
        ("Группа g4", 9, True),
    ]
    assert long[0].price == 6_400_000 * 9 // 16 and long[0].from_family == long[0].price - NOMINAL
    prolonged = [r for r in long if r.prolonged_from is not None]
    assert [(r.name, r.months, r.from_family, r.status) for r in prolonged] == [
        ("Группа g2", 4, 0, "COMPLETED"),
        ("Группа g4", 2, 0, "COMPLETED"),
    ]
    assert (summary.prolonged_active, summary.prolonged_awaiting) == (1, 1)

    # statements: issued for every month with charges, each equal to the ledger's charges of the month
    charged_months = sorted(summary.charged)
    assert sorted(summary.statements) == charged_months
    assert charged_months[0] == date(YEAR, 9, 1) and charged_months[-1] == date(YEAR + 2, 5, 1)
    for month in charged_months:
        assert sum(total for _, total in summary.statements[month]) == summary.charged[month], month
    numbers = [n for month in charged_months for n, _ in summary.statements[month]]
    assert numbers[0] == f"{YEAR}-01-00001" and len(set(numbers)) == len(numbers)
    assert all(n.startswith(("2030-01-", "2031-01-", "2032-01-")) for n in numbers)
    drafts = await rows(db, "SELECT count(*) AS n FROM settlement_statements WHERE status = 'DRAFT'")
    assert drafts[0].n == 0

    # where every rouble went: credited (nominals and carried in) = spent + expired + carried out
    money = await rows(
        db,
        "SELECT sum(credited) AS credited, sum(spent) AS spent, sum(expired) AS expired, sum(carried) AS carried,"
        " sum(reserved) AS reserved, sum(available) AS available FROM balances",
    )
    m = money[0]
    assert m.reserved == 0 and m.available == 0
    assert m.credited == m.spent + m.expired + m.carried
    assert m.spent == sum(summary.charged.values())
    assert min(COMPLETENESS) < 100  # some months were not fully provided: their shares were released
