"""Connections killed under load: clients get 200 or 503 (never 500), the server recovers by itself."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from tests.helpers import APPLY, graphql_caller, new_certificate, years_ago

VIEW = "{ viewer { children { fullName certificate { number balance { available { kopecks } } } } } }"


async def kill_connections(engine) -> int:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        n = len(rows.all())
        await conn.commit()
    return n


async def test_killed_connections_give_503_then_recovery(app, engine, db, token):
    async with graphql_caller(app) as gql:
        for i in range(3):
            await new_certificate(gql, token, f"fam{i}", f"Ребёнок{i} Сбой Тестович", 9)
    guardian = token("GUARDIAN", "fam0")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:

        async def one(i: int) -> int:
            if i % 3 == 0:
                body = {
                    "query": APPLY,
                    "variables": {
                        "input": {
                            "fullName": f"Нагрузка Ребёнок{i} Тестович",
                            "birthDate": years_ago(7).isoformat(),
                            "municipality": "01",
                        }
                    },
                }
            else:
                body = {"query": VIEW}
            r = await client.post("/graphql", json=body, headers={"authorization": f"Bearer {guardian}"})
            if r.status_code == 503:
                [error] = r.json()["errors"]
                assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "requestId": r.headers["x-request-id"]}
                assert r.headers["retry-after"] == "1" and error["message"].startswith("База данных")
            return r.status_code

        for _round in range(3):
            tasks = [asyncio.create_task(one(i)) for i in range(60)]
            await asyncio.sleep(0.02)
            assert await kill_connections(engine) > 0
            statuses = await asyncio.gather(*tasks)
            assert set(statuses) <= {200, 503}, statuses

        # recovered: every request succeeds again
        statuses = await asyncio.gather(*(one(i) for i in range(1, 30, 3)))
        assert statuses == [200] * len(statuses)
