"""Migration 0041 on a database with data: contracts that already ended get the time they ended,
programs a funding kind, and the kinds are checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pdo_graph.db.engine import migrate
from tests.helpers import scratch_database

T_RESERVE = datetime(2025, 9, 20, 9, 0, tzinfo=UTC)
T_RELEASE = datetime(2025, 11, 3, 15, 30, tzinfo=UTC)
T_DECIDED = datetime(2025, 9, 21, 10, 0, tzinfo=UTC)


@pytest.mark.slow  # a scratch database migrated twice (about 5 s)
async def test_migration_0041_backfills_when_contracts_ended(engine, database_url, settings):
    async with scratch_database(database_url) as scratch:
        await migrate(scratch, "0040", settings)
        async with scratch.begin() as conn:
            for sql in (
                "INSERT INTO municipalities (code, name) VALUES ('01', 'Светлогорск')",
                "INSERT INTO guardians (subject) VALUES ('g1')",
                "INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)"
                " VALUES (1, 'Ребёнок', 'ребёнок', '2015-03-01', '01')",
                "INSERT INTO certificates (number, child_id, municipality, issued_on, valid_until)"
                " VALUES ('7701000001', 1, '01', '2025-09-01', '2033-02-28')",
                "INSERT INTO funding_periods (municipality, starts_on, ends_on) VALUES ('01', '2025-09-01', '2026-08-31')",
                "INSERT INTO balances (certificate_id, period_id, credited) VALUES (1, 1, 0)",
                "INSERT INTO providers (name, inn, municipality) VALUES ('Центр', '7701234567', '01')",
                "INSERT INTO programs (provider_id, title, description, direction, min_age, max_age, municipality)"
                " VALUES (1, 'Робототехника', 'Занятия', 'TECHNICAL', 7, 14, '01')",
                "INSERT INTO groups (program_id, name, starts_on, ends_on, capacity, price)"
                " VALUES (1, 'Группа', '2025-09-01', '2026-05-31', 10, 900000)",
            ):
                await conn.execute(text(sql))
            for status, decided in (("TERMINATED", T_DECIDED), ("ACTIVE", T_DECIDED), ("REFUSED", T_DECIDED)):
                await conn.execute(
                    text(
                        "INSERT INTO enrollments (certificate_id, child_id, group_id, period_id, guardian_id, status,"
                        " price, from_certificate, from_family, first_month, months, reserved, idempotency_key,"
                        " request_hash, decided_at, created_at)"
                        " VALUES (1, 1, 1, 1, 1, :s, 900000, 0, 900000, '2025-09-01', 9, 0, :k, 'h', :d, :c)"
                    ),
                    {"s": status, "k": status, "d": decided, "c": T_RESERVE},
                )
            await conn.execute(
                text(
                    "INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, amount, debit_account,"
                    " credit_account, description, actor, created_at) VALUES"
                    " ('CREDIT', 1, 1, NULL, 100, 'available', 'budget', 'x', 'a', :t0),"
                    " ('RESERVE', 1, 1, 1, 100, 'reserved', 'available', 'x', 'a', :t0),"
                    " ('RELEASE', 1, 1, 1, 100, 'available', 'reserved', 'x', 'a', :t1)"
                ),
                {"t0": T_RESERVE, "t1": T_RELEASE},
            )
        await migrate(scratch, "head", settings)
        async with scratch.connect() as conn:
            ended = dict((await conn.execute(text("SELECT status, ended_at FROM enrollments"))).all())
            kinds = (await conn.execute(text("SELECT funding_kind FROM programs"))).scalars().all()
            state = (await conn.execute(text("SELECT count(*) FROM analytics_state"))).scalar_one()
        assert ended == {"TERMINATED": T_RELEASE, "ACTIVE": None, "REFUSED": T_DECIDED}
        assert kinds == ["CERTIFICATE"] and state == 0
        with pytest.raises(DBAPIError):
            async with scratch.begin() as conn:
                await conn.execute(text("UPDATE programs SET funding_kind = 'FREE'"))
