"""Guardians and children: identity rules shared by certificates and enrollment."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.matching import name_key as name_key
from pdo_graph.domain.matching import visible_text


def display_name(full_name: str) -> str:
    """The name as stored and shown: compatibility forms composed, invisible characters and extra
    spaces removed (look-alike letters stay as typed; only the matching key folds them)."""
    return visible_text(full_name)


def age_on(birth_date: date, on: date) -> int:
    """Full years of age on a date."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def eighteenth_birthday(birth_date: date) -> date:
    try:
        return birth_date.replace(year=birth_date.year + 18)
    except ValueError:  # born on 29 February: the birthday falls on 1 March
        return date(birth_date.year + 18, 3, 1)


def certificate_valid_until(birth_date: date) -> date:
    """The day before the 18th birthday."""
    return eighteenth_birthday(birth_date) - timedelta(days=1)


async def ensure_guardian(conn: AsyncConnection, subject: str) -> int:
    """The guardian row for a token subject, created on first use."""
    row = await conn.execute(
        text("INSERT INTO guardians (subject) VALUES (:s) ON CONFLICT (subject) DO NOTHING RETURNING id"),
        {"s": subject},
    )
    gid = row.scalar()
    if gid is None:
        gid = (await conn.execute(text("SELECT id FROM guardians WHERE subject = :s"), {"s": subject})).scalar_one()
    return int(gid)


async def guardian_id(conn: AsyncConnection, subject: str) -> int | None:
    gid = (await conn.execute(text("SELECT id FROM guardians WHERE subject = :s"), {"s": subject})).scalar()
    return None if gid is None else int(gid)
