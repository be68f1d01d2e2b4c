"""СНИЛС is never stored in clear: a keyed hash for matching and a sealed copy under a rotatable key
ring; migration 0004 converts the rows of a database that held it in clear."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pdo_graph.app import create_app
from pdo_graph.config import Settings
from pdo_graph.crypto import KEY_FILE, KeyRing, KeyUnavailable, new_key_spec, personal_data_keys
from pdo_graph.db.engine import Database, migrate
from pdo_graph.domain.identifiers import format_snils, snils_with_checksum
from tests.helpers import apply, graphql_caller, issue, scratch_database

SNILS_A = snils_with_checksum("123456789")
SNILS_B = snils_with_checksum("987654321")
BIRTH = date(2014, 9, 1)
CHILDREN = "{ viewer { children { fullName snils } } }"


async def raw_children(engine: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT to_jsonb(c) AS row FROM children c ORDER BY id"))).all()
    return [r.row for r in rows]


def holds_digits(row: dict[str, Any], digits: str) -> bool:
    dump = str(row)
    return digits in dump or format_snils(digits) in dump or digits[:9] in re.sub(r"\D", "", dump)


async def test_the_table_holds_a_hash_and_a_sealed_copy_never_the_digits(gql, token, db, settings):
    alice = token("GUARDIAN", "alice")
    assert (await apply(gql, alice, "Лебедев Роман Ильич", BIRTH, snils=format_snils(SNILS_A)))["userErrors"] == []
    [row] = await raw_children(db)
    assert "snils" not in row
    assert re.fullmatch(r"[0-9a-f]{64}", row["snils_hash"])
    keys = personal_data_keys(settings)
    assert row["snils_hash"] == keys.digest(SNILS_A)
    assert row["snils_sealed"].startswith(f"{keys.current}:")
    assert not holds_digits(row, SNILS_A)
    # the two readers who may see it get it back, decrypted
    mine = await gql(CHILDREN, token=alice)
    assert mine["data"]["viewer"]["children"] == [{"fullName": "Лебедев Роман Ильич", "snils": "123-456-789 64"}]
    assert keys.open(row["snils_sealed"]) == SNILS_A


async def test_without_snils_nothing_is_sealed(gql, token, db):
    alice = token("GUARDIAN", "alice")
    await apply(gql, alice, "Лебедев Роман Ильич", BIRTH)
    [row] = await raw_children(db)
    assert row["snils_hash"] is None and row["snils_sealed"] is None
    assert (await gql(CHILDREN, token=alice))["data"]["viewer"]["children"][0]["snils"] is None


async def test_key_rotation_old_keys_still_open_new_writes_use_the_newest(gql, token, db, settings, database_url):
    alice, bob = token("GUARDIAN", "alice"), token("GUARDIAN", "bob")
    old = personal_data_keys(settings)
    await apply(gql, alice, "Лебедев Роман Ильич", BIRTH, snils=SNILS_A)
    spec = (settings.data_dir / KEY_FILE).read_text().strip()
    rotated = dataclasses.replace(settings, personal_data_keys=f"{spec},{new_key_spec('k2')}")
    app2 = create_app(rotated, database=Database(url=database_url, engine=db))
    async with app2.router.lifespan_context(app2), graphql_caller(app2) as gql2:
        assert (await apply(gql2, bob, "Орлова Вера Павловна", BIRTH, snils=SNILS_B))["userErrors"] == []
        # a key added later opens nothing it did not seal; the old one still opens the old row
        seen = await gql2(CHILDREN, token=alice)
        assert seen["data"]["viewer"]["children"][0]["snils"] == format_snils(SNILS_A)
        # matching survives the rotation: the hash is keyed by the first key of the ring
        dup = await apply(gql2, token("GUARDIAN", "carol"), "Другое Имя Отчество", BIRTH, snils=SNILS_A)
        assert [e["code"] for e in dup["userErrors"]] == ["DUPLICATE"]
    rows = await raw_children(db)
    assert [KeyRing.key_id(r["snils_sealed"]) for r in rows] == [old.current, "k2"]
    assert rows[0]["snils_hash"] == old.digest(SNILS_A) and rows[1]["snils_hash"] == old.digest(SNILS_B)
    # a server that does not have the new key cannot open what it sealed (and says nothing of it)
    body = await gql(CHILDREN, token=bob)
    assert body["data"]["viewer"]["children"] == [{"fullName": "Орлова Вера Павловна", "snils": None}]
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert SNILS_B not in str(body)


def test_key_ring_rules():
    first = new_key_spec("a")
    ring = KeyRing.parse(f"{first}, {new_key_spec('b')}")
    assert ring.ids == ["a", "b"] and ring.current == "b"
    sealed = ring.seal(SNILS_A)
    assert sealed.startswith("b:") and SNILS_A not in sealed and ring.open(sealed) == SNILS_A
    assert ring.seal(SNILS_A) != sealed  # a fresh IV every time
    with pytest.raises(KeyUnavailable):
        KeyRing.parse(new_key_spec("a")).open(sealed)
    with pytest.raises(KeyUnavailable):
        ring.open("b:" + sealed[2:-4] + "AAAA")
    for bad in ("", "nokey", "a:c2hvcnQ=", f"{new_key_spec('a')},{new_key_spec('a')}", "bad id!:" + "A" * 44):
        with pytest.raises(ValueError):
            KeyRing.parse(bad)
    assert first.split(":")[1] not in repr(ring)
    # the hash is keyed by the first key: kept across rotations, different under another first key
    assert ring.digest(SNILS_A) == KeyRing.parse(f"{first},{new_key_spec('c')}").digest(SNILS_A)
    assert ring.digest(SNILS_A) != KeyRing.parse(new_key_spec("a")).digest(SNILS_A)


def test_outside_dev_mode_keys_are_required(tmp_path):
    with pytest.raises(RuntimeError, match="PDO_PERSONAL_DATA_KEYS"):
        personal_data_keys(Settings(data_dir=tmp_path, auth_mode="oidc"))
    configured = personal_data_keys(
        Settings(data_dir=tmp_path, auth_mode="oidc", personal_data_keys=new_key_spec("p1"))
    )
    assert configured.ids == ["p1"] and not (tmp_path / KEY_FILE).exists()


async def test_migration_0004_seals_clear_snils_and_recomputes_keys(engine, database_url, settings):
    async with scratch_database(database_url) as scratch:
        await migrate(scratch, "0003", settings)
        async with scratch.begin() as conn:
            await conn.execute(text("INSERT INTO municipalities (code, name) VALUES ('01', 'Светлогорск')"))
            await conn.execute(text("INSERT INTO guardians (subject) VALUES ('g1'), ('g2')"))
            await conn.execute(
                text(
                    "INSERT INTO children (guardian_id, full_name, name_key, birth_date, snils, municipality) VALUES"
                    " (1, 'Петров Иван Олегович', 'петров иван олегович', :b, :s1, '01'),"
                    " (2, 'Пeтров Ивaн Олегович', 'пeтров ивaн олегович', :b, NULL, '01'),"  # Latin e, a: let through
                    " (2, 'Сидорова Анна Павловна', 'сидорова анна павловна', :b, :s2, '01')"
                ),
                {"b": BIRTH, "s1": SNILS_A, "s2": SNILS_B},
            )
        await migrate(scratch, "head", settings)
        async with scratch.connect() as conn:
            columns = (
                await conn.execute(
                    text("SELECT column_name FROM information_schema.columns WHERE table_name = 'children'")
                )
            ).scalars()
            rows = [r.row for r in (await conn.execute(text("SELECT to_jsonb(c) AS row FROM children c ORDER BY id")))]
        assert "snils" not in set(columns)
        keys = personal_data_keys(settings)
        assert [keys.open(r["snils_sealed"]) if r["snils_sealed"] else None for r in rows] == [SNILS_A, None, SNILS_B]
        assert rows[0]["snils_hash"] == keys.digest(SNILS_A)
        assert not any(holds_digits(r, SNILS_A) or holds_digits(r, SNILS_B) for r in rows)
        # the look-alike duplicate the old key let through is kept apart, and findable
        assert rows[0]["name_key"] == "петровиванолегович"
        assert rows[1]["name_key"] == "петровиванолегович#2"
        async with scratch.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO audit_log (actor_role, actor_subject, child_id, municipality, fields)"
                    " VALUES ('OPERATOR', 'op', 1, '01', ARRAY['fullName'])"
                )
            )
        with pytest.raises(DBAPIError):
            async with scratch.begin() as conn:
                await conn.execute(text("DELETE FROM audit_log"))


async def test_operator_reads_snils_of_its_municipality_only(gql, token, db):
    applied = await apply(gql, token("GUARDIAN", "alice"), "Лебедев Роман Ильич", BIRTH, snils=SNILS_A)
    cert = (await issue(gql, token("OPERATOR", "op", municipality="01"), applied["application"]["id"]))["certificate"]
    query = "query($n: String!) { certificateByNumber(number: $n) { child { snils } } }"
    mine = await gql(query, {"n": cert["number"]}, token=token("OPERATOR", "op", municipality="01"))
    assert mine["data"]["certificateByNumber"]["child"]["snils"] == format_snils(SNILS_A)
    other = await gql(query, {"n": cert["number"]}, token=token("OPERATOR", "op2", municipality="02"))
    assert other["data"]["certificateByNumber"] is None


async def test_the_app_refuses_to_start_without_keys_outside_dev_mode(settings, database_url, engine, tmp_path):
    oidc = dataclasses.replace(settings, data_dir=tmp_path, auth_mode="oidc", oidc_issuer="https://127.0.0.1:1")
    app = create_app(oidc, database=Database(url=database_url, engine=engine))
    with pytest.raises(RuntimeError, match="PDO_PERSONAL_DATA_KEYS"):
        async with app.router.lifespan_context(app):
            pass
