"""A real PgBouncer (Debian's ``pgbouncer``) in transaction mode in front of the test database.

Two server connections at most, so that clients share them the way a busy pooler makes them: a
statement prepared by name on one client's turn is there (or missing) on another's."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_of(database_url: str) -> tuple[str, int]:
    """Host (or socket directory) and port of the test database's server."""
    u = make_url(database_url)
    host = u.host or str(u.query.get("host") or "127.0.0.1")
    if u.port:
        return host, u.port
    if host.startswith("/"):
        sockets = sorted(Path(host).glob(".s.PGSQL.*"))
        sockets = [p for p in sockets if not p.name.endswith(".lock")]
        return host, int(sockets[0].name.rsplit(".", 1)[1])
    return host, 5432


@pytest.fixture(scope="session")
def pgbouncer(database_url: str) -> Iterator[str]:
    """The URL of the test database through PgBouncer (transaction pooling, two server connections)."""
    if not os.path.exists(PGBOUNCER):
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)")
    home = Path(tempfile.mkdtemp(prefix="pdo-pgbouncer-"))
    home.chmod(0o755)  # readable by the postgres user it runs as under root
    host, port = server_of(database_url)
    u = make_url(database_url)
    listen = free_port()
    ini = home / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={host} port={port} user={u.username or 'postgres'}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        "default_pool_size = 2\nmin_pool_size = 0\nreserve_pool_size = 0\nmax_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    ini.chmod(0o644)
    command = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it runs as the server's user
        command[1:1] = ["-u", Path(host).owner() if host.startswith("/") else "postgres"]
    log = (home / "pgbouncer.log").open("wb")  # its log goes to stderr
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"pgbouncer did not start: {(home / 'pgbouncer.log').read_text()[-2000:]}") from None
            time.sleep(0.1)
    yield u.set(host="127.0.0.1", port=listen, query={}).render_as_string(hide_password=False)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    shutil.rmtree(home, ignore_errors=True)


from tests.jobs.conftest import queue, workers  # noqa: E402  the queue's fixtures, for workers behind the pooler

__all__ = ["pgbouncer", "queue", "workers"]
