"""The family's side (issue 13): program kinds in quote and apply, a QUEUED certificate, the contract
document (HTML and PDF, read back with pypdf), and the notifications a family (and its provider) get
through a year, each written in its cause's transaction and handed to the outbox."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import httpx
import pypdf
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph import jobs
from pdo_graph.config import Settings
from pdo_graph.db.session import transaction
from pdo_graph.domain import outbox, periods
from pdo_graph.domain.access import Actor
from pdo_graph.domain.money import add_months
from tests.enrollment.conftest import (
    ACCEPT,
    CREATE,
    REFUSE,
    REPORT,
    add_group,
    add_program,
    add_provider,
    balance,
    end_of_month,
    gid,
    next_month,
    pk,
    provider_token,
)
from tests.helpers import new_certificate, open_period

NOMINAL = 3_000_000

KINDS = """
mutation($p: ID!) { programUpdate(input: {programId: $p, fundingKind: PAID}) {
  program { fundingKind certified } userErrors { code } } }"""

QUOTE = """
query($c: ID!, $g: ID!) { quote(certificateId: $c, groupId: $g) {
  price { kopecks } fromCertificate { kopecks } fromFamily { kopecks }
  monthly { fromCertificate { kopecks } fromFamily { kopecks } } userErrors { code } } }"""

CONTRACT = """
query($id: ID!) { node(id: $id) { ... on Enrollment { status contract { number acceptedAt documentUrl } } } }"""

INBOX = """
query($unread: Boolean) { viewer { unreadNotifications
  notifications(first: 100, unreadOnly: $unread) { totalCount edges { node { id kind title body readAt } } } } }"""

MARK = """
mutation($ids: [ID!]!) { notificationsMarkRead(input: {ids: $ids}) { unread userErrors { code field } } }"""


async def _kind(engine: AsyncEngine, program_id: int, kind: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE programs SET funding_kind = :k, certified = (:k = 'CERTIFICATE') WHERE id = :p"),
            {"k": kind, "p": program_id},
        )


async def _catalog(db: AsyncEngine) -> dict[str, int]:
    """One provider, three programs (one per kind), each with a 9-month group starting next month."""
    provider = await add_provider(db)
    starts = next_month()
    ends = end_of_month(add_months(starts, 8))
    groups: dict[str, int] = {}
    for kind, price in (("CERTIFICATE", 2_700_000), ("MUNICIPAL", 900_000), ("PAID", 1_800_009)):
        program = await add_program(db, provider, title=f"Программа {kind}")
        await _kind(db, program, kind)
        groups[kind] = await add_group(db, program, starts_on=starts, ends_on=ends, price=price, name=f"Группа {kind}")
    groups["provider"] = provider
    return groups


async def _period(gql: Any, token: Any, limit: int | None, ends: date | None = None) -> str:
    today = date.today()
    opened = await open_period(
        gql, token, "01", today - timedelta(days=60), ends or today + timedelta(days=300), [(0, 18, NOMINAL)], limit
    )
    assert opened["userErrors"] == [], opened
    return str(opened["period"]["id"])


async def _create(gql: Any, token: Any, subject: str, cert: str, group: int, key: str) -> dict[str, Any]:
    body = await gql(CREATE, {"c": cert, "g": gid("Group", group), "k": key}, token=token("GUARDIAN", subject))
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["enrollmentCreate"]
    return result


async def test_kinds_decide_the_money_and_a_queued_certificate_joins_free_and_paid_groups(gql, token, db):
    groups = await _catalog(db)
    await _period(gql, token, limit=1)
    funded = await new_certificate(gql, token, "anna", "Иванова Анна Сергеевна", 10)
    queued = await new_certificate(gql, token, "boris", "Петров Борис Ильич", 11)
    guardian = token("GUARDIAN", "boris")

    # a QUEUED certificate: certificate-funded programs refused, free and paid ones open
    q = (await gql(QUOTE, {"c": queued["id"], "g": gid("Group", groups["CERTIFICATE"])}, token=guardian))["data"]
    assert [e["code"] for e in q["quote"]["userErrors"]] == ["CERTIFICATE_NOT_FUNDED"]
    refused = await _create(gql, token, "boris", queued["id"], groups["CERTIFICATE"], "c1")
    assert refused["enrollment"] is None and [e["code"] for e in refused["userErrors"]] == ["CERTIFICATE_NOT_FUNDED"]

    free = (await gql(QUOTE, {"c": queued["id"], "g": gid("Group", groups["MUNICIPAL"])}, token=guardian))["data"]
    assert free["quote"]["price"]["kopecks"] == 0 and free["quote"]["userErrors"] == []
    made = await _create(gql, token, "boris", queued["id"], groups["MUNICIPAL"], "m1")
    assert made["userErrors"] == [] and made["enrollment"]["price"]["kopecks"] == 0

    paid = await _create(gql, token, "boris", queued["id"], groups["PAID"], "p1")
    assert paid["userErrors"] == []
    assert paid["enrollment"]["fromCertificate"]["kopecks"] == 0
    assert paid["enrollment"]["fromFamily"]["kopecks"] == 1_800_009

    # a funded certificate pays nothing towards a PAID group either: its balance stays whole
    paid_too = await _create(gql, token, "anna", funded["id"], groups["PAID"], "p2")
    assert paid_too["enrollment"]["fromFamily"]["kopecks"] == 1_800_009
    assert (await balance(gql, token("GUARDIAN", "anna"), funded["id"]))["reserved"] == 0
    pay = await _create(gql, token, "anna", funded["id"], groups["CERTIFICATE"], "c2")
    assert pay["enrollment"]["fromCertificate"]["kopecks"] == 2_700_000

    # seats are taken by every kind
    async with db.connect() as conn:
        seats = dict((await conn.execute(text("SELECT id, seats_taken FROM groups"))).all())
    assert seats == {groups["CERTIFICATE"]: 1, groups["MUNICIPAL"]: 1, groups["PAID"]: 2}

    # a monthly report covers every kind, and charges only certificate money
    provider = provider_token(token)
    for made_id in (made["enrollment"]["id"], paid["enrollment"]["id"]):
        assert (await gql(ACCEPT, {"id": made_id}, token=provider))["data"]["r"]["userErrors"] == []
    async with db.begin() as conn:  # the group has begun: report its first month
        await conn.execute(text("UPDATE groups SET starts_on = :d"), {"d": date.today().replace(day=1)})
        await conn.execute(text("UPDATE enrollments SET first_month = :d"), {"d": date.today().replace(day=1)})
    month = date.today().replace(day=1)
    items = [{"enrollmentId": made["enrollment"]["id"], "completeness": 100}]
    items.append({"enrollmentId": paid["enrollment"]["id"], "completeness": 80})
    report = (await gql(REPORT, {"month": month.isoformat(), "items": items}, token=provider))["data"]
    assert report["provisionReport"]["userErrors"] == [] and report["provisionReport"]["charged"]["kopecks"] == 0


async def test_only_certificate_programs_are_certified(gql, token, db):
    provider = await add_provider(db)
    program = await add_program(db, provider)  # certified, CERTIFICATE
    body = await gql(KINDS, {"p": gid("Program", program)}, token=provider_token(token))
    assert body["data"]["programUpdate"]["program"] == {"fundingKind": "PAID", "certified": False}
    certify = """mutation($p: ID!) { programCertify(input: {programId: $p, certified: true}) {
      program { certified } userErrors { code field } } }"""
    refused = await gql(certify, {"p": gid("Program", program)}, token=token("OPERATOR", "op-01", municipality="01"))
    assert refused["data"]["programCertify"]["userErrors"] == [{"code": "INVALID", "field": ["input", "programId"]}]


async def test_the_contract_document_as_html_and_pdf(gql, token, db, app):
    groups = await _catalog(db)
    await _period(gql, token, limit=None)
    cert = await new_certificate(gql, token, "vera", "Сидорова Вера Павловна", 9)
    made = await _create(gql, token, "vera", cert["id"], groups["CERTIFICATE"], "c1")
    eid = made["enrollment"]["id"]
    node = (await gql(CONTRACT, {"id": eid}, token=token("GUARDIAN", "vera")))["data"]["node"]
    contract = node["contract"]
    assert contract["number"].startswith(f"01-{date.today().year}-")
    assert contract["acceptedAt"] is not None and contract["documentUrl"] == f"/contracts/{eid}"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

        async def get(url: str, who: str | None) -> httpx.Response:
            return await client.get(url, headers={"authorization": f"Bearer {who}"} if who else {})

        guardian = token("GUARDIAN", "vera")
        html = await get(contract["documentUrl"], guardian)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        for expected in (contract["number"], "Сидорова Вера Павловна", "Программа CERTIFICATE", "27000.00 руб."):
            assert expected in html.text
        assert "<script" not in html.text

        pdf = await get(contract["documentUrl"] + "?format=pdf", guardian)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        reader = pypdf.PdfReader(io.BytesIO(pdf.content))
        extracted = " ".join(page.extract_text() for page in reader.pages)
        flat = " ".join(extracted.split())
        # 27 000 ₽ over 9 months from the certificate (3 000 ₽ a month), nothing from the family
        for expected in (contract["number"], "27000.00 руб.", "3000.00 руб.", "0.00 руб.", "Сидорова Вера Павловна"):
            assert expected in flat, (expected, flat[:2000])

        # the provider may read it (audited), others may not know it exists
        async with db.connect() as conn:
            before = (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
        assert (await get(contract["documentUrl"], provider_token(token))).status_code == 200
        async with db.connect() as conn:
            audited = (await conn.execute(text("SELECT fields FROM audit_log ORDER BY id DESC LIMIT 1"))).scalar_one()
            after = (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
        assert after == before + 1 and sorted(audited) == ["birthDate", "fullName"]
        stranger = await get(contract["documentUrl"], token("GUARDIAN", "someone-else"))
        assert stranger.status_code == 404 and stranger.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert (await get(contract["documentUrl"], None)).status_code == 401
        assert (await get("/contracts/not-an-id", guardian)).status_code == 404
        bad = await get(contract["documentUrl"] + "?format=docx", guardian)
        assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_family_year_of_notifications(gql, token, db, settings: Settings):
    """Everything a family hears of in a year, in order; the provider's inbox; read marks; the outbox."""
    groups = await _catalog(db)
    today = date.today()
    period_ends = today + timedelta(days=20)  # closes within 30 days: unused money would burn
    period_id = await _period(gql, token, limit=0, ends=period_ends)
    cert = await new_certificate(gql, token, "galina", "Козлова Галина Олеговна", 10)
    async with db.begin() as conn:  # the groups run inside the period
        await conn.execute(
            text("UPDATE groups SET starts_on = :s, ends_on = :e"), {"s": today.replace(day=1), "e": period_ends}
        )
    operator = Actor.operator("op-01", "01")
    await transaction(
        db, lambda c: periods.update_period(c, operator, pk(period_id), None, True, None)
    )  # the limit lifted: the queued certificate is funded from the queue
    provider = provider_token(token)

    made = await _create(gql, token, "galina", cert["id"], groups["CERTIFICATE"], "k1")
    assert made["userErrors"] == []
    eid = made["enrollment"]["id"]
    assert (await gql(ACCEPT, {"id": eid}, token=provider))["data"]["r"]["userErrors"] == []
    month = today.replace(day=1)
    report = await gql(
        REPORT, {"month": month.isoformat(), "items": [{"enrollmentId": eid, "completeness": 75}]}, token=provider
    )
    assert report["data"]["provisionReport"]["userErrors"] == []

    refused = await _create(gql, token, "galina", cert["id"], groups["PAID"], "k2")
    assert (await gql(REFUSE, {"id": refused["enrollment"]["id"], "reason": "Нет мест в зале"}, token=provider))[
        "data"
    ]["r"]["userErrors"] == []
    stale = await _create(gql, token, "galina", cert["id"], groups["MUNICIPAL"], "k3")
    async with db.begin() as conn:  # the provider never answers it
        await conn.execute(
            text("UPDATE enrollments SET created_at = now() - interval '4 days 12 hours' WHERE id = :id"),
            {"id": pk(stale["enrollment"]["id"])},
        )
    daily = await jobs.send_daily_notices(db, settings, today)
    assert daily["applications_expiring"] == 1 and daily["funds_expiring"] == 1
    async with db.begin() as conn:
        await conn.execute(
            text("UPDATE enrollments SET created_at = now() - interval '6 days' WHERE id = :id"),
            {"id": pk(stale["enrollment"]["id"])},
        )
        # the child turns 18 within a month
        await conn.execute(text("UPDATE certificates SET valid_until = :d"), {"d": today + timedelta(days=25)})
    await jobs.run_housekeeping(db, settings, today)
    again = await jobs.send_daily_notices(db, settings, today)
    assert again == {"certificates_expiring": 1, "funds_expiring": 0, "applications_expiring": 0}
    assert await jobs.send_daily_notices(db, settings, today) == dict.fromkeys(again, 0)  # each notice once

    inbox = (await gql(INBOX, {}, token=token("GUARDIAN", "galina")))["data"]["viewer"]
    kinds = [e["node"]["kind"] for e in reversed(inbox["notifications"]["edges"])]
    print(
        "\nthe family's notifications:",
        *(f"\n  {e['node']['kind']}: {e['node']['body']}" for e in reversed(inbox["notifications"]["edges"])),
    )
    assert kinds == [
        "CERTIFICATE_ISSUED",
        "FUNDED_FROM_QUEUE",
        "ENROLLMENT_ACCEPTED",
        "CHARGE_POSTED",
        "ENROLLMENT_REFUSED",
        "FUNDS_EXPIRING",
        "ENROLLMENT_EXPIRED",
        "CERTIFICATE_EXPIRING",
    ]
    bodies = {e["node"]["kind"]: e["node"]["body"] for e in inbox["notifications"]["edges"]}
    assert (
        "полнота оказания услуги 75%" in bodies["CHARGE_POSTED"] and month.strftime("%m.%Y") in bodies["CHARGE_POSTED"]
    )
    assert "Нет мест в зале" in bodies["ENROLLMENT_REFUSED"]
    assert inbox["unreadNotifications"] == 8 == inbox["notifications"]["totalCount"]

    provider_inbox = (await gql(INBOX, {}, token=provider))["data"]["viewer"]
    provider_kinds = sorted(e["node"]["kind"] for e in provider_inbox["notifications"]["edges"])
    assert provider_kinds == ["APPLICATION_EXPIRING"] + ["APPLICATION_RECEIVED"] * 3
    assert all("Козлова" not in e["node"]["body"] for e in provider_inbox["notifications"]["edges"])

    # read marks: one's own only
    first_two = [e["node"]["id"] for e in inbox["notifications"]["edges"][:2]]
    foreign = await gql(MARK, {"ids": first_two}, token=provider)
    assert [e["code"] for e in foreign["data"]["notificationsMarkRead"]["userErrors"]] == ["NOT_FOUND", "NOT_FOUND"]
    mixed = await gql(MARK, {"ids": [*first_two, "bm90LWFuLWlk"]}, token=token("GUARDIAN", "galina"))
    assert [e["field"] for e in mixed["data"]["notificationsMarkRead"]["userErrors"]] == [["input", "ids", "2"]]
    marked = await gql(MARK, {"ids": first_two}, token=token("GUARDIAN", "galina"))
    assert marked["data"]["notificationsMarkRead"] == {"unread": 6, "userErrors": []}
    unread = (await gql(INBOX, {"unread": True}, token=token("GUARDIAN", "galina")))["data"]["viewer"]
    assert unread["notifications"]["totalCount"] == 6 and len(unread["notifications"]["edges"]) == 6
    assert (await gql(INBOX, {}, token=token("GUARDIAN", "nobody")))["data"]["viewer"]["unreadNotifications"] == 0

    # the outbox: every notification once; a failed delivery is retried later
    adapter = outbox.MemoryAdapter(failures=1)
    done = await jobs.deliver_notifications(db, adapter)
    assert (done.delivered, done.failed) == (11, 1)
    async with db.begin() as conn:
        await conn.execute(text("UPDATE notification_outbox SET next_attempt_at = now() WHERE delivered_at IS NULL"))
    assert (await jobs.deliver_notifications(db, adapter)).delivered == 1
    assert sorted(m.notification_id for m in adapter.delivered) == sorted(
        {m.notification_id for m in adapter.delivered}
    )
    assert len(adapter.delivered) == 12
    assert (await jobs.deliver_notifications(db, adapter)).delivered == 0


def _feed_item(data: dict[str, Any]) -> Any:
    from pdo_graph.integrations.sync.rpde import FeedItem

    return FeedItem(id="X-1", kind="program", state="updated", modified=1, data=data)


def test_feeds_carry_the_kind_and_a_free_openactive_offer_is_municipal():
    import pytest

    from pdo_graph.integrations.feeds import ItemRefused, MappingContext, map_openactive, map_pdo_catalog

    ctx = MappingContext("7707083893", "01")
    program = {
        "title": "Хор",
        "description": "Бесплатные занятия хором.",
        "direction": "ARTS",
        "minAge": 7,
        "maxAge": 12,
        "groups": [],
    }
    assert map_pdo_catalog(_feed_item(program), ctx).program.funding_kind == "CERTIFICATE"
    item = map_pdo_catalog(_feed_item({**program, "fundingKind": "municipal", "forDisabilities": True}), ctx)
    assert (item.program.funding_kind, item.program.for_disabilities) == ("MUNICIPAL", True)
    with pytest.raises(ItemRefused):
        map_pdo_catalog(_feed_item({**program, "forDisabilities": "yes"}), ctx)

    def offer(price: float) -> dict[str, Any]:
        return {
            "name": "Плавание",
            "ageRange": {"minValue": 7, "maxValue": 12},
            "offers": [{"price": price, "priceCurrency": "RUB"}],
            "startDate": "2026-09-01T10:00:00+03:00",
            "endDate": "2027-05-31T10:00:00+03:00",
            "maximumAttendeeCapacity": 12,
        }

    assert map_openactive(_feed_item(offer(0)), ctx).program.funding_kind == "MUNICIPAL"
    assert map_openactive(_feed_item(offer(1500.5)), ctx).program.funding_kind == "CERTIFICATE"
