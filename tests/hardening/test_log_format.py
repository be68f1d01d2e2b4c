"""Log lines carry the request id of the request that wrote them, and an exception without its
message: a real database error whose message holds the refused row is logged by type, SQLSTATE
and constraint only (JSON and text formats)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pdo_graph.observability import JsonFormatter, RequestIdFilter, TextFormatter, bind_request_id

SECRET = "Секретова Тайна Скрытовна"


async def refused_row(engine) -> DBAPIError:
    """A NOT NULL violation whose message is 'Failing row contains (... the name ...)'."""
    with pytest.raises(DBAPIError) as caught:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO guardians (subject) VALUES ('g')"),
            )
            await conn.execute(
                text(
                    "INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)"
                    " VALUES (1, :n, :n, NULL, '01')"
                ),
                {"n": SECRET},
            )
    assert SECRET in caught.value.orig.__cause__.detail  # the database names the refused row
    assert SECRET not in str(caught.value)  # the engine hides the statement's parameters
    return caught.value


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
async def test_database_errors_are_logged_without_their_message(db, formatter):
    error = await refused_row(db)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    log = logging.getLogger(f"test.logformat.{id(formatter)}")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)

    async def request(rid: str) -> None:
        bind_request_id(rid)
        await asyncio.sleep(0)
        log.error("unexpected error", exc_info=error)

    try:
        await asyncio.gather(asyncio.create_task(request("rid-one")), asyncio.create_task(request("rid-two")))
        log.info("outside any request")
    finally:
        log.removeHandler(handler)
    written = out.getvalue()
    assert SECRET not in written and "Failing row" not in written
    assert "sqlstate=23502" in written and "NotNullViolationError" in written
    if isinstance(formatter, JsonFormatter):
        records = [json.loads(line) for line in written.splitlines()]
        assert [r.get("request_id") for r in records] == ["rid-one", "rid-two", None]
    else:
        assert "[rid-one] unexpected error" in written and "[rid-two] unexpected error" in written
        assert "[-] outside any request" in written
