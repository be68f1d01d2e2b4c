"""The enrollment path over real HTTP on data of its own (an operator-registered provider, a
program and group created through the API, a period opened by the test): a certificate, a co-paid
application, the provider's acceptance, a monthly charge and a cancellation, with the balance and
the exact kopecks at each step. The README's own walk-through, on the demo, is
test_readme_walkthrough.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pdo_graph.domain.identifiers import inn_with_checksum
from pdo_graph.domain.money import add_months
from tests.e2e.walkthrough import call, dev_tokens, issue_certificate, open_period, register_provider

pytestmark = pytest.mark.e2e  # a real server process


BALANCE = """query($n: String!) { certificateByNumber(number: $n) { id
  balance { credited { kopecks } reserved { kopecks } spent { kopecks } available { kopecks } } } }"""


def balance(server, number: str, token: str) -> tuple[int, int, int, int]:
    b = call(server, BALANCE, {"n": number}, token)["certificateByNumber"]["balance"]
    return (b["credited"]["kopecks"], b["reserved"]["kopecks"], b["spent"]["kopecks"], b["available"]["kopecks"])


def test_certificate_to_cancellation(live_server, db):
    inn = inn_with_checksum("770708389")
    roles = dev_tokens(live_server, guardian="walk-family", operator="walk-op", provider="walk-staff", inn=inn)
    guardian, operator, provider = roles.guardian, roles.operator, roles.provider

    number = issue_certificate(live_server, roles, "Гусев Тимофей Ильич", 10)["number"]
    today = date.today()
    open_period(live_server, operator, today)
    assert balance(live_server, number, guardian) == (1_000_000, 0, 0, 1_000_000)

    register_provider(live_server, operator, inn, "АНО «Шахматная школа»", "ул. Ленина, д. 1")
    program = call(
        live_server,
        """mutation { programCreate(input: {title: "Шахматы для начинающих",
        description: "Дебюты, тактика и турнирная практика для школьников.", direction: SOCIAL_HUMANITARIAN,
        minAge: 7, maxAge: 14, municipality: "01"}) { program { id } userErrors { code message } } }""",
        {},
        provider,
    )["programCreate"]["program"]["id"]
    call(
        live_server,
        "mutation($p: ID!) { programCertify(input: {programId: $p, certified: true}) { userErrors { code } } }",
        {"p": program},
        operator,
    )
    first = today.replace(day=1)
    group = call(
        live_server,
        """mutation($p: ID!, $s: Date!, $e: Date!) { groupCreate(input: {programId: $p,
        name: "Группа 1 (вт, чт 17:00)", startsOn: $s, endsOn: $e, capacity: 12, price: 1200000}) {
        group { id } userErrors { code message } } }""",
        {"p": program, "s": first.isoformat(), "e": (add_months(first, 3) - timedelta(days=1)).isoformat()},
        provider,
    )["groupCreate"]["group"]["id"]

    cert_id = call(live_server, BALANCE, {"n": number}, guardian)["certificateByNumber"]["id"]
    quote = call(
        live_server,
        """query($c: ID!, $g: ID!) { quote(certificateId: $c, groupId: $g) {
        price { kopecks } fromCertificate { kopecks } fromFamily { kopecks }
        monthly { month fromCertificate { kopecks } fromFamily { kopecks } } userErrors { code } } }""",
        {"c": cert_id, "g": group},
        guardian,
    )["quote"]
    assert quote["userErrors"] == []
    assert (quote["fromCertificate"]["kopecks"], quote["fromFamily"]["kopecks"]) == (1_000_000, 200_000)
    assert [m["fromCertificate"]["kopecks"] for m in quote["monthly"]] == [333_334, 333_333, 333_333]

    created = call(
        live_server,
        """mutation($c: ID!, $g: ID!) { enrollmentCreate(input: {certificateId: $c,
        groupId: $g, idempotencyKey: "walk-1"}) { enrollment { id status fromCertificate { kopecks }
        fromFamily { kopecks } } userErrors { code } } }""",
        {"c": cert_id, "g": group},
        guardian,
    )["enrollmentCreate"]
    enrollment = created["enrollment"]
    assert enrollment["status"] == "REQUESTED" and enrollment["fromFamily"]["kopecks"] == 200_000
    assert balance(live_server, number, guardian) == (1_000_000, 1_000_000, 0, 0)

    queue = call(
        live_server,
        "{ providerEnrollments(first: 10, status: REQUESTED) { edges { node { id pupil { fullName age } } } } }",
        {},
        provider,
    )["providerEnrollments"]["edges"]
    assert queue[0]["node"]["pupil"] == {"fullName": "Гусев Тимофей Ильич", "age": 10}
    accepted = call(
        live_server,
        "mutation($e: ID!) { enrollmentAccept(input: {enrollmentId: $e}) { enrollment { status } } }",
        {"e": enrollment["id"]},
        provider,
    )
    assert accepted["enrollmentAccept"]["enrollment"]["status"] == "ACTIVE"

    report = call(
        live_server,
        """mutation($m: Date!, $e: ID!) { provisionReport(input: {month: $m,
        items: [{enrollmentId: $e, completeness: 75}]}) { charged { kopecks } released { kopecks } userErrors { code } } }""",
        {"m": first.isoformat(), "e": enrollment["id"]},
        provider,
    )["provisionReport"]
    assert report["userErrors"] == []
    assert (report["charged"]["kopecks"], report["released"]["kopecks"]) == (250_001, 83_333)
    assert balance(live_server, number, guardian) == (1_000_000, 666_666, 250_001, 83_333)

    cancelled = call(
        live_server,
        """mutation($e: ID!) { enrollmentCancel(input: {enrollmentId: $e,
        reason: "Переезд"}) { enrollment { status } userErrors { code } } }""",
        {"e": enrollment["id"]},
        guardian,
    )
    assert cancelled["enrollmentCancel"]["enrollment"]["status"] == "TERMINATED"
    assert balance(live_server, number, guardian) == (1_000_000, 0, 250_001, 749_999)
    kinds = call(
        live_server,
        """query($n: String!) { certificateByNumber(number: $n) { transactions(first: 10) {
        edges { node { kind amount { kopecks } month completeness description } } } } }""",
        {"n": number},
        guardian,
    )
    entries = [e["node"] for e in kinds["certificateByNumber"]["transactions"]["edges"]]
    assert [e["kind"] for e in entries] == ["RELEASE", "RELEASE", "CHARGE", "RESERVE", "CREDIT"]
    charge = entries[2]
    assert charge["month"] == first.isoformat() and charge["completeness"] == 75
    assert live_server.cli("ledger", "check") == "ledger invariants hold"
