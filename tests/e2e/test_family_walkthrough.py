"""The README's step 13, "The family's side", over real HTTP: a free and a paid program, the navigator
near home, quotes that follow the kind, the contract document (HTML and PDF), the notifications."""

from __future__ import annotations

import io
from datetime import date, timedelta

import httpx
import pypdf
import pytest

from pdo_graph.domain.identifiers import inn_with_checksum
from pdo_graph.domain.money import add_months
from tests.e2e.walkthrough import call, dev_tokens, issue_certificate, open_period, register_provider

pytestmark = pytest.mark.e2e  # a real server process

FREE = """mutation { programCreate(input: {title: "Хор «Звонкие голоса»", description: "Бесплатные занятия хором для школьников.",
    direction: ARTS, minAge: 7, maxAge: 14, municipality: "01", fundingKind: MUNICIPAL, forDisabilities: true,
    address: "ул. Мира, 5", latitude: 55.7601, longitude: 37.6180}) { program { id fundingKind } userErrors { code message } } }"""
PAID = """mutation { programCreate(input: {title: "Теннис для начинающих", description: "Платные тренировки на закрытых кортах.",
    direction: PHYSICAL_SPORTS, minAge: 7, maxAge: 14, municipality: "01", fundingKind: PAID,
    latitude: 55.8000, longitude: 37.6000}) { program { id } userErrors { code message } } }"""
GROUP = """mutation($p: ID!, $s: Date!, $e: Date!, $price: SafeInt!) { groupCreate(input: {programId: $p,
    name: "Группа 1", startsOn: $s, endsOn: $e, capacity: 12, price: $price}) { group { id } userErrors { code } } }"""
NEAR = """{ programs(first: 10, filter: {near: {latitude: 55.7558, longitude: 37.6173, radiusKm: 10},
           fundingKind: MUNICIPAL, forDisabilities: true, form: "очная"}, orderBy: DISTANCE_ASC) {
    totalCount kindFacets { fundingKind count } edges { node { title fundingKind address } } } }"""
QUOTE = """query($c: ID!, $g: ID!) { quote(certificateId: $c, groupId: $g) {
    price { kopecks } fromCertificate { kopecks } fromFamily { kopecks } userErrors { code } } }"""
CREATE = """mutation($c: ID!, $g: ID!, $k: String!) { enrollmentCreate(input: {certificateId: $c, groupId: $g,
    idempotencyKey: $k}) { enrollment { id contract { number acceptedAt documentUrl } } userErrors { code } } }"""
INBOX = """{ viewer { unreadNotifications notifications(first: 20) { edges { node { id kind title body createdAt readAt } } } } }"""


def test_free_and_paid_programs_a_contract_and_the_inbox(live_server, db):
    cli = live_server.cli
    inn = inn_with_checksum("770708390")
    roles = dev_tokens(live_server, guardian="family-walk", operator="family-op", provider="family-staff", inn=inn)
    guardian, operator, provider = roles.guardian, roles.operator, roles.provider
    today = date.today()
    open_period(live_server, operator, today)
    cert = issue_certificate(live_server, roles, "Орлова Мария Игоревна", 9)
    register_provider(live_server, operator, inn, "Дом творчества «Радуга»", "ул. Мира, 5")
    free = call(live_server, FREE, {}, provider)["programCreate"]
    paid = call(live_server, PAID, {}, provider)["programCreate"]
    assert free["userErrors"] == [] and paid["userErrors"] == [] and free["program"]["fundingKind"] == "MUNICIPAL"
    first = add_months(today.replace(day=1), 1)
    ends = (add_months(first, 4) - timedelta(days=1)).isoformat()
    groups = {}
    for name, program, price in (("free", free, 0), ("paid", paid, 2_000_000)):
        made = call(
            live_server,
            GROUP,
            {"p": program["program"]["id"], "s": first.isoformat(), "e": ends, "price": price},
            provider,
        )["groupCreate"]
        assert made["userErrors"] == []
        groups[name] = made["group"]["id"]

    found = call(live_server, NEAR, {}, guardian)["programs"]
    assert [e["node"]["title"] for e in found["edges"]] == ["Хор «Звонкие голоса»"]
    assert {f["fundingKind"]: f["count"] for f in found["kindFacets"]}["PAID"] == 0  # the courts are not suitable

    quotes = {
        name: call(live_server, QUOTE, {"c": cert["id"], "g": group}, guardian)["quote"]
        for name, group in groups.items()
    }
    assert quotes["free"]["price"]["kopecks"] == 0 and quotes["free"]["userErrors"] == []
    assert (quotes["paid"]["fromCertificate"]["kopecks"], quotes["paid"]["fromFamily"]["kopecks"]) == (0, 2_000_000)

    made = call(live_server, CREATE, {"c": cert["id"], "g": groups["paid"], "k": "fw-1"}, guardian)["enrollmentCreate"]
    assert made["userErrors"] == []
    contract = made["enrollment"]["contract"]
    with httpx.Client(base_url=live_server.url, headers={"authorization": f"Bearer {guardian}"}, timeout=30) as http:
        html = http.get(contract["documentUrl"])
        assert html.status_code == 200 and contract["number"] in html.text and "20000.00 руб." in html.text
        pdf = http.get(contract["documentUrl"], params={"format": "pdf"})
        assert pdf.status_code == 200
        text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages).split())
        assert contract["number"] in text and "5000.00 руб." in text and "Орлова Мария Игоревна" in text

    accepted = call(
        live_server,
        "mutation($e: ID!) { enrollmentAccept(input: {enrollmentId: $e}) { enrollment { status } } }",
        {"e": made["enrollment"]["id"]},
        provider,
    )
    assert accepted["enrollmentAccept"]["enrollment"]["status"] == "ACTIVE"
    inbox = call(live_server, INBOX, {}, guardian)["viewer"]
    assert [e["node"]["kind"] for e in inbox["notifications"]["edges"]] == ["ENROLLMENT_ACCEPTED", "CERTIFICATE_ISSUED"]
    read = call(
        live_server,
        "mutation($ids: [ID!]!) { notificationsMarkRead(input: {ids: $ids}) { unread userErrors { code } } }",
        {"ids": [inbox["notifications"]["edges"][0]["node"]["id"]]},
        guardian,
    )
    assert read["notificationsMarkRead"] == {"unread": 1, "userErrors": []}
    assert [e["node"]["kind"] for e in call(live_server, INBOX, {}, provider)["viewer"]["notifications"]["edges"]] == [
        "APPLICATION_RECEIVED"
    ]
    assert cli("notices").startswith("certificates_expiring=0, funds_expiring=0, applications_expiring=0, delivered=")
    assert cli("ledger", "check") == "ledger invariants hold"
