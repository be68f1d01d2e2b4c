"""Races between the operator's actions and the money paths, on real parallel requests through the app.

Each test fires its attempts at once (``asyncio.gather`` over separate GraphQL requests, each on its
own pooled connection), repeats for several rounds, counts the outcomes, and checks the ledger
invariants (``check_invariants``, which also runs after every test): never a live contract on a
revoked or frozen certificate, never available or reserved money in a closed period.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable
from datetime import date
from typing import Any

from sqlalchemy import text

from pdo_graph.domain.ledger import check_invariants
from pdo_graph.domain.money import add_months, month_start
from tests.enrollment.conftest import (
    ACCEPT,
    CANCEL,
    CREATE,
    REFUSE,
    REPORT,
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    end_of_month,
    gid,
    next_month,
    open_period,
    pk,
    provider_token,
)

TODAY = date.today()

STATUS = """mutation($id: ID!) {
  r: NAME(input: {certificateId: $id, reason: "Проверка документов"}) {
    certificate { status } userErrors { code field }
  }
}"""
REVOKE = STATUS.replace("NAME", "certificateRevoke")
FREEZE = STATUS.replace("NAME", "certificateFreeze")
OPEN = """mutation($input: FundingPeriodOpenInput!) {
  fundingPeriodOpen(input: $input) { period { id } certificatesCredited userErrors { code field } }
}"""
UPDATE = """mutation($id: ID!, $limit: Int) {
  r: fundingPeriodUpdate(input: {periodId: $id, fundedCertificateLimit: $limit}) {
    credited { kopecks } userErrors { code field }
  }
}"""
CLOSE = """mutation($id: ID!) {
  r: fundingPeriodClose(input: {periodId: $id}) { period { closed } expired { kopecks } userErrors { code field } }
}"""


async def jittered(request: Awaitable[dict[str, Any]], rng: random.Random, spread: float = 0.04) -> dict[str, Any]:
    """Send after a random pause of up to ``spread`` seconds, so that rounds see both orders of a race."""
    await asyncio.sleep(rng.uniform(0, spread))
    return await request


def outcome(body: dict[str, Any]) -> str:
    """'ok' or the first userError code; a top-level error fails the test (never a 500)."""
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    errors = payload["userErrors"]
    return errors[0]["code"] if errors else "ok"


async def rows(db, sql: str, **params) -> list[Any]:
    async with db.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def no_violations(db) -> None:
    async with db.connect() as conn:
        assert await check_invariants(conn) == []


async def catalog(db, capacity: int = 200, starts: date | None = None, months: int = 1) -> int:
    provider = await add_provider(db)
    program = await add_program(db, provider)
    starts = starts or next_month()
    ends = end_of_month(add_months(starts, months - 1))
    return await add_group(db, program, starts_on=starts, ends_on=ends, capacity=capacity, price=900_000)


async def status_change_racing_applications(
    gql, token, mutation: str, group: int, certs: list[tuple[str, int]], rng: random.Random
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """For each certificate at once: the operator's status change and the guardian's application."""
    op = token("OPERATOR", "op", municipality="01")
    bodies = await asyncio.gather(
        *(
            request
            for subject, cert in certs
            for request in (
                jittered(gql(mutation, {"id": gid("Certificate", cert)}, token=op), rng),
                jittered(
                    gql(
                        CREATE,
                        {"c": gid("Certificate", cert), "g": gid("Group", group), "k": "race"},
                        token=token("GUARDIAN", subject),
                    ),
                    rng,
                ),
            )
        )
    )
    return list(zip(bodies[0::2], bodies[1::2], strict=True))


# --- certificate status vs applications ------------------------------------------------------------


async def test_revoke_racing_applications_never_leaves_a_live_contract(gql, token, db, retried):
    """Revocation wins over a racing application: applied first -> terminated by the revocation
    (reserve released, seat freed); revoked first -> the application is refused. The provider
    then accepts nothing and charges nothing."""
    group = await catalog(db)
    await open_period(db)
    provider = provider_token(token)
    counts: Counter[str] = Counter()
    rng = random.Random(10)
    for round_no in range(3):
        certs = await bulk_certificates(db, 12, prefix=f"r{round_no}")
        pairs = await status_change_racing_applications(gql, token, REVOKE, group, certs, rng)
        assert [outcome(revoke) for revoke, _ in pairs] == ["ok"] * len(certs)
        for _, body in pairs:
            result = outcome(body)
            counts[f"apply {result}"] += 1
            assert result in ("ok", "CERTIFICATE_NOT_ACTIVE")
            if result == "ok":
                eid = body["data"]["enrollmentCreate"]["enrollment"]["id"]
                accepted = await gql(ACCEPT, {"id": eid}, token=provider)
                assert outcome(accepted) == "INVALID_TRANSITION"
                report = await gql(
                    REPORT,
                    {"month": next_month().isoformat(), "items": [{"enrollmentId": eid, "completeness": 100}]},
                    token=provider,
                )
                assert outcome(report) == "INVALID_TRANSITION"
        await no_violations(db)
    live = await rows(db, "SELECT id FROM enrollments WHERE status IN ('REQUESTED', 'ACTIVE')")
    assert live == []
    terminated = await rows(db, "SELECT status, reserved, reason FROM enrollments")
    assert len(terminated) == counts["apply ok"]
    assert all(r.status == "TERMINATED" and r.reserved == 0 and r.reason == "Проверка документов" for r in terminated)
    assert (await rows(db, "SELECT seats_taken FROM groups WHERE id = :g", g=group))[0].seats_taken == 0
    assert (await rows(db, "SELECT coalesce(sum(reserved), 0) AS r FROM balances"))[0].r == 0
    assert (await rows(db, "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'CHARGE'"))[0].n == 0
    assert "40P01" not in retried, retried  # the lock order holds: no deadlock was retried away
    print(f"\nrevoke vs apply: 36 pairs, revokes ok 36, {dict(counts)}")


async def test_freeze_racing_applications_one_of_them_wins(gql, token, db, retried):
    """A certificate is frozen only without running contracts: either the application wins and
    the freeze is refused, or the freeze wins and the application is refused; never both."""
    group = await catalog(db)
    await open_period(db)
    counts: Counter[tuple[str, str]] = Counter()
    rng = random.Random(11)
    for round_no in range(3):
        certs = await bulk_certificates(db, 12, prefix=f"f{round_no}")
        pairs = await status_change_racing_applications(gql, token, FREEZE, group, certs, rng)
        for freeze, create in pairs:
            pair = (outcome(freeze), outcome(create))
            assert pair in (("ok", "CERTIFICATE_NOT_ACTIVE"), ("INVALID_TRANSITION", "ok")), pair
            counts[pair] += 1
        await no_violations(db)
    frozen_with_contracts = await rows(
        db,
        "SELECT e.id FROM enrollments e JOIN certificates c ON c.id = e.certificate_id"
        " WHERE c.status = 'FROZEN' AND e.status IN ('REQUESTED', 'ACTIVE')",
    )
    assert frozen_with_contracts == []
    assert "40P01" not in retried, retried  # the lock order holds: no deadlock was retried away
    print(f"\nfreeze vs apply: 36 pairs, (freeze, apply) outcomes {dict(counts)}")


# --- period update and close -----------------------------------------------------------------------


async def _open_future_period(gql, token, year: int, limit: int | None) -> str:
    body = await gql(
        OPEN,
        {
            "input": {
                "municipality": "01",
                "startsOn": date(year, 1, 1).isoformat(),
                "endsOn": date(year, 12, 31).isoformat(),
                "nominals": [{"minAge": 0, "maxAge": 18, "kopecks": 1_000_000}],
                "fundedCertificateLimit": limit,
            }
        },
        token=token("OPERATOR", "op", municipality="01"),
    )
    payload = body["data"]["fundingPeriodOpen"]
    assert payload["userErrors"] == [], payload
    return str(payload["period"]["id"])


async def test_updates_racing_a_close_never_credit_a_closed_period(gql, token, db, retried):
    """Raising the limit funds queued certificates; a close racing it either comes after (and
    expires what the update credited) or before (and the update is refused)."""
    await bulk_certificates(db, 10, age=5)
    op = token("OPERATOR", "op", municipality="01")
    counts: Counter[str] = Counter()
    rng = random.Random(12)
    for round_no in range(6):
        period = await _open_future_period(gql, token, TODAY.year + 2 + round_no, limit=0)
        requests = [jittered(gql(UPDATE, {"id": period, "limit": n}, token=op), rng) for n in range(1, 11)]
        requests.insert(round_no % 10, jittered(gql(CLOSE, {"id": period}, token=op), rng))
        bodies = await asyncio.gather(*requests)
        close = bodies.pop(round_no % 10)
        assert outcome(close) == "ok"
        for body in bodies:
            result = outcome(body)
            assert result in ("ok", "INVALID_TRANSITION")
            counts[f"update {result}"] += 1
        pid = pk(period)
        money = await rows(
            db,
            "SELECT coalesce(sum(amount) FILTER (WHERE kind = 'CREDIT'), 0) AS credited,"
            " coalesce(sum(amount) FILTER (WHERE kind = 'EXPIRE'), 0) AS expired"
            " FROM ledger_entries WHERE period_id = :p",
            p=pid,
        )
        assert money[0].credited == money[0].expired
        assert close["data"]["r"]["expired"]["kopecks"] == money[0].credited
        await no_violations(db)
    assert "40P01" not in retried, retried  # the lock order holds: no deadlock was retried away
    print(f"\nupdate vs close: 6 rounds x (10 updates + 1 close), {dict(counts)}")


async def test_concurrent_closes_one_wins(gql, token, db, retried):
    await bulk_certificates(db, 5, age=5)
    op = token("OPERATOR", "op", municipality="01")
    counts: Counter[str] = Counter()
    for round_no in range(5):
        period = await _open_future_period(gql, token, TODAY.year + 2 + round_no, limit=None)
        bodies = await asyncio.gather(*(gql(CLOSE, {"id": period}, token=op) for _ in range(10)))
        results = Counter(outcome(b) for b in bodies)
        assert results == {"ok": 1, "INVALID_TRANSITION": 9}, results
        counts.update(results)
        winner = next(b for b in bodies if outcome(b) == "ok")
        assert winner["data"]["r"]["expired"]["kopecks"] == 5 * 1_000_000
        expires = await rows(
            db, "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'EXPIRE' AND period_id = :p", p=pk(period)
        )
        assert expires[0].n == 5
        await no_violations(db)
    assert "40P01" not in retried, retried  # the lock order holds: no deadlock was retried away
    print(f"\nconcurrent closes: 5 rounds x 10, {dict(counts)}")


# --- releases and applications vs close -------------------------------------------------------------


async def test_releases_and_applications_racing_a_close(gql, token, db, retried):
    """A close racing cancels, refusals, monthly reports and new applications: what was released
    before the close is expired by it; after it nothing releases or reserves money in the period
    (its contracts ended at close); the closed period holds no available or reserved money."""
    this_month = month_start(TODAY)
    group = await catalog(db, starts=this_month, months=3)
    provider = provider_token(token)
    counts: Counter[str] = Counter()
    rng = random.Random(13)
    for municipality in ("01", "02", "03"):  # one round per municipality: each has its own current period
        certs = await bulk_certificates(db, 16, municipality=municipality, prefix=f"m{municipality}")
        period_id = await open_period(db, municipality=municipality)
        created = await asyncio.gather(
            *(
                gql(
                    CREATE,
                    {"c": gid("Certificate", cert), "g": gid("Group", group), "k": "first"},
                    token=token("GUARDIAN", subject),
                )
                for subject, cert in certs[:12]
            )
        )
        eids = [b["data"]["enrollmentCreate"]["enrollment"]["id"] for b in created]
        for eid in eids[:8]:
            assert outcome(await gql(ACCEPT, {"id": eid}, token=provider)) == "ok"
        attempts = {
            "guardian cancels a contract": [
                gql(CANCEL, {"id": eids[i]}, token=token("GUARDIAN", certs[i][0])) for i in (0, 1)
            ],
            "provider cancels a contract": [gql(CANCEL, {"id": eids[i]}, token=provider) for i in (2, 3)],
            "monthly report": [
                gql(
                    REPORT,
                    {"month": this_month.isoformat(), "items": [{"enrollmentId": eids[i], "completeness": 60}]},
                    token=provider,
                )
                for i in (4, 5, 6, 7)
            ],
            "provider refuses an application": [gql(REFUSE, {"id": eids[i]}, token=provider) for i in (8, 9)],
            "guardian withdraws an application": [
                gql(CANCEL, {"id": eids[i]}, token=token("GUARDIAN", certs[i][0])) for i in (10, 11)
            ],
            "new application": [
                gql(
                    CREATE,
                    {"c": gid("Certificate", cert), "g": gid("Group", group), "k": "late"},
                    token=token("GUARDIAN", subject),
                )
                for subject, cert in certs[12:]
            ],
        }
        operator = token("OPERATOR", "op", municipality=municipality)
        labels = [label for label, requests in attempts.items() for _ in requests]
        bodies = await asyncio.gather(
            jittered(gql(CLOSE, {"id": gid("FundingPeriod", period_id)}, token=operator), rng, spread=0.3),
            *(jittered(r, rng, spread=0.3) for requests in attempts.values() for r in requests),
        )
        assert outcome(bodies[0]) == "ok"
        for label, body in zip(labels, bodies[1:], strict=True):
            result = outcome(body)
            allowed = ("ok", "PERIOD_CLOSED") if label == "new application" else ("ok", "INVALID_TRANSITION")
            assert result in allowed, (label, result)
            counts[f"{label}: {result}"] += 1
        live = await rows(
            db, "SELECT id FROM enrollments WHERE period_id = :p AND status IN ('REQUESTED', 'ACTIVE')", p=period_id
        )
        assert live == []
        left = await rows(
            db,
            "SELECT certificate_id FROM balances WHERE period_id = :p"
            " AND (reserved <> 0 OR credited - reserved - spent - expired <> 0)",
            p=period_id,
        )
        assert left == []
        await no_violations(db)
    assert "40P01" not in retried, retried  # the lock order holds: no deadlock was retried away
    print(f"\nreleases and applications vs close: 3 rounds x (16 + 1 close), {dict(counts)}")
