"""A simulated year (two school years, in fact) of one municipality, with an injected clock.

The same run serves the test of the operator's year (tests/year/test_simulated_year.py) and the
command ``pdo-graph demo-year`` (on the demo region): applications verified and rejected, a funding
period opened (``CARRY_OVER``), enrollments (one in a group that runs past the period's end),
monthly reports, statements issued as soon as their month can no longer be reported, the automatic
close, the next period opened (``EXPIRE``) with the carried money, prolongation with and without
the guardian's consent, a child turning 18 mid-year, the second automatic close. Each simulated day
runs the background passes (certificates expiring, groups completing, periods closing) the way the
server's housekeeping does, then ``on_day`` (the test checks the ledger's invariants there).

Nothing sleeps: the clock (``pdo_graph.clock``) is a fixed one moved a day at a time, and every
service is given the simulated day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph import clock
from pdo_graph.config import Settings
from pdo_graph.crypto import personal_data_keys
from pdo_graph.db.session import transaction
from pdo_graph.domain import certificates, enrollment, periods, settlement
from pdo_graph.domain.access import Actor
from pdo_graph.domain.money import add_months, month_start
from pdo_graph.domain.periods import Nominal
from pdo_graph.jobs import close_due_periods

NOMINAL = 3_000_000  # 30 000 ₽ a certificate and period
COMPLETENESS = (100, 100, 90, 100, 80, 100, 100, 95, 100)  # by month of a contract, in turn
PROVIDER_INN = "7799000001"
REJECTION = "Не приложено свидетельство о рождении"


@dataclass(frozen=True, slots=True)
class Child:
    key: str
    full_name: str
    birth_date: date


@dataclass
class Close:
    day: date
    periods: int
    expired: int
    carried: int


@dataclass
class Summary:
    """What happened, for the closing table: money by month and the closes."""

    municipality: str
    first_day: date
    last_day: date
    credited: int = 0
    carried_in: int = 0
    charged: dict[date, int] = field(default_factory=lambda: defaultdict(int))  # month -> kopecks (ledger)
    statements: dict[date, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))  # month -> issued
    closes: list[Close] = field(default_factory=list)
    events: list[tuple[date, str]] = field(default_factory=list)
    rejected: int = 0
    certificates_expired: int = 0
    prolonged_active: int = 0
    prolonged_awaiting: int = 0

    def note(self, day: date, what: str) -> None:
        self.events.append((day, what))


Progress = Callable[[int, int, date], None]  # (day number, days, the day)
OnDay = Callable[[date], Awaitable[None]]


def first_year(today: date) -> int:
    """The school year the simulation starts in: the first whose September comes after the demo
    region's period (today's school year, pdo_graph.demo.loader.school_year) has ended."""
    from pdo_graph.demo.loader import school_year

    _, ends = school_year(today)
    return ends.year if ends.month < 9 else ends.year + 1


class YearRun:
    """The scenario; ``run`` drives it day by day from 20 August of ``year`` to 31 August two years on."""

    def __init__(self, engine: AsyncEngine, settings: Settings, municipality: str, year: int) -> None:
        self.engine = engine
        self.settings = settings
        self.m = municipality
        self.y = year
        self.operator = Actor.operator(f"operator-{municipality}", municipality)
        self.keys = personal_data_keys(settings)
        self.summary = Summary(municipality, date(year, 8, 20), date(year + 2, 8, 31))
        self.children = self._children()
        self.applications: dict[str, int] = {}
        self.certificates: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self.contracts: dict[str, int] = {}
        self.period_ids: list[int] = []
        self.provider = Actor.provider("provider-year", None)

    def _children(self) -> dict[str, Child]:
        y = self.y
        surname = f"Годовой-{self.m}"
        return {
            c.key: c
            for c in (
                Child("anna", f"{surname} Анна Сергеевна", date(y - 9, 3, 4)),
                Child("boris", f"{surname} Борис Ильич", date(y - 10, 6, 11)),
                Child("vera", f"{surname} Вера Олеговна", date(y - 11, 1, 23)),
                Child("gleb", f"{surname} Глеб Андреевич", date(y + 1 - 18, 2, 15)),  # 18 on 15 February
                Child("darya", f"{surname} Дарья Петровна", date(y - 8, 9, 30)),
                Child("egor", f"{surname} Егор Максимович", date(y - 12, 12, 1)),
                Child("zhenya", f"{surname} Евгения Львовна", date(y - 7, 5, 5)),
            )
        }

    # --- the calendar ----------------------------------------------------------------------------

    async def run(self, on_day: OnDay | None = None, progress: Progress | None = None) -> Summary:
        days = (self.summary.last_day - self.summary.first_day).days + 1
        with clock.use(clock.FixedClock.on(self.summary.first_day, self.settings.time_zone)) as fixed:
            assert isinstance(fixed, clock.FixedClock)
            for n in range(days):
                day = self.summary.first_day + timedelta(days=n)
                fixed.set_day(day, self.settings.time_zone)
                await self._background(day)
                await self._events(day)
                await self._issue_statements(day)
                if on_day is not None:
                    await on_day(day)
                if progress is not None:
                    progress(n + 1, days, day)
        await self._ledger_figures()
        return self.summary

    async def _background(self, day: date) -> None:
        """The server's periodic passes, on the simulated day."""
        closed = await close_due_periods(self.engine, self.settings, day)
        if closed["periods_closed"]:
            self.summary.closes.append(Close(day, closed["periods_closed"], closed["expired"], closed["carried"]))
            self.summary.note(day, f"closed {closed['periods_closed']} period(s)")
        expired = await transaction(self.engine, lambda c: certificates.expire_certificates(c, day))
        self.summary.certificates_expired += expired
        await enrollment.complete_finished_groups(self.engine, day)

    async def _events(self, day: date) -> None:
        y = self.y
        if day == date(y, 8, 20):
            await self._catalog()
            for key in ("anna", "boris", "vera", "gleb", "darya", "egor"):
                await self._apply(day, key)
            for key in ("anna", "boris", "vera", "gleb"):
                await self._issue(day, key)
            for key in ("darya", "egor"):
                await self._reject(day, key)
        elif day == date(y, 8, 22):
            await self._apply(day, "darya")  # again, with the document
        elif day == date(y, 8, 23):
            await self._issue(day, "darya")
        elif day == date(y, 8, 25):
            await self._open_period(day, date(y, 9, 1), date(y + 1, 5, 31), carry_over=True)
        elif day == date(y, 9, 1):
            for key, group in (("anna", "g1"), ("boris", "g2"), ("vera", "g4"), ("darya", "g1")):
                await self._enroll(day, key, group)
        elif day == date(y, 10, 1):
            await self._enroll(day, "gleb", "g3")
        elif day == date(y + 1, 8, 20):
            await self._apply(day, "zhenya")
        elif day == date(y + 1, 8, 21):
            await self._issue(day, "zhenya")
        elif day == date(y + 1, 8, 25):
            await self._open_period(day, date(y + 1, 9, 1), date(y + 2, 5, 31), carry_over=False)
        elif day == date(y + 1, 9, 1):
            await self._prolong(day)
            await self._enroll(day, "zhenya", "g5")
        elif day == date(y + 1, 9, 2):
            await self._consent(day)
        if day.day == 25:
            await self._report(day)

    # --- the steps -------------------------------------------------------------------------------

    async def _catalog(self) -> None:
        """The provider of the scenario, a certified program and its groups (the provider's own
        catalog work is not this scenario's subject)."""
        y = self.y
        groups = {
            "g1": (date(y, 9, 1), date(y + 1, 5, 31), 2_700_000),  # the period's months: 9 × 3 000 ₽
            "g2": (date(y, 9, 1), date(y + 1, 12, 31), 6_400_000),  # 16 months × 4 000 ₽: past the period's end
            "g3": (date(y, 10, 1), date(y + 1, 3, 31), 1_800_000),  # 6 × 3 000 ₽
            "g4": (date(y, 9, 1), date(y + 1, 10, 31), 2_800_000),  # 14 × 2 000 ₽: past the period's end
            "g5": (date(y + 1, 9, 1), date(y + 2, 5, 31), 2_700_000),  # the second period: 9 × 3 000 ₽
        }

        async def write(conn: AsyncConnection) -> None:
            inn = f"{PROVIDER_INN[:-2]}{int(self.m):02d}"
            provider = (
                await conn.execute(
                    text(
                        "INSERT INTO providers (name, inn, municipality) VALUES (:n, :i, :m)"
                        " ON CONFLICT (inn) DO UPDATE SET name = excluded.name RETURNING id"
                    ),
                    {"n": f"Дом творчества «Круглый год» ({self.m})", "i": inn, "m": self.m},
                )
            ).scalar_one()
            self.provider = Actor.provider("provider-year", int(provider))
            program = (
                await conn.execute(
                    text(
                        "INSERT INTO programs (provider_id, title, description, direction, min_age, max_age,"
                        " municipality, certified) VALUES (:p, 'Мастерская круглый год',"
                        " 'Занятия круглый год: два учебных года', 'ARTS', 5, 17, :m, true) RETURNING id"
                    ),
                    {"p": provider, "m": self.m},
                )
            ).scalar_one()
            for name, (starts, ends, price) in groups.items():
                self.groups[name] = int(
                    (
                        await conn.execute(
                            text(
                                "INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, price)"
                                " VALUES (:p, :n, :s, :e, 10, :price) RETURNING id"
                            ),
                            {"p": program, "n": f"Группа {name}", "s": starts, "e": ends, "price": price},
                        )
                    ).scalar_one()
                )

        await transaction(self.engine, write)

    def _guardian(self, key: str) -> Actor:
        return Actor.guardian(f"year-{self.m}-{key}")

    async def _apply(self, day: date, key: str) -> None:
        child = self.children[key]
        req = certificates.ApplicationRequest(child.full_name, child.birth_date, None, self.m)
        guardian = self._guardian(key)
        self.applications[key] = await transaction(
            self.engine, lambda c: certificates.apply(c, guardian, req, day, self.keys)
        )
        self.summary.note(day, f"{key}: applied")

    async def _issue(self, day: date, key: str) -> None:
        app = self.applications[key]
        region = self.settings.region_code
        self.certificates[key] = await transaction(
            self.engine, lambda c: certificates.issue(c, self.operator, app, day, region)
        )
        self.summary.note(day, f"{key}: certificate issued")

    async def _reject(self, day: date, key: str) -> None:
        app = self.applications[key]
        await transaction(self.engine, lambda c: certificates.reject(c, self.operator, app, REJECTION))
        self.summary.rejected += 1
        self.summary.note(day, f"{key}: application rejected")

    async def _open_period(self, day: date, starts: date, ends: date, carry_over: bool) -> None:
        req = periods.PeriodRequest(self.m, starts, ends, [Nominal(5, 17, NOMINAL)], carry_over=carry_over)
        opened = await transaction(self.engine, lambda c: periods.open_period(c, self.operator, req))
        self.period_ids.append(opened.period_id)
        self.summary.credited += opened.credited
        self.summary.carried_in += opened.carried_in
        self.summary.note(day, f"period {starts}–{ends} opened ({'CARRY_OVER' if carry_over else 'EXPIRE'})")

    async def _enroll(self, day: date, key: str, group: str) -> None:
        guardian, cert, gid = self._guardian(key), self.certificates[key], self.groups[group]

        async def work(conn: AsyncConnection) -> int:
            eid = await enrollment.create(conn, guardian, cert, gid, f"year-{key}-{group}", day)
            return await enrollment.accept(conn, self.provider, eid, self.settings.enrollment_expiry_days)

        self.contracts[f"{key}:{group}"] = await transaction(self.engine, work)
        self.summary.note(day, f"{key}: enrolled in {group}")

    async def _report(self, day: date) -> None:
        """On the 25th the provider reports the month of every contract it runs."""
        month = month_start(day)
        provider_id = self.provider.provider_id

        async def due(conn: AsyncConnection) -> list[tuple[int, int]]:
            rows = await conn.execute(
                text(
                    "SELECT e.id, e.first_month FROM enrollments e JOIN groups g ON g.id = e.group_id"
                    " JOIN programs p ON p.id = g.program_id WHERE p.provider_id = :p AND e.status = 'ACTIVE'"
                    " AND e.first_month <= :m AND :m < e.first_month + make_interval(months => e.months)"
                    " ORDER BY e.id"
                ),
                {"p": provider_id, "m": month},
            )
            return [
                (int(r.id), (month.year - r.first_month.year) * 12 + month.month - r.first_month.month) for r in rows
            ]

        lines = [
            enrollment.ProvisionLine(eid, COMPLETENESS[index % len(COMPLETENESS)])
            for eid, index in await transaction(self.engine, due)
        ]
        if lines:
            await transaction(self.engine, lambda c: enrollment.report_provision(c, self.provider, month, lines, day))

    async def _issue_statements(self, day: date) -> None:
        """The operator issues every statement whose month can no longer be reported."""
        limit = add_months(month_start(day), -2)

        async def drafts(conn: AsyncConnection) -> list[int]:
            rows = await conn.execute(
                text(
                    "SELECT id FROM settlement_statements WHERE payer = :m AND status = 'DRAFT' AND month <= :l"
                    " ORDER BY month, id"
                ),
                {"m": self.m, "l": limit},
            )
            return [int(r.id) for r in rows]

        for sid in await transaction(self.engine, drafts):

            async def one(conn: AsyncConnection, sid: int = sid) -> tuple[date, str, int]:
                await settlement.issue(conn, self.operator, sid, day)
                row = (
                    await conn.execute(
                        text("SELECT month, number, total FROM settlement_statements WHERE id = :id"), {"id": sid}
                    )
                ).one()
                return row.month, str(row.number), int(row.total)

            month, number, total = await transaction(self.engine, one)
            self.summary.statements[month].append((number, total))

    async def _prolong(self, day: date) -> None:
        period = self.period_ids[-1]
        prolonged = await transaction(self.engine, lambda c: enrollment.prolong(c, self.provider, period, None, day))

        async def statuses(conn: AsyncConnection) -> list[tuple[int, str, int]]:
            rows = await conn.execute(
                text("SELECT id, status, from_family FROM enrollments WHERE id = ANY(:ids) ORDER BY id"),
                {"ids": prolonged},
            )
            return [(int(r.id), str(r.status), int(r.from_family)) for r in rows]

        for eid, status, _ in await transaction(self.engine, statuses):
            if status == "ACTIVE":
                self.summary.prolonged_active += 1
            else:
                self.summary.prolonged_awaiting += 1
            self.contracts[f"prolonged:{eid}"] = eid
        self.summary.note(day, f"{len(prolonged)} contract(s) prolonged")

    async def _consent(self, day: date) -> None:
        """The guardians of contracts waiting for consent confirm the figure they were shown."""

        async def waiting(conn: AsyncConnection) -> list[tuple[int, str, int]]:
            rows = await conn.execute(
                text(
                    "SELECT e.id, gu.subject, e.from_family FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id"
                    " WHERE e.status = 'AWAITING_CONSENT' AND e.period_id = :p ORDER BY e.id"
                ),
                {"p": self.period_ids[-1]},
            )
            return [(int(r.id), str(r.subject), int(r.from_family)) for r in rows]

        for eid, subject, from_family in await transaction(self.engine, waiting):

            async def agree(conn: AsyncConnection, eid: int = eid, subject: str = subject, f: int = from_family) -> int:
                return await enrollment.consent(conn, Actor.guardian(subject), eid, f)

            await transaction(self.engine, agree)
            self.summary.note(day, f"consent to contract {eid}")

    async def _ledger_figures(self) -> None:
        """What the ledger says was charged, by month, to the municipality's periods."""

        async def charged(conn: AsyncConnection) -> list[tuple[date, int]]:
            rows = await conn.execute(
                text(
                    "SELECT le.month, sum(le.amount) AS total FROM ledger_entries le"
                    " JOIN funding_periods p ON p.id = le.period_id"
                    " WHERE le.kind = 'CHARGE' AND p.municipality = :m AND p.id = ANY(:ids)"
                    " GROUP BY le.month ORDER BY le.month"
                ),
                {"m": self.m, "ids": self.period_ids},
            )
            return [(r.month, int(r.total)) for r in rows]

        for month, total in await transaction(self.engine, charged):
            self.summary.charged[month] = total


async def simulate(
    engine: AsyncEngine,
    settings: Settings,
    municipality: str,
    year: int,
    on_day: OnDay | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Run the two school years of ``municipality`` from 20 August ``year``; the summary."""
    return await YearRun(engine, settings, municipality, year).run(on_day, progress)


def table(summary: Summary) -> str:
    """The summary as a plain-text table (what ``pdo-graph demo-year`` prints)."""

    def rub(kopecks: int) -> str:
        return f"{kopecks / 100:,.2f}".replace(",", " ")

    lines = [
        f"Municipality {summary.municipality}, {summary.first_day} – {summary.last_day}",
        f"credited {rub(summary.credited)} ₽, carried in {rub(summary.carried_in)} ₽, applications rejected"
        f" {summary.rejected}, certificates expired (18) {summary.certificates_expired},"
        f" prolonged {summary.prolonged_active} ACTIVE + {summary.prolonged_awaiting} AWAITING_CONSENT",
        "",
        f"{'month':<8} {'charged, ₽':>14} {'statements':>10} {'issued total, ₽':>16}  numbers",
    ]
    months = sorted(set(summary.charged) | set(summary.statements))
    for month in months:
        issued = summary.statements.get(month, [])
        numbers = ", ".join(n for n, _ in issued)
        lines.append(
            f"{month:%m.%Y}  {rub(summary.charged.get(month, 0)):>14} {len(issued):>10}"
            f" {rub(sum(t for _, t in issued)):>16}  {numbers}"
        )
    total_charged = sum(summary.charged.values())
    total_issued = sum(t for v in summary.statements.values() for _, t in v)
    lines.append(
        f"{'total':<8} {rub(total_charged):>14} {sum(map(len, summary.statements.values())):>10}"
        f" {rub(total_issued):>16}"
    )
    lines.append("")
    for c in summary.closes:
        lines.append(f"close on {c.day}: {c.periods} period(s), expired {rub(c.expired)} ₽, carried {rub(c.carried)} ₽")
    return "\n".join(lines)
