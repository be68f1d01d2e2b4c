"""Read-your-writes against a real streaming replica: dashboards and statements read the replica, except
for a caller whose last mutation the replica has not replayed yet (by WAL position: remembered per
caller in the process, and carried by the client in ``x-pdo-min-lsn`` to any other server process).
Replay is paused with ``pg_wal_replay_pause()`` to hold the replica behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pdo_graph import clock
from pdo_graph.app import create_app
from pdo_graph.db.engine import Database
from pdo_graph.db.replica import Replica, format_lsn, parse_lsn
from pdo_graph.db.session import WAL_POSITION
from tests.enrollment.conftest import (
    ACCEPT,
    CREATE,
    REPORT,
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    gid,
    provider_token,
)
from tests.helpers import apply, issue, years_ago
from tests.replica.conftest import Replicated, caught_up
from tests.year.test_closing_job import open_period

pytestmark = pytest.mark.slow

HEADER = "x-pdo-min-lsn"
DASHBOARD = """query Dashboard { viewer {
  children { fullName certificate { number } }
  certificateApplications { status child { fullName } } } }"""
STATEMENTS = """query Statements($month: Date!) { settlementStatements(month: $month) {
  status total { kopecks } payer { code } } }"""
QUEUE = "query Queue { certificateApplications(first: 10) { edges { node { status } } } }"


@dataclass
class Server:
    """One app (a server process of its own: its own memory of callers' writes) over the pair."""

    client: httpx.AsyncClient
    database: Database

    async def call(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None, lsn: str | None = None
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if lsn is not None:
            headers[HEADER] = lsn
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        return response

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        return next(iter((await self.call(query, variables, **kw)).json()["data"].values()))

    def read_from(self, source: str) -> float:
        """Operations whose reads went to ``source`` so far (the metric's counter)."""
        metrics = self.client._transport.app.state.services.metrics  # type: ignore[attr-defined]
        return metrics.registry.get_sample_value("pdo_graphql_read_source_total", {"source": source}) or 0.0


@pytest.fixture
async def server(fresh: Replicated, settings) -> AsyncIterator[Callable[[], Any]]:  # type: ignore[no-untyped-def]
    """Makes servers: each a fresh app with a Replica of its own over the same pair of engines."""

    @asynccontextmanager
    async def start() -> AsyncIterator[Server]:
        replica = Replica(fresh.primary, fresh.replica.engine, 3600)  # replay is held back on purpose
        database = Database(url=fresh.primary_url, engine=fresh.primary, replica=replica)
        app = create_app(settings, database=database)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Server(client, database)

    yield start


async def pause(fresh: Replicated) -> None:
    async with fresh.replica.engine.connect() as conn:
        await conn.execute(text("SELECT pg_wal_replay_pause()"))


async def resume(fresh: Replicated, *servers: Server) -> None:
    async with fresh.replica.engine.connect() as conn:
        await conn.execute(text("SELECT pg_wal_replay_resume()"))
    await caught_up(fresh.replica)
    for s in servers:
        assert s.database.replica is not None
        s.database.replica.forget()  # measured again on the next read, not up to a second later


def names(dashboard: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(c["fullName"], c["certificate"] and c["certificate"]["number"]) for c in dashboard["children"]]


async def test_a_guardian_sees_the_application_just_made_others_read_the_replica(fresh: Replicated, server, token):
    alice, boris = token("GUARDIAN", "g-alice"), token("GUARDIAN", "g-boris")
    operator = token("OPERATOR", "op-01", municipality="01")
    async with server() as one, server() as two:
        applied = await apply(_gql(one), boris, "Борисов Борис", years_ago(9, days=40))
        assert applied["userErrors"] == []
        await caught_up(fresh.replica)
        await pause(fresh)

        # while the replica stands still: the operator issues Boris's certificate, Alice applies
        issued = await issue(_gql(one), operator, applied["application"]["id"])
        number = issued["certificate"]["number"]
        response = await one.call(
            APPLY_ALICE, {"input": {"fullName": "Алисова Алиса", "birthDate": years_ago(8, days=40).isoformat(),
                                    "municipality": "01"}}, token=alice,
        )  # fmt: skip
        position = response.headers[HEADER]
        assert parse_lsn(position) is not None and format_lsn(parse_lsn(position) or 0) == position
        assert response.headers["cache-control"] == "no-store"

        # Alice reads her dashboard at once: from the primary (the replica has not replayed her write)
        before = one.read_from("primary"), one.read_from("replica")
        mine = await one.data(DASHBOARD, token=alice)
        assert [(a["status"], a["child"]["fullName"]) for a in mine["certificateApplications"]] == [
            ("SUBMITTED", "Алисова Алиса")
        ]
        assert (one.read_from("primary"), one.read_from("replica")) == (before[0] + 1, before[1])
        # Boris (who wrote nothing since) reads the replica meanwhile: his certificate is not there yet
        his = await one.data(DASHBOARD, token=boris)
        assert names(his) == [("Борисов Борис", None)]
        assert (one.read_from("primary"), one.read_from("replica")) == (before[0] + 1, before[1] + 1)
        # the operator issued: its verification queue reads the primary always
        await one.data(QUEUE, token=operator)
        assert one.read_from("primary") == before[0] + 2

        # another server process knows nothing of Alice's write: without the header it reads the
        # replica (her application is not there), with the header her client carries, the primary
        assert (await two.data(DASHBOARD, token=alice))["certificateApplications"] == []
        carried = await two.data(DASHBOARD, token=alice, lsn=position)
        assert [a["child"]["fullName"] for a in carried["certificateApplications"]] == ["Алисова Алиса"]
        assert (two.read_from("primary"), two.read_from("replica")) == (1, 1)
        # a header that is no WAL position is ignored (it can only ever send reads to the primary)
        assert (await two.data(DASHBOARD, token=alice, lsn="soon"))["certificateApplications"] == []

        # replay resumes and catches up: everyone reads the replica again, and the writes are there
        await resume(fresh, one, two)
        mine = await one.data(DASHBOARD, token=alice)
        assert [a["child"]["fullName"] for a in mine["certificateApplications"]] == ["Алисова Алиса"]
        assert names(await one.data(DASHBOARD, token=boris)) == [("Борисов Борис", number)]
        carried = await two.data(DASHBOARD, token=alice, lsn=position)
        assert [a["child"]["fullName"] for a in carried["certificateApplications"]] == ["Алисова Алиса"]
        assert one.read_from("replica") == before[1] + 3 and two.read_from("replica") == 3


@dataclass
class Contract:
    subject: str  # the guardian
    certificate: int
    program: int
    provider: int
    enrollment: str


async def contract(fresh: Replicated, one: Server, token: Any) -> Contract:
    """A certificate, a provider's group and the child's accepted contract (September 2030 onwards)."""
    db = fresh.primary
    ((subject, cert),) = await bulk_certificates(db, 1, "01", prefix="s", today=date(2030, 9, 1))
    await open_period(db, "01")
    provider = await add_provider(db)
    program = await add_program(db, provider)
    group = await add_group(db, program, starts_on=date(2030, 9, 1), ends_on=date(2031, 12, 31), price=1_600_000)
    created = await one.data(
        CREATE, {"c": gid("Certificate", cert), "g": gid("Group", group), "k": "k"}, token=token("GUARDIAN", subject)
    )
    assert created["userErrors"] == []
    accepted = await one.data(ACCEPT, {"id": created["enrollment"]["id"]}, token=provider_token(token))
    assert accepted["userErrors"] == []
    return Contract(subject, cert, program, provider, created["enrollment"]["id"])


async def test_statements_after_a_providers_report(fresh: Replicated, server, token):
    with clock.use(clock.FixedClock.on(date(2030, 9, 10))) as fixed:
        provider, operator = provider_token(token), token("OPERATOR", "op-01", municipality="01")
        async with server() as one, server() as two:
            signed = await contract(fresh, one, token)
            fixed.set_day(date(2030, 9, 25))
            await caught_up(fresh.replica)
            await pause(fresh)

            items = [{"enrollmentId": signed.enrollment, "completeness": 100}]
            reported = await one.call(REPORT, {"month": "2030-09-01", "items": items}, token=provider)
            assert reported.json()["data"]["provisionReport"]["userErrors"] == []
            position = reported.headers[HEADER]
            september = {"month": "2030-09-01"}
            expected = [{"status": "DRAFT", "total": {"kopecks": 100_000}, "payer": {"code": "01"}}]

            before = one.read_from("replica")
            assert await one.data(STATEMENTS, september, token=provider) == expected  # the primary
            assert await one.data(STATEMENTS, september, token=operator) == []  # the replica, behind
            assert one.read_from("replica") == before + 1
            assert await two.data(STATEMENTS, september, token=provider) == []  # no header: the replica
            assert await two.data(STATEMENTS, september, token=provider, lsn=position) == expected

            await resume(fresh, one, two)
            assert await one.data(STATEMENTS, september, token=operator) == expected
            assert await one.data(STATEMENTS, september, token=provider) == expected
            assert await two.data(STATEMENTS, september, token=provider, lsn=position) == expected
            assert one.read_from("replica") == before + 3 and two.read_from("replica") == 2


async def test_every_lag_tolerant_root_answers_from_the_replica(fresh: Replicated, server, token):
    """Each root field of LAG_TOLERANT_ROOTS, as the callers who use it ask, runs on the hot standby
    (read-only: a write or a row lock there would fail); a query mixing in another root reads the primary."""
    from pdo_graph.transport.execution import LAG_TOLERANT_ROOTS

    with clock.use(clock.FixedClock.on(date(2030, 9, 10))):
        async with server() as one:
            signed = await contract(fresh, one, token)
            await caught_up(fresh.replica)
            assert one.database.replica is not None
            one.database.replica.forget()
            await one.call("{ __typename }")  # measured now: everyone's writes are replayed
            month = {"m": "2030-09-01"}
            program, provider = gid("Program", signed.program), gid("Provider", signed.provider)
            cert = gid("Certificate", signed.certificate)
            asked: list[tuple[str, str | None, dict[str, Any]]] = [
                ("""{ programs(first: 5) { totalCount } municipalities { code } __typename
                    __schema { queryType { name } } __type(name: "Program") { name } }""", None, {}),
                ("query($p: ID!) { programReviews(programId: $p, first: 5) { edges { node { id } } } }", None,
                 {"p": program}),
                ("""query($c: ID!) { viewer { role children { fullName } notifications(first: 5) { edges { node { id } } }
                    unreadNotifications } node(id: $c) { id } nodes(ids: [$c]) { id } }""",
                 token("GUARDIAN", signed.subject), {"c": cert}),
                ("""query($m: Date!, $v: ID!) { providerEnrollments(first: 5) { edges { node { status } } }
                    settlementStatements(month: $m) { id } providerSettlement(providerId: $v, month: $m) { contracts }
                    viewer { provider { name } } }""", provider_token(token), {**month, "v": provider}),
                ("""query($m: Date!) { municipalitySettlements(month: $m) { contracts } settlementStatements(month: $m) { id }
                    analytics(measures: [ENROLLMENTS, SPENT], by: [MONTH]) { columns }
                    analyticsSummary(filter: {monthFrom: $m, monthTo: $m}) { month } }""",
                 token("OPERATOR", "op-01", municipality="01"), month),
                ("{ analytics(measures: [CHILDREN_ENROLLED], by: [DIRECTION, MUNICIPALITY]) { columns suppressed } }",
                 token("ANALYST", "an-1"), {}),
            ]  # fmt: skip
            roots: set[str] = set()
            for query, caller, variables in asked:
                before = one.read_from("replica")
                body = (await one.call(query, variables, token=caller)).json()
                assert one.read_from("replica") == before + 1, query
                roots |= set(body["data"])
            assert roots == LAG_TOLERANT_ROOTS
            # one root that must see others' writes at once sends the whole query to the primary
            before = one.read_from("primary")
            mixed = "{ municipalities { code } certificateApplications(first: 5) { edges { node { id } } } }"
            await one.call(mixed, token=token("OPERATOR", "op-01", municipality="01"))
            assert one.read_from("primary") == before + 1


async def test_csv_exports_analytics_from_the_replica_statements_from_the_primary(fresh: Replicated, server, token):
    """The analysts' CSV (aggregates only the refresh job changes) reads the replica while it is fresh
    enough; a statement's CSV, a document an accountant files, reads the primary."""
    with clock.use(clock.FixedClock.on(date(2030, 9, 10))) as fixed:
        async with server() as one:
            signed = await contract(fresh, one, token)
            fixed.set_day(date(2030, 9, 25))
            items = [{"enrollmentId": signed.enrollment, "completeness": 100}]
            await one.call(REPORT, {"month": "2030-09-01", "items": items}, token=provider_token(token))
            await caught_up(fresh.replica)
            assert one.database.replica is not None
            one.database.replica.forget()
            analyst, operator = token("ANALYST", "an-1"), token("OPERATOR", "op-01", municipality="01")
            table = await one.data("{ analytics(measures: [ENROLLMENTS], by: [MONTH]) { csvUrl } }", token=analyst)
            [statement] = await one.data(
                "query($m: Date!) { settlementStatements(month: $m) { csvUrl } }", {"m": "2030-09-01"}, token=operator
            )

            async def download(link: str) -> str:
                response = await one.client.get(link)
                assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
                return next(s for s in ("replica", "primary") if one.read_from(s) > counts[s])

            counts = {s: one.read_from(s) for s in ("replica", "primary")}
            assert await download(table["csvUrl"]) == "replica"
            counts = {s: one.read_from(s) for s in ("replica", "primary")}
            assert await download(statement["csvUrl"]) == "primary"
            # the replica held back beyond the allowed lag: the analysts' CSV comes from the primary
            await pause(fresh)
            async with fresh.primary.begin() as conn:
                await conn.execute(text("UPDATE municipalities SET name = name || '' WHERE code = '01'"))
            one.database.replica.max_lag_seconds = 0
            one.database.replica.forget()
            counts = {s: one.read_from(s) for s in ("replica", "primary")}
            assert await download(table["csvUrl"]) == "primary"
            await resume(fresh, one)


async def test_a_write_is_remembered_until_the_replica_replays_it(fresh: Replicated):
    replica = Replica(fresh.primary, fresh.replica.engine, 3600)
    assert await replica.reads_engine() is replica.engine
    assert replica.replayed is not None
    await pause(fresh)
    async with fresh.primary.begin() as conn:
        await conn.execute(text("UPDATE municipalities SET name = name || '' WHERE code = '01'"))
    async with fresh.primary.connect() as conn:  # after the commit: past its record
        written = int((await conn.execute(text(WAL_POSITION))).scalar_one())
    replica.remember("GUARDIAN:g", written)
    replica.forget()
    assert await replica.reads_engine(replica.written_by("GUARDIAN:g")) is fresh.primary
    assert await replica.reads_engine(replica.written_by("GUARDIAN:other")) is replica.engine
    await resume(fresh)
    replica.forget()
    assert await replica.reads_engine() is replica.engine
    assert replica.written_by("GUARDIAN:g") is None  # replayed: forgotten


APPLY_ALICE = """
mutation($input: CertificateApplyInput!) {
  certificateApply(input: $input) { application { id status } userErrors { code field message } }
}"""


def _gql(s: Server) -> Callable[..., Any]:
    async def call(query: str, variables: dict[str, Any] | None = None, token: str | None = None, **_: Any) -> Any:
        return (await s.call(query, variables, token=token)).json()

    return call
