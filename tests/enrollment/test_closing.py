"""What a period's close and a certificate's revocation do to contracts and money, one step at a time.

The races between them and the money paths are in test_races.py; here each rule is shown on its
own, through the API, with the ledger entries the family sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import ledger
from pdo_graph.domain.money import add_months, month_start
from tests.enrollment.conftest import (
    ACCEPT,
    CANCEL,
    CREATE,
    REPORT,
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    end_of_month,
    gid,
    open_period,
    pk,
    provider_token,
)

TODAY = date.today()
THIS_MONTH = month_start(TODAY)
PRICE = 900_000  # 3 months of 300 000

CLOSE = """mutation($id: ID!) {
  fundingPeriodClose(input: {periodId: $id}) { period { closed } expired { kopecks } userErrors { code field } }
}"""
UPDATE = """mutation($id: ID!) {
  fundingPeriodUpdate(input: {periodId: $id, fundedCertificateLimit: 5}) { userErrors { code field } }
}"""
STATUS = """mutation($id: ID!, $reason: String) {
  r: NAME(input: {certificateId: $id, reason: $reason}) { certificate { status } userErrors { code field message } }
}"""
TRANSACTIONS = """query($id: ID!) { node(id: $id) { ... on Certificate {
  transactions(first: 20) { edges { node { kind amount { kopecks } description } } } } } }"""


def payload(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    result: dict[str, Any] = next(iter(body["data"].values()))
    return result


def codes(body: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload(body)["userErrors"]]


async def running_group(db) -> int:
    """A group that started this month and runs three months: this month can be reported."""
    program = await add_program(db, await add_provider(db))
    ends = end_of_month(add_months(THIS_MONTH, 2))
    return await add_group(db, program, starts_on=THIS_MONTH, ends_on=ends, capacity=10, price=PRICE)


async def one(db, sql: str, **params) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(text(sql), params)).one()


async def apply(gql, token, subject: str, cert: int, group: int) -> str:
    body = await gql(
        CREATE,
        {"c": gid("Certificate", cert), "g": gid("Group", group), "k": f"k{group}"},
        token=token("GUARDIAN", subject),
    )
    assert payload(body)["userErrors"] == []
    return str(payload(body)["enrollment"]["id"])


async def kinds(gql, token, subject: str, cert: int) -> list[tuple[str, int, str]]:
    body = await gql(TRANSACTIONS, {"id": gid("Certificate", cert)}, token=token("GUARDIAN", subject))
    edges = body["data"]["node"]["transactions"]["edges"]
    return [(e["node"]["kind"], e["node"]["amount"]["kopecks"], e["node"]["description"]) for e in edges]


async def test_close_ends_contracts_and_leaves_no_money_in_the_period(gql, token, db):
    group = await running_group(db)
    (a_subject, a), (b_subject, b), (_, c) = await bulk_certificates(db, 3)
    period = await open_period(db)  # 30 000 ₽ each
    provider = provider_token(token)
    contract = await apply(gql, token, a_subject, a, group)
    assert codes(await gql(ACCEPT, {"id": contract}, token=provider)) == []
    report = {"month": THIS_MONTH.isoformat(), "items": [{"enrollmentId": contract, "completeness": 50}]}
    assert codes(await gql(REPORT, report, token=provider)) == []  # 150 000 charged, 150 000 released
    application = await apply(gql, token, b_subject, b, group)

    op = token("OPERATOR", "op-01", municipality="01")
    closed = payload(await gql(CLOSE, {"id": gid("FundingPeriod", period)}, token=op))
    assert closed["userErrors"] == [] and closed["period"]["closed"] is True
    # everything credited that was not charged expired: 3 × 3 000 000 − 150 000
    assert closed["expired"]["kopecks"] == 3 * 3_000_000 - 150_000

    e = await one(db, "SELECT status, reserved, charged, reason FROM enrollments WHERE id = :id", id=pk(contract))
    assert (e.status, e.reserved, e.charged, e.reason) == ("COMPLETED", 0, 150_000, "Период финансирования закрыт")
    e = await one(db, "SELECT status, reserved, reason FROM enrollments WHERE id = :id", id=pk(application))
    assert (e.status, e.reserved, e.reason) == ("EXPIRED", 0, "Период финансирования закрыт")
    assert (await one(db, "SELECT seats_taken FROM groups WHERE id = :g", g=group)).seats_taken == 0
    for cert, spent in ((a, 150_000), (b, 0), (c, 0)):
        bal = await one(db, "SELECT * FROM balances WHERE certificate_id = :c AND period_id = :p", c=cert, p=period)
        assert (bal.credited, bal.reserved, bal.spent, bal.expired) == (3_000_000, 0, spent, 3_000_000 - spent)

    # the family sees where its money went: the released reserve, then its expiry
    entries = await kinds(gql, token, a_subject, a)
    released = 3 * 300_000 - 300_000  # the two months not reached
    assert ("RELEASE", released, "Возврат резерва: период финансирования закрыт: 6000.00 ₽") in entries
    assert any(k == "EXPIRE" and amount == released and "период финансирования закрыт" in d for k, amount, d in entries)

    # after the close nothing moves money in the period
    assert codes(await gql(CANCEL, {"id": contract}, token=token("GUARDIAN", a_subject))) == ["INVALID_TRANSITION"]
    assert codes(await gql(REPORT, report, token=provider)) == ["INVALID_TRANSITION"]
    late = await gql(
        CREATE, {"c": gid("Certificate", c), "g": gid("Group", group), "k": "late"}, token=token("GUARDIAN", "g2")
    )
    assert codes(late) == ["PERIOD_CLOSED"]
    assert codes(await gql(UPDATE, {"id": gid("FundingPeriod", period)}, token=op)) == ["INVALID_TRANSITION"]
    assert codes(await gql(CLOSE, {"id": gid("FundingPeriod", period)}, token=op)) == ["INVALID_TRANSITION"]


async def test_a_reserve_released_into_a_closed_period_expires_at_once(gql, token, db):
    """A database written before closes ended contracts holds closed periods with live contracts.
    Whatever such a contract releases later (the unreported part of a month, a cancellation)
    expires in the same transaction: the closed period gains no available money."""
    group = await running_group(db)
    [(subject, cert)] = await bulk_certificates(db, 1)
    period = await open_period(db)
    provider = provider_token(token)
    contract = await apply(gql, token, subject, cert, group)
    assert codes(await gql(ACCEPT, {"id": contract}, token=provider)) == []

    async def close_as_before(conn) -> None:  # the close of earlier versions: expire the available part only
        await conn.execute(text("UPDATE funding_periods SET status = 'CLOSED' WHERE id = :p"), {"p": period})
        await ledger.post(
            conn,
            ledger.Entry(
                ledger.Kind.EXPIRE, cert, period, 3_000_000 - PRICE, "Неиспользованный остаток сгорел", "test"
            ),
        )

    await transaction(db, close_as_before)
    report = {"month": THIS_MONTH.isoformat(), "items": [{"enrollmentId": contract, "completeness": 60}]}
    assert codes(await gql(REPORT, report, token=provider)) == []
    bal = await one(db, "SELECT * FROM balances WHERE certificate_id = :c", c=cert)
    assert (bal.reserved, bal.spent, bal.credited - bal.reserved - bal.spent - bal.expired) == (600_000, 180_000, 0)
    assert codes(await gql(CANCEL, {"id": contract}, token=token("GUARDIAN", subject))) == []
    bal = await one(db, "SELECT * FROM balances WHERE certificate_id = :c", c=cert)
    assert (bal.credited, bal.reserved, bal.spent, bal.expired) == (3_000_000, 0, 180_000, 2_820_000)
    entries = [(k, amount) for k, amount, _ in await kinds(gql, token, subject, cert)]
    assert entries[:5] == [
        ("EXPIRE", 600_000),
        ("RELEASE", 600_000),
        ("EXPIRE", 120_000),
        ("RELEASE", 120_000),
        ("CHARGE", 180_000),
    ]


async def test_revocation_ends_the_certificates_contracts(gql, token, db):
    group = await running_group(db)
    (subject, cert), (other_subject, other) = await bulk_certificates(db, 2)
    second = await add_group(
        db,
        (await one(db, "SELECT program_id FROM groups WHERE id = :g", g=group)).program_id,
        starts_on=THIS_MONTH,
        ends_on=end_of_month(add_months(THIS_MONTH, 2)),
        price=PRICE,
        name="Группа 2",
    )
    period = await open_period(db)
    provider = provider_token(token)
    contract = await apply(gql, token, subject, cert, group)
    assert codes(await gql(ACCEPT, {"id": contract}, token=provider)) == []
    report = {"month": THIS_MONTH.isoformat(), "items": [{"enrollmentId": contract, "completeness": 100}]}
    assert codes(await gql(REPORT, report, token=provider)) == []
    application = await apply(gql, token, subject, cert, second)
    op = token("OPERATOR", "op", municipality="01")

    # a freeze is refused while a contract runs (domain.md: FROZEN only without running contracts)
    frozen = await gql(STATUS.replace("NAME", "certificateFreeze"), {"id": gid("Certificate", cert)}, token=op)
    assert codes(frozen) == ["INVALID_TRANSITION"]
    assert "действующие" in payload(frozen)["userErrors"][0]["message"]

    revoked = await gql(
        STATUS.replace("NAME", "certificateRevoke"),
        {"id": gid("Certificate", cert), "reason": "  Повторный   сертификат  "},
        token=op,
    )
    assert payload(revoked) == {"certificate": {"status": "REVOKED"}, "userErrors": []}
    for eid, charged in ((contract, 300_000), (application, 0)):
        e = await one(db, "SELECT status, reserved, charged, reason FROM enrollments WHERE id = :id", id=pk(eid))
        assert (e.status, e.reserved, e.charged, e.reason) == ("TERMINATED", 0, charged, "Повторный сертификат")
    assert (await one(db, "SELECT sum(seats_taken) AS n FROM groups")).n == 0
    bal = await one(db, "SELECT * FROM balances WHERE certificate_id = :c AND period_id = :p", c=cert, p=period)
    assert (bal.credited, bal.reserved, bal.spent) == (3_000_000, 0, 300_000)  # charged months stay charged
    releases = [(k, amount, d) for k, amount, d in await kinds(gql, token, subject, cert) if k == "RELEASE"]
    assert sorted(amount for _, amount, _ in releases) == [PRICE - 300_000, PRICE]
    assert all(d.startswith("Возврат резерва: сертификат отозван") for _, _, d in releases)
    # nothing can be accepted, reported or applied for on it any more
    assert codes(await gql(ACCEPT, {"id": application}, token=provider)) == ["INVALID_TRANSITION"]
    assert codes(await gql(REPORT, report | {"month": THIS_MONTH.isoformat()}, token=provider)) == [
        "INVALID_TRANSITION"
    ]
    again = await gql(
        CREATE,
        {"c": gid("Certificate", cert), "g": gid("Group", group), "k": "again"},
        token=token("GUARDIAN", subject),
    )
    assert codes(again) == ["CERTIFICATE_NOT_ACTIVE"]
    # the other certificate is untouched
    assert (await one(db, "SELECT status FROM certificates WHERE id = :c", c=other)).status == "ACTIVE"
    assert other_subject


async def test_ledger_check_reports_money_in_a_closed_period_and_contracts_on_revoked_certificates(
    gql, token, db, database_url: str, data_dir: Path
):
    group = await running_group(db)
    [(subject, cert)] = await bulk_certificates(db, 1)
    period = await open_period(db)
    await apply(gql, token, subject, cert, group)

    def ledger_check() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PDO_DATABASE_URL": database_url, "PDO_DATA_DIR": str(data_dir)}
        return subprocess.run(
            [sys.executable, "-m", "pdo_graph.cli", "ledger", "check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert ledger_check().stdout.strip() == "ledger invariants hold"
    # states no service writes, made by hand to see the check catch them (undone below)
    async with db.begin() as conn:
        await conn.execute(text("UPDATE funding_periods SET status = 'CLOSED' WHERE id = :p"), {"p": period})
        await conn.execute(text("UPDATE certificates SET status = 'REVOKED' WHERE id = :c"), {"c": cert})
    try:
        result = ledger_check()
    finally:
        async with db.begin() as conn:
            await conn.execute(text("UPDATE funding_periods SET status = 'OPEN' WHERE id = :p"), {"p": period})
            await conn.execute(text("UPDATE certificates SET status = 'ACTIVE' WHERE id = :c"), {"c": cert})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"VIOLATION money_in_closed_period: certificate {cert} period {period}: available 2100000, reserved 900000"
        in lines
    )
    assert any(line.startswith("VIOLATION live_contract_on_inactive_certificate: enrollment") for line in lines)
    assert any(line.startswith("VIOLATION live_contract_in_closed_period: enrollment") for line in lines)
    assert "3 violation(s)" in result.stderr
