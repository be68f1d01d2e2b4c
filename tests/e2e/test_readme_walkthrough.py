"""README.md is executable: its walk-through runs, block by block, as a newcomer would run it.

One real server (`pdo-graph serve --migrate --demo` on an empty database, as `make run` starts it)
for the whole README; then every step block of README.md in order — the commands a reader types
(`.venv/bin/pdo-graph dev-token ...`, run here as `python -m pdo_graph.cli` with the server's
settings) and every GraphQL block over real HTTP (a subscription over the WebSocket) — each
checked against the answer the README shows after it.

The marker convention (full text in tests/e2e/readme.py, and for README authors in a comment at the
top of the README's "First steps in GraphiQL"); adding a step is writing README blocks:

    ```sh step                 .venv/bin/pdo-graph commands; `# → <name>` keeps the output as <name>
    ```graphql step ROLE       one named operation, with the header of <ROLE token> (anyone: none)
    ```json answer             what it answers, in part; "<name>" keeps a value, later must equal it;
                               a list ending in "…" may hold more; errors/userErrors not shown fail
    <today - 10 years>, <this month>, <today + 3 days>: computed dates (YYYY-MM-DD)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer, running_server
from tests.e2e.live import LiveClient
from tests.e2e.readme import Names, ReadmeError, Step, check, commands, steps
from tests.helpers import create_scratch, drop_scratch

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def demo_server(database_url: str, data_dir: Path) -> Iterator[LiveServer]:
    """`serve --migrate --demo` on an empty database of its own, as `make run` starts it."""
    name, url = asyncio.run(create_scratch(database_url))
    try:
        with running_server(url, data_dir, data_dir / "readme-server.log", "--migrate", "--demo") as server:
            yield server
    finally:
        asyncio.run(drop_scratch(database_url, name))


def run_commands(server: LiveServer, step: Step, names: Names) -> None:
    for args, keep in commands(step, names):
        done = subprocess.run(
            [sys.executable, "-m", "pdo_graph.cli", *args],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise ReadmeError(f"{step.where}: pdo-graph {' '.join(args[:1])} exited {done.returncode}: {done.stderr}")
        if keep is not None:
            names.kept[keep] = done.stdout.strip()


def answer(server: LiveServer, step: Step, names: Names) -> Any:
    document = names.fill(step.body, step.where)
    token = None if step.role == "anyone" else names.fill(f"<{step.role} token>", step.where)
    kind, name = step.operation()
    if kind == "subscription":
        return asyncio.run(first_message(server.url, document, token))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    reply = httpx.post(
        f"{server.url}/graphql",
        json={"query": document, "operationName": name},
        headers=headers,
        timeout=60,
    )
    assert reply.headers["content-type"].startswith("application/json"), (step.where, reply.text)
    return reply.json()


async def first_message(url: str, document: str, token: str | None) -> Any:
    client = await LiveClient.start(url, token)
    try:
        await client.subscribe("1", document)
        message = await client.message()
        assert message.get("id") == "1" and message.get("type") in {"next", "error"}, message
        return message["payload"] if message["type"] == "next" else {"errors": message["payload"]}
    finally:
        await client.close()


def test_the_readme_runs_as_written(demo_server: LiveServer):
    walk = steps(README.read_text(encoding="utf-8"))
    names = Names(today=date.today())
    ran = []
    for step in walk:
        if step.kind == "sh":
            run_commands(demo_server, step, names)
        else:
            check(answer(demo_server, step, names), step, names)
        ran.append(step.where)
    # the walk-through covers the way from a token to a cancelled, co-paid contract
    operations = {s.operation()[1] for s in walk if s.kind == "graphql"}
    assert len(operations) == len([s for s in walk if s.kind == "graphql"]), "operation names are unique"
    for needed in ("Apply", "Issue", "Quote", "Enroll", "Accept", "Report", "Cancel"):
        assert needed in operations, (needed, sorted(operations))
    assert int(names.kept["family pays"].replace(".", "")) > 0, "the walk-through shows a co-pay"
    assert demo_server.cli("ledger", "check") == "ledger invariants hold"
    print(f"README walk-through: {len(ran)} steps ({len(operations)} GraphQL operations) ran")
