"""A closed period is checked once, at its close, and sealed: its entries and balances cannot change
after, and ``ledger check`` verifies it against its checkpoint (``--full`` adds everything up again)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pdo_graph.domain import ledger
from tests.enrollment.conftest import ACCEPT, REPORT, bulk_certificates, gid, open_period, pk, provider_token
from tests.enrollment.test_closing import CLOSE, THIS_MONTH, apply, codes, one, payload, running_group


async def closed_period_with_money(gql, token, db) -> dict[str, int]:
    """Two certificates; one a contract with a month charged; the period closed through the API."""
    group = await running_group(db)
    (subject, cert), (_, other) = await bulk_certificates(db, 2)
    period = await open_period(db)
    provider = provider_token(token)
    contract = await apply(gql, token, subject, cert, group)
    assert codes(await gql(ACCEPT, {"id": contract}, token=provider)) == []
    report = {"month": THIS_MONTH.isoformat(), "items": [{"enrollmentId": contract, "completeness": 50}]}
    assert codes(await gql(REPORT, report, token=provider)) == []
    closed = payload(
        await gql(CLOSE, {"id": gid("FundingPeriod", period)}, token=token("OPERATOR", "op", municipality="01"))
    )
    assert closed["userErrors"] == []
    return {"period": period, "cert": cert, "other": other, "enrollment": pk(contract)}


async def check(db, full: bool) -> list[tuple[str, str]]:
    async with db.connect() as conn:
        return await ledger.check_invariants(conn, full=full)


async def bypassing_the_seal(db, sql: str, **params: Any) -> None:
    """A change made behind the triggers' back (a superuser's session that fires no triggers)."""
    async with db.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(sql), params)


async def test_the_close_seals_the_period_with_its_checkpoint(gql, token, db):
    ids = await closed_period_with_money(gql, token, db)
    cp = await one(db, "SELECT * FROM ledger_checkpoints WHERE period_id = :p", p=ids["period"])
    entries = await one(
        db, "SELECT count(*) AS n, sum(amount) AS total FROM ledger_entries WHERE period_id = :p", p=ids["period"]
    )
    # credits 2 × 3 000 000; reserve 900 000; charge 150 000 and release 150 000 of the month; at the close the
    # contract's 600 000 released, then everything left available expires: 2 850 000 + 3 000 000
    assert (cp.entries, cp.total) == (entries.n, entries.total)
    assert cp.amounts == {
        "CREDIT": 6_000_000,
        "RESERVE": 900_000,
        "CHARGE": 150_000,
        "RELEASE": 750_000,
        "EXPIRE": 5_850_000,
    }
    assert (cp.balance_rows, cp.credited, cp.reserved, cp.spent, cp.expired, cp.carried) == (
        2,
        6_000_000,
        0,
        150_000,
        5_850_000,
        0,
    )
    assert (cp.enrollment_reserved, cp.enrollment_charged) == (0, 150_000)
    assert await check(db, full=False) == [] and await check(db, full=True) == []


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account, credit_account,"
        " description, actor) VALUES ('CREDIT', :c, :p, 1, 'available', 'budget', 'x', 'test')",
        "UPDATE ledger_entries SET description = 'x' WHERE period_id = :p AND certificate_id = :c",
        "DELETE FROM ledger_entries WHERE period_id = :p AND certificate_id = :c",
        "UPDATE balances SET expired = expired WHERE period_id = :p AND certificate_id = :c",
        "DELETE FROM balances WHERE period_id = :p AND certificate_id = :c",
        "INSERT INTO balances (certificate_id, period_id) VALUES (:c, :p)",
        "UPDATE ledger_checkpoints SET entries = 0 WHERE period_id = :p AND :c > 0",
        "DELETE FROM ledger_checkpoints WHERE period_id = :p AND :c > 0",
    ],
)
async def test_a_sealed_periods_entries_balances_and_checkpoint_cannot_change(gql, token, db, sql):
    ids = await closed_period_with_money(gql, token, db)
    cert = ids["cert"]
    if sql.startswith("INSERT INTO balances"):  # a balance row that did not exist: a third certificate's
        cert = (await bulk_certificates(db, 1, prefix="h"))[0][1]
    with pytest.raises(DBAPIError, match=r"sealed|written once"):
        async with db.begin() as conn:
            await conn.execute(text(sql), {"p": ids["period"], "c": cert})
    # money still moves in other periods: the seal is the closed period's only
    assert await check(db, full=False) == []


async def test_the_default_check_sees_entries_added_behind_the_seal_and_full_sees_every_change(gql, token, db):
    ids = await closed_period_with_money(gql, token, db)
    p, c = ids["period"], ids["cert"]
    # an entry added with its balance's share: its id is past the sealed last one (a probe of the index)
    await bypassing_the_seal(
        db,
        "WITH added AS (INSERT INTO ledger_entries (kind, certificate_id, period_id, amount, debit_account,"
        " credit_account, description, actor) VALUES ('CREDIT', :c, :p, 100, 'available', 'budget', 'x', 'x')"
        " RETURNING amount) UPDATE balances SET credited = credited + 100, expired = expired + 100"
        " WHERE period_id = :p AND certificate_id = :c",
        p=p,
        c=c,
    )
    assert [v for v, _ in await check(db, full=False)] == ["sealed_entries_changed"]
    found = [v for v, _ in await check(db, full=True)]
    assert sorted(found) == ["balance_mismatch", "sealed_balances_changed", "sealed_entries_changed",
                             "sealed_entries_changed"]  # fmt: skip
    await bypassing_the_seal(db, "DELETE FROM ledger_entries WHERE period_id = :p AND actor = 'x'", p=p)
    await bypassing_the_seal(
        db,
        "UPDATE balances SET credited = credited - 100, expired = expired - 100 WHERE period_id = :p"
        " AND certificate_id = :c",
        p=p,
        c=c,
    )
    assert await check(db, full=False) == [] and await check(db, full=True) == []
    # inside the sealed range: a description rewritten (only the digest sees it), a charge removed with
    # its balance's and its contract's shares (the counts and sums see it): --full's to find
    await bypassing_the_seal(db, "UPDATE ledger_entries SET description = 'подмена' WHERE id = (SELECT min(id)"
                             " FROM ledger_entries WHERE period_id = :p)", p=p)  # fmt: skip
    await bypassing_the_seal(
        db,
        "WITH gone AS (DELETE FROM ledger_entries WHERE period_id = :p AND certificate_id = :c AND kind = 'CHARGE'"
        " RETURNING amount) UPDATE balances SET spent = spent - (SELECT amount FROM gone), credited = credited"
        " - (SELECT amount FROM gone) WHERE period_id = :p AND certificate_id = :c",
        p=p,
        c=c,
    )
    await bypassing_the_seal(db, "UPDATE enrollments SET charged = 0 WHERE period_id = :p", p=p)
    assert await check(db, full=False) == []
    found = [v for v, _ in await check(db, full=True)]
    assert sorted(found) == [
        "balance_mismatch",
        "enrollment_reserve_mismatch",
        "sealed_balances_changed",
        "sealed_enrollments_changed",
        "sealed_entries_changed",
    ]
    # undone, for the fixture's check after the test
    await bypassing_the_seal(db, "DELETE FROM ledger_checkpoints WHERE period_id = :p", p=p)
    await bypassing_the_seal(db, "DELETE FROM ledger_entries WHERE period_id = :p", p=p)
    await bypassing_the_seal(db, "DELETE FROM balances WHERE period_id = :p", p=p)
    await bypassing_the_seal(db, "UPDATE enrollments SET reserved = 0, charged = 0 WHERE period_id = :p", p=p)


async def test_the_default_check_reports_a_disabled_seal(gql, token, db):
    await closed_period_with_money(gql, token, db)
    async with db.begin() as conn:
        await conn.execute(text("ALTER TABLE balances DISABLE TRIGGER balances_sealed"))
    try:
        assert await check(db, full=False) == [("seal_missing", "trigger balances_sealed on balances")]
    finally:
        async with db.begin() as conn:
            await conn.execute(text("ALTER TABLE balances ENABLE TRIGGER balances_sealed"))


async def test_ledger_check_seals_periods_closed_before_the_seal(gql, token, db, database_url: str, data_dir: Path):
    ids = await closed_period_with_money(gql, token, db)
    await bypassing_the_seal(db, "DELETE FROM ledger_checkpoints WHERE period_id = :p", p=ids["period"])
    env = {**os.environ, "PDO_DATABASE_URL": database_url, "PDO_DATA_DIR": str(data_dir)}

    def ledger_check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pdo_graph.cli", "ledger", "check", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = ledger_check()
    assert first.returncode == 0 and first.stdout.strip() == "ledger invariants hold"
    assert f"closed period {ids['period']} checked (" in first.stderr and "): sealed" in first.stderr
    assert (await one(db, "SELECT count(*) AS n FROM ledger_checkpoints WHERE period_id = :p", p=ids["period"])).n == 1
    again = ledger_check("--full")
    assert again.returncode == 0 and "checked (" not in again.stderr and "every entry added up" in again.stderr


async def test_a_closed_period_found_wrong_is_not_sealed_and_stays_reported(gql, token, db):
    ids = await closed_period_with_money(gql, token, db)
    p, c = ids["period"], ids["cert"]
    await bypassing_the_seal(db, "DELETE FROM ledger_checkpoints WHERE period_id = :p", p=p)
    await bypassing_the_seal(db, "UPDATE balances SET expired = expired - 1 WHERE period_id = :p AND certificate_id = :c",
                             p=p, c=c)  # fmt: skip
    async with db.begin() as conn:
        [seal] = await ledger.seal_closed_periods(conn)
    assert not seal.sealed and [v for v, _ in seal.violations] == ["balance_mismatch", "money_in_closed_period"]
    assert (await one(db, "SELECT count(*) AS n FROM ledger_checkpoints")).n == 0
    found = [v for v, _ in await check(db, full=False)]
    assert found == ["balance_mismatch", "money_in_closed_period"]
    # unsealed, it can be repaired
    async with db.begin() as conn:
        await conn.execute(
            text("UPDATE balances SET expired = expired + 1 WHERE period_id = :p AND certificate_id = :c"),
            {"p": p, "c": c},
        )
    assert await check(db, full=False) == []
